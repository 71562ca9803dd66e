"""Node classification on a partitioned graph, one rank per part (``torchrun``).

:class:`PartitionedNodeTrainer` is what ``scripts/ogbn_products.py --partitions DIR`` runs:
every rank holds only its part (:func:`gdl_graphs.distributed.load_part`), samples around its
own training nodes across all parts (:class:`gdl_graphs.distributed.DistNeighborLoader`),
trains a GraphSAGE :class:`~gdl_graphs.models.ogb.NodeGNN` with DDP and evaluates layer by
layer with a halo exchange (:func:`gdl_graphs.distributed.dist_inference`); predictions are
gathered so every metric covers the whole split.

Errors are agreed on: the partition folder is checked before the process group starts, then
every rank checks its own part and all ranks stop with the same one-line error. Traffic is
accounted per rank (bytes sent and received, requests by kind, and the training share) and
written to the results JSON.
"""
from __future__ import annotations

import argparse
import os.path as osp
from types import SimpleNamespace
from typing import Any, Dict

import torch

from .context import DistContext, init_context, world_size_from_env
from .errors import UserError
from .loop import RunState, peak_memory, prepare_outputs, run_experiment, unwrap
from .ogb import check_sampled_args, train_sampled_epoch


def check_same_graph(partitions: str, meta: Dict[str, Any], dataset: str, root: str) -> None:
    """A dataset folder under ``root`` with the partitions' name must be the graph they were
    cut from (same node and edge counts); without one, the partitions are all there is."""
    from ..datasets import dataset_path
    raw = osp.join(dataset_path(dataset, root), 'raw')
    counts = []
    for name in ('num-node-list', 'num-edge-list'):
        path = osp.join(raw, f'{name}.csv.gz')
        if not osp.isfile(path):
            return
        import pandas as pd
        counts.append(int(pd.read_csv(path, header=None).values.sum()))
    n, e = counts
    # ogb adds the inverse edges of ogbn-products: the partitions hold E or 2E edges
    if n != meta['num_nodes'] or meta['num_edges'] not in (e, 2 * e):
        raise UserError(f"{partitions} was cut from another graph ({meta['num_nodes']} "
                        f"nodes, {meta['num_edges']} edges) than {dataset} under --root "
                        f"{root} ({n} nodes, {e} edges): partition it again")


