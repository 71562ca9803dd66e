"""OGB node property prediction, full batch: ogbn-arxiv (or a built ogbn-* folder) with GCN or
GraphSAGE, as OGB's ``examples/nodeproppred/arxiv/gnn.py``, on gdl_graphs.

    python scripts/ogbn_arxiv.py --model gcn --runs 10

Defaults are OGB's: 3 layers, 256 hidden, batch norm, dropout 0.5, Adam lr 0.01, 500 epochs;
the graph is made undirected (OGB: ``adj_t.to_symmetric()``). The trainer is
:func:`gdl_graphs.experiments.ogb.train_node_full_batch`.
"""
import sys

from gdl_graphs.experiments import base_parser, cli
from gdl_graphs.experiments.ogb import train_node_full_batch


def parse(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbn-arxiv', epochs=500, runs=10, lr=0.01)
    p.add_argument('--model', default='gcn', choices=['gcn', 'sage'])
    p.add_argument('--num-layers', type=int, default=3)
    p.add_argument('--hidden-channels', type=int, default=256)
    p.add_argument('--dropout', type=float, default=0.5)
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_node_full_batch(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
