"""TU graph classification (MUTAG, PROTEINS, NCI1, IMDB-BINARY, ...) with GIN and the
10-fold protocol of Xu et al., "How Powerful are Graph Neural Networks?" (ICLR 2019).

    python scripts/tu.py --dataset PROTEINS --root ROOT --folds 10 --workers 2

ROOT holds PyG's ``TUDataset`` layout (``ROOT/<NAME>/raw/<NAME>_A.txt``, ...); nothing is
downloaded unless ``--download`` is given. The defaults are the paper's recipe; the trainer,
its recipe and how it is made fast are in :mod:`gdl_graphs.experiments.tu`. One epoch is one
pass over the training folds (the authors' code draws 50 random batches per epoch instead;
``--iters-per-epoch 50`` does that).
"""
import argparse
import sys

from gdl_graphs.experiments import cli
from gdl_graphs.experiments.tu import train_tu


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='MUTAG', help='a TU data set name, e.g. MUTAG')
    p.add_argument('--model', default='gin', choices=['gin', 'gin-eps'],
                   help='gin: GIN-0 (eps = 0), gin-eps: eps learned')
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--device', default=None, help='cpu, cuda (default: cuda when available)')
    p.add_argument('--folds', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=350)
    p.add_argument('--iters-per-epoch', type=int, default=None,
                   help='random batches per epoch (default: one pass over the training folds)')
    p.add_argument('--num-layers', type=int, default=5, help='GIN layers, the input included')
    p.add_argument('--hidden', type=int, default=32)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--step-size', type=int, default=50, help='epochs between lr decays')
    p.add_argument('--gamma', type=float, default=0.5, help='lr decay factor')
    p.add_argument('--workers', type=int, default=1,
                   help='folds trained at once, one process and one thread each (CPU)')
    p.add_argument('--out-dir', default='runs', help='where the results JSON goes')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--overwrite', action='store_true', help='replace an earlier results JSON')
    p.add_argument('--download', action='store_true',
                   help='download the raw files when ROOT/<NAME>/raw lacks them')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.add_argument('--only-folds', default=None,
                   help='comma-separated folds to run (e.g. 0,1): a partial results JSON with '
                        'the per-fold curves, for parallel processes; combine with --merge')
    p.add_argument('--merge', nargs='+', default=None, metavar='JSON',
                   help='combine the partial results of --only-folds runs into one result')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_tu(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
