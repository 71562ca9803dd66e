"""The process group of a run, as one small object (the role of PyG's ``DistContext``).

:class:`DistContext` knows this process's rank, the number of ranks and its device, and
offers the few collectives a trainer needs: a barrier, ``gather`` of any picklable object,
``any`` of a flag, and :meth:`DistContext.agree`, which turns a problem found on one rank into
the same one-line error on every rank (no rank waits forever for another that stopped). It
counts the bytes its own collectives move (:attr:`DistContext.traffic`).

:func:`init_context` reads ``torchrun``'s environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``): one process without it, else a process group on gloo (CPU) or nccl (CUDA).
"""
from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch

from .errors import UserError


@dataclass
class DistContext:
    """Rank, world size and device of this process, and the collectives of a trainer.

    With ``world_size == 1`` every method works without a process group (``gather`` returns
    ``[obj]``, the barrier does nothing), so one trainer serves both cases.
    """
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device('cpu'))
    backend: Optional[str] = None
    # bytes this rank's gather/any calls sent and received, by collective
    traffic: Dict[str, List[int]] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def _count(self, kind: str, sent: int, received: int) -> None:
        row = self.traffic.setdefault(kind, [0, 0])
        row[0] += sent
        row[1] += received

    def barrier(self) -> None:
        if self.is_distributed:
            _collective('a barrier', torch.distributed.barrier)

    def gather(self, obj: Any) -> List[Any]:
        """``obj`` of every rank, in rank order (a collective)."""
        if not self.is_distributed:
            return [obj]
        out: List[Any] = [None] * self.world_size
        _collective('gathering results', lambda: torch.distributed.all_gather_object(out, obj))
        size = len(pickle.dumps(obj))
        self._count('gather', size * (self.world_size - 1),
                    sum(len(pickle.dumps(o)) for i, o in enumerate(out) if i != self.rank))
        return out

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank (a collective)."""
        if not self.is_distributed:
            return bool(flag)
        t = torch.tensor([int(bool(flag))],
                         device=self.device if self.backend == 'nccl' else 'cpu')
        _collective('a flag exchange',
                    lambda: torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX))
        self._count('any', 8 * (self.world_size - 1), 8 * (self.world_size - 1))
        return bool(t.item())

    def agree(self, problem: Optional[str], error: type = UserError) -> None:
        """Share each rank's verdict (``None``: fine) and raise the first problem, named by
        its rank, on every rank at once (a collective)."""
        found = [(r, p) for r, p in enumerate(self.gather(problem)) if p is not None]
        if found:
            r, p = found[0]
            raise error(f'rank {r}: {p}' if self.is_distributed else p)

    def close(self) -> None:
        """End the process group; every rank calls it (see :func:`close_process_group`)."""
        if self.is_distributed:
            close_process_group(clean=True)


def close_process_group(clean: bool) -> None:
    """Destroy the default process group, if there is one.

    ``clean=True`` (every rank got here without an error) first meets the other ranks at a
    barrier. On torch < 2.8 a gloo group's destructor holds the GIL while it joins its
    worker threads, and a worker that is still freeing the tensors of the last collective
    needs the GIL: the rank hangs for ever (torch PR 154976 releases the GIL there). During
    the barrier this rank waits without the GIL, so the workers finish first. After an
    error the ranks may be in different collectives, so there is no barrier, only a short
    wait without the GIL.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return
    if clean:
        try:
            dist.barrier()
        except RuntimeError:  # a rank is gone: nothing to wait for
            pass
    time.sleep(0.01)  # lets a worker thread that waits for the GIL finish its work
    dist.destroy_process_group()


def _collective(what: str, fn) -> None:
    from ..distributed import run_collective
    run_collective(what, fn)


def check_device(text: str) -> None:
    """Only ``cpu``, ``cuda`` and ``cuda:N``: the trainers run nowhere else (``mps``, ``meta``
    and others fail deep inside torch)."""
    head, _, index = text.partition(':')
    if head not in ('cpu', 'cuda') or (index and not index.isdigit()) or \
            (head == 'cpu' and index):
        raise UserError(f'--device {text!r} is not supported: use cpu, cuda or cuda:N')


def world_size_from_env() -> int:
    """The number of ranks ``torchrun`` started (1 without torchrun)."""
    return int(os.environ.get('WORLD_SIZE', '1'))


def init_context(device: Optional[str] = None, allow_distributed: bool = True,
                 timeout_s: Optional[float] = None) -> DistContext:
    """The device and, under ``torchrun`` (``WORLD_SIZE > 1``), the process group: gloo on
    CPU, nccl on CUDA; rank ``r`` uses ``cuda:LOCAL_RANK``.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N`` (default: CUDA when available).
        allow_distributed: ``False`` for a trainer that runs in one process only (then
            ``torchrun`` with several ranks is refused in one line).
        timeout_s: how long a collective waits for a rank that stopped (default: torch's).
    """
    world = world_size_from_env()
    want = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    check_device(want)
    if want.startswith('cuda') and not torch.cuda.is_available():
        raise UserError(f'--device {want}: CUDA is not available here; use --device cpu')
    dev = torch.device(want)
    if world <= 1:
        return DistContext(0, 1, dev)
    if not allow_distributed:
        raise UserError('this command runs in one process: start it without torchrun')
    rank = int(os.environ['RANK'])
    if dev.type == 'cuda':
        dev = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
        torch.cuda.set_device(dev)
    import datetime
    kwargs: Dict[str, Any] = {}
    if timeout_s is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=float(timeout_s))
    backend = 'nccl' if dev.type == 'cuda' else 'gloo'
    if not torch.distributed.is_initialized():
        restart = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0)
        if restart > 0 and 'MASTER_ADDR' in os.environ:
            # a group restarted by torchrun: its own keys in the store, so that no rank
            # connects to an address the failed attempt published
            agent = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
            store = torch.distributed.TCPStore(
                os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world,
                is_master=not agent and rank == 0,
                timeout=kwargs.get('timeout', datetime.timedelta(seconds=300)))
            kwargs.update(store=torch.distributed.PrefixStore(f'gdl_graphs/attempt{restart}',
                                                              store),
                          rank=rank, world_size=world)
        torch.distributed.init_process_group(backend, **kwargs)
    return DistContext(rank, world, dev, backend)
