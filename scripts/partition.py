"""METIS partitions of an OGB node-property dataset, one folder per rank, for
``torchrun --nproc_per_node=P scripts/ogbn_products.py --partitions DIR``.

    python scripts/partition.py --dataset ogbn-products --root datasets --num-parts 4 \\
        --out datasets/ogbn_products_4parts

Reads the official folder or one built with ``gdl_graphs.datasets.build_node_dataset`` (ogb
processes it once; the processed arrays are then memory-mapped), balances the parts on nodes and
on training nodes, and writes the folder atomically (see ``gdl_graphs.distributed.partition``).
The command is :func:`gdl_graphs.experiments.partitioned.partition_dataset`.
"""
import argparse
import sys

from gdl_graphs.experiments import cli
from gdl_graphs.experiments.partitioned import partition_dataset


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='ogbn-products')
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--num-parts', type=int, required=True)
    p.add_argument('--out', required=True, help='the partition folder to write')
    p.add_argument('--seed', type=int, default=0, help="METIS' seed")
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing partition folder')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return partition_dataset(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
