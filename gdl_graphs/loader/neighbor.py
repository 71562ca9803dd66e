"""Neighbour sampling for mini-batch training, without pyg-lib or torch-sparse.

:class:`NeighborSampler` samples, hop by hop, at most ``k`` incoming edges of every frontier
node (GraphSAGE, Hamilton et al. 2017, https://arxiv.org/abs/1706.02216) from a CSR of the graph
built once (rows = targets). Every step is a vectorised tensor operation, so the same code runs
on CPU and CUDA:

- a node with at most ``k`` in-edges keeps them all;
- a node with more draws a uniformly random ``k``-subset of them with Floyd's algorithm, run
  for all such nodes at once (``k`` steps on a ``[nodes, k]`` table: no sort, no work
  proportional to the degrees); with ``replace=True``: ``k`` uniform draws;
- new nodes are numbered in the order of their first appearance, after the seeds.

:class:`NeighborLoader` wraps it in a :class:`torch.utils.data.DataLoader` over seed nodes and
yields :class:`torch_geometric.data.Data` mini-batches shaped like PyG's ``NeighborLoader``'s:
``n_id`` (global ids, seeds first), ``e_id``, ``batch_size``, ``input_id``,
``num_sampled_nodes`` / ``num_sampled_edges`` per hop, ``edge_index`` local (source -> target),
and every node / edge attribute sliced. Each batch draws its own seed from the loader's
generator in the main process, so a run is reproducible for any ``num_workers``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Protocol, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core import check_edge_index, plain, scatter
from ..core.sparse import CSR


@dataclass
class SamplerOutput:
    """One sampled subgraph.

    ``node``: global ids of the sampled nodes, the seeds first; ``row``/``col``: local source /
    target of every sampled edge; ``edge``: the global id (column of ``edge_index``) of every
    sampled edge; ``num_sampled_nodes[h]`` / ``num_sampled_edges[h]``: how many nodes / edges
    hop ``h`` added (hop 0 = the seeds)."""
    node: Tensor
    row: Tensor
    col: Tensor
    edge: Tensor
    batch_size: int
    num_sampled_nodes: List[int]
    num_sampled_edges: List[int]

    @property
    def edge_index(self) -> Tensor:
        return torch.stack([self.row, self.col])


def check_fanout(num_neighbors: Sequence[int]) -> List[int]:
    if isinstance(num_neighbors, int) or not len(num_neighbors):
        raise ValueError(f'num_neighbors must be a non-empty list with one fan-out per hop '
                         f'(e.g. [15, 10, 5]; -1 takes all neighbours), got {num_neighbors!r}')
    out = [int(k) for k in num_neighbors]
    if any(k < -1 for k in out):
        raise ValueError(f'num_neighbors holds {min(out)}: a fan-out is >= 0, or -1 for all '
                         f'neighbours')
    return out


def _floyd(deg: Tensor, k: int, generator: Optional[torch.Generator]) -> Tensor:
    """Floyd's algorithm, vectorised over rows: ``k`` distinct uniform offsets in
    ``0 .. deg_i - 1`` for every row ``i`` (all ``deg_i > k``). Step ``s`` draws ``t`` in
    ``0 .. j`` with ``j = deg - k + s`` and keeps ``t``, or ``j`` when ``t`` was taken."""
    out = torch.empty(deg.numel(), k, dtype=torch.long, device=deg.device)
    r = torch.rand(deg.numel(), k, generator=generator, device=deg.device, dtype=torch.float64)
    for s in range(k):
        j = deg - k + s
        t = torch.minimum((r[:, s] * (j + 1)).long(), j)
        if s:
            taken = (out[:, :s] == t.view(-1, 1)).any(1)
            t = torch.where(taken, j, t)
        out[:, s] = t
    return out


def sample_offsets(deg: Tensor, k: int, replace: bool,
                   generator: Optional[torch.Generator]) -> Tuple[Tensor, Tensor]:
    """The sampled in-edges of nodes with in-degrees ``deg``, as ``(owner, offset)``: the node
    (index into ``deg``) each sampled edge belongs to and its offset in that node's CSR row.

    Depends on the degrees and the generator only, so a sampler that holds the rows elsewhere
    (:class:`gdl_graphs.distributed.DistNeighborSampler`) draws exactly the same edges."""
    ar = torch.arange(deg.numel(), device=deg.device)
    if k < 0 or (not replace and bool((deg <= k).all())):
        owner = torch.repeat_interleave(ar, deg)
        offset = torch.arange(owner.numel(), device=deg.device) - \
            torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
        return owner, offset
    if replace:
        has = deg > 0
        owner = torch.repeat_interleave(ar[has], k)
        r = torch.rand(owner.numel(), generator=generator, device=deg.device,
                       dtype=torch.float64)
        return owner, (r * deg.index_select(0, owner)).long()
    small = deg <= k
    own_small, off_small = sample_offsets(deg[small], -1, False, None)
    own_small = ar[small].index_select(0, own_small)
    big = ar[~small]
    off_big = _floyd(deg.index_select(0, big), k, generator).view(-1)  # [B, k] distinct
    own_big = big.repeat_interleave(k)
    return torch.cat([own_small, own_big]), torch.cat([off_small, off_big])


class GraphStore(Protocol):
    """What the hop loop asks of a graph (:func:`sample_hops`): the in-degrees of nodes, and
    the source and edge id of chosen in-edges. :class:`NeighborSampler` answers from its CSR;
    :class:`gdl_graphs.distributed.DistGraph` asks the owners of the rows."""

    num_nodes: int

    def degree(self, nodes: Tensor) -> Tensor:
        """In-degree of every node of ``nodes``."""

    def neighbors(self, nodes: Tensor, offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """``(source, edge id)`` of in-edge ``offsets[i]`` of ``nodes[i]`` (CSR row order)."""


class _DenseIds:
    """Local ids of the sampled nodes in a ``[num_nodes]`` table (fast; memory in the graph)."""

    def __init__(self, seeds: Tensor, num_nodes: int):
        dev = seeds.device
        self.assoc = torch.full((num_nodes,), -1, dtype=torch.long, device=dev)
        self.assoc[seeds] = torch.arange(seeds.numel(), device=dev)
        if bool((self.assoc[seeds] != torch.arange(seeds.numel(), device=dev)).any()):
            raise ValueError('seeds hold a node id twice: pass distinct seed nodes')
        self.num_nodes, self.total = num_nodes, seeds.numel()

    def add(self, src: Tensor) -> Tuple[Tensor, Tensor]:
        new = self.assoc.index_select(0, src) < 0
        cand = src[new]
        if cand.numel():  # first appearance of each new node, without a sort
            ar = torch.arange(cand.numel(), device=src.device)
            first = scatter(ar, cand, self.num_nodes, 'min')
            fresh = cand[first.index_select(0, cand) == ar]
        else:
            fresh = cand
        self.assoc[fresh] = torch.arange(self.total, self.total + fresh.numel(),
                                         device=src.device)
        self.total += fresh.numel()
        return self.assoc.index_select(0, src), fresh


class _SortedIds:
    """Local ids of the sampled nodes in a sorted list (memory in the subgraph only)."""

    def __init__(self, seeds: Tensor):
        self.known, self.local = torch.sort(seeds)
        if bool((self.known[1:] == self.known[:-1]).any()):
            raise ValueError('seeds hold a node id twice: pass distinct seed nodes')
        self.total = seeds.numel()

    def add(self, src: Tensor) -> Tuple[Tensor, Tensor]:
        known = self.known
        if known.numel():
            pos = torch.searchsorted(known, src).clamp(max=known.numel() - 1)
            found = known.index_select(0, pos) == src
            row = torch.where(found, self.local.index_select(0, pos), -1)
        else:
            found = torch.zeros_like(src, dtype=torch.bool)
            row = torch.full_like(src, -1)
        fresh, which = _first_appearance(src[~found])
        row[~found] = self.total + which
        self.known, perm = torch.sort(torch.cat([known, fresh]))
        self.local = torch.cat([self.local, torch.arange(self.total, self.total + fresh.numel(),
                                                         device=src.device)]).index_select(0, perm)
        self.total += fresh.numel()
        return row, fresh


def _first_appearance(values: Tensor) -> Tuple[Tensor, Tensor]:
    """The distinct values in order of first appearance, and for every entry the index of its
    value in that list."""
    uniq, inverse = torch.unique(values, return_inverse=True)
    first = scatter(torch.arange(values.numel(), device=values.device), inverse, uniq.numel(),
                    'min')
    order = torch.argsort(first)
    rank_of = torch.empty_like(order)
    rank_of[order] = torch.arange(order.numel(), device=values.device)
    return uniq.index_select(0, order), rank_of.index_select(0, inverse)


def sample_hops(store: GraphStore, seeds: Tensor, num_neighbors: Sequence[int],
                replace: bool = False, generator: Optional[torch.Generator] = None,
                dense_ids: bool = True) -> SamplerOutput:
    """The hop loop of every neighbour sampler: per hop, the in-degrees of the frontier
    (``store.degree``), the sampled offsets (:func:`sample_offsets`, drawn here from
    ``generator``), their sources and edge ids (``store.neighbors``); new nodes are numbered
    in order of first appearance, after the seeds.

    Args:
        store: the graph (:class:`GraphStore`).
        seeds: distinct seed nodes (1-D integer tensor).
        num_neighbors: fan-out per hop (``-1``: all neighbours).
        replace: sample with replacement.
        generator: the random draws (the same state gives the same subgraph on any store).
        dense_ids: number nodes with a ``[num_nodes]`` table (fast) instead of a sorted list
            (memory in the subgraph only); the numbers are the same.
    """
    fanout = check_fanout(num_neighbors)
    if not isinstance(seeds, Tensor) or seeds.dim() != 1 or seeds.is_floating_point():
        raise ValueError('seeds must be a 1-D integer tensor of node ids')
    n = store.num_nodes
    if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= n):
        raise ValueError(f'seeds must lie in 0 .. {n - 1} (the graph has {n} nodes), got '
                         f'{int(seeds.min())} .. {int(seeds.max())}')
    ids = _DenseIds(seeds, n) if dense_ids else _SortedIds(seeds)
    nodes, rows, cols, edges = [seeds], [], [], []
    n_nodes, n_edges = [seeds.numel()], []
    frontier, first_local = seeds, 0
    for k in fanout:
        deg = store.degree(frontier)
        owner, offset = sample_offsets(deg, k, replace, generator)
        src, eid = store.neighbors(frontier.index_select(0, owner), offset)
        src, eid = src.contiguous(), eid.contiguous()
        first_local_next = ids.total
        row, fresh = ids.add(src)
        rows.append(row)
        cols.append(owner + first_local)
        edges.append(eid)
        nodes.append(fresh)
        n_nodes.append(fresh.numel())
        n_edges.append(src.numel())
        first_local = first_local_next
        frontier = fresh
    empty = torch.zeros(0, dtype=torch.long, device=seeds.device)
    cat = (lambda xs: torch.cat(xs) if xs else empty)
    return SamplerOutput(torch.cat(nodes), cat(rows), cat(cols), cat(edges), int(seeds.numel()),
                         n_nodes, n_edges)


class NeighborSampler:
    r"""Sample multi-hop neighbourhoods of seed nodes from a CSR of ``edge_index``.

    Messages flow source -> target (PyG's convention), so a seed's neighbours are the sources of
    its incoming edges; pass both directions of an undirected graph.

    Args:
        edge_index: the graph ``[2, E]`` (CPU or CUDA; the sampler runs where it lives).
        num_nodes: the number of nodes (default: ``edge_index.max() + 1``).
        replace: sample with replacement (``k`` independent uniform draws per node).

    Example::

        sampler = NeighborSampler(edge_index, num_nodes)
        out = sampler.sample(seeds, [15, 10, 5], generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, edge_index: Tensor, num_nodes: Optional[int] = None,
                 replace: bool = False):
        check_edge_index(edge_index, num_nodes)
        ei = plain(edge_index)
        if num_nodes is None:
            num_nodes = int(ei.max()) + 1 if ei.numel() else 0
        self.num_nodes = int(num_nodes)
        self.replace = bool(replace)
        self.device = ei.device
        csr = CSR.build(ei[1], ei[0], (self.num_nodes, self.num_nodes))
        self.rowptr, self.col, self.perm = csr.rowptr, csr.col, csr.perm
        self.deg = self.rowptr[1:] - self.rowptr[:-1]

    def to(self, device) -> 'NeighborSampler':
        out = object.__new__(NeighborSampler)
        out.__dict__.update({k: (v.to(device) if isinstance(v, Tensor) else v)
                             for k, v in self.__dict__.items()})
        out.device = torch.device(device)
        return out

    def degree(self, nodes: Tensor) -> Tensor:
        """In-degree of every node of ``nodes`` (:class:`GraphStore`)."""
        return self.deg.index_select(0, nodes)

    def neighbors(self, nodes: Tensor, offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """Source and edge id of in-edge ``offsets[i]`` of ``nodes[i]`` (:class:`GraphStore`)."""
        pos = self.rowptr.index_select(0, nodes) + offsets
        return self.col.index_select(0, pos), self.perm.index_select(0, pos)

    def sample(self, seeds: Tensor, num_neighbors: Sequence[int],
               generator: Optional[torch.Generator] = None) -> SamplerOutput:
        """Sample ``len(num_neighbors)`` hops around ``seeds`` (distinct node ids) with
        :func:`sample_hops`.

        ``num_neighbors[h]`` is the fan-out of hop ``h`` (``-1``: all neighbours)."""
        if isinstance(seeds, Tensor) and seeds.dim() == 1 and not seeds.is_floating_point():
            seeds = seeds.to(self.device, torch.long)
        return sample_hops(self, seeds, num_neighbors, self.replace, generator)


class _Identity(torch.utils.data.Dataset):
    """The batch sampler yields the items themselves."""

    def __getitem__(self, item):
        return item


class _SeededBatches(torch.utils.data.Sampler):
    """Batches of seed positions, each with its own sampling seed drawn from ``generator``."""

    def __init__(self, num: int, batch_size: int, shuffle: bool, drop_last: bool,
                 generator: Optional[torch.Generator]):
        self.num, self.batch_size, self.shuffle = num, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator

    def __len__(self) -> int:
        return self.num // self.batch_size if self.drop_last else \
            -(-self.num // self.batch_size)

    def __iter__(self) -> Iterator[tuple]:
        g = self.generator
        if g is None:
            g = torch.Generator().manual_seed(int(torch.empty((), dtype=torch.int64)
                                                  .random_().item()))
        order = torch.randperm(self.num, generator=g) if self.shuffle else torch.arange(self.num)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            seed = int(torch.randint(0, 2 ** 62, (), generator=g))
            yield [(idx, seed)]


def check_loader_args(name: str, data: Data, batch_size: int, kwargs: dict) -> None:
    """What every loader over a sampled ``data`` needs (one-line errors naming ``name``)."""
    if not isinstance(data, Data):
        raise ValueError(f'{name} takes a torch_geometric.data.Data, got '
                         f'{type(data).__name__}')
    if data.edge_index is None:
        raise ValueError('data has no edge_index: the loader samples its edges')
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    for key in ('sampler', 'batch_sampler', 'collate_fn'):
        if key in kwargs:
            raise ValueError(f'{name} sets {key} itself; do not pass it')


class NeighborLoader(torch.utils.data.DataLoader):
    r"""Mini-batches of sampled neighbourhoods of ``input_nodes``, as PyG's ``NeighborLoader``.

    Args:
        data: the graph (:class:`~torch_geometric.data.Data`); node attributes (``x``, ``y``,
            any tensor with ``num_nodes`` rows) and edge attributes are sliced per batch.
        num_neighbors: fan-out per hop, e.g. ``[15, 10, 5]`` (``-1``: all neighbours).
        input_nodes: seed nodes (ids or a boolean mask; default: all nodes).
        batch_size, shuffle, drop_last, num_workers, ...: as :class:`torch.utils.data.DataLoader`.
        replace: sample with replacement.
        generator: a CPU :class:`torch.Generator` for the order and the per-batch seeds (a run
            with the same generator state yields the same batches).

    Each batch is a ``Data`` with ``n_id``, ``e_id``, ``input_id``, ``batch_size``,
    ``num_sampled_nodes``, ``num_sampled_edges``; its first ``batch_size`` nodes are the seeds.
    """

    def __init__(self, data: Data, num_neighbors: Sequence[int],
                 input_nodes: Optional[Tensor] = None, batch_size: int = 1,
                 shuffle: bool = False, drop_last: bool = False, replace: bool = False,
                 generator: Optional[torch.Generator] = None, **kwargs):
        check_loader_args(type(self).__name__, data, batch_size, kwargs)
        self.num_neighbors = check_fanout(num_neighbors)
        self.data = data
        n = data.num_nodes
        self.node_sampler = NeighborSampler(data.edge_index, n, replace=replace)
        if input_nodes is None:
            input_nodes = torch.arange(n)
        elif input_nodes.dtype == torch.bool:
            if input_nodes.numel() != n:
                raise ValueError(f'the input_nodes mask has {input_nodes.numel()} entries for '
                                 f'{n} nodes')
            input_nodes = input_nodes.nonzero().view(-1)
        self.input_nodes = input_nodes.view(-1).long().cpu()
        if kwargs.get('num_workers', 0) and self.node_sampler.device.type != 'cpu':
            raise ValueError('a CUDA graph samples in the main process: use num_workers=0')
        batches = _SeededBatches(self.input_nodes.numel(), int(batch_size), shuffle, drop_last,
                                 generator)
        super().__init__(_Identity(), batch_sampler=batches, collate_fn=self._collate, **kwargs)

    def _collate(self, items) -> Data:
        (idx, seed), = items
        dev = self.node_sampler.device
        g = torch.Generator(device=dev)
        g.manual_seed(seed)
        seeds = self.input_nodes.index_select(0, idx)
        out = self.node_sampler.sample(seeds, self.num_neighbors, generator=g)
        return self.subgraph(out, idx)

    def subgraph(self, out: SamplerOutput, input_id: Optional[Tensor] = None) -> Data:
        """The ``Data`` of a sampled subgraph (attributes sliced by node and edge ids)."""
        data = self.data
        batch = Data(edge_index=out.edge_index, num_nodes=out.node.numel())
        n, e = data.num_nodes, data.num_edges
        for key, value in data.items():
            if key in ('edge_index', 'num_nodes') or not isinstance(value, Tensor):
                continue
            if value.dim() >= 1 and value.size(0) == n and data.is_node_attr(key):
                batch[key] = value.index_select(0, out.node.to(value.device))
            elif value.dim() >= 1 and value.size(0) == e and data.is_edge_attr(key):
                batch[key] = value.index_select(0, out.edge.to(value.device))
        batch.n_id, batch.e_id = out.node, out.edge
        batch.batch_size = out.batch_size
        batch.input_id = input_id
        batch.num_sampled_nodes = out.num_sampled_nodes
        batch.num_sampled_edges = out.num_sampled_edges
        return batch
