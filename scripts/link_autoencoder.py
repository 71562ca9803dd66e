"""Graph auto-encoders (GAE, VGAE; Kipf and Welling 2016) for link prediction on Planetoid
(Cora, CiteSeer, PubMed): the paper's Table 1, on gdl_graphs' layers.

    python scripts/link_autoencoder.py --dataset CiteSeer --model vgae --root ROOT --runs 10

ROOT holds the ``ind.<name>.*`` files of github.com/kimiyoung/planetoid, directly or in
PyG's ``Planetoid`` layout (``ROOT/<Name>/raw/``); nothing is downloaded or written there.
The protocol (85/5/10 split, 32-16 GCN encoder, Adam lr 0.01, 200 epochs) and the trainer are
in :mod:`gdl_graphs.experiments.autoencoder`.
"""
import argparse
import sys

from gdl_graphs.experiments import cli
from gdl_graphs.experiments.autoencoder import train_autoencoder


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='CiteSeer', help='Cora, CiteSeer or PubMed')
    p.add_argument('--model', default='gae', choices=['gae', 'vgae'])
    p.add_argument('--root', default='datasets', help='folder of the ind.<name>.* files')
    p.add_argument('--device', default=None, help='cpu, cuda (default: cuda when available)')
    p.add_argument('--runs', type=int, default=10)
    p.add_argument('--seed', type=int, default=0, help='the split and the first run')
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--hidden', type=int, default=32)
    p.add_argument('--latent', type=int, default=16)
    p.add_argument('--loss', default='dense', choices=['dense', 'sampled'],
                   help="the paper's weighted loss over all pairs, or PyG's sampled negatives")
    p.add_argument('--out-dir', default='runs', help='where the results JSON goes')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--overwrite', action='store_true', help='replace an earlier results JSON')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--no-bias', dest='bias', action='store_false',
                   help="the paper's GCN layers, without biases (default: with, as PyG's "
                        'example)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_autoencoder(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
