"""The graph as one rank sees it: its own part, and batched requests to the owners of the rest.

Transport: ``torch.distributed`` collectives (``all_to_all_single``; gloo on CPU, nccl on CUDA
tensors), not RPC. Every rank samples its own mini-batch in lockstep with the others (DDP needs
the lockstep anyway), so each request round is one collective in which every rank sends all of
its questions to all owners at once and answers all questions it received: three
``all_to_all_single`` calls per round (counts, questions, answers), whatever the number of
nodes asked for. ``torch.distributed.rpc`` would add a thread pool and one message per
(caller, owner) pair, is in maintenance mode, and gives nothing lockstep sampling needs.

A failed or timed-out collective (a rank died, the network broke) raises
:class:`DistributedError` on the ranks that are left, after at most the process group's timeout.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .partition import LocalPart


class DistributedError(RuntimeError):
    """Another rank failed or a collective timed out; the message is one line."""


def lost_peer(what: str, exc: BaseException) -> 'DistributedError':
    """The one-line error of a rank whose collective failed because another rank stopped (or
    the process group timed out) while ``what`` ran."""
    text = str(exc).strip()
    first = text.splitlines()[0][:160] if text else ''
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    return DistributedError(
        f'rank {rank}: {what} failed, another rank stopped or the process group timed out '
        f'({type(exc).__name__}: {first}); every rank stops, restart the run (--resume '
        f'continues from the last checkpoint)')


def run_collective(what: str, fn: Callable[[], None]) -> None:
    """Call ``fn`` (a collective); a failure of the transport becomes :func:`lost_peer`'s
    error."""
    try:
        fn()
    except RuntimeError as exc:  # gloo / nccl raise DistBackendError (a RuntimeError)
        raise lost_peer(what, exc) from None


class DistGraph:
    r"""One rank's part of a partitioned graph and the requests that reach the other parts.

    Every method that takes global node ids is a **collective**: all ranks call it together
    (each with its own ids, possibly none) and it returns this rank's answers.

    Args:
        part: this rank's :class:`~gdl_graphs.distributed.partition.LocalPart`.
        group: the process group (default: the world; without one the graph must have one
            part and nothing is sent).

    Counters ``bytes_sent`` / ``bytes_received`` add up the payload that crossed to / from
    other ranks (a rank's questions to itself are answered locally and not counted).
    """

    def __init__(self, part: LocalPart, group=None):
        self.part = part
        self.group = group
        dist = torch.distributed
        self.world = dist.get_world_size(group) if dist.is_initialized() else 1
        self.rank = dist.get_rank(group) if dist.is_initialized() else 0
        if self.world != part.meta['num_parts'] or self.rank != part.rank:
            raise DistributedError(f"rank {self.rank} of {self.world} holds part {part.rank} "
                                   f"of {part.meta['num_parts']}: start one rank per part")
        self.num_nodes = int(part.meta['num_nodes'])
        self.deg = part.rowptr[1:] - part.rowptr[:-1]
        self.bytes_sent = 0
        self.bytes_received = 0
        self.requests = 0
        self.traffic: dict = {}  # request kind -> [bytes sent, bytes received]
        self.cache_ids = torch.zeros(0, dtype=torch.long)  # sorted global ids
        self.cache_rows: Optional[Tensor] = None

    # ------------------------------------------------------------------ ids

    def locate(self, ids: Tensor) -> Tuple[Tensor, Tensor]:
        """Owner part and local index of each global id."""
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_nodes):
            raise ValueError(f'node ids must lie in 0 .. {self.num_nodes - 1}, got '
                             f'{int(ids.min())} .. {int(ids.max())}')
        new = torch.from_numpy(self.part.new_id[ids.cpu().numpy()].astype('int64'))
        owner = torch.searchsorted(self.part.part_ptr, new, right=True) - 1
        return owner, new - self.part.part_ptr.index_select(0, owner)

    # ------------------------------------------------------------------ transport

    def request(self, ids: Tensor, extra: Optional[Tensor], answer: Callable[[Tensor], Tensor],
                row_shape: Sequence[int], dtype: torch.dtype, what: str) -> Tensor:
        """Ask the owner of every id: ``answer`` runs on the owner with ``[m, 1 + c]`` rows of
        (local index, ``extra`` columns) and returns ``[m, *row_shape]``; the result is in the
        order of ``ids``. A collective."""
        owner, local = self.locate(ids)
        payload = local.view(-1, 1) if extra is None else torch.cat(
            [local.view(-1, 1), extra.view(-1, 1) if extra.dim() == 1 else extra], 1)
        if self.world == 1:
            return answer(payload).reshape(len(ids), *row_shape)
        order = torch.argsort(owner, stable=True)
        send_counts = torch.bincount(owner, minlength=self.world)
        recv_counts = torch.empty_like(send_counts)
        run_collective(what, lambda: torch.distributed.all_to_all_single(
            recv_counts, send_counts, group=self.group))
        sc, rc = send_counts.tolist(), recv_counts.tolist()
        questions = payload.index_select(0, order).contiguous()
        received = questions.new_empty((sum(rc), questions.size(1)))
        run_collective(what, lambda: torch.distributed.all_to_all_single(
            received, questions, rc, sc, group=self.group))
        reply = answer(received).reshape(sum(rc), *row_shape).to(dtype).contiguous()
        back = reply.new_empty((len(ids), *row_shape))
        run_collective(what, lambda: torch.distributed.all_to_all_single(
            back, reply, sc, rc, group=self.group))
        row_bytes = reply.element_size() * (int(torch.tensor(row_shape).prod())
                                            if len(row_shape) else 1)
        q_bytes = questions.element_size() * questions.size(1)
        sent = (sum(sc) - sc[self.rank]) * q_bytes + (sum(rc) - rc[self.rank]) * row_bytes
        received = (sum(rc) - rc[self.rank]) * q_bytes + (sum(sc) - sc[self.rank]) * row_bytes
        self.bytes_sent += sent
        self.bytes_received += received
        kind = self.traffic.setdefault(what, [0, 0])
        kind[0] += sent
        kind[1] += received
        self.requests += 1
        out = torch.empty_like(back)
        out[order] = back
        return out

    # ------------------------------------------------------------------ graph queries

    def degree(self, ids: Tensor) -> Tensor:
        """In-degree of every global id (a collective)."""
        return self.request(ids, None, lambda q: self.deg.index_select(0, q[:, 0]), (),
                            torch.long, 'the degree request')

    def neighbors(self, ids: Tensor, offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """Source node and edge id of in-edge ``offsets[i]`` of node ``ids[i]`` (offsets in
        the single-process CSR row order; a collective)."""
        def answer(q: Tensor) -> Tensor:
            pos = self.part.rowptr.index_select(0, q[:, 0]) + q[:, 1]
            return torch.stack([self.part.col.index_select(0, pos),
                                self.part.eid.index_select(0, pos)], 1)
        out = self.request(ids, offsets, answer, (2,), torch.long, 'the adjacency request')
        return out[:, 0], out[:, 1]

    def rows(self, table: Tensor, ids: Tensor, what: str = 'the row request',
             use_cache: bool = False) -> Tensor:
        """Rows of a node-wise table that every rank holds for its own nodes (features,
        labels, a layer's output), for global ``ids`` (a collective)."""
        shape, dtype = tuple(table.shape[1:]), table.dtype
        if use_cache and self.cache_rows is not None and self.cache_ids.numel():
            pos = torch.searchsorted(self.cache_ids, ids).clamp(max=self.cache_ids.numel() - 1)
            hit = self.cache_ids.index_select(0, pos) == ids
            out = table.new_empty((len(ids), *shape))
            out[hit] = self.cache_rows.index_select(0, pos[hit])
            miss = (~hit).nonzero().view(-1)
            out[miss] = self.request(ids.index_select(0, miss), None,
                                     lambda q: table.index_select(0, q[:, 0]), shape, dtype,
                                     what)
            return out
        return self.request(ids, None, lambda q: table.index_select(0, q[:, 0]), shape, dtype,
                            what)

    def features(self, ids: Tensor) -> Tensor:
        """Feature rows of global ``ids``: own rows locally, cached ones from the cache, the
        rest from their owners in one batched request (a collective)."""
        return self.rows(self.part.x, ids, 'the feature request', use_cache=True)

    def halo(self) -> Tensor:
        """The remote nodes with an edge into this part, sorted, and how many edges each has
        into it."""
        owner, _ = self.locate(self.part.col)
        remote = self.part.col[owner != self.rank]
        return torch.unique(remote, return_counts=True)

    def build_cache(self, size: int) -> int:
        """Keep the features of the ``size`` remote nodes with the most edges into this part
        (ties: lower id) on this rank; returns how many were cached. A collective."""
        ids, counts = self.halo()
        size = max(0, min(int(size), ids.numel()))
        top = torch.argsort(-counts, stable=True)[:size]
        keep = torch.sort(ids.index_select(0, top)).values
        self.cache_ids = torch.zeros(0, dtype=torch.long)
        self.cache_rows = None
        rows = self.rows(self.part.x, keep, 'the cache fill')
        self.cache_ids, self.cache_rows = keep, rows
        return int(keep.numel())

    @property
    def feature_rows(self) -> int:
        """Feature rows this rank holds: its own and the cached ones."""
        return self.part.num_nodes + int(self.cache_ids.numel())
