"""The OGB link property prediction trainer behind ``scripts/ogbl.py``: ogbl-collab (Hits@50),
ogbl-ddi (Hits@20), ogbl-ppa (Hits@100), ogbl-citation2 (MRR) or a folder built by
:func:`gdl_graphs.datasets.build_link_dataset`, with OGB's GCN / GraphSAGE baselines
(``examples/linkproppred/*/gnn.py``) on :class:`gdl_graphs.models.LinkGNN`.

Two ways to train (``--mode``):

- ``full``: OGB's loop: every mini-batch of positive training pairs encodes the whole graph,
  scores the pairs and as many negatives, and steps (gradients clipped to norm 1, as OGB);
- ``sampled``: :class:`gdl_graphs.loader.LinkNeighborLoader` batches (seed pairs, 1:1 exact
  negatives, ``--num-neighbors`` per hop), so memory follows the batch, not the graph.

Negatives are exact non-edges of the training graph (:class:`gdl_graphs.link.NegativeSampler`)
where OGB's collab / ppa / citation2 examples draw random pairs. Evaluation encodes the whole
graph once (no gradients) and scores OGB's positives and negatives with ogb's ``Evaluator``;
the train figure uses a fixed random subset of training pairs the size of the valid set,
against the valid negatives (Hits@K) or fresh random targets (MRR), as OGB's examples. The
message-passing graph is the training graph, made undirected (OGB: ``to_symmetric``).
"""
from __future__ import annotations

import argparse
from typing import Dict

import torch
import torch.nn.functional as F

from .context import init_context
from .errors import UserError
from .loop import RunState, prepare_outputs, run_experiment
from .options import check_args, parse_fanout

#: OGB's example settings per dataset (layers, width, dropout, lr, epochs, batch size)
DEFAULTS = {
    'ogbl-collab': dict(num_layers=3, hidden_channels=256, dropout=0.0, lr=0.001, epochs=400,
                        batch_size=64 * 1024),
    'ogbl-ddi': dict(num_layers=2, hidden_channels=256, dropout=0.5, lr=0.005, epochs=200,
                     batch_size=64 * 1024),
    'ogbl-ppa': dict(num_layers=3, hidden_channels=256, dropout=0.0, lr=0.01, epochs=20,
                     batch_size=64 * 1024),
    'ogbl-citation2': dict(num_layers=3, hidden_channels=256, dropout=0.0, lr=0.0005,
                           epochs=50, batch_size=64 * 1024),
}
GENERIC = DEFAULTS['ogbl-collab']


def add_link_options(p: argparse.ArgumentParser) -> None:
    """The model and schedule options of ``scripts/ogbl.py`` (``None``: the dataset's OGB
    default, see :data:`DEFAULTS`)."""
    p.add_argument('--model', default='gcn', choices=['gcn', 'sage'])
    p.add_argument('--mode', default=None, choices=['full', 'sampled'],
                   help='full-batch (OGB) or sampled mini-batches (default: sampled for '
                        'ogbl-citation2, else full)')
    p.add_argument('--num-layers', type=int, default=None)
    p.add_argument('--hidden-channels', type=int, default=None)
    p.add_argument('--dropout', type=float, default=None)
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--num-neighbors', default=None,
                   help='fan-out per hop of --mode sampled (default: 15 per layer)')
    p.add_argument('--eval-batch-size', type=int, default=64 * 1024)


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for key, value in DEFAULTS.get(args.dataset, GENERIC).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.mode is None:
        args.mode = 'sampled' if args.dataset == 'ogbl-citation2' else 'full'
    return args


def _pairs(split: Dict[str, torch.Tensor], style: str) -> torch.Tensor:
    """The positive pairs of a split as ``[2, M]``."""
    if style == 'source':
        return torch.stack([split['source_node'], split['target_node']]).long()
    return split['edge'].t().long()


