"""The OGB trainers behind ``scripts/ogbg_mol.py``, ``scripts/ogbn_arxiv.py`` and
``scripts/ogbn_products.py``; each takes the script's parsed arguments and returns its exit
status.

- :func:`train_graph_property`: OGB's molecule recipe (``examples/graphproppred/mol``), one
  process or DDP under ``torchrun`` (a ``DistributedSampler`` shard per rank; predictions are
  gathered so each metric covers the whole split);
- :func:`train_node_full_batch`: OGB's arxiv recipe (``examples/nodeproppred/arxiv``);
- :func:`train_node_sampled`: GraphSAGE on sampled neighbourhoods (PyG's
  ``ogbn_products_sage.py``) on :class:`gdl_graphs.loader.NeighborLoader`; with
  ``args.partitions`` it hands over to :func:`gdl_graphs.experiments.partitioned.train_partitioned`.
"""
from __future__ import annotations

import argparse
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .context import DistContext, init_context
from .errors import UserError
from .loop import RunState, prepare_outputs, run_experiment, unwrap
from .options import check_args, parse_fanout


def _progress(loader, show: bool, desc: str):
    from tqdm import tqdm
    return tqdm(loader, desc=desc, disable=not show, leave=False)


# ----------------------------------------------------------------------------- molecules

def train_mol_epoch(model, loader, optimizer, task_type: str, ctx: DistContext,
                    progress: bool = False, desc: str = '') -> float:
    """One epoch of OGB's molecule training loop (labelled entries only; degenerate batches,
    which batch norm cannot take, are skipped by every rank at once)."""
    model.train()
    total, count = 0.0, 0
    for batch in _progress(loader, progress, desc):
        batch = batch.to(ctx.device)
        if ctx.any(batch.x.size(0) == 1 or int(batch.batch[-1]) == 0):
            continue
        pred = model(batch)
        optimizer.zero_grad()
        y = batch.y.to(torch.float32)
        labelled = y == y
        if 'classification' in task_type:
            loss = F.binary_cross_entropy_with_logits(pred.to(torch.float32)[labelled],
                                                      y[labelled])
        else:
            loss = F.mse_loss(pred.to(torch.float32)[labelled], y[labelled])
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        count += 1
    return total / max(count, 1)


@torch.no_grad()
def evaluate_mol(model, loader, evaluator, ctx: DistContext, counts: Optional[dict] = None,
                 name: str = '') -> float:
    """The split's metric (ogb's ``Evaluator``) over the predictions of all ranks."""
    model.eval()
    ys, preds = [], []
    for batch in loader:
        batch = batch.to(ctx.device)
        if batch.x.size(0) == 1:
            continue
        preds.append(model(batch).cpu())
        ys.append(batch.y.view(preds[-1].shape).cpu())
    y = torch.cat(ys) if ys else torch.zeros(0, evaluator.num_tasks)
    p = torch.cat(preds) if preds else torch.zeros(0, evaluator.num_tasks)
    parts = ctx.gather((y, p))
    y = torch.cat([a for a, _ in parts])
    p = torch.cat([b for _, b in parts])
    if counts is not None:
        counts[name] = int(y.size(0))
    try:
        res = evaluator.eval({'y_true': y.numpy(), 'y_pred': p.numpy()})
    except RuntimeError as exc:  # e.g. a split without positives: ROC-AUC is undefined
        raise UserError(f'cannot compute {evaluator.eval_metric} on the {name or "eval"} split: '
                        f'{exc} Rebuild the dataset with larger or other splits') from None
    return float(res[evaluator.eval_metric])


