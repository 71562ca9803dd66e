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
        if self.is_distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


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
    kwargs: Dict[str, Any] = {}
    if timeout_s is not None:
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=float(timeout_s))
    backend = 'nccl' if dev.type == 'cuda' else 'gloo'
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, **kwargs)
    return DistContext(rank, world, dev, backend)
