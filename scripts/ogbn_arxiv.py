"""OGB node property prediction, full batch: ogbn-arxiv (or a built ogbn-* folder) with GCN or
GraphSAGE, as OGB's ``examples/nodeproppred/arxiv/gnn.py``, on gdl_graphs.

    python scripts/ogbn_arxiv.py --model gcn --runs 10

Defaults are OGB's: 3 layers, 256 hidden, batch norm, dropout 0.5, Adam lr 0.01, 500 epochs;
the graph is made undirected (OGB: ``adj_t.to_symmetric()``).
"""
from __future__ import annotations

import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import (  # noqa: E402
    RunState,
    UserError,
    base_parser,
    check_args,
    cli,
    run_experiment,
    setup_device,
)

SCRIPT = 'ogbn_arxiv'


def train(model, x, edge_index, y, train_idx, optimizer) -> float:
    """One full-batch step on the training nodes."""
    model.train()
    optimizer.zero_grad()
    out = model(x, edge_index)[train_idx]
    loss = F.nll_loss(out, y[train_idx])
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model, x, edge_index, y, split_idx, evaluator) -> Dict[str, float]:
    """Accuracy (ogb's ``Evaluator``) on the train, valid and test nodes."""
    model.eval()
    pred = model(x, edge_index).argmax(dim=-1, keepdim=True).cpu()
    yy = y.view(-1, 1).cpu()
    return {k: float(evaluator.eval({'y_true': yy[split_idx[k]],
                                     'y_pred': pred[split_idx[k]]})[evaluator.eval_metric])
            for k in ('train', 'valid', 'test')}


def parse(argv: Optional[List[str]]):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbn-arxiv', epochs=500, runs=10, lr=0.01,
                    batch_size=None)
    p.add_argument('--model', default='gcn', choices=['gcn', 'sage'])
    p.add_argument('--num-layers', type=int, default=3)
    p.add_argument('--hidden-channels', type=int, default=256)
    p.add_argument('--dropout', type=float, default=0.5)
    return p.parse_args(argv)


def load_node_data(args, dist):
    from gdl_graphs.datasets import evaluator_for, load_dataset
    if not args.dataset.startswith('ogbn-'):
        raise UserError(f'--dataset {args.dataset!r} is not a node property dataset: use an '
                        f'ogbn-* name')
    dataset = load_dataset(args.dataset, args.root, download=args.download)
    data = dataset[0]
    if data.x is None or data.y is None:
        raise UserError(f'{args.dataset} has no node features or labels: rebuild it with x and '
                        f'y')
    if 'multiclass' not in dataset.task_type:
        raise UserError(f'{args.dataset} is a {dataset.task_type} dataset; this script '
                        f'trains multiclass node classifiers')
    return dataset, data, evaluator_for(dataset)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    check_args(args)
    dist = setup_device(args, allow_distributed=False)
    from torch_geometric.utils import to_undirected

    from gdl_graphs.models.ogb import NodeGNN
    dataset, data, evaluator = load_node_data(args, dist)
    dev = dist.device
    x = data.x.to(dev)
    y = data.y.view(-1).to(dev)
    edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes).to(dev)
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
        return train(st.model, x, edge_index, y, train_idx, st.optimizer)

    return run_experiment(args, SCRIPT, args.model, config, dist, evaluator.eval_metric, True,
                          setup_run, train_epoch,
                          lambda st: evaluate(st.model, x, edge_index, y, split, evaluator),
                          info={'num_nodes': int(data.num_nodes),
                                'num_edges_undirected': int(edge_index.size(1))})


if __name__ == '__main__':
    sys.exit(cli(main))
