"""Ranks of a multi-process test, forked from the test process, with a deadline.

A rank that hangs (a stalled rendezvous on a loaded machine, a collective that never
completes) is killed after ``timeout`` seconds and the test fails saying so: no test waits
for ever, and pytest-timeout, which does not re-arm on a pytest-rerunfailures rerun, is not
the only guard.
"""
import socket
import time

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_ranks(fn, args, nprocs: int = 2, timeout: float = 120.0) -> None:
    """``fn(rank, *args)`` in ``nprocs`` forked processes (fork: they inherit the imported
    modules; spawn would import torch again in each). Raises what a rank raised, or an
    ``AssertionError`` naming the ranks still running at the deadline."""
    ctx = mp.start_processes(fn, args, nprocs=nprocs, join=False, start_method='fork')
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                alive = [r for r, p in enumerate(ctx.processes) if p.is_alive()]
                raise AssertionError(f'ranks {alive} still running after {timeout:.0f} s')
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
                p.join()
