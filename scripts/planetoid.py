"""Planetoid node classification (Cora, CiteSeer, PubMed) with the published GCN and GAT
recipes, on gdl_graphs' layers.

    python scripts/planetoid.py --dataset CiteSeer --model gcn --root ROOT --runs 10

ROOT holds PyG's ``Planetoid`` layout: ``ROOT/<Name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,
test.index}`` (the files of github.com/kimiyoung/planetoid). Nothing is downloaded unless
``--download`` is given. The recipes (the defaults) and the trainer are in
:mod:`gdl_graphs.experiments.planetoid`.
"""
import argparse
import sys

from gdl_graphs.experiments import cli
from gdl_graphs.experiments.planetoid import train_planetoid


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='Cora', help='Cora, CiteSeer or PubMed')
    p.add_argument('--model', default='gcn', choices=['gcn', 'gat'])
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--device', default=None, help='cpu, cuda (default: cuda when available)')
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    for key in ('epochs', 'patience', 'hidden', 'heads', 'out_heads'):
        p.add_argument('--' + key.replace('_', '-'), type=int, default=None,
                       help='default: the recipe')
    for key in ('lr', 'weight_decay', 'dropout'):
        p.add_argument('--' + key.replace('_', '-'), type=float, default=None,
                       help='default: the recipe')
    p.add_argument('--out-dir', default='runs', help='where the results JSON goes')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--overwrite', action='store_true', help='replace an earlier results JSON')
    p.add_argument('--download', action='store_true',
                   help='download the raw files when ROOT/<Name>/raw lacks them')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_planetoid(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
