"""OGB molecule property prediction (ogbg-molhiv, ogbg-molpcba, or a folder built with
datasets/build_ogb.py), as OGB's ``examples/graphproppred/mol/main_pyg.py``, on gdl_graphs.

    python scripts/ogbg_mol.py --dataset ogbg-molhiv --gnn gin-virtual --runs 10
    torchrun --nproc_per_node=2 scripts/ogbg_mol.py --dataset ogbg-molhiv --device cpu

Defaults are OGB's: 5 layers, 300 hidden, dropout 0.5, batch 32, Adam lr 1e-3, 100 epochs.
Under torchrun every rank trains on its DistributedSampler shard (DDP: gloo on CPU, nccl on
CUDA) and evaluates a shard; predictions are gathered so the metric covers the whole split.
"""
from __future__ import annotations

import os.path as osp
import sys
from typing import Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import (  # noqa: E402
    Dist,
    RunState,
    UserError,
    base_parser,
    check_args,
    cli,
    run_experiment,
    setup_device,
)

SCRIPT = 'ogbg_mol'


def train(model, loader, optimizer, task_type: str, device, dist: Dist,
          progress: bool = True, desc: str = '') -> float:
    """One epoch of OGB's training loop (labelled entries only; degenerate batches, which
    batch norm cannot take, are skipped, by every rank at once under DDP)."""
    from tqdm import tqdm
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        batch = batch.to(device)
        if dist.any(batch.x.size(0) == 1 or int(batch.batch[-1]) == 0):
            continue
        pred = model(batch)
        optimizer.zero_grad()
        y = batch.y.to(torch.float32)
        labelled = y == y
        if 'classification' in task_type:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                pred.to(torch.float32)[labelled], y[labelled])
        else:
            loss = torch.nn.functional.mse_loss(pred.to(torch.float32)[labelled], y[labelled])
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        count += 1
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, loader, evaluator, device, dist: Dist, counts: Optional[dict] = None,
             name: str = '') -> float:
    """The split's metric with ogb's ``Evaluator``; under DDP each rank predicts its shard and
    the predictions of all ranks are gathered first."""
    model.eval()
    ys, preds = [], []
    for batch in loader:
        batch = batch.to(device)
        if batch.x.size(0) == 1:
            continue
        preds.append(model(batch).cpu())
        ys.append(batch.y.view(preds[-1].shape).cpu())
    y = torch.cat(ys) if ys else torch.zeros(0, evaluator.num_tasks)
    p = torch.cat(preds) if preds else torch.zeros(0, evaluator.num_tasks)
    parts = dist.gather((y, p))
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


def parse(argv: Optional[List[str]]):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbg-molhiv', epochs=100, runs=1, lr=1e-3,
                    batch_size=32)
    p.add_argument('--gnn', default='gin-virtual',
                   choices=['gin', 'gin-virtual', 'gcn', 'gcn-virtual'])
    p.add_argument('--num-layer', type=int, default=5)
    p.add_argument('--emb-dim', type=int, default=300)
    p.add_argument('--drop-ratio', type=float, default=0.5)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    check_args(args)
    if not args.dataset.startswith('ogbg-'):
        raise UserError(f'--dataset {args.dataset!r} is not a graph property dataset: use '
                        f'ogbg-molhiv, ogbg-molpcba or a built ogbg-* folder')
    from torch.utils.data import DistributedSampler
    from torch_geometric.loader import DataLoader

    from gdl_graphs.datasets import evaluator_for, load_dataset
    from gdl_graphs.models.ogb import mol_gnn

    dist = setup_device(args, allow_distributed=True)
    dataset = None
    if dist.main:  # rank 0 processes the raw files, the others wait and read the result
        dataset = load_dataset(args.dataset, args.root, download=args.download)
    dist.barrier()
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
              'batch_size': args.batch_size, 'seed': args.seed, 'world_size': dist.world}

    def shard(idx: torch.Tensor) -> torch.Tensor:
        return idx[dist.rank::dist.world]

    eval_loaders = {k: DataLoader(dataset[shard(split[k])], batch_size=args.batch_size,
                                  shuffle=False, num_workers=args.num_workers)
                    for k in ('train', 'valid', 'test')}

    def setup_run(run: int) -> RunState:
        model = mol_gnn(args.gnn, dataset.num_tasks, num_layer=args.num_layer,
                        emb_dim=args.emb_dim, drop_ratio=args.drop_ratio).to(dist.device)
        if dist.active:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[dist.device] if dist.device.type == 'cuda' else None)
        gen = torch.Generator().manual_seed(args.seed + run)
        train_set = dataset[split['train']]
        if dist.active:
            sampler = DistributedSampler(train_set, dist.world, dist.rank, shuffle=True,
                                         seed=args.seed + run)
            loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler,
                                num_workers=args.num_workers)
        else:
            sampler = None
            loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                num_workers=args.num_workers, generator=gen)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        return RunState(model, opt, gen, {'loader': loader, 'sampler': sampler})

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        if st.extra['sampler'] is not None:
            st.extra['sampler'].set_epoch(epoch)
        return train(st.model, st.extra['loader'], st.optimizer, task_type, dist.device, dist,
                     progress=dist.main and not args.quiet, desc=f'run {run} epoch {epoch}')

    evaluated: Dict[str, int] = {}  # graphs behind each metric, gathered over the ranks

    def evaluate_all(st: RunState) -> Dict[str, float]:
        return {k: evaluate(st.model, loader, evaluator, dist.device, dist, evaluated, k)
                for k, loader in eval_loaders.items()}

    metric = dataset.eval_metric
    sizes = {k: int(len(split[k])) for k in ('train', 'valid', 'test')}
    return run_experiment(args, SCRIPT, args.gnn, config, dist, metric,
                          higher_is_better=metric != 'rmse', setup_run=setup_run,
                          train_epoch=train_epoch, evaluate=evaluate_all,
                          info={'split_sizes': sizes, 'evaluated_sizes': evaluated,
                                'num_tasks': int(dataset.num_tasks)})


if __name__ == '__main__':
    sys.exit(cli(main))
