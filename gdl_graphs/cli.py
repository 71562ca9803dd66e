"""The ``gdl-graphs`` command (also ``python -m gdl_graphs``)."""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import List, Optional


def _tour(args: argparse.Namespace) -> int:
    from .tour import run_tour
    return run_tour(args.only or None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='gdl-graphs', description='The Geometric Deep Learning blueprint as graphs.')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('tour', help='run the blueprint: one row per domain, with checks')
    p.add_argument('--only', nargs='*', help='run only these rows (e.g. graph grid)')
    p.set_defaults(func=_tour)
    from .convert import add_subcommands  # convert, info, plot
    add_subcommands(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command. Nothing heavy is imported before a command needs it (``--help`` does
    not load torch). SIGTERM and SIGHUP end it with status 128 + signal after the writers have
    removed their temporary outputs."""
    # PyG's import-time ``torch.jit.script`` warns as a FutureWarning on torch >= 2.14: not
    # the user's concern on every command
    warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated',
                            category=FutureWarning)
    warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated',
                            category=DeprecationWarning)
    args = build_parser().parse_args(argv)
    from .io.atomic import terminate_cleanly
    terminate_cleanly()
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