@torch.no_grad()
def _scores(model, h: torch.Tensor, pairs: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model.score(h, pairs[:, i:i + batch])
                      for i in range(0, max(pairs.size(1), 1), batch)]).cpu()


def train_link(args: argparse.Namespace) -> int:
    """``scripts/ogbl.py``: ``args`` has :func:`base_parser`'s options and
    :func:`add_link_options`'."""
    fill_defaults(args)
    check_args(args)
    if not args.dataset.startswith('ogbl-'):
        raise UserError(f'--dataset {args.dataset!r} is not a link prediction dataset: use '
                        f'ogbl-collab, ogbl-ddi, ogbl-ppa, ogbl-citation2 or a built ogbl-* '
                        f'folder')
    sizes = None
    if args.mode == 'sampled':
        sizes = parse_fanout(args.num_neighbors or ','.join(['15'] * args.num_layers))
        if len(sizes) != args.num_layers:
            raise UserError(f'--num-neighbors has {len(sizes)} hops but --num-layers is '
                            f'{args.num_layers}: give one fan-out per layer')
    elif args.num_neighbors is not None:
        raise UserError('--num-neighbors needs --mode sampled')
    outputs = prepare_outputs(args, f'ogbl_{args.dataset}_{args.model}_{args.mode}')
    ctx = init_context(args.device, allow_distributed=False)
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    from ..datasets import evaluator_for, load_dataset
    from ..link import NegativeSampler
    from ..loader import LinkNeighborLoader
    from ..models.link import LinkGNN
    dataset = load_dataset(args.dataset, args.root, download=args.download)
    data, split, style = dataset[0], dataset.split_edge, dataset.split_style
    evaluator = evaluator_for(dataset)
    metric = evaluator.eval_metric
    dev = ctx.device
    n = int(data.num_nodes)
    edge_index = to_undirected(data.edge_index, num_nodes=n)
    if edge_index.size(1) == 0:
        raise UserError(f'{args.dataset} has no training edges: rebuild it with a larger train '
                        f'split')
    x = data.x.float() if data.x is not None else None
    in_channels = None if x is None else x.size(1)
    train_pos = _pairs(split['train'], style)
    valid_pos, test_pos = _pairs(split['valid'], style), _pairs(split['test'], style)
    neg_sampler = NegativeSampler(edge_index, n)
    x_dev = None if x is None else x.to(dev)
    ei_dev = edge_index.to(dev)
    config = {'dataset': args.dataset, 'model': args.model, 'mode': args.mode,
              'num_layers': args.num_layers, 'hidden_channels': args.hidden_channels,
              'dropout': args.dropout, 'lr': args.lr, 'batch_size': args.batch_size,
              'num_neighbors': sizes, 'seed': args.seed}
    graph = Data(x=x, edge_index=edge_index, num_nodes=n)
    where = dev if dev.type == 'cuda' and args.num_workers == 0 else torch.device('cpu')
    if args.mode == 'sampled':
        graph = graph.to(where)

    def setup_run(run: int) -> RunState:
        model = LinkGNN(in_channels, args.hidden_channels, args.num_layers, args.dropout,
                        args.model, num_nodes=n, cached=args.mode == 'full').to(dev)
        gen = torch.Generator().manual_seed(args.seed + run)
        extra = {}
        if args.mode == 'sampled':
            extra['loader'] = LinkNeighborLoader(
                graph, sizes, edge_label_index=train_pos.to(where), neg_sampling_ratio=1.0,
                batch_size=args.batch_size, shuffle=True, generator=gen,
                num_workers=args.num_workers)
        # the train figure's fixed subset (and, for MRR, its random negative targets)
        g = torch.Generator().manual_seed(10_000 + args.seed + run)
        k = min(train_pos.size(1), valid_pos.size(1))
        extra['train_eval'] = train_pos[:, torch.randperm(train_pos.size(1), generator=g)[:k]]
        if style == 'source':
            K = split['valid']['target_node_neg'].size(1)
            extra['train_neg'] = torch.randint(0, n, (k, K), generator=g)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr), gen, extra)

    def step(st: RunState, loss: torch.Tensor) -> None:
        st.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(st.model.parameters(), 1.0)
        st.optimizer.step()

    def train_full(st: RunState, run: int, epoch: int) -> float:
        model = st.model.train()
        perm = torch.randperm(train_pos.size(1), generator=st.generator)
        total, count = 0.0, 0
        for i in range(0, perm.numel(), args.batch_size):
            pos = train_pos[:, perm[i:i + args.batch_size]].to(dev)
            neg = neg_sampler.sample(pos.size(1), generator=st.generator).to(dev)
            h = model(x_dev, ei_dev)
            out = model.score(h, torch.cat([pos, neg], 1))
            label = torch.cat([out.new_ones(pos.size(1)), out.new_zeros(neg.size(1))])
            loss = F.binary_cross_entropy_with_logits(out, label)
            step(st, loss)
            total += float(loss.detach()) * pos.size(1)
            count += pos.size(1)
        return total / max(count, 1)

    def train_sampled(st: RunState, run: int, epoch: int) -> float:
        model = st.model.train()
        total, count = 0.0, 0
        from tqdm import tqdm
        for batch in tqdm(st.extra['loader'], disable=args.quiet, leave=False,
                          desc=f'run {run} epoch {epoch}'):
            xb = None if batch.x is None else batch.x.to(dev)
            h = model(xb, batch.edge_index.to(dev), batch.n_id.to(dev))
            out = model.score(h, batch.edge_label_index.to(dev))
            loss = F.binary_cross_entropy_with_logits(out, batch.edge_label.to(dev).float())
            step(st, loss)
            total += float(loss.detach()) * out.numel()
            count += out.numel()
        return total / max(count, 1)

    @torch.no_grad()
    def evaluate(st: RunState) -> Dict[str, float]:
        model = st.model.eval()
        h = model(x_dev, ei_dev)
        b = args.eval_batch_size
        out = {}
        if style == 'source':
            for name, pos, neg in (('train', st.extra['train_eval'], st.extra['train_neg']),
                                   ('valid', valid_pos, split['valid']['target_node_neg']),
                                   ('test', test_pos, split['test']['target_node_neg'])):
                K = neg.size(1)
                src = pos[0].view(-1, 1).expand(-1, K).reshape(-1)
                s_pos = _scores(model, h, pos.to(dev), b)
                s_neg = _scores(model, h, torch.stack([src, neg.reshape(-1).long()]).to(dev),
                                b).view(-1, K)
                res = evaluator.eval({'y_pred_pos': s_pos, 'y_pred_neg': s_neg})
                out[name] = float(res['mrr_list'].mean())
            return out
        negs = {k: split[k]['edge_neg'].t().long() for k in ('valid', 'test')}
        s_neg = {k: _scores(model, h, v.to(dev), b) for k, v in negs.items()}
        for name, pos, neg in (('train', st.extra['train_eval'], s_neg['valid']),
                               ('valid', valid_pos, s_neg['valid']),
                               ('test', test_pos, s_neg['test'])):
            res = evaluator.eval({'y_pred_pos': _scores(model, h, pos.to(dev), b),
                                  'y_pred_neg': neg})
            out[name] = float(res[metric])
        return out

    info = {'num_nodes': n, 'num_train_pairs': int(train_pos.size(1)),
            'negatives': 'exact non-edges of the training graph', 'mode': args.mode}
    return run_experiment(args, script='ogbl', model_name=f'{args.model}_{args.mode}',
                          config=config, ctx=ctx, metric=metric, setup_run=setup_run,
                          train_epoch=train_full if args.mode == 'full' else train_sampled,
                          evaluate=evaluate, info=info, outputs=outputs)

