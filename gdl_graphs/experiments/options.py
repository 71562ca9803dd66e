"""The command-line options every trainer shares, and their checks (one line each)."""
from __future__ import annotations

import argparse
import math
from typing import List, Optional

from .context import check_device
from .errors import UserError


def base_parser(description: str, dataset: str, epochs: int, runs: int, lr: float,
                batch_size: Optional[int] = None) -> argparse.ArgumentParser:
    """A parser with the options of :func:`~gdl_graphs.experiments.run_experiment`: data
    (``--dataset``, ``--root``, ``--download``), device, schedule (``--epochs``, ``--runs``,
    ``--seed``, ``--lr``, ``--batch-size``), outputs (``--out-dir``, ``--results``,
    ``--checkpoint``, ``--resume``, ``--overwrite``) and ``--quiet``. A command adds its model's
    options to it."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--dataset', default=dataset)
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--device', default=None,
                   help='cpu, cuda, cuda:1 (default: cuda when available)')
    p.add_argument('--epochs', type=int, default=epochs)
    p.add_argument('--runs', type=int, default=runs)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--lr', type=float, default=lr)
    if batch_size is not None:
        p.add_argument('--batch-size', type=int, default=batch_size)
    p.add_argument('--num-workers', type=int, default=0)
    p.add_argument('--out-dir', default='runs', help='where results and checkpoints go')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--checkpoint', default=None, help='checkpoint (default: in --out-dir)')
    p.add_argument('--resume', action='store_true',
                   help='continue from --checkpoint (--epochs may be raised)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace a checkpoint and results file of an earlier run')
    p.add_argument('--download', action='store_true',
                   help='download an official OGB dataset whose folder is missing')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.add_argument('--stop-after', type=int, default=None, help=argparse.SUPPRESS)
    return p


# size options and their smallest value (OGB's molecule GNN needs two layers); dropout-like
# options are probabilities in [0, 1)
AT_LEAST = {'num_layer': 2, 'num_layers': 1, 'emb_dim': 1, 'hidden_channels': 1,
            'eval_batch_size': 1, 'cache_size': 0, 'epochs': 1, 'runs': 1, 'batch_size': 1,
            'num_workers': 0}
RATIOS = ('drop_ratio', 'dropout')


def check_args(args: argparse.Namespace) -> None:
    """Sizes, probabilities, ``--lr`` and ``--device`` of a :func:`base_parser` namespace; the
    first mistake is a one-line :class:`UserError`."""
    for key, low in AT_LEAST.items():
        value = getattr(args, key, None)
        if value is not None and value < low:
            raise UserError(f'--{key.replace("_", "-")} must be >= {low}, got {value}')
    lr = getattr(args, 'lr', None)
    if lr is not None and not (0 < lr < math.inf):
        raise UserError(f'--lr must be a finite number > 0, got {lr}')
    for key in RATIOS:
        value = getattr(args, key, None)
        if value is not None and not (0 <= value < 1):
            raise UserError(f'--{key.replace("_", "-")} is a probability in [0, 1), got '
                            f'{value}')
    if getattr(args, 'device', None) is not None:
        check_device(args.device)


def parse_fanout(text: str, option: str = '--num-neighbors') -> List[int]:
    """``'15,10,5'`` -> ``[15, 10, 5]`` (``-1``: all neighbours)."""
    try:
        out = [int(t) for t in text.split(',')]
    except ValueError:
        raise UserError(f'{option} {text!r}: give one integer per hop, e.g. 15,10,5 '
                        f'(-1 = all)') from None
    if any(k < -1 or k == 0 for k in out):
        raise UserError(f'{option} {text!r}: every fan-out is >= 1 or -1 (all)')
    return out