def train_graph_property(args: argparse.Namespace) -> int:
    """``scripts/ogbg_mol.py``: ``args`` has :func:`base_parser`'s options and ``gnn``,
    ``num_layer``, ``emb_dim``, ``drop_ratio``."""
    check_args(args)
    if not args.dataset.startswith('ogbg-'):
        raise UserError(f'--dataset {args.dataset!r} is not a graph property dataset: use '
                        f'ogbg-molhiv, ogbg-molpcba or a built ogbg-* folder')
    outputs = prepare_outputs(args, f'ogbg_mol_{args.dataset}_{args.gnn}')
    from torch.utils.data import DistributedSampler
    from torch_geometric.loader import DataLoader

    from ..datasets import evaluator_for, load_dataset
    from ..models.ogb import mol_gnn

    ctx = init_context(args.device)
    dataset = None
    if ctx.is_main:  # rank 0 processes the raw files, the others wait and read the result
        dataset = load_dataset(args.dataset, args.root, download=args.download)
    ctx.barrier()
    if dataset is None:
        dataset = load_dataset(args.dataset, args.root, download=False)
    g = dataset[0]
    if g.x is None or g.edge_attr is None or g.x.is_floating_point() or g.x.size(1) != 9 or \
            g.edge_attr.size(1) != 3:
        raise UserError(f'{args.dataset} is not a molecule dataset (atoms and bonds encoded as '
                        f'ogb.utils.smiles2graph does): build it from SMILES')
    split, evaluator = dataset.split_idx, evaluator_for(dataset)
    task_type = dataset.task_type
    config = {'dataset': args.dataset, 'gnn': args.gnn, 'num_layer': args.num_layer,
              'emb_dim': args.emb_dim, 'drop_ratio': args.drop_ratio, 'lr': args.lr,
              'batch_size': args.batch_size, 'seed': args.seed, 'world_size': ctx.world_size}

    def shard(idx: torch.Tensor) -> torch.Tensor:
        return idx[ctx.rank::ctx.world_size]

    eval_loaders = {k: DataLoader(dataset[shard(split[k])], batch_size=args.batch_size,
                                  shuffle=False, num_workers=args.num_workers)
                    for k in ('train', 'valid', 'test')}

    def setup_run(run: int) -> RunState:
        model = mol_gnn(args.gnn, dataset.num_tasks, num_layer=args.num_layer,
                        emb_dim=args.emb_dim, drop_ratio=args.drop_ratio).to(ctx.device)
        if ctx.is_distributed:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[ctx.device] if ctx.device.type == 'cuda' else None)
        gen = torch.Generator().manual_seed(args.seed + run)
        train_set = dataset[split['train']]
        sampler = None
        if ctx.is_distributed:
            sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True,
                                         seed=args.seed + run)
            loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler,
                                num_workers=args.num_workers)
        else:
            loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                num_workers=args.num_workers, generator=gen)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        return RunState(model, opt, gen, {'loader': loader, 'sampler': sampler})

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        if st.extra['sampler'] is not None:
            st.extra['sampler'].set_epoch(epoch)
        return train_mol_epoch(st.model, st.extra['loader'], st.optimizer, task_type, ctx,
                               progress=ctx.is_main and not args.quiet,
                               desc=f'run {run} epoch {epoch}')

    evaluated: Dict[str, int] = {}  # graphs behind each metric, gathered over the ranks

    def evaluate_all(st: RunState) -> Dict[str, float]:
        return {k: evaluate_mol(st.model, loader, evaluator, ctx, evaluated, k)
                for k, loader in eval_loaders.items()}

    metric = dataset.eval_metric
    sizes = {k: int(len(split[k])) for k in ('train', 'valid', 'test')}
    params = sum(p.numel() for p in mol_gnn(args.gnn, dataset.num_tasks,
                                            num_layer=args.num_layer, emb_dim=args.emb_dim,
                                            drop_ratio=args.drop_ratio).parameters())
    return run_experiment(args, script='ogbg_mol', model_name=args.gnn, config=config, ctx=ctx,
                          metric=metric, higher_is_better=metric != 'rmse',
                          setup_run=setup_run, train_epoch=train_epoch, evaluate=evaluate_all,
                          info={'split_sizes': sizes, 'evaluated_sizes': evaluated,
                                'num_tasks': int(dataset.num_tasks), 'num_parameters': params},
                          outputs=outputs)


