"""Complete graphs: every pair of nodes within each graph of a batch is connected.

A Transformer is attention on the complete graph of each set (or sequence): node ``i`` attends
to every node ``j`` of its set through the edge ``j -> i``. :func:`complete_graph` builds that
``edge_index`` and tags it ``annotate(edge_index, 'complete', ptr=..., loops=...)``, so an
attention layer (:class:`gdl_graphs.nn.AttentionConv`) may run it as one
``F.scaled_dot_product_attention`` call on the padded batch instead of gathering ``sum_b n_b^2``
edge scores; the numbers are the same. :class:`CompleteGraph` is the transform twin.

The edge list has ``sum_b n_b^2`` entries (``n_b (n_b - 1)`` without self-loops): a graph too
large for memory is refused with the size it would need.

Positional information is node features: :func:`gdl_graphs.domains.sequence.sinusoidal_positions`
for sequences; for graphs PyG's ``AddLaplacianEigenvectorPE`` and ``AddRandomWalkPE`` (see the
Transformer row of the tour, :mod:`gdl_graphs.tour.transformer`).
"""
from __future__ import annotations

import os
from typing import Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..core import annotate, plain
from ..core.dense import batch_to_ptr
from ._structured import read_tagged

__all__ = ['complete_graph', 'complete_graph_bytes', 'CompleteGraph']

_BYTES_PER_EDGE = 3 * 2 * 8  # int64 [2, E] plus the construction's temporaries


def _available_bytes(device: torch.device) -> Optional[int]:
    """Free memory on ``device`` (``None`` when unknown)."""
    if device.type == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return None


def _fmt(num_bytes: float) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'):
        if num_bytes < 1024 or unit == 'PiB':
            return f'{num_bytes:.1f} {unit}'
        num_bytes /= 1024
    return f'{num_bytes:.1f} PiB'  # pragma: no cover


def complete_graph_bytes(sizes: Tensor, loops: bool = True) -> tuple[int, int]:
    """``(num_edges, bytes)`` that :func:`complete_graph` needs for sets of ``sizes``."""
    s = sizes.long()
    num_edges = int((s * s).sum()) if loops else int((s * (s - 1)).sum())
    return num_edges, num_edges * _BYTES_PER_EDGE


def complete_graph(batch: Optional[Tensor] = None, num_nodes: Optional[int] = None,
                   loops: bool = True, *, ptr: Optional[Tensor] = None,
                   max_bytes: Optional[int] = None,
                   device: Union[str, torch.device, None] = None) -> Tensor:
    r"""The ``edge_index`` connecting every pair of nodes within each graph of a batch.

    .. math::
        \mathcal{E} = \{(j, i) : \mathrm{batch}_j = \mathrm{batch}_i\}
        \ (\text{minus } j = i \text{ when } \texttt{loops=False})

    Edges are ordered by target, then source (the CSR order). The result is tagged
    ``'complete'`` with ``ptr`` and ``loops`` for the dense attention dispatch.

    Args:
        batch: sorted graph index of every node ``[N]`` (default: one graph of ``num_nodes``).
        num_nodes: number of nodes (needed without ``batch`` and ``ptr``).
        loops: include the self-loops ``(i, i)``.
        ptr: set boundaries ``[B + 1]`` instead of ``batch``.
        max_bytes: refuse graphs needing more memory than this (default: the free memory of
            ``device``).
        device: where to build it (default: that of ``batch``/``ptr``, else CPU).

    Returns:
        ``edge_index`` ``[2, E]`` with ``E = sum_b n_b^2`` (``n_b (n_b - 1)`` without loops).

    Raises:
        ValueError: for an unsorted ``batch`` or a graph too large for memory (the message
            gives the number of edges and the bytes needed).
    """
    if num_nodes is not None:
        num_nodes = _count(num_nodes)
    if ptr is None:
        if batch is not None:
            ptr = batch_to_ptr(batch, num_nodes)
        elif num_nodes is not None:
            num_nodes = _count(num_nodes)
            ptr = torch.tensor([0, int(num_nodes)], device=device)
        else:
            raise ValueError('complete_graph needs batch, ptr or num_nodes')
    ptr = ptr.long()
    if device is not None:
        ptr = ptr.to(device)
    if ptr.dim() != 1 or ptr.numel() < 1 or int(ptr[0]) != 0:
        raise ValueError(f'ptr must be a 1-D tensor [B + 1] starting at 0, got '
                         f'{list(ptr.shape)}')
    sizes = ptr[1:] - ptr[:-1]
    if sizes.numel() and bool((sizes < 0).any()):
        raise ValueError('ptr must be non-decreasing')
    if num_nodes is not None and int(ptr[-1]) != int(num_nodes):
        raise ValueError(f'ptr describes {int(ptr[-1])} nodes but num_nodes is {num_nodes}')
    num_edges, need = complete_graph_bytes(sizes, loops)
    limit = max_bytes if max_bytes is not None else _available_bytes(ptr.device)
    if limit is not None and need > limit:
        biggest = int(sizes.max()) if sizes.numel() else 0
        raise ValueError(
            f'the complete graph is too large for memory: {num_edges:,} edges (largest set: '
            f'{biggest:,} nodes) need about {_fmt(need)} to build, but only {_fmt(limit)} '
            f'{"is allowed (max_bytes)" if max_bytes is not None else "is free"}; use smaller '
            f'sets, a sparse graph (e.g. k-nearest neighbours), or attention on the padded '
            f'dense batch (gdl_graphs.core.dense.complete_attention) which needs no edge list')
    edge_index = _build(ptr, sizes, loops, num_edges)
    return annotate(edge_index, 'complete', ptr=ptr, loops=bool(loops))