class PartitionedNodeTrainer:
    """The trainer of one rank (see the module docstring); :meth:`run` returns the exit
    status of :func:`~gdl_graphs.experiments.run_experiment`.

    Args:
        args: ``scripts/ogbn_products.py``'s options (``partitions``, ``num_neighbors``,
            ``cache_size``, ``dist_timeout``, the model's and :func:`base_parser`'s).
    """

    script = 'ogbn_products'

    def __init__(self, args: argparse.Namespace):
        from ..datasets import evaluator_for
        from ..distributed import DistGraph, PartitionError, check_folder, load_part
        self.args = args
        self.sizes = check_sampled_args(args)
        if args.model != 'sage':
            raise UserError('--partitions trains --model sage')
        if not (args.dist_timeout > 0):
            raise UserError(f'--dist-timeout must be > 0 seconds, got {args.dist_timeout}')
        self.outputs = prepare_outputs(args, f'{self.script}_{args.dataset}_{args.model}')
        # meta.json is checked before any collective; then each rank checks its own part and
        # all ranks share their verdicts: one error, the same on every rank
        meta = check_folder(args.partitions, args.dataset, world_size_from_env(), parts=[])
        check_same_graph(args.partitions, meta, args.dataset, args.root)
        self.meta = meta
        self.ctx: DistContext = init_context(args.device, timeout_s=args.dist_timeout)
        ctx = self.ctx
        part, problem = None, None
        try:
            part = load_part(args.partitions, ctx.rank, ctx.world_size, args.dataset)
        except PartitionError as exc:
            problem = str(exc)
        ctx.agree(problem, PartitionError)
        self.part = part
        group = None
        if ctx.is_distributed and ctx.device.type == 'cuda':  # requests stay on the CPU
            group = torch.distributed.new_group(backend='gloo')
        self.graph = DistGraph(part, group)
        self.cached = self.graph.build_cache(args.cache_size) if args.cache_size else 0
        self.evaluator = evaluator_for(SimpleNamespace(
            name=args.dataset, meta_info={'num tasks': '1', 'eval metric': 'acc'}))
        self.train_ids = part.nodes.index_select(0, part.split['train'])
        self.num_batches = max(1, max(-(-p['train'] // args.batch_size) for p in meta['parts']))
        self.trained = {'seeds': 0, 'bytes_received': 0}  # this rank's training traffic
        self.info: Dict[str, Any] = {'num_nodes': int(meta['num_nodes']),
                                     'edge_cut': int(meta['edge_cut']),
                                     'cache_size': self.cached, 'ranks': []}

    def config(self) -> Dict[str, Any]:
        a, m = self.args, self.meta
        return {'dataset': a.dataset, 'model': a.model, 'num_layers': a.num_layers,
                'hidden_channels': a.hidden_channels, 'dropout': a.dropout, 'lr': a.lr,
                'batch_size': a.batch_size, 'num_neighbors': self.sizes, 'seed': a.seed,
                'world_size': self.ctx.world_size, 'partition_seed': m['seed'],
                'part_ptr': m['part_ptr']}

    def setup_run(self, run: int) -> RunState:
        from ..distributed import DistNeighborLoader
        from ..models.ogb import NodeGNN
        a, ctx = self.args, self.ctx
        model = NodeGNN(int(self.meta['num_features']), a.hidden_channels,
                        int(self.meta['num_classes']), a.num_layers, a.dropout, 'sage',
                        batch_norm=False).to(ctx.device)
        if ctx.is_distributed:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[ctx.device] if ctx.device.type == 'cuda' else None)
        gen = torch.Generator().manual_seed((a.seed + run) * 1009 + ctx.rank)
        loader = DistNeighborLoader(self.graph, self.sizes, self.train_ids, self.num_batches,
                                    shuffle=True, generator=gen)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=a.lr), gen,
                        {'loader': loader})

    def train_epoch(self, st: RunState, run: int, epoch: int) -> float:
        before = self.graph.bytes_received
        loss = train_sampled_epoch(st.model, st.extra['loader'], st.optimizer, self.ctx.device,
                                   self.ctx, progress=self.ctx.is_main and not self.args.quiet,
                                   desc=f'run {run} epoch {epoch}')
        self.trained['seeds'] += int(self.train_ids.numel())
        self.trained['bytes_received'] += self.graph.bytes_received - before
        return loss

    @torch.no_grad()
    def evaluate(self, st: RunState) -> Dict[str, float]:
        from ..distributed import dist_inference
        ctx, graph, part = self.ctx, self.graph, self.part
        model = unwrap(st.model).eval()
        pred = dist_inference(model, graph, self.args.eval_batch_size, ctx.device).argmax(-1)
        res = {}
        for k in ('train', 'valid', 'test'):
            idx = part.split[k]
            got = ctx.gather((pred.index_select(0, idx), part.y.index_select(0, idx)))
            p = torch.cat([a for a, _ in got]).view(-1, 1)
            y = torch.cat([b for _, b in got]).view(-1, 1)
            res[k] = float(self.evaluator.eval({'y_true': y, 'y_pred': p})['acc'])
        self.info['ranks'] = ctx.gather(self.traffic())
        return res

    def traffic(self) -> Dict[str, Any]:
        """This rank's counters: feature rows held, edges, peak memory, bytes sent and
        received (all and while training), requests by kind."""
        g = self.graph
        return {'rank': self.ctx.rank, 'feature_rows': g.feature_rows,
                'edges': int(self.part.col.numel()),
                'peak_memory_bytes': peak_memory(self.ctx.device)['peak_memory_bytes'],
                'bytes_sent': g.bytes_sent, 'bytes_received': g.bytes_received,
                'requests': g.requests, 'train_seeds': self.trained['seeds'],
                'train_bytes_received': self.trained['bytes_received'], 'traffic': g.traffic,
                'context_traffic': dict(self.ctx.traffic)}

    def run(self) -> int:
        return run_experiment(self.args, script=self.script, model_name=self.args.model,
                              config=self.config(), ctx=self.ctx, metric='acc',
                              setup_run=self.setup_run, train_epoch=self.train_epoch,
                              evaluate=self.evaluate, info=self.info, outputs=self.outputs)


def train_partitioned(args: argparse.Namespace) -> int:
    """``PartitionedNodeTrainer(args).run()``."""
    return PartitionedNodeTrainer(args).run()


def partition_dataset(args: argparse.Namespace) -> int:
    """``scripts/partition.py``: METIS parts of the ogbn-* dataset ``args.dataset`` under
    ``args.root`` written to ``args.out`` (``num_parts``, ``seed``, ``overwrite``, ``quiet``)."""
    from ..datasets import load_node_arrays
    from ..distributed import PartitionError, partition_graph
    if args.num_parts < 1:
        raise UserError(f'--num-parts must be >= 1, got {args.num_parts}')
    ei, x, y, split, num_classes = load_node_arrays(args.dataset, args.root)
    try:
        out = partition_graph(args.out, args.dataset, ei, x.numpy(), y, split, args.num_parts,
                              seed=args.seed, overwrite=args.overwrite,
                              progress=not args.quiet, num_classes=num_classes)
    except PartitionError as exc:
        raise UserError(str(exc)) from None
    print(f'{args.num_parts} part(s) of {args.dataset} -> {out}')
    return 0