# ----------------------------------------------------------------------------- nodes

def load_node_data(args: argparse.Namespace):
    """``(dataset, data, evaluator)`` of a multiclass ogbn-* dataset, or a one-line error."""
    from ..datasets import evaluator_for, load_dataset
    if not args.dataset.startswith('ogbn-'):
        raise UserError(f'--dataset {args.dataset!r} is not a node property dataset: use an '
                        f'ogbn-* name')
    dataset = load_dataset(args.dataset, args.root, download=args.download)
    data = dataset[0]
    if data.x is None or data.y is None:
        raise UserError(f'{args.dataset} has no node features or labels: rebuild it with x and '
                        f'y')
    if 'multiclass' not in dataset.task_type:
        raise UserError(f'{args.dataset} is a {dataset.task_type} dataset; this command '
                        f'trains multiclass node classifiers')
    return dataset, data, evaluator_for(dataset)


def accuracies(pred: torch.Tensor, y: torch.Tensor, split_idx, evaluator) -> Dict[str, float]:
    """ogb's accuracy of ``pred`` (class ids) on the train, valid and test nodes."""
    pred, yy = pred.view(-1, 1).cpu(), y.view(-1, 1).cpu()
    return {k: float(evaluator.eval({'y_true': yy[split_idx[k]],
                                     'y_pred': pred[split_idx[k]]})[evaluator.eval_metric])
            for k in ('train', 'valid', 'test')}


def train_node_full_batch(args: argparse.Namespace) -> int:
    """``scripts/ogbn_arxiv.py``: ``args`` has :func:`base_parser`'s options and ``model``,
    ``num_layers``, ``hidden_channels``, ``dropout``. The graph is made undirected."""
    check_args(args)
    outputs = prepare_outputs(args, f'ogbn_arxiv_{args.dataset}_{args.model}')
    ctx = init_context(args.device, allow_distributed=False)
    from torch_geometric.transforms import ToUndirected

    from ..models.ogb import NodeGNN
    dataset, data, evaluator = load_node_data(args)
    dev = ctx.device
    x, y = data.x.to(dev), data.y.view(-1).to(dev)
    edge_index = ToUndirected()(data.clone()).edge_index.to(dev)
    split = dataset.split_idx
    train_idx = split['train'].to(dev)
    config = {'dataset': args.dataset, 'model': args.model, 'num_layers': args.num_layers,
              'hidden_channels': args.hidden_channels, 'dropout': args.dropout,
              'lr': args.lr, 'seed': args.seed}

    def setup_run(run: int) -> RunState:
        model = NodeGNN(data.num_features, args.hidden_channels, dataset.num_classes,
                        args.num_layers, args.dropout, args.model, batch_norm=True).to(dev)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr))

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        st.model.train()
        st.optimizer.zero_grad()
        loss = F.nll_loss(st.model(x, edge_index)[train_idx], y[train_idx])
        loss.backward()
        st.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(st: RunState) -> Dict[str, float]:
        st.model.eval()
        return accuracies(st.model(x, edge_index).argmax(-1), y, split, evaluator)

    return run_experiment(args, script='ogbn_arxiv', model_name=args.model, config=config,
                          ctx=ctx, metric=evaluator.eval_metric, setup_run=setup_run,
                          train_epoch=train_epoch, evaluate=evaluate,
                          info={'num_nodes': int(data.num_nodes),
                                'num_edges_undirected': int(edge_index.size(1))},
                          outputs=outputs)


