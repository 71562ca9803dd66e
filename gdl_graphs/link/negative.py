r"""Negative sampling: node pairs that are *not* edges, exactly, uniformly or degree-corrected.

:func:`negative_sampling` draws ``num_neg_samples`` distinct pairs :math:`(i, j)` with
:math:`i \ne j` (no self-loops, unless the graph is bipartite) such that :math:`(i, j)` is not a
column of ``edge_index`` (with ``force_undirected``: neither :math:`(i, j)` nor :math:`(j, i)`).
:func:`batched_negative_sampling` does the same inside every graph of a mini-batch at once.

Two samplers (``method``):

- ``'uniform'``: every non-edge equally likely (PyG's ``negative_sampling``);
- ``'degree'``: source :math:`i` with probability proportional to :math:`d^{out}_i{}^{p}` and
  target :math:`j` to :math:`d^{in}_j{}^{p}` (``power`` :math:`p`, default 1; the total degree
  for ``force_undirected``), conditioned on :math:`(i, j)` being a non-edge. Negatives then have
  the degree profile of the positives, so a model cannot separate them by degree alone.
  Nodes without edges are never drawn.

How (every step a vectorised tensor operation, on the device of ``edge_index``): a pair is the
key :math:`i \cdot N_{dst} + j`; the graph's keys are sorted once and a candidate is tested
with a binary search (``torch.searchsorted``), or, where the pair population is at most
:data:`BITMAP_LIMIT` or 64 per edge, in a bitmap of the edges built at the first test (one
bit per pair), so the test is exact, never a bloom filter. Candidates are drawn in rounds;
round :math:`r` draws
:math:`\lceil 1.25\, \mathrm{need} / q \rceil + 16` pairs per graph, with :math:`q` the exact
probability that one draw is a non-edge, and keeps the distinct non-edges in draw order.

**Retry bound.** The expected yield of a round is at least 1.25 times what is missing, so a
round falls short only with a probability exponentially small in the need; at most
``max_rounds`` (default 16) rounds run, then a :class:`RuntimeError` says how many were found.
A graph whose non-edges are few (:math:`q < 1/2`, or fewer than 4 times the need) and whose
pair population is at most :data:`DENSE_LIMIT` is not sampled by rejection: its non-edges are
enumerated and drawn without replacement (exponential race, Efraimidis and Spirakis 2006), in
one pass, so near-complete graphs cost no retries at all. Asking for more negatives than there
are non-edges (a complete graph) raises a :class:`ValueError` before any work.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from ..core import check_edge_index, degree, plain, scatter

#: the largest total pair population enumerated exactly (dense path), in pairs
DENSE_LIMIT = 1 << 25
#: pair populations up to this many (or 64 per edge) test membership in a bitmap of the edges
#: (one bit per pair) instead of a binary search in their sorted keys
BITMAP_LIMIT = 1 << 25
#: how many draws the first-occurrence test hashes into buckets before sorting (else: one sort)
HASHED_DEDUP = (1 << 12, 1 << 16)
METHODS = ('uniform', 'degree')


def _check_count(num_neg_samples, num_edges: int) -> int:
    if num_neg_samples is None:
        return num_edges
    if isinstance(num_neg_samples, bool):
        raise ValueError(f'num_neg_samples must be an int or a ratio (float), got '
                         f'{num_neg_samples!r}')
    if isinstance(num_neg_samples, float):
        if not (num_neg_samples >= 0 and math.isfinite(num_neg_samples)):
            raise ValueError(f'num_neg_samples as a ratio must be a finite number >= 0, got '
                             f'{num_neg_samples}')
        return int(num_neg_samples * num_edges)
    n = int(num_neg_samples)
    if n < 0:
        raise ValueError(f'num_neg_samples must be >= 0, got {n}')
    return n


def _check_method(method: str) -> str:
    if method == 'sparse' or method == 'dense':  # PyG's names: both draw uniformly
        return 'uniform'
    if method not in METHODS:
        raise ValueError(f"unknown negative sampling method {method!r}: use 'uniform' or "
                         f"'degree'")
    return method


def _cumulative(weight: Tensor) -> Tensor:
    """Cumulative weights with a leading zero (float64), for inverse-CDF draws."""
    return torch.cat([weight.new_zeros(1), torch.cumsum(weight, 0)])


class _Graphs:
    """Groups of node ranges (one per graph) and the sorted keys of their edges."""

    def __init__(self, edge_index: Tensor, src_lo: Tensor, src_n: Tensor, dst_lo: Tensor,
                 dst_n: Tensor, n_dst: int, bipartite: bool, undirected: bool, method: str,
                 power: float, num_src: int, edge_group: Tensor):
        self.src_lo, self.src_n, self.dst_lo, self.dst_n = src_lo, src_n, dst_lo, dst_n
        self.n_dst, self.bipartite, self.undirected = n_dst, bipartite, undirected
        self.num_src_nodes = num_src
        self.device = edge_index.device
        row, col = edge_index[0], edge_index[1]
        if undirected:
            row, col = torch.minimum(row, col), torch.maximum(row, col)
        keep = row != col if not bipartite else torch.ones_like(row, dtype=torch.bool)
        keys = row[keep] * n_dst + col[keep]
        keys, order = torch.sort(keys)
        distinct = torch.ones_like(keys, dtype=torch.bool)
        distinct[1:] = keys[1:] != keys[:-1]
        self.keys = keys[distinct]
        self._bits: Optional[Tensor] = None  # the edge bitmap, built at the first test
        egroup = edge_group[keep][order][distinct]
        G = src_lo.numel()
        self.num_edges = degree(egroup, G) if G else egroup.new_zeros(0)
        pop = src_n * dst_n
        if not bipartite:
            pop = pop - src_n
            if undirected:
                pop = pop // 2
        self.population = pop
        self.method = method
        if method == 'degree':
            r, c = edge_index[0], edge_index[1]
            if undirected:
                d = (degree(r, num_src) + degree(c, num_src)).double()
                ws = wd = d.pow(power) * (d > 0)
            else:
                ws = degree(r, num_src).double()
                ws = ws.pow(power) * (ws > 0)
                wd = degree(c, n_dst).double()
                wd = wd.pow(power) * (wd > 0)
            self.ws, self.wd = ws, wd
            self.cs, self.cd = _cumulative(ws), _cumulative(wd)
            tot_s = self.cs[src_lo + src_n] - self.cs[src_lo]
            tot_d = self.cd[dst_lo + dst_n] - self.cd[dst_lo]
            # probability that one draw hits an edge or a loop, per graph
            ks, kd = self.keys // n_dst, self.keys % n_dst
            kg = egroup
            mass = ws[ks] * wd[kd] / (tot_s[kg] * tot_d[kg]).clamp(min=1e-300)
            if undirected:
                mass = mass * 2
            hit = scatter(mass, kg, G, 'sum') if G else mass.new_zeros(0)
            if not bipartite:
                nodes = torch.arange(num_src, device=self.device)
                own = torch.repeat_interleave(torch.arange(G, device=self.device), src_n)
                loops = ws[nodes] * wd[nodes]
                hit = hit + scatter(loops, own, G, 'sum') / (tot_s * tot_d).clamp(min=1e-300)
            empty = (tot_s <= 0) | (tot_d <= 0)
            self.accept = torch.where(empty, torch.zeros_like(hit), (1 - hit).clamp(min=0))
        else:
            self.ws = self.wd = None
            free = (pop - self.num_edges).double()
            self.accept = free / pop.double().clamp(min=1)

    def free(self) -> Tensor:
        return self.population - self.num_edges

    def is_edge(self, keys: Tensor) -> Tensor:
        if not self.keys.numel():
            return torch.zeros_like(keys, dtype=torch.bool)
        pairs = self.num_src_nodes * self.n_dst
        if pairs <= max(BITMAP_LIMIT, 64 * self.keys.numel()):
            # one bit per pair (at most 4 MiB, or the size of the sorted keys): a lookup is
            # a gather and two shifts instead of a binary search
            if self._bits is None:
                # the keys are distinct, so summing their bits into a word is OR-ing them
                self._bits = scatter(torch.ones_like(self.keys) << (self.keys & 63),
                                     self.keys >> 6, (pairs + 63) // 64, 'sum')
            return ((self._bits.index_select(0, keys >> 6) >> (keys & 63)) & 1).bool()
        pos = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return self.keys[pos] == keys

    def _draw_nodes(self, lo: Tensor, n: Tensor, cum: Optional[Tensor], m: int,
                    generator) -> Tensor:
        u = torch.rand(m, dtype=torch.float64, device=self.device, generator=generator)
        if cum is None:
            return lo + (u * n).long().clamp_(max=n - 1)
        a, b = cum[lo], cum[lo + n]
        pick = torch.searchsorted(cum, a + u * (b - a), right=True) - 1
        return torch.minimum(torch.maximum(pick, lo), lo + n - 1)

    def draw(self, groups: Tensor, counts: Tensor, generator) -> Tuple[Tensor, Tensor]:
        """``counts[k]`` candidate pairs in graph ``groups[k]``: (keys, graph of each), keeping
        only non-loops; pairs are canonical (``i < j``) when undirected."""
        gid = torch.repeat_interleave(groups, counts)
        m = gid.numel()
        i = self._draw_nodes(self.src_lo[gid], self.src_n[gid],
                             self.cs if self.ws is not None else None, m, generator)
        j = self._draw_nodes(self.dst_lo[gid], self.dst_n[gid],
                             self.cd if self.ws is not None else None, m, generator)
        if self.undirected:
            i, j = torch.minimum(i, j), torch.maximum(i, j)
        if not self.bipartite:
            ok = i != j
            i, j, gid = i[ok], j[ok], gid[ok]
        return i * self.n_dst + j, gid

    def enumerate(self, groups: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Every non-edge of the graphs ``groups``: (keys, graph of each, weight)."""
        sn, dn = self.src_n[groups], self.dst_n[groups]
        tot = sn * dn
        gid = torch.repeat_interleave(groups, tot)
        start = torch.cumsum(tot, 0) - tot
        local = torch.arange(gid.numel(), device=self.device) - \
            torch.repeat_interleave(start, tot)
        dng = self.dst_n[gid]
        i = self.src_lo[gid] + local // dng
        j = self.dst_lo[gid] + local % dng
        ok = torch.ones_like(i, dtype=torch.bool)
        if not self.bipartite:
            ok = (i < j) if self.undirected else (i != j)
        keys = (i * self.n_dst + j)[ok]
        gid = gid[ok]
        keep = ~self.is_edge(keys)
        keys, gid = keys[keep], gid[keep]
        if self.ws is None:
            w = torch.ones(keys.numel(), dtype=torch.float64, device=self.device)
        else:
            w = self.ws[keys // self.n_dst] * self.wd[keys % self.n_dst]
            if self.undirected:
                w = w * 2
        return keys, gid, w


def _first_per_group(gid: Tensor, quota: Tensor) -> Tensor:
    """Mask of the first ``quota[g]`` entries of every graph ``g`` (``gid`` sorted)."""
    if not gid.numel():
        return torch.zeros_like(gid, dtype=torch.bool)
    G = quota.numel()
    counts = degree(gid, G)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(gid.numel(), device=gid.device) - start[gid]
    return rank < quota[gid]


def _first_occurrence(keys: Tensor) -> Tensor:
    """Mask of the first occurrence of every distinct key (draw order kept).

    Equal keys share a hash bucket, so only the keys of shared buckets (about 12% of distinct
    random keys with 8 buckets per key) need the sort. Used between 4k and 64k keys, where
    torch's CPU sort is slowest per key (1 thread: 13k keys 0.6 -> 0.2 ms); below, a sort
    is as fast, and above, the bucket counts would cost more than the sort saves."""
    m = keys.numel()
    if not HASHED_DEDUP[0] <= m <= HASHED_DEDUP[1]:
        return _first_occurrence_sorted(keys)
    bits = (8 * m - 1).bit_length()
    bucket = ((keys * _MIX) >> (64 - bits)) & ((1 << bits) - 1)  # multiplicative hash
    shared = (degree(bucket, 1 << bits).index_select(0, bucket) > 1).nonzero().view(-1)
    first = torch.ones_like(keys, dtype=torch.bool)
    if shared.numel():
        first[shared] = _first_occurrence_sorted(keys[shared])
    return first


_MIX = -7046029254386353131  # an odd 64-bit constant (Fibonacci hashing)


def _first_occurrence_sorted(keys: Tensor) -> Tensor:
    srt, perm = torch.sort(keys, stable=True)
    first = torch.ones_like(keys, dtype=torch.bool)
    first[perm[1:][srt[1:] == srt[:-1]]] = False
    return first


def _sample_one(graphs: _Graphs, left: int, max_rounds: int, generator,
                accept: Optional[float] = None) -> Tuple[Tensor, int]:
    """The rejection rounds of :func:`_sample` for a single graph: (keys, how many are
    still missing)."""
    dev = graphs.device
    if left <= 0:
        return torch.zeros(0, dtype=torch.long, device=dev), 0
    ns, nd = graphs.num_src_nodes, graphs.n_dst
    acc = max(float(graphs.accept[0]) if accept is None else accept, 1e-6)
    out, accepted = [], None
    for _ in range(max_rounds):
        m = int(math.ceil(1.25 * left / acc)) + 16
        u = torch.rand(2, m, dtype=torch.float64, device=dev, generator=generator)
        if graphs.ws is None:
            i = (u[0] * ns).long().clamp_(max=ns - 1)
            j = (u[1] * nd).long().clamp_(max=nd - 1)
        else:
            cs, cd = graphs.cs, graphs.cd
            i = (torch.searchsorted(cs, u[0] * cs[-1], right=True) - 1).clamp_(0, ns - 1)
            j = (torch.searchsorted(cd, u[1] * cd[-1], right=True) - 1).clamp_(0, nd - 1)
        if graphs.undirected:
            i, j = torch.minimum(i, j), torch.maximum(i, j)
        keys = i * nd + j
        ok = ~graphs.is_edge(keys)
        if not graphs.bipartite:
            ok &= i != j
        if accepted is not None:
            pos = torch.searchsorted(accepted, keys).clamp_(max=accepted.numel() - 1)
            ok &= accepted[pos] != keys
        # whether a draw is kept depends on its key alone, so the first kept copy of a key is
        # its first copy among all draws: one compaction
        keys = keys[ok & _first_occurrence(keys)][:left]
        out.append(keys)
        left -= keys.numel()
        if left <= 0:
            break
        accepted = torch.sort(torch.cat(out))[0]
    return torch.cat(out), max(left, 0)


def _sample(graphs: _Graphs, need: Tensor, max_rounds: int, generator,
            what: str) -> Tuple[Tensor, Tensor]:
    """``need[g]`` distinct non-edges of every graph ``g``: (keys, graph), grouped by graph in
    draw order."""
    dev = graphs.device
    G = need.numel()
    if graphs.ws is None:
        free = graphs.free()
        short = need > free
    else:
        free = None
        short = (need > 0) & (graphs.accept <= 1e-12)
    if bool(short.any()):
        g = int(short.nonzero()[0, 0])
        where = '' if G == 1 else f' (graph {g} of the batch)'
        if free is None:
            raise ValueError(f'cannot draw {int(need[g])} degree-corrected negative {what}'
                             f'{where}: every pair of nodes with edges is already an edge; use '
                             f"method='uniform' or ask for fewer negatives")
        raise ValueError(f'cannot draw {int(need[g])} negative {what}{where}: the graph has '
                         f'only {int(free[g])} node pairs that are not edges; ask for fewer '
                         f'negatives (a complete graph has none)')
    out_keys, out_gid = [], []
    left = need.clone()
    if free is not None:
        dense = (left > 0) & ((graphs.accept < 0.5) | (free < 4 * left))
    else:
        dense = (left > 0) & (graphs.accept < 0.5)
    dense &= (graphs.src_n * graphs.dst_n) <= DENSE_LIMIT
    if bool(dense.any()):
        groups = dense.nonzero().view(-1)
        if int((graphs.src_n[groups] * graphs.dst_n[groups]).sum()) > DENSE_LIMIT:
            order = torch.argsort(graphs.src_n[groups] * graphs.dst_n[groups])
            cum = torch.cumsum((graphs.src_n * graphs.dst_n)[groups][order], 0)
            groups = torch.sort(groups[order][cum <= DENSE_LIMIT])[0]
        keys, gid, w = graphs.enumerate(groups)
        u = torch.rand(keys.numel(), dtype=torch.float64, device=dev, generator=generator)
        race = -torch.log1p(-u) / w  # exponential race: smallest first (w = 0 -> inf)
        race, order = torch.sort(race, stable=True)
        keys, gid = keys[order], gid[order]
        gid, order = torch.sort(gid, stable=True)
        keys, race = keys[order], race[order]
        avail = degree(gid[torch.isfinite(race)], G)
        if bool((avail[groups] < left[groups]).any()):
            g = int(groups[(avail[groups] < left[groups]).nonzero()[0, 0]])
            raise ValueError(f'cannot draw {int(left[g])} negative {what}: only '
                             f'{int(avail[g])} non-edges have nodes of non-zero degree; ask '
                             f'for fewer negatives')
        take = _first_per_group(gid, left)
        out_keys.append(keys[take])
        out_gid.append(gid[take])
        left[groups] = 0
    accepted = torch.zeros(0, dtype=torch.long, device=dev)
    if G == 1:  # one graph: the same rounds without the per-graph bookkeeping
        keys, left = _sample_one(graphs, int(left[0]), max_rounds, generator)
        out_keys.append(keys)
        out_gid.append(torch.zeros_like(keys))
        left = torch.full((1,), left, dtype=torch.long, device=dev)
    for _ in range(max_rounds if G > 1 else 0):
        todo = (left > 0).nonzero().view(-1)
        if not todo.numel():
            break
        acc = graphs.accept[todo].clamp(min=1e-6)
        counts = torch.ceil(1.25 * left[todo].double() / acc).long() + 16
        keys, gid = graphs.draw(todo, counts, generator)
        ok = ~graphs.is_edge(keys)
        if accepted.numel():
            pos = torch.searchsorted(accepted, keys).clamp_(max=accepted.numel() - 1)
            ok &= accepted[pos] != keys
        keys, gid = keys[ok], gid[ok]
        first = _first_occurrence(keys)
        keys, gid = keys[first], gid[first]
        take = _first_per_group(gid, left)
        keys, gid = keys[take], gid[take]
        left -= degree(gid, G)
        out_keys.append(keys)
        out_gid.append(gid)
        accepted = torch.sort(torch.cat([accepted, keys]))[0]
    if bool((left > 0).any()):
        g = int((left > 0).nonzero()[0, 0])
        raise RuntimeError(f'negative sampling found {int(need[g] - left[g])} of '
                           f'{int(need[g])} negative {what} in {max_rounds} rounds; raise '
                           f'max_rounds or ask for fewer')
    keys = torch.cat(out_keys) if out_keys else torch.zeros(0, dtype=torch.long, device=dev)
    gid = torch.cat(out_gid) if out_gid else keys
    if G > 1:
        gid, order = torch.sort(gid, stable=True)
        keys = keys[order]
    return keys, gid


def _pairs(keys: Tensor, n_dst: int, undirected: bool) -> Tensor:
    i, j = keys // n_dst, keys % n_dst
    if undirected:
        return torch.stack([torch.cat([i, j]), torch.cat([j, i])])
    return torch.stack([i, j])


def _sizes(edge_index: Tensor, num_nodes) -> Tuple[int, int, bool]:
    if num_nodes is None:
        n = int(plain(edge_index).max()) + 1 if edge_index.numel() else 0
        return n, n, False
    if isinstance(num_nodes, (tuple, list)):
        if len(num_nodes) != 2:
            raise ValueError(f'num_nodes must be an int or (num_src, num_dst), got '
                             f'{num_nodes!r}')
        return int(num_nodes[0]), int(num_nodes[1]), True
    return int(num_nodes), int(num_nodes), False


class NegativeSampler:
    r"""A graph's edge set, sorted once, to draw exact negatives from many times (a loader
    draws every mini-batch's negatives from one :class:`NegativeSampler`).

    Args as :func:`negative_sampling`. ``sample(num, generator=None)`` returns
    ``[2, num]`` distinct non-edges (``2 * (num // 2)`` columns with ``force_undirected``).
    """

    def __init__(self, edge_index: Tensor,
                 num_nodes: Optional[Union[int, Tuple[int, int]]] = None,
                 method: str = 'uniform', force_undirected: bool = False, power: float = 1.0,
                 max_rounds: int = 16):
        check_edge_index(edge_index, None)
        method = _check_method(method)
        ei = plain(edge_index).long()
        n_src, n_dst, bipartite = _sizes(ei, num_nodes)
        if bipartite:
            force_undirected = False
        check_edge_index(ei, size=(n_src, n_dst))
        if int(max_rounds) < 1:
            raise ValueError(f'max_rounds must be >= 1, got {max_rounds}')
        self.num_edges, self.n_dst = ei.size(1), n_dst
        self.undirected, self.max_rounds = force_undirected, int(max_rounds)
        self.empty = n_src == 0 or n_dst == 0
        dev = ei.device
        self.one = torch.ones(1, dtype=torch.long, device=dev)
        zero = torch.zeros(1, dtype=torch.long, device=dev)
        self.graphs = _Graphs(ei, zero, self.one * n_src, zero, self.one * n_dst, n_dst,
                              bipartite, force_undirected, method, power, n_src,
                              torch.zeros(ei.size(1), dtype=torch.long, device=dev))
        # python numbers of the one graph, read once (no device sync per batch)
        self.accept = float(self.graphs.accept[0]) if not self.empty else 0.0
        self.free = int(self.graphs.free()[0]) if method == 'uniform' and not self.empty \
            else (None if method == 'uniform' else (1 << 62 if self.accept > 0 else 0))

    def sample(self, num_neg_samples: Optional[Union[int, float]] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        num = _check_count(num_neg_samples, self.num_edges)
        if self.undirected:
            num //= 2
        if self.empty:
            if num:
                raise ValueError(f'cannot draw {num} negative edges from a graph without '
                                 f'nodes')
            return self.one.new_zeros(2, 0)
        if self.free is not None and num <= self.free and self.accept >= 0.5 and \
                4 * num <= self.free:  # plain rejection rounds, without tensor bookkeeping
            keys, left = _sample_one(self.graphs, num, self.max_rounds, generator, self.accept)
            if left:
                raise RuntimeError(f'negative sampling found {num - left} of {num} negative '
                                   f'edges in {self.max_rounds} rounds; raise max_rounds or '
                                   f'ask for fewer')
            return _pairs(keys, self.n_dst, self.undirected)
        keys, _ = _sample(self.graphs, self.one * num, self.max_rounds, generator, 'edges')
        return _pairs(keys, self.n_dst, self.undirected)


def negative_sampling(edge_index: Tensor, num_nodes: Optional[Union[int, Tuple[int, int]]] = None,
                      num_neg_samples: Optional[Union[int, float]] = None,
                      method: str = 'uniform', force_undirected: bool = False,
                      power: float = 1.0, max_rounds: int = 16,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Distinct node pairs that are not edges of ``edge_index``, as ``[2, num_neg_samples]``.

    Args:
        edge_index: the graph ``[2, E]`` (CPU or CUDA; sampling runs where it lives).
        num_nodes: ``N``, or ``(num_src, num_dst)`` for a bipartite graph (then self-loops are
            ordinary pairs). Default: ``edge_index.max() + 1``.
        num_neg_samples: how many (an int), or a ratio of ``E`` (a float); default ``E``.
        method: ``'uniform'`` or ``'degree'`` (see the module; PyG's ``'sparse'`` and
            ``'dense'`` mean ``'uniform'``).
        force_undirected: draw unordered pairs :math:`\{i, j\}` that are edges in neither
            direction and return both directions of each (``num_neg_samples // 2`` pairs, as
            PyG).
        power: the degree exponent of ``method='degree'``.
        max_rounds: the retry bound of the rejection sampler.
        generator: a :class:`torch.Generator` on the graph's device.

    Unlike PyG's, the result always has exactly the requested size (or raises: a
    :class:`ValueError` when the graph has fewer non-edges than requested).
    """
    return NegativeSampler(edge_index, num_nodes, method, force_undirected, power,
                           max_rounds).sample(num_neg_samples, generator)


def batched_negative_sampling(edge_index: Tensor, batch: Union[Tensor, Tuple[Tensor, Tensor]],
                              num_neg_samples: Optional[Union[int, float]] = None,
                              method: str = 'uniform', force_undirected: bool = False,
                              power: float = 1.0, max_rounds: int = 16,
                              generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Negative pairs inside every graph of a mini-batch, all graphs at once.

    ``batch`` maps nodes to graphs (sorted, as PyG's collate makes it), or is
    ``(src_batch, dst_batch)`` for bipartite graphs. Graph :math:`g` gets
    ``num_neg_samples`` negatives when that is an int, else ``ratio * E_g`` (default
    ``E_g``, its number of edges), as PyG's ``batched_negative_sampling``. The output is grouped
    by graph, in graph order (with ``force_undirected``: all pairs in one direction, then all
    reversed). Other arguments as :func:`negative_sampling`.
    """
    check_edge_index(edge_index, None)
    method = _check_method(method)
    ei = plain(edge_index).long()
    if isinstance(batch, Tensor):
        sb = db = batch.long()
        bipartite = False
    else:
        sb, db = batch[0].long(), batch[1].long()
        bipartite = True
        force_undirected = False
    check_edge_index(ei, size=(sb.numel(), db.numel()))
    for b, name in ((sb, 'batch'), (db, 'batch')):
        if b.numel() > 1 and bool((b[1:] < b[:-1]).any()):
            raise ValueError(f'{name} must be sorted (nodes of graph 0 first, as PyG batches)')
    G = max(int(sb.max()) + 1 if sb.numel() else 0, int(db.max()) + 1 if db.numel() else 0)
    dev = ei.device
    src_n, dst_n = degree(sb, G), degree(db, G)
    src_lo, dst_lo = torch.cumsum(src_n, 0) - src_n, torch.cumsum(dst_n, 0) - dst_n
    eg = sb[ei[0]]
    if ei.numel() and bool((eg != db[ei[1]]).any()):
        raise ValueError('edge_index joins nodes of different graphs of the batch')
    num_edges = degree(eg, G)
    if num_neg_samples is None:
        need = num_edges.clone()
    elif isinstance(num_neg_samples, float) and not isinstance(num_neg_samples, bool):
        _check_count(num_neg_samples, 0)
        need = (num_edges.double() * num_neg_samples).long()
    else:
        need = torch.full((G,), _check_count(num_neg_samples, 0), dtype=torch.long,
                          device=dev)
    if force_undirected:
        need = need // 2
    graphs = _Graphs(ei, src_lo, src_n, dst_lo, dst_n, db.numel(), bipartite, force_undirected,
                     method, power, sb.numel(), eg)
    keys, _ = _sample(graphs, need, max_rounds, generator, 'edges')
    return _pairs(keys, db.numel(), force_undirected)
