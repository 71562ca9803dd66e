"""OGB molecule property prediction (ogbg-molhiv, ogbg-molpcba, or a folder built with
datasets/build_ogb.py), as OGB's ``examples/graphproppred/mol/main_pyg.py``, on gdl_graphs.

    python scripts/ogbg_mol.py --dataset ogbg-molhiv --gnn gin-virtual --runs 10
    python scripts/ogbg_mol.py --preset molhiv-cpu-gin --device cpu   # leaderboard CPU entry
    torchrun --nproc_per_node=2 scripts/ogbg_mol.py --dataset ogbg-molhiv --device cpu

Defaults are OGB's: 5 layers, 300 hidden, dropout 0.5, batch 32, Adam lr 1e-3, 100 epochs.
Under torchrun every rank trains on its DistributedSampler shard (DDP: gloo on CPU, nccl on
CUDA) and evaluates a shard; predictions are gathered so the metric covers the whole split.
The trainer and the presets (published recipes; explicit options override them) are in
:mod:`gdl_graphs.experiments.ogb`.
"""
import sys

from gdl_graphs.experiments import base_parser, cli
from gdl_graphs.experiments.ogb import PRESETS, train_graph_property


def parse(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbg-molhiv', epochs=100, runs=1, lr=1e-3,
                    batch_size=32)
    p.add_argument('--gnn', default='gin-virtual',
                   choices=['gin', 'gin-virtual', 'gcn', 'gcn-virtual', 'atom-gin'])
    p.add_argument('--num-layer', type=int, default=5)
    p.add_argument('--emb-dim', type=int, default=300)
    p.add_argument('--drop-ratio', type=float, default=0.5)
    p.add_argument('--weight-decay', type=float, default=0.0)
    p.add_argument('--lr-halve-at', type=int, default=None,
                   help='at this epoch a new Adam starts at half the learning rate')
    p.add_argument('--selection', default='valid', choices=['valid', 'valid_and_train'],
                   help='the epoch a run reports: best valid, or valid and train both no worse')
    p.add_argument('--preset', default=None, choices=sorted(PRESETS),
                   help='a published recipe (its options; the ones given here win)')
    known, _ = p.parse_known_args(argv)
    if known.preset is not None:
        p.set_defaults(**PRESETS[known.preset])
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_graph_property(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
