"""METIS partitions of an OGB node-property dataset, one folder per rank, for
``torchrun --nproc_per_node=P scripts/ogbn_products.py --partitions DIR``.

    python scripts/partition.py --dataset ogbn-products --root datasets --num-parts 4 \\
        --out datasets/ogbn_products_4parts

Reads the official folder or one built with ``gdl_graphs.datasets.build_node_dataset`` (ogb
processes it once; the processed arrays are then memory-mapped), balances the parts on nodes and
on training nodes, and writes the folder atomically (see ``gdl_graphs.distributed.partition``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import UserError, cli  # noqa: E402


def parse(argv: Optional[List[str]]):
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


def load_arrays(name: str, root: str):
    """``(edge_index, x, y, split, num_classes)`` of an ogbn-* folder, memory-mapped from
    ogb's processed file (ogb writes it on the first load)."""
    import torch

    from gdl_graphs.datasets import allow_pyg_classes, check_processed, dataset_path, load_dataset
    from gdl_graphs.datasets.ogb_utils import kind_of, meta_info
    if kind_of(name) != 'node':
        raise UserError(f'--dataset {name!r} is not a node property dataset: use an ogbn-* '
                        f'name')
    path = dataset_path(name, root)
    processed = osp.join(path, 'processed', 'geometric_data_processed.pt')
    if osp.isfile(processed):
        check_processed(name, root)  # built from the raw files now there
    dataset = load_dataset(name, root) if not osp.isfile(processed) else None
    split = dataset.split_idx if dataset is not None else None
    del dataset
    allow_pyg_classes()
    try:
        data = torch.load(processed, mmap=True, weights_only=True)[0]
    except Exception as exc:
        raise UserError(f'cannot memory-map {processed} ({type(exc).__name__}); delete the '
                        f'processed folder and run again') from None
    if split is None:
        import pandas as pd
        meta = meta_info(name, root)
        folder = osp.join(path, 'split', meta['split'])
        split = {k: pd.read_csv(osp.join(folder, f'{k}.csv.gz'), compression='gzip',
                                header=None).values.T[0] for k in ('train', 'valid', 'test')}
    get = data.get if hasattr(data, 'get') else data.__getitem__
    x, y, ei = get('x'), get('y'), get('edge_index')
    if x is None or y is None:
        raise UserError(f'{name} has no node features or labels: rebuild it with x and y')
    num_classes = int(meta_info(name, root).get('num classes', int(y.max()) + 1))
    return ei, x, y, split, num_classes


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    if args.num_parts < 1:
        raise UserError(f'--num-parts must be >= 1, got {args.num_parts}')
    from gdl_graphs.datasets import dataset_fingerprint
    from gdl_graphs.distributed import PartitionError, partition_graph
    from gdl_graphs.distributed.partition import check_output
    from gdl_graphs.io.atomic import terminate_cleanly
    terminate_cleanly()  # SIGTERM: the temporary folder is removed, exit status 143
    check_output(args.out, args.overwrite)  # before any work
    ei, x, y, split, num_classes = load_arrays(args.dataset, args.root)
    try:
        out = partition_graph(args.out, args.dataset, ei, x.numpy(), y, split, args.num_parts,
                              seed=args.seed, overwrite=args.overwrite,
                              progress=not args.quiet, num_classes=num_classes,
                              source=dataset_fingerprint(args.dataset, args.root))
    except (PartitionError, OSError) as exc:
        raise UserError(' '.join(str(exc).split())) from None
    print(f'{args.num_parts} part(s) of {args.dataset} -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli(main))