def _count(num_nodes) -> int:
    """``num_nodes`` as an int >= 0 (an int or a 0-dim integer tensor, not 2.5 or True)."""
    import operator
    try:
        if isinstance(num_nodes, bool):
            raise TypeError
        n = operator.index(num_nodes)
    except TypeError:
        raise ValueError(f'num_nodes must be an int >= 0, got {num_nodes!r}') from None
    if n < 0:
        raise ValueError(f'num_nodes must be >= 0, got {n}')
    return n


def _build(ptr: Tensor, sizes: Tensor, loops: bool, num_edges: int) -> Tensor:
    dev = ptr.device
    per = sizes * sizes if loops else sizes * (sizes - 1)
    graph = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), per,
                                    output_size=num_edges)
    start = torch.cumsum(per, 0) - per
    local = torch.arange(num_edges, device=dev) - start.index_select(0, graph)
    n = sizes.index_select(0, graph)
    offset = ptr[:-1].index_select(0, graph)
    if loops:
        dst, src = local // n.clamp(min=1), local % n.clamp(min=1)
    else:
        m = (n - 1).clamp(min=1)
        dst, src = local // m, local % m
        src = src + (src >= dst).long()
    return torch.stack([src + offset, dst + offset])


class CompleteData(Data):
    """A graph whose edges are the complete graph of each of its graphs (what
    :class:`CompleteGraph` returns): ``complete_loops`` (one row per graph) says whether the
    self-loops are in; reading ``data.edge_index`` after a clone, a device move,
    ``torch.load`` or PyG's collation checks once per tensor that the edges are still that
    complete graph and returns them tagged, so attention keeps its dense kernel on a batch from
    a ``DataLoader``."""

    @property
    def edge_index(self):
        loops = self._store.get('complete_loops')
        if loops is None:
            return self._store.get('edge_index')
        return read_tagged(self, lambda ei: _tagged_complete(self, ei, loops), (loops,))

    @edge_index.setter
    def edge_index(self, value):
        self._store.edge_index = value


torch.serialization.add_safe_globals([CompleteData])


def _tagged_complete(data: Data, ei: Tensor, loops: Tensor) -> Tensor:
    if loops.numel() == 0 or bool((loops != loops[0]).any()):
        raise ValueError('graphs with and without self-loops')
    ptr = data.get('ptr')
    if ptr is None:
        batch = data.get('batch')
        ptr = batch_to_ptr(batch, data.num_nodes) if batch is not None else \
            torch.tensor([0, int(data.num_nodes)], device=ei.device)
    ref = complete_graph(ptr=ptr.to(ei.device), loops=bool(loops[0]), max_bytes=1 << 62)
    if not torch.equal(ei, plain(ref)):
        raise ValueError('not the complete graph')
    return annotate(ei, 'complete', ptr=ptr.to(ei.device), loops=bool(loops[0]))


class CompleteGraph(BaseTransform):
    """Replace the edges of a ``Data``/``Batch`` by the complete graph of each of its graphs.

    A ``Data`` comes back as a :class:`CompleteData`, which keeps the ``'complete'`` structure
    through clones, device moves, saving and ``DataLoader`` collation (a batch of such graphs is
    the complete graph of each). ``edge_attr`` and ``edge_weight`` are removed, as they describe
    the old edges.

    Args:
        loops: include self-loops (a Transformer's attention includes them).
        max_bytes: memory limit passed to :func:`complete_graph`.
    """

    def __init__(self, loops: bool = True, max_bytes: Optional[int] = None):
        self.loops = loops
        self.max_bytes = max_bytes

    def forward(self, data: Data) -> Data:
        batch, ptr = data.get('batch'), data.get('ptr')
        n = data.num_nodes
        dev = data.x.device if data.get('x') is not None else None
        if ptr is not None and batch is not None:
            batch = None  # a Batch's ptr also counts its empty graphs
        data.edge_index = complete_graph(batch, n, self.loops, ptr=ptr,
                                         max_bytes=self.max_bytes, device=dev)
        for key in ('edge_attr', 'edge_weight'):
            if key in data:
                del data[key]
        if type(data) is Data:  # keeps its structure wherever it goes
            num_graphs = 1 if ptr is None and batch is None else \
                (ptr.numel() - 1 if ptr is not None else int(batch.max()) + 1)
            data = CompleteData(**{k: v for k, v in data._store.items()})
            data.complete_loops = torch.full((num_graphs,), bool(self.loops), device=dev)
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(loops={self.loops})'
