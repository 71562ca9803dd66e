"""The benchmark harness: candidates side by side in one process, as ratios.

Each module in ``scripts/bench_rows/`` defines ``rows(quick: bool, device: str) -> list[Row]``.
A row names a baseline and its candidates (callables that run once, e.g. forward + backward);
the harness runs them round-robin, keeps the minimum time over rounds, measures the peak memory
of one call of each, prints the ratios against the baseline and writes JSON.

    python scripts/bench.py                    # all rows, full size, 2 threads
    python scripts/bench.py --quick --only core grid --json out.json
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import pathlib
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch

ROWS_DIR = pathlib.Path(__file__).resolve().parent / 'bench_rows'


@dataclass
class Row:
    """``candidates[name]()`` runs one measured call; ``goals[name]`` is the ratio to beat
    against ``candidates[baseline]`` (time, and ``mem_goals`` for peak memory)."""
    name: str
    baseline: str
    candidates: Dict[str, Callable[[], object]]
    goals: Dict[str, float] = field(default_factory=dict)
    mem_goals: Dict[str, float] = field(default_factory=dict)
    note: str = ''
    rss: bool = False  # CPU peak memory as the process's resident high-water mark (counts
    #                    numpy, scipy and C++ allocations that torch's allocator never sees)
    rounds: Optional[int] = None  # this row's rounds, overriding --rounds (a minutes-long
    #                               one-shot call: 1, with warmup=False)
    warmup: bool = True  # one untimed call of every candidate first


def peak_rss(fn: Callable[[], object]) -> int:
    """Peak resident bytes of the process during one call of ``fn``, above its resident size
    before (Linux: freed heap returned with ``malloc_trim``, the high-water mark reset through
    ``/proc/self/clear_refs``)."""
    import ctypes
    import re

    def status(key):
        text = pathlib.Path('/proc/self/status').read_text()
        return int(re.search(rf'{key}:\s+(\d+) kB', text).group(1)) * 1024
    gc.collect()
    ctypes.CDLL('libc.so.6').malloc_trim(0)
    pathlib.Path('/proc/self/clear_refs').write_text('5')
    base = status('VmRSS')
    fn()
    return max(status('VmHWM') - base, 0)


def peak_memory(fn: Callable[[], object], device: str, rss: bool = False) -> int:
    """Peak bytes allocated by torch during one call of ``fn`` (above what was live before);
    with ``rss`` on CPU, the process's resident peak (:func:`peak_rss`)."""
    if rss and not device.startswith('cuda'):
        return peak_rss(fn)
    gc.collect()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # every allocation (+) and release (-) of torch's CPU allocator, in time order
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def time_row(row: Row, rounds: int, device: str) -> Dict[str, dict]:
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for fn in row.candidates.values() if row.warmup else ():  # caches, allocator, kernels
        fn()
        sync()
    best = {k: float('inf') for k in row.candidates}
    for _ in range(row.rounds or rounds):
        for k, fn in row.candidates.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            best[k] = min(best[k], time.perf_counter() - t0)
    mem = {k: peak_memory(fn, device, row.rss) for k, fn in row.candidates.items()}
    base_t, base_m = best[row.baseline], max(mem[row.baseline], 1)
    out = {}
    for k in row.candidates:
        ratio, mratio = best[k] / base_t, mem[k] / base_m
        goal, mgoal = row.goals.get(k), row.mem_goals.get(k)
        out[k] = {'seconds': best[k], 'peak_bytes': mem[k], 'time_ratio': ratio,
                  'mem_ratio': mratio, 'goal': goal, 'mem_goal': mgoal,
                  'met': (goal is None or ratio <= goal) and (mgoal is None or mratio <= mgoal)}
    return out


def load_rows(only: Optional[List[str]], quick: bool, device: str) -> List[Row]:
    rows = []
    for path in sorted(ROWS_DIR.glob('*.py')):
        if path.stem.startswith('_') or (only and path.stem not in only):
            continue
        spec = importlib.util.spec_from_file_location(f'bench_rows.{path.stem}', path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        rows.extend(mod.rows(quick=quick, device=device))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--only', nargs='*', help='row modules to run (file stems)')
    parser.add_argument('--quick', action='store_true', help='small sizes (smoke test)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', default='bench_results.json')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {'device': args.device, 'threads': args.threads, 'torch': torch.__version__,
               'machine': platform.machine(), 'quick': args.quick, 'rows': {}}
    if args.device.startswith('cuda'):
        results['card'] = torch.cuda.get_device_name()
    all_met = True
    for row in load_rows(args.only, args.quick, args.device):
        print(f'== {row.name}' + (f'  ({row.note})' if row.note else ''), flush=True)
        res = time_row(row, args.rounds, args.device)
        results['rows'][row.name] = res
        for k, r in res.items():
            goal = '' if r['goal'] is None else f"  goal <= {r['goal']}x"
            mgoal = '' if r['mem_goal'] is None else f"  mem goal <= {r['mem_goal']}x"
            mark = '' if (r['goal'] is None and r['mem_goal'] is None) else \
                ('  met' if r['met'] else '  MISSED')
            print(f"   {k:<34} {r['seconds'] * 1e3:10.2f} ms  x{r['time_ratio']:6.3f}   "
                  f"peak {r['peak_bytes'] / 2**20:9.1f} MiB  x{r['mem_ratio']:6.3f}"
                  f"{goal}{mgoal}{mark}", flush=True)
            all_met &= r['met']
        del row
        gc.collect()
    pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
