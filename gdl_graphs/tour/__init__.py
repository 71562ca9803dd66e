"""The blueprint tour: one row per domain, each a graph, a layer, a check and a short training.

Each row lives in a module of this package that defines ``ORDER`` (its place in the table) and
``run() -> Row``. The tour prints the table and fails (exit code 1) when a check fails.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from dataclasses import dataclass
from typing import List, Optional


@dataclass
class Row:
    """One domain of the blueprint.

    ``error`` is the largest deviation from the classic architecture (or the equivariance
    error); the check passes when ``error <= tol``."""
    domain: str
    graph: str
    layer: str
    check: str
    error: float
    tol: float
    result: str

    @property
    def ok(self) -> bool:
        return self.error == self.error and self.error <= self.tol  # NaN fails


def row_modules() -> List[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith('_')]
    mods = [importlib.import_module(f'{__name__}.{n}') for n in names]
    return [m.__name__ for m in sorted(mods, key=lambda m: (getattr(m, 'ORDER', 99), m.__name__))]


def run_tour(only: Optional[List[str]] = None, stream=sys.stdout) -> int:
    """Run every row (or those whose module name is in ``only``); return the exit code."""
    import torch
    # the rows are small: one thread is as fast, and immune to OpenMP oversubscription when
    # the machine is busy (two spinning threads on one free core run many times slower)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(only, stream)
    finally:
        torch.set_num_threads(threads)


def _run(only: Optional[List[str]], stream) -> int:
    rows: List[Row] = []
    names = row_modules()
    if only:
        names = [n for n in names if n.rsplit('.', 1)[1] in only]
    header = (f"{'domain':<13} {'graph':<31} {'layer':<25} {'check':<37} {'error':>8}  "
              f"result")
    for k, name in enumerate(names, 1):
        short = name.rsplit('.', 1)[1]
        print(f'[{k}/{len(names)}] {short} ...', file=stream, flush=True)
        t0 = time.perf_counter()
        try:
            row = importlib.import_module(name).run()
        except Exception as exc:  # a failing row is reported, the tour goes on
            row = Row(short, '-', '-', f'raised {type(exc).__name__}', float('nan'), 0.0,
                      str(exc)[:60])
        row.result = f'{row.result} ({time.perf_counter() - t0:.1f}s)'
        rows.append(row)
    print('', file=stream)
    print(header, file=stream)
    print('-' * len(header), file=stream)
    for r in rows:
        mark = 'ok' if r.ok else 'FAIL'
        print(f'{r.domain:<13} {r.graph:<31} {r.layer:<25} {r.check:<37} {r.error:8.1e}  '
              f'{mark:<4} {r.result}', file=stream)
    failed = [r.domain for r in rows if not r.ok]
    if failed:
        print(f"\nFAILED checks: {', '.join(failed)}", file=stream)
        return 1
    print(f'\nall {len(rows)} checks passed', file=stream)
    return 0
