"""OGB node property prediction with mini-batches of sampled neighbourhoods: ogbn-products (or
a built ogbn-* folder) with GraphSAGE, as PyG's ``examples/ogbn_products_sage.py``, on
gdl_graphs and its own neighbour sampler (no pyg-lib, no torch-sparse).

    python scripts/ogbn_products.py --model sage --runs 10
    python scripts/partition.py --dataset ogbn-products --num-parts 2 --out parts2
    torchrun --nproc_per_node=2 scripts/ogbn_products.py --partitions parts2 --device cpu

Defaults: 3 layers, 256 hidden, dropout 0.5, fan-out 15,10,5, batch 1024, Adam lr 0.003,
20 epochs; evaluation runs layer by layer over full neighbourhoods (batches of 4096 nodes).

With ``--partitions DIR`` (one rank per part, under torchrun) every rank holds only its part:
it samples around its own training nodes across all parts, fetches remote features in batched
requests (``gdl_graphs.distributed``), trains with DDP, and evaluates layer by layer with a halo
exchange; the predictions are gathered so each metric covers the whole split.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from types import SimpleNamespace
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import (  # noqa: E402
    Dist,
    RunState,
    UserError,
    base_parser,
    check_args,
    cli,
    peak_memory,
    run_experiment,
    setup_device,
)
from ogbn_arxiv import load_node_data  # noqa: E402

SCRIPT = 'ogbn_products'


def train(model, loader, optimizer, device, progress: bool = True, desc: str = '') -> float:
    """One epoch over the sampled mini-batches; the loss covers each batch's seed nodes."""
    from tqdm import tqdm
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        bs = batch.batch_size
        out = model(batch.x.to(device), batch.edge_index.to(device))[:bs]
        loss = F.nll_loss(out, batch.y[:bs].view(-1).to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * bs
        count += bs
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, x, y, loader, split_idx, evaluator, device) -> Dict[str, float]:
    """Accuracy on every split from layer-wise full-neighbourhood inference."""
    model.eval()
    pred = model.inference(x, loader, device).argmax(dim=-1, keepdim=True).cpu()
    yy = y.view(-1, 1).cpu()
    return {k: float(evaluator.eval({'y_true': yy[split_idx[k]],
                                     'y_pred': pred[split_idx[k]]})[evaluator.eval_metric])
            for k in ('train', 'valid', 'test')}


def fanout(text: str) -> List[int]:
    try:
        out = [int(t) for t in text.split(',')]
    except ValueError:
        raise UserError(f'--num-neighbors {text!r}: give one integer per hop, e.g. 15,10,5 '
                        f'(-1 = all)') from None
    if any(k < -1 or k == 0 for k in out):
        raise UserError(f'--num-neighbors {text!r}: every fan-out is >= 1 or -1 (all)')
    return out


def parse(argv: Optional[List[str]]):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbn-products', epochs=20, runs=10, lr=0.003,
                    batch_size=1024)
    p.add_argument('--model', default='sage', choices=['sage'])
    p.add_argument('--num-layers', type=int, default=3)
    p.add_argument('--hidden-channels', type=int, default=256)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--num-neighbors', default='15,10,5', help='fan-out per hop')
    p.add_argument('--eval-batch-size', type=int, default=4096)
    p.add_argument('--partitions', default=None,
                   help='a folder of scripts/partition.py: train on its parts, one per rank')
    p.add_argument('--cache-size', type=int, default=0,
                   help='with --partitions: remote nodes whose features each rank keeps')
    p.add_argument('--dist-timeout', type=float, default=300.0,
                   help='with --partitions: seconds a rank waits for the others')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    check_args(args)
    sizes = fanout(args.num_neighbors)
    if len(sizes) != args.num_layers:
        raise UserError(f'--num-neighbors has {len(sizes)} hops but --num-layers is '
                        f'{args.num_layers}: give one fan-out per layer')
    if args.partitions is not None:
        return main_partitioned(args, sizes)
    if args.cache_size:
        raise UserError('--cache-size needs --partitions')
    dist = setup_device(args, allow_distributed=False)
    from torch_geometric.data import Data

    from gdl_graphs.loader import NeighborLoader
    from gdl_graphs.models.ogb import NodeGNN
    dataset, data, evaluator = load_node_data(args, dist)
    dev = dist.device
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
        return train(st.model, st.extra['loader'], st.optimizer, dev,
                     progress=not args.quiet, desc=f'run {run} epoch {epoch}')

    return run_experiment(args, SCRIPT, args.model, config, dist, evaluator.eval_metric, True,
                          setup_run, train_epoch,
                          lambda st: evaluate(st.model, graph.x, graph.y, eval_loader, split,
                                              evaluator, dev),
                          info={'num_nodes': int(data.num_nodes)})