def train_sampled_epoch(model, loader, optimizer, device, ctx: Optional[DistContext] = None,
                        progress: bool = False, desc: str = '') -> float:
    """One epoch over sampled mini-batches; the loss covers each batch's seed nodes. With a
    distributed ``ctx`` every rank runs the same number of batches (a rank without seeds in a
    batch still joins DDP's gradient average) and the mean loss covers all ranks' seeds."""
    model.train()
    total, count = 0.0, 0
    for batch in _progress(loader, progress, desc):
        bs = batch.batch_size
        out = model(batch.x.to(device), batch.edge_index.to(device))[:bs]
        loss = F.nll_loss(out, batch.y[:bs].view(-1).to(device), reduction='sum') / max(bs, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * bs
        count += bs
    sums = ctx.gather((total, count)) if ctx is not None else [(total, count)]
    return sum(t for t, _ in sums) / max(sum(c for _, c in sums), 1)


def check_sampled_args(args: argparse.Namespace):
    """The fan-out of ``--num-neighbors``, one per layer."""
    check_args(args)
    sizes = parse_fanout(args.num_neighbors)
    if len(sizes) != args.num_layers:
        raise UserError(f'--num-neighbors has {len(sizes)} hops but --num-layers is '
                        f'{args.num_layers}: give one fan-out per layer')
    return sizes


def train_node_sampled(args: argparse.Namespace) -> int:
    """``scripts/ogbn_products.py``: ``args`` has :func:`base_parser`'s options and ``model``,
    ``num_layers``, ``hidden_channels``, ``dropout``, ``num_neighbors``, ``eval_batch_size``,
    ``partitions``, ``cache_size``, ``dist_timeout``."""
    sizes = check_sampled_args(args)
    if args.partitions is not None:
        from .partitioned import train_partitioned
        return train_partitioned(args)
    if args.cache_size:
        raise UserError('--cache-size needs --partitions')
    outputs = prepare_outputs(args, f'ogbn_products_{args.dataset}_{args.model}')
    ctx = init_context(args.device, allow_distributed=False)
    from torch_geometric.data import Data

    from ..loader import NeighborLoader
    from ..models.ogb import NodeGNN
    dataset, data, evaluator = load_node_data(args)
    dev = ctx.device
    # sample where the graph lives: on the GPU when training there without loader workers
    where = dev if dev.type == 'cuda' and args.num_workers == 0 else torch.device('cpu')
    graph = Data(x=data.x, y=data.y.view(-1), edge_index=data.edge_index,
                 num_nodes=data.num_nodes).to(where)
    split = dataset.split_idx
    config = {'dataset': args.dataset, 'model': args.model, 'num_layers': args.num_layers,
              'hidden_channels': args.hidden_channels, 'dropout': args.dropout,
              'lr': args.lr, 'batch_size': args.batch_size, 'num_neighbors': sizes,
              'seed': args.seed}
    eval_loader = NeighborLoader(graph, [-1], batch_size=args.eval_batch_size, shuffle=False,
                                 num_workers=args.num_workers)

    def setup_run(run: int) -> RunState:
        model = NodeGNN(data.num_features, args.hidden_channels, dataset.num_classes,
                        args.num_layers, args.dropout, 'sage', batch_norm=False).to(dev)
        gen = torch.Generator().manual_seed(args.seed + run)
        loader = NeighborLoader(graph, sizes, input_nodes=split['train'],
                                batch_size=args.batch_size, shuffle=True, generator=gen,
                                num_workers=args.num_workers)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr), gen,
                        {'loader': loader})

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        return train_sampled_epoch(st.model, st.extra['loader'], st.optimizer, dev,
                                   progress=not args.quiet, desc=f'run {run} epoch {epoch}')

    @torch.no_grad()
    def evaluate(st: RunState) -> Dict[str, float]:
        model = unwrap(st.model).eval()
        pred = model.inference(graph.x, eval_loader, dev).argmax(dim=-1)
        return accuracies(pred, graph.y, split, evaluator)

    return run_experiment(args, script='ogbn_products', model_name=args.model, config=config,
                          ctx=ctx, metric=evaluator.eval_metric, setup_run=setup_run,
                          train_epoch=train_epoch, evaluate=evaluate,
                          info={'num_nodes': int(data.num_nodes)}, outputs=outputs)
