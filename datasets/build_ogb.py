"""Build an OGB-format dataset folder from your molecules, so the OGB scripts run on it.

    python datasets/build_ogb.py --csv mols.csv --smiles-column smiles \\
        --label-columns active --name ogbg-mymols --root datasets/ --split scaffold
    python scripts/ogbg_mol.py --dataset ogbg-mymols --root datasets/

The CSV needs a header; empty label cells are missing labels. Needs rdkit (the ``chem``
extra: pip install "gdl-graphs[chem]"). A name ogb knows (e.g. ogbg-molhiv) must fit its
meta information (one binary task for ogbg-molhiv); any other ogbg-* name is recorded with
its own task type and metric. For graphs that are not molecules, call
``gdl_graphs.datasets.build_graph_dataset`` from Python.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def build(argv: Optional[List[str]] = None) -> str:
    import numpy as np
    import pandas as pd

    from gdl_graphs.datasets import DatasetError, build_smiles_dataset
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--csv', required=True, help='a CSV file with a header')
    p.add_argument('--smiles-column', default='smiles')
    p.add_argument('--label-columns', nargs='+', required=True)
    p.add_argument('--name', required=True, help='ogbg-* dataset name')
    p.add_argument('--root', default='datasets')
    p.add_argument('--split', default='scaffold', choices=['scaffold', 'random'])
    p.add_argument('--frac', type=float, nargs=3, default=(0.8, 0.1, 0.1),
                   metavar=('TRAIN', 'VALID', 'TEST'))
    p.add_argument('--seed', type=int, default=0, help='seed of the random split')
    p.add_argument('--task-type', default='binary classification',
                   choices=['binary classification', 'regression'])
    p.add_argument('--eval-metric', default=None, choices=['rocauc', 'ap', 'rmse'])
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)
    try:
        table = pd.read_csv(args.csv)
    except (OSError, ValueError) as exc:
        raise DatasetError(f'cannot read --csv {args.csv}: {str(exc).splitlines()[0]}') from None
    missing = [c for c in [args.smiles_column] + args.label_columns if c not in table]
    if missing:
        raise DatasetError(f'{args.csv} has no column {missing[0]!r}; its columns are '
                           f'{", ".join(map(str, table.columns))}')
    try:
        labels = table[args.label_columns].to_numpy(dtype=np.float64)
    except ValueError:
        raise DatasetError(f'the label columns of {args.csv} must hold numbers (empty = '
                           f'missing)') from None
    return build_smiles_dataset(args.root, args.name, table[args.smiles_column].astype(str),
                                labels, split=args.split, frac=tuple(args.frac), seed=args.seed,
                                task_type=args.task_type, eval_metric=args.eval_metric,
                                overwrite=args.overwrite)


def main(argv: Optional[List[str]] = None) -> int:
    from gdl_graphs.datasets import DatasetError
    try:
        path = build(argv)
    except DatasetError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
