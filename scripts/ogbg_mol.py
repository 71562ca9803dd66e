"""OGB molecule property prediction (ogbg-molhiv, ogbg-molpcba, or a folder built with
datasets/build_ogb.py), as OGB's ``examples/graphproppred/mol/main_pyg.py``, on gdl_graphs.

    python scripts/ogbg_mol.py --dataset ogbg-molhiv --gnn gin-virtual --runs 10
    torchrun --nproc_per_node=2 scripts/ogbg_mol.py --dataset ogbg-molhiv --device cpu

Defaults are OGB's: 5 layers, 300 hidden, dropout 0.5, batch 32, Adam lr 1e-3, 100 epochs.
Under torchrun every rank trains on its DistributedSampler shard (DDP: gloo on CPU, nccl on
CUDA) and evaluates a shard; predictions are gathered so the metric covers the whole split.
The trainer is :func:`gdl_graphs.experiments.ogb.train_graph_property`.
"""
import sys

from gdl_graphs.experiments import base_parser, cli
from gdl_graphs.experiments.ogb import train_graph_property


def parse(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbg-molhiv', epochs=100, runs=1, lr=1e-3,
                    batch_size=32)
    p.add_argument('--gnn', default='gin-virtual',
                   choices=['gin', 'gin-virtual', 'gcn', 'gcn-virtual'])
    p.add_argument('--num-layer', type=int, default=5)
    p.add_argument('--emb-dim', type=int, default=300)
    p.add_argument('--drop-ratio', type=float, default=0.5)
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_graph_property(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