def train_partitioned(model, loader, optimizer, device, dist: Dist, progress: bool = True,
                      desc: str = '') -> float:
    """One epoch on this rank's seeds (every rank runs the same number of batches; a rank
    with no seed left in a batch still joins the collectives and DDP's gradient average)."""
    from tqdm import tqdm
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        bs = batch.batch_size
        out = model(batch.x.to(device), batch.edge_index.to(device))[:bs]
        loss = F.nll_loss(out, batch.y.view(-1).to(device), reduction='sum') / max(bs, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * bs
        count += bs
    sums = dist.gather((total, count))
    return sum(t for t, _ in sums) / max(sum(c for _, c in sums), 1)


def _same_graph(args, meta) -> None:
    """A dataset folder under --root with the partitions' name must hold the data they were cut
    from (the fingerprint of its raw and split files); without one, the partitions are all
    there is."""
    from gdl_graphs.datasets import check_processed, dataset_path
    from gdl_graphs.distributed import check_folder
    now = check_processed(args.dataset, args.root)
    if now is not None:
        check_folder(args.partitions, None, None, parts=[], source=now,
                     source_name=f'{args.dataset} in {dataset_path(args.dataset, args.root)}')


def main_partitioned(args, sizes: List[int]) -> int:
    from gdl_graphs.datasets import evaluator_for
    from gdl_graphs.distributed import (
        DistGraph,
        DistNeighborLoader,
        PartitionError,
        check_folder,
        dist_inference,
        load_part,
    )
    from gdl_graphs.models.ogb import NodeGNN
    if args.model != 'sage':
        raise UserError('--partitions trains --model sage')
    if not (args.dist_timeout > 0):
        raise UserError(f'--dist-timeout must be > 0 seconds, got {args.dist_timeout}')
    # meta.json (dataset, number of parts) is checked before any collective; then each rank
    # checks its own part and all ranks share their verdicts: one error, the same on every rank
    meta = check_folder(args.partitions, args.dataset, int(os.environ.get('WORLD_SIZE', '1')),
                        parts=[])
    _same_graph(args, meta)
    dist = setup_device(args, allow_distributed=True, timeout_s=args.dist_timeout)
    try:
        part, problem = load_part(args.partitions, dist.rank, dist.world, args.dataset), None
    except PartitionError as exc:
        part, problem = None, str(exc)
    problems = [(r, p) for r, p in enumerate(dist.gather(problem)) if p is not None]
    if problems:
        r, p = problems[0]
        raise PartitionError(f'rank {r}: {p}' if dist.active else p)
    group = None
    if dist.active and dist.device.type == 'cuda':  # the graph's requests stay on CPU
        group = torch.distributed.new_group(backend='gloo')
    graph = DistGraph(part, group)
    cached = graph.build_cache(args.cache_size) if args.cache_size else 0
    dev = dist.device
    num_classes = int(meta['num_classes'])
    evaluator = evaluator_for(SimpleNamespace(
        name=args.dataset, meta_info={'num tasks': '1', 'eval metric': 'acc'}))
    train_ids = part.nodes.index_select(0, part.split['train'])
    num_batches = max(1, max(-(-p['train'] // args.batch_size) for p in meta['parts']))
    config = {'dataset': args.dataset, 'model': args.model, 'num_layers': args.num_layers,
              'hidden_channels': args.hidden_channels, 'dropout': args.dropout,
              'lr': args.lr, 'batch_size': args.batch_size, 'num_neighbors': sizes,
              'seed': args.seed, 'world_size': dist.world, 'partition_seed': meta['seed'],
              'part_ptr': meta['part_ptr']}
    info = {'num_nodes': int(meta['num_nodes']), 'edge_cut': int(meta['edge_cut']),
            'cache_size': cached, 'ranks': []}

    def setup_run(run: int) -> RunState:
        model = NodeGNN(int(meta['num_features']), args.hidden_channels, num_classes,
                        args.num_layers, args.dropout, 'sage', batch_norm=False).to(dev)
        if dist.active:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[dev] if dev.type == 'cuda' else None)
        gen = torch.Generator().manual_seed((args.seed + run) * 1009 + dist.rank)
        loader = DistNeighborLoader(graph, sizes, train_ids, num_batches, shuffle=True,
                                    generator=gen)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr), gen,
                        {'loader': loader})

    trained = {'seeds': 0, 'bytes_received': 0}  # this rank's training traffic (no eval)

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        before = graph.bytes_received
        loss = train_partitioned(st.model, st.extra['loader'], st.optimizer, dev, dist,
                                 progress=dist.main and not args.quiet,
                                 desc=f'run {run} epoch {epoch}')
        trained['seeds'] += int(train_ids.numel())
        trained['bytes_received'] += graph.bytes_received - before
        return loss

    @torch.no_grad()
    def evaluate_all(st: RunState) -> Dict[str, float]:
        model = st.model.module if hasattr(st.model, 'module') else st.model
        model.eval()
        pred = dist_inference(model, graph, args.eval_batch_size, dev).argmax(-1)
        res = {}
        for k in ('train', 'valid', 'test'):
            idx = part.split[k]
            got = dist.gather((pred.index_select(0, idx), part.y.index_select(0, idx)))
            p = torch.cat([a for a, _ in got]).view(-1, 1)
            y = torch.cat([b for _, b in got]).view(-1, 1)
            res[k] = float(evaluator.eval({'y_true': y, 'y_pred': p})['acc'])
        mem = peak_memory(dev)['peak_memory_bytes']
        info['ranks'] = dist.gather({'rank': dist.rank, 'feature_rows': graph.feature_rows,
                                     'edges': int(part.col.numel()),
                                     'peak_memory_bytes': mem,
                                     'bytes_sent': graph.bytes_sent,
                                     'bytes_received': graph.bytes_received,
                                     'requests': graph.requests,
                                     'train_seeds': trained['seeds'],
                                     'train_bytes_received': trained['bytes_received'],
                                     'traffic': graph.traffic})
        return res

    return run_experiment(args, SCRIPT, args.model, config, dist, 'acc', True, setup_run,
                          train_epoch, evaluate_all, info=info)


if __name__ == '__main__':
    sys.exit(cli(main))
