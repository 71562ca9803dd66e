"""OGB link property prediction: ogbl-collab (Hits@50), ogbl-ddi (Hits@20), ogbl-ppa (Hits@100),
ogbl-citation2 (MRR) or a built ogbl-* folder, with OGB's GCN / GraphSAGE baselines on
gdl_graphs, full batch or on sampled mini-batches.

    python scripts/ogbl.py --dataset ogbl-collab --model sage --runs 10
    python scripts/ogbl.py --dataset ogbl-citation2 --mode sampled --num-neighbors 15,10,5

Defaults are OGB's examples' per dataset (layers, width, dropout, lr, epochs, batch size); see
:data:`gdl_graphs.experiments.link.DEFAULTS`. The trainer is
:func:`gdl_graphs.experiments.link.train_link`.
"""
import sys

from gdl_graphs.experiments import base_parser, cli
from gdl_graphs.experiments.link import add_link_options, train_link


def parse(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbl-collab', epochs=None, runs=10, lr=None)
    add_link_options(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    return train_link(parse(argv))


if __name__ == '__main__':
    sys.exit(cli(main))
