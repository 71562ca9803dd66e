"""OGB node property prediction with mini-batches of sampled neighbourhoods: ogbn-products (or
a built ogbn-* folder) with GraphSAGE, as PyG's ``examples/ogbn_products_sage.py``, on
gdl_graphs and its own neighbour sampler (no pyg-lib, no torch-sparse).

    python scripts/ogbn_products.py --model sage --runs 10
    python scripts/partition.py --dataset ogbn-products --num-parts 2 --out parts2
    torchrun --nproc_per_node=2 scripts/ogbn_products.py --partitions parts2 --device cpu

Defaults: 3 layers, 256 hidden, dropout 0.5, fan-out 15,10,5, batch 1024, Adam lr 0.003,
20 epochs; evaluation runs layer by layer over full neighbourhoods (batches of 4096 nodes).
With ``--partitions DIR`` (one rank per part, under torchrun) every rank holds only its part
(:class:`gdl_graphs.experiments.partitioned.PartitionedNodeTrainer`); ``torchrun
--max-restarts N`` restarts a group that lost a rank from the last checkpoint.
"""
import sys

from gdl_graphs.experiments import base_parser, cli
from gdl_graphs.experiments.ogb import train_node_sampled


def parse(argv=None):
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


def main(argv=None) -> int:
    return train_node_sampled(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
