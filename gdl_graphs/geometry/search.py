r"""Exact k-nearest-neighbour and radius search: ``knn``, ``knn_graph``, ``radius``,
``radius_graph`` (drop-in replacements for torch-cluster's; PyG 2.8 needs pyg-lib or
torch-cluster for these), on CPU and CUDA, without either.

How it searches (the fastest exact method for the device and the data):

- **CPU**, Euclidean, up to 8 dimensions: a k-d tree, ``scipy.spatial.cKDTree`` (sliding
  midpoint splits, so clusters, surfaces and heavy tails cost what uniform points cost),
  queried with the torch thread count as ``workers``. A batch is one tree: the example index
  becomes one more coordinate, spaced wider than any example, so no query ever reaches
  another example's points. The tree returns ``k + 1`` candidates; their distances are
  recomputed here (below) and a query is accepted only when its ``k``-th distance is
  strictly below the ``(k+1)``-th (with a relative margin of ``1e-9`` for the tree's own
  rounding); otherwise (ties, duplicates) it asks again with 4x more candidates, up to the
  whole example. Never approximate. ``radius`` / ``radius_graph`` first ask the tree how many
  points 1,024 evenly spaced queries hold within ``r``; when that is at most
  ``1.5 max_num_neighbors + 4`` on average (the usual use), every pair within ``r`` comes from
  one dual-tree pass (``query_pairs`` for a graph, ``sparse_distance_matrix`` for two sets),
  distances are recomputed here, rows are grouped by a CSR conversion (a counting sort) and
  sorted inside by ``(distance, index)`` (a sort by row and the distance's stable rank);
  otherwise (dense data, large ``r``) it runs the ``k``-bounded queries above, which keep
  memory at O(N k).
- **CUDA** (any device but the CPU), up to 3 dimensions: a uniform grid with a cell width
  adapted to the data (about ``0.4 k`` points per cell, median over examples); a query
  searches the block of cells around its own and is accepted when its ``k``-th distance is
  below the distance to the block's border, else it searches again with a wider block, up
  to the whole example. ``radius`` uses cells as wide as ``r``. 4 to 8 dimensions: chunked
  brute force.
- more than 8 dimensions, and ``cosine=True``: chunked brute force on every device, with
  :math:`\|x\|^2 + \|y\|^2 - 2 x \cdot y` (a matrix product, so near-ties may order
  differently from the exact formula below, and from device to device).

Conventions (what tests check against brute force, identical on every path):

- positions are converted to float64 and multiplied by a power of two (exact) that brings
  the largest coordinate into ``[1, 2)``, so float32 inputs of magnitude ``1e20`` or
  ``1e-18`` (and float64 ones up to ``1e300``) neither overflow nor underflow;
- the squared distance is :math:`\sum_d (y_d - x_d)^2`, summed in float64 in the order of the
  dimensions (for 8 dimensions or fewer);
- neighbours of a query are sorted by ``(distance, index)``: **ties are broken by the
  smaller index** of ``x`` (torch-cluster leaves the order of ties unspecified);
- a query gets ``min(k, n)`` neighbours where ``n`` is the number of candidate points of its
  example (PyG's behaviour; an example without points gives its queries no neighbours);
- ``knn_graph`` / ``radius_graph`` with ``loop=False`` exclude the point itself (not its
  duplicates) *before* choosing ``k``, so every node gets ``min(k, n - 1)`` neighbours;
  torch-cluster instead asks for ``k + 1`` and drops self-loops afterwards;
- ``radius`` keeps points with distance ``<= r``; when more than ``max_num_neighbors``
  qualify it keeps the nearest (torch-cluster keeps an unspecified subset).

Memory: :math:`O(N k)` for the output plus chunks of at most ``2**22`` candidates (the
radius pass: O(pairs within ``r``), about ``N k`` or fewer by the sample above).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from .validate import check_batch, check_k, check_points, check_r

__all__ = ['knn', 'knn_graph', 'radius', 'radius_graph']

BUDGET = 1 << 22          # candidate entries per chunk
_GRID_MAX_DIM = 3         # grid search up to this dimension
_DIRECT_MAX_DIM = 8       # exact difference formula up to this dimension
_OCCUPANCY = 0.4         # target points per grid cell, times k
_INT_MAX = torch.iinfo(torch.long).max
_MAX_BLOCK = 4096         # cells in a search block before falling back to brute force
_CERT = 1e-9              # relative margin for the k-d tree's own rounding
_PAIRS_MEAN = 1.5         # radius: one dual-tree pass when a query holds <= 1.5 k + 4 points
# 'kdtree' on CPU; tests set 'torch' to check the CUDA algorithms on CPU against it
_CPU_METHOD = 'kdtree'


def _compact_batches(bx: Tensor, by: Tensor) -> Tuple[Tensor, Tensor]:
    """Example ids renumbered ``0 .. B-1`` in their order (one map for both sets) when they
    are sparse: the searches use an id as a coordinate and as a table index, and ids such as
    ``2**60`` and ``2**60 + 1`` are one float apart from nothing."""
    top = max(int(bx.max()), int(by.max()))
    if top < bx.numel() + by.numel():
        return bx, by
    ids, inv = torch.unique(torch.cat([bx, by]), return_inverse=True)
    return inv[:bx.numel()], inv[bx.numel():]


def _sort_by_batch(batch: Tensor) -> Optional[Tensor]:
    """The stable permutation that sorts ``batch``, or ``None`` when it is sorted already."""
    if batch.numel() < 2 or bool((batch[1:] >= batch[:-1]).all()):
        return None
    return torch.argsort(batch, stable=True)


# ----------------------------------------------------------------------------- selection
def _lexsort_rows(dist: Tensor, idx: Tensor) -> Tuple[Tensor, Tensor]:
    """Sort every row by ``(dist, idx)``."""
    o = torch.argsort(idx, dim=1, stable=True)
    dist, idx = dist.gather(1, o), idx.gather(1, o)
    o = torch.argsort(dist, dim=1, stable=True)
    return dist.gather(1, o), idx.gather(1, o)


def _select(dist: Tensor, idx: Tensor, k: int, group: int = 1) -> Tuple[Tensor, Tensor]:
    """The ``k`` smallest finite entries of every row in ``(dist, idx)`` order.

    ``dist`` ``[R, L]`` holds ``inf`` for missing candidates; row ``r`` has the candidate
    indices ``idx[r // group]`` (``idx`` is ``[R / group, L]``). Returns ``[R, min(k, L)]``
    distances (``inf`` where a row has fewer finite entries) and indices."""
    q, length = dist.shape
    kk = min(k, length)
    if kk == 0 or q == 0:
        return dist.new_empty(q, 0), idx.new_empty(q, 0)
    extra = 1 if length > kk else 0
    vals, pos = dist.topk(kk + extra, dim=1, largest=False, sorted=True)
    # rows where the k-th distance is tied with a candidate left out: choose by index
    tied = torch.isfinite(vals[:, kk - 1]) & (vals[:, kk - 1] == vals[:, -1]) if extra \
        else torch.zeros(q, dtype=torch.bool, device=dist.device)
    vals, pos = vals[:, :kk], pos[:, :kk]
    sel = idx.gather(1, pos.reshape(-1, group * kk)).view(q, kk)
    kth = vals[:, -1:]
    if bool(tied.any()):
        rows = tied.nonzero().view(-1)
        d = dist[rows]
        d = torch.where(d <= kth[rows], d, torch.full_like(d, math.inf))
        d, i = _lexsort_rows(d, idx[rows // group])
        vals[rows], sel[rows] = d[:, :kk], i[:, :kk]
    # equal distances inside the selection: order them by index
    if kk > 1:
        eq = ((vals[:, 1:] == vals[:, :-1]) & torch.isfinite(vals[:, 1:])).any(1)
        if bool(eq.any()):
            rows = eq.nonzero().view(-1)
            vals[rows], sel[rows] = _lexsort_rows(vals[rows], sel[rows])
    return vals, sel


# ----------------------------------------------------------------------------- brute force
def _brute(xs: Tensor, ys: Tensor, bx: Tensor, by: Tensor, ptr_x: Tensor, k: int,
           r2: Optional[float], self_ok: bool, cosine: bool,
           queries: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Exact search for the (sorted-space) ``queries``, comparing each chunk of queries with
    the contiguous range of ``x`` that holds their examples."""
    rows, cols, dists = [], [], []
    dim = xs.size(1)
    if cosine:
        xn = xs / xs.norm(dim=1, keepdim=True).clamp_min(1e-12)
        yn = ys / ys.norm(dim=1, keepdim=True).clamp_min(1e-12)
    elif dim > _DIRECT_MAX_DIM:
        x_sq = (xs * xs).sum(1)
    sizes = ptr_x[1:] - ptr_x[:-1]
    largest = int(sizes.max()) if sizes.numel() else 0
    per = 2 * max(largest, 1)
    step = max(1, BUDGET // per)
    nq = queries.numel()
    start = 0
    while start < nq:
        q = queries[start:start + step]
        start += step
        b = by[q]
        lo, hi = int(ptr_x[int(b.min())]), int(ptr_x[int(b.max()) + 1])
        if hi == lo:
            continue
        xc = xs[lo:hi]
        yq = ys[q]
        if cosine:
            d = 1 - yn[q] @ xn[lo:hi].t()
        elif dim <= _DIRECT_MAX_DIM:
            d = _sqdist(yq, xc.t())
        else:
            d = ((yq * yq).sum(1, keepdim=True) + x_sq[lo:hi].unsqueeze(0)
                 - 2 * yq @ xc.t()).clamp_min_(0)
        cand = torch.arange(lo, hi, device=xs.device)
        bad = b.unsqueeze(1) != bx[lo:hi].unsqueeze(0)
        if not self_ok:
            bad |= q.unsqueeze(1) == cand.unsqueeze(0)
        if r2 is not None:
            bad |= d > r2
        d = d.masked_fill(bad, math.inf)
        vals, sel = _select(d, cand.expand(q.numel(), -1), k)
        keep = torch.isfinite(vals)
        rows.append(q.unsqueeze(1).expand_as(sel)[keep])
        cols.append(sel[keep])
        dists.append(vals[keep])
    return _cat(rows, xs), _cat(cols, xs), _cat(dists, xs, xs.dtype)


def _cat(parts, ref: Tensor, dtype=torch.long) -> Tensor:
    return torch.cat(parts) if parts else torch.empty(0, dtype=dtype, device=ref.device)


def _sqdist(yq: Tensor, xT: Tensor, idx: Optional[Tensor] = None) -> Tensor:
    r""":math:`\sum_d (y_d - x_d)^2` summed in the order of the dimensions, the one formula of
    every path: ``yq`` ``[Q, D]`` against ``xT[:, idx]`` (``xT`` is ``[D, N]``; ``idx``
    ``[Q, K]``) or, without ``idx``, against every column of ``xT`` (``[Q, N]``)."""
    def col(j):
        return xT[j][idx] if idx is not None else xT[j].unsqueeze(0)
    d = (yq[:, :1] - col(0)).square_()
    for j in range(1, yq.size(1)):
        d += (yq[:, j:j + 1] - col(j)).square_()
    return d


def _to64(x: Tensor, y: Tensor, r: Optional[float]):
    """``x``, ``y`` in float64 times the power of two (exact) that brings their largest
    coordinate into ``[1, 2)``, and ``r`` times the same factor."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    m = max(float(x64.abs().max()) if x64.numel() else 0.0,
            float(y64.abs().max()) if y64.numel() else 0.0)
    if m > 0:
        e = min(max(-math.floor(math.log2(m)), -1000), 1000)
        if e:
            s = 2.0 ** e
            x64, y64 = x64 * s, (y64 * s if y is not x else None)
            r = None if r is None else r * s
    if y is x:
        y64 = x64
    return x64, y64, r


# ----------------------------------------------------------------------------- grid search
class _Grid:
    """Points of ``xs`` bucketed into cells of width ``h`` (per example, from its minimum)."""

    def __init__(self, xs: Tensor, bx: Tensor, ptr_x: Tensor, num_examples: int, h: float):
        self.dim = xs.size(1)
        self.h = h
        nonempty = ptr_x[1:] > ptr_x[:-1]
        if xs.size(0):
            self.lo = _segment_min(xs, ptr_x)
            # floor((x - lo) / h) is monotone in x, so the largest cell is the maximum's
            self.cmax = torch.floor((_segment_max(xs, ptr_x) - self.lo) / h).long()
            self.shape = self.cmax.max(0).values + 1
        else:
            self.lo = xs.new_zeros(num_examples, self.dim)
            self.cmax = torch.zeros(num_examples, self.dim, dtype=torch.long, device=xs.device)
            self.shape = torch.ones(self.dim, dtype=torch.long, device=xs.device)
        cells = torch.floor((xs - self.lo[bx]) / h).long()
        self.nonempty = nonempty
        key = self.key(bx, cells)
        self.order = torch.argsort(key, stable=True)
        self.sorted_key = key[self.order]
        # a dense table of cell starts and counts when the grid is small enough (O(N) memory)
        num_cells = num_examples
        for v in self.shape.tolist():
            num_cells *= v
        self.table = None
        if num_cells <= 8 * xs.size(0) + 1024:
            counts = torch.bincount(key, minlength=num_cells)
            self.table = (torch.cumsum(counts, 0) - counts, counts)

    def key(self, b: Tensor, cells: Tensor) -> Tensor:
        key = b
        for d in range(self.dim):
            key = key * self.shape[d] + cells[..., d]
        return key

    def cells_of(self, ys: Tensor, by: Tensor) -> Tensor:
        return torch.floor((ys - self.lo[by]) / self.h).long()

    def ranges(self, by: Tensor, cells: Tensor, offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """Start (in sorted order) and length of the neighbour cells ``cells + offsets``."""
        nc = cells.unsqueeze(1) + offsets.unsqueeze(0)                       # [Q, O, D]
        ok = ((nc >= 0) & (nc < self.shape)).all(-1) & self.nonempty[by].unsqueeze(1)
        nc = torch.minimum(nc.clamp_min(0), self.shape - 1)
        key = self.key(by.unsqueeze(1), nc)
        if self.table is not None:
            start, length = self.table[0][key], self.table[1][key]
        else:
            start = torch.searchsorted(self.sorted_key, key)
            length = torch.searchsorted(self.sorted_key, key, right=True) - start
        return start, torch.where(ok, length, torch.zeros_like(start))

    def border(self, ys: Tensor, by: Tensor, cells: Tensor, ring: int) -> Tensor:
        """Distance from each query to the nearest face of its searched block beyond which
        points of its example may lie (``inf`` when the block covers the example)."""
        lo = self.lo[by]
        below = ys - (lo + (cells - ring).to(ys.dtype) * self.h)
        above = (lo + (cells + ring + 1).to(ys.dtype) * self.h) - ys
        inf = torch.full_like(below, math.inf)
        below = torch.where(cells - ring <= 0, inf, below)
        above = torch.where(cells + ring >= self.cmax[by], inf, above)
        out = torch.minimum(below, above).min(1).values
        return out.masked_fill(~self.nonempty[by], math.inf)  # no points: nothing to find


def _segment_min(x: Tensor, ptr: Tensor) -> Tensor:
    from ..core import segment
    return segment(x, ptr, 'min')


def _segment_max(x: Tensor, ptr: Tensor) -> Tensor:
    from ..core import segment
    return segment(x, ptr, 'max')


def _offsets(dim: int, ring: int, device) -> Tensor:
    r = torch.arange(-ring, ring + 1, device=device)
    return torch.cartesian_prod(*([r] * dim)).view(-1, dim)


_GROUP = 8  # queries of one cell processed together (they share their candidates)


def _grid_pass(grid: _Grid, xs: Tensor, ys: Tensor, by: Tensor, queries: Tensor, k: int,
               r2: Optional[float], self_ok: bool, ring: int):
    """Search the ``(2 ring + 1)^D`` cells around every query; returns the neighbours found
    for the queries whose result is proven exact (all of them when ``r2`` is given) and the
    queries left for a wider ring.

    Queries are grouped by cell, at most ``_GROUP`` per group: a group gathers the points of
    its block once and compares them with all its queries as one dense block."""
    dev = xs.device
    off = _offsets(grid.dim, ring, dev)
    nq = queries.numel()
    bq = by[queries]
    # clamp to one cell outside the grid: the block searched and the border bound below
    # both use the clamped cell, which keeps the exactness argument valid
    cq = torch.minimum(grid.cells_of(ys[queries], bq).clamp_min(-1), grid.shape)
    gkey = bq
    for d in range(grid.dim):
        gkey = gkey * (grid.shape[d] + 2) + (cq[:, d] + 1)
    o = torch.argsort(gkey, stable=True)
    queries, bq, cq, gkey = queries[o], bq[o], cq[o], gkey[o]
    new = torch.ones(nq, dtype=torch.bool, device=dev)
    new[1:] = gkey[1:] != gkey[:-1]
    first = torch.cummax(torch.where(new, torch.arange(nq, device=dev),
                                     torch.zeros_like(gkey)), 0).values
    rank = torch.arange(nq, device=dev) - first
    sid = torch.cumsum((rank % _GROUP == 0).long(), 0) - 1
    ns = int(sid[-1]) + 1 if nq else 0
    slot = rank % _GROUP
    head = torch.zeros(ns, dtype=torch.long, device=dev)
    head[sid[slot == 0]] = (slot == 0).nonzero().view(-1)
    qmat = torch.full((ns, _GROUP), -1, dtype=torch.long, device=dev)
    qmat[sid, slot] = torch.arange(nq, device=dev)           # positions in the sorted list
    start, length = grid.ranges(bq[head], cq[head], off)      # [S, O]
    width = length.sum(1)
    by_width = torch.argsort(width)
    widths = width[by_width].tolist() if ns else []

    rows, cols, pending = [], [], []
    xsT, ysT = xs.t().contiguous(), ys.t().contiguous()
    rb_all = None
    if r2 is None:
        rb_all = grid.border(ys[queries], bq, cq, ring)
        tol = (64 * torch.finfo(xs.dtype).eps
               * (float(xs.abs().max()) if xs.numel() else 0.0) + 0.0) + 1e-6 * grid.h
    s = 0
    while s < ns:
        wmax = max(widths[s], 1)
        e = min(ns, s + max(1, BUDGET // (wmax * _GROUP)))
        # widths are sorted: shrink the chunk until its widest group fits the budget
        while e - s > 1 and (e - s) * _GROUP * max(widths[e - 1], 1) > BUDGET:
            e = s + max(1, (e - s) // 2)
        groups = by_width[s:e]
        s = e
        g = groups.numel()
        w = max(int(widths[s - 1]), 0)
        qpos = qmat[groups]                                        # [g, G]
        qvalid = qpos >= 0
        qidx = queries[qpos.clamp_min(0)]                          # sorted-space query ids
        if w == 0:
            vals = ys.new_full((g * _GROUP, 0), math.inf)
            sel = torch.empty(g * _GROUP, 0, dtype=torch.long, device=dev)
        else:
            seg_len = length[groups].reshape(-1)
            seg_start = start[groups].reshape(-1)
            total = int(seg_len.sum())
            seg = torch.repeat_interleave(torch.arange(seg_len.numel(), device=dev), seg_len)
            seg_first = torch.cumsum(seg_len, 0) - seg_len
            flat = torch.arange(total, device=dev)
            cand = grid.order[seg_start[seg] + flat - seg_first[seg]]
            grp = seg // off.size(0)
            cnt = width[groups]
            col = flat - (torch.cumsum(cnt, 0) - cnt)[grp]
            dense_c = torch.zeros((g, w), dtype=torch.long, device=dev)
            dense_c[grp, col] = cand
            pad = torch.arange(w, device=dev).unsqueeze(0) >= cnt.unsqueeze(1)   # [g, w]
            xc = xsT[:, dense_c]                                   # [D, g, w]
            yq = ysT[:, qidx]                                      # [D, g, G]
            dist = (yq[0].unsqueeze(2) - xc[0].unsqueeze(1)).square_()
            for d in range(1, grid.dim):
                dist += (yq[d].unsqueeze(2) - xc[d].unsqueeze(1)).square_()
            if r2 is not None:
                dist.masked_fill_(dist > r2, math.inf)
            dist.masked_fill_(pad.unsqueeze(1), math.inf)
            dense_c.masked_fill_(pad, _INT_MAX)
            # without loops: select one more and drop the query itself afterwards (it is a
            # candidate, at distance 0; removing it from the (distance, index) order is the
            # same as excluding it before selecting)
            vals, sel = _select(dist.view(g * _GROUP, w), dense_c, k + (0 if self_ok else 1),
                                _GROUP)
            if not self_ok:
                vals, sel = _drop_self(vals, sel, qidx.view(-1))
        qv = qvalid.view(-1)
        qi = qidx.view(-1)
        if r2 is None:
            rb = rb_all[qpos.clamp_min(0).view(-1)]
            found = torch.isfinite(vals).sum(1)
            if vals.size(1) >= k:
                proven = (found == k) & (vals[:, k - 1].sqrt() < rb - tol)
            else:
                proven = torch.zeros_like(qv)
            ok = proven | torch.isinf(rb)
            pending.append(qi[qv & ~ok])
            qv = qv & ok
        keep = torch.isfinite(vals) & qv.unsqueeze(1)
        rows.append(qi.unsqueeze(1).expand_as(sel)[keep])
        cols.append(sel[keep])
    return _cat(rows, xs), _cat(cols, xs), None, _cat(pending, xs)


def _drop_self(vals: Tensor, sel: Tensor, q: Tensor) -> Tuple[Tensor, Tensor]:
    """Remove ``q`` from every row of the selection, else its last entry."""
    r, c = sel.shape
    if c == 0:
        return vals, sel
    keep = sel != q.unsqueeze(1)
    none = keep.all(1)
    keep[:, -1] &= ~none
    return vals[keep].view(r, c - 1), sel[keep].view(r, c - 1)


def _cell_width(xs: Tensor, ptr_x: Tensor, k: int) -> float:
    """A cell width that puts about ``_OCCUPANCY * k`` points in a cell (median over
    examples, counting only the dimensions along which an example extends)."""
    lo, hi = _segment_min(xs, ptr_x), _segment_max(xs, ptr_x)
    n = (ptr_x[1:] - ptr_x[:-1]).to(xs.dtype)
    ext = (hi - lo)
    scale = ext.max(1).values
    live = ext > 1e-9 * scale.unsqueeze(1)
    dims = live.sum(1)
    vol = torch.where(live, ext, torch.ones_like(ext)).prod(1)
    good = (dims > 0) & (n > 0)
    if not bool(good.any()):
        return 1.0
    h = (vol[good] * max(_OCCUPANCY * k, 1.0) / n[good]) ** (1.0 / dims[good].to(xs.dtype))
    h = torch.minimum(h, scale[good])
    return float(h.median())


def _fit_grid(xs: Tensor, ptr_x: Tensor, h: float) -> float:
    """Widen ``h`` until the linearised cell keys fit in 62 bits."""
    if xs.size(0) == 0:
        return h
    ext = (_segment_max(xs, ptr_x) - _segment_min(xs, ptr_x)).max(0).values
    b = ptr_x.numel()
    while True:
        cells = math.log2(b) + sum(math.log2(float(e) / h + 2) for e in ext.tolist())
        if cells < 60:
            return h
        h *= 2


# ----------------------------------------------------------------------------- k-d tree (CPU)
class _KDSearch:
    """One ``cKDTree`` over ``xs`` (plus the example index as a widely spaced coordinate when
    there are several examples) and the exact, certified selection of its candidates."""

    def __init__(self, xs: Tensor, ys: Tensor, bx: Tensor, by: Tensor, k: int,
                 r2: Optional[float], self_ok: bool):
        from scipy.spatial import cKDTree
        self.n, dim = xs.shape
        self.xT_np = xs.t().contiguous().numpy()
        self.yT_np = self.xT_np if ys is xs else ys.t().contiguous().numpy()
        self.bx, self.by = bx, by
        self.k, self.r2, self.self_ok = k, r2, self_ok
        self.multi = bool(bx.min() != bx.max()) or bool(by.min() != by.max()) or \
            bool(bx[0] != by[0])
        xa, ya = xs, ys
        if self.multi:
            # wider than any distance inside an example: the k-d tree reaches another example
            # only after every point of the query's own
            m = max(float(xs.abs().max()), float(ys.abs().max()))
            gap = 4.0 * m * math.sqrt(dim) + 1.0
            xa = torch.cat([xs, bx.to(xs.dtype).unsqueeze(1) * gap], 1)
            ya = torch.cat([ys, by.to(ys.dtype).unsqueeze(1) * gap], 1)
        self.xa, self.ya = xa.numpy(), ya.numpy()
        self.tree = cKDTree(self.xa, balanced_tree=False, compact_nodes=False)
        self.workers = max(1, torch.get_num_threads())
        # scipy keeps distances < bound: a margin so that every d <= r is inside
        self.bound = math.inf if r2 is None else math.sqrt(r2) * (1 + _CERT) + 1e-300

    def rows(self, q: Tensor, kq: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Squared distances and indices ``[Q, k]`` (``inf`` / ``_INT_MAX`` padded) of the
        queries ``q`` from ``kq`` candidates each, and which rows are proven exact."""
        n, k = self.n, self.k
        # scipy starts Python threads per call: worth it for large calls only
        workers = self.workers if q.numel() * kq >= 1 << 16 else 1
        _, iq = self.tree.query(self.ya[q.numpy()], k=kq, distance_upper_bound=self.bound,
                                workers=workers)
        iq = iq.reshape(q.numel(), kq)
        idc = np.minimum(iq, n - 1)
        d2 = torch.from_numpy(self._sqdist(idc, q.numpy()[:, None]))
        idx = torch.from_numpy(iq).to(torch.long)
        valid = idx < n                                    # scipy pads with n
        if self.multi:
            valid &= self.bx[torch.from_numpy(idc)] == self.by[q].unsqueeze(1)
        last = d2[:, -1].clone()
        # the tree returned its kq nearest and there may be more: only a clear gap proves it
        full = valid[:, -1] & (kq < n)
        drop = ~valid
        if self.r2 is not None:
            drop |= d2 > self.r2
        if bool(drop.any()):
            d2.masked_fill_(drop, math.inf)
            idx.masked_fill_(drop, _INT_MAX)
        if not self.self_ok:
            if bool((idx[:, 0] == q).all()):  # the usual case: the point itself comes first
                d2, idx = d2[:, 1:], idx[:, 1:]
            else:
                d2, idx = _drop_self(d2, idx, q)
        # the tree's order is its own rounding: put every row in exact (distance, index) order
        if d2.size(1) > 1:
            a, b = d2[:, :-1], d2[:, 1:]
            bad = ((b < a) | ((b == a) & (idx[:, 1:] < idx[:, :-1]))).any(1)
            if bool(bad.any()):
                rows = bad.nonzero().view(-1)
                d2[rows], idx[rows] = _lexsort_rows(d2[rows], idx[rows])
        if d2.size(1) >= k:
            d2, idx = d2[:, :k], idx[:, :k]
            thr = d2[:, -1]
        else:  # every candidate of the example was fetched (kq == n)
            pad = k - d2.size(1)
            d2 = torch.cat([d2, d2.new_full((d2.size(0), pad), math.inf)], 1)
            idx = torch.cat([idx, idx.new_full((idx.size(0), pad), _INT_MAX)], 1)
            thr = d2.new_full((d2.size(0),), math.inf)
        if self.r2 is not None:
            thr = thr.clamp_max(self.r2)
        proven = ~full | (thr < last * (1 - _CERT))
        return d2, idx, proven

    def _sqdist(self, col: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Squared distances from ``xs[col]`` to ``ys[row]`` (broadcast), ``_sqdist``'s formula
        in numpy: np.take gathers several times faster than torch here."""
        d2 = np.square(np.take(self.xT_np[0], col) - np.take(self.yT_np[0], row))
        for c in range(1, self.xT_np.shape[0]):
            d2 += np.square(np.take(self.xT_np[c], col) - np.take(self.yT_np[c], row))
        return d2

    def _within(self, d2: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Which pairs are within ``r`` (exact ``d2``) and in the same example."""
        keep = d2 <= self.r2
        if self.multi:
            keep &= self.bx.numpy()[col] == self.by.numpy()[row]
        return keep

    def pairs(self, same: bool, flip: bool) -> Optional[Tensor]:
        """Radius search in one dual-tree pass (scipy's ``query_pairs``, or
        ``sparse_distance_matrix`` for two sets): every pair within ``r``, exact distances,
        rows in (distance, index) order, cut at ``k``. Several times faster than ``k``-bounded
        queries when ``r`` holds about ``k`` points or fewer; None when a sample of the queries
        says it holds many more (dense data, large ``r``): the bounded queries then keep
        memory at O(N k)."""
        from scipy.spatial import cKDTree
        ny, k = self.ya.shape[0], self.k
        sample = self.ya[::max(1, ny // 1024)]
        found = self.tree.query_ball_point(sample, self.bound, return_length=True)
        if float(np.mean(found)) > _PAIRS_MEAN * k + 4:
            return None
        if same:  # each unordered pair once; its distance serves both directions
            p = self.tree.query_pairs(self.bound, output_type='ndarray')
            i, j = p[:, 0], p[:, 1]
            d2 = self._sqdist(j, i)
            keep = self._within(d2, i, j)
            i, j, d2 = i[keep], j[keep], d2[keep]
            del p, keep
            row, col, d2 = np.concatenate([i, j]), np.concatenate([j, i]), np.tile(d2, 2)
            del i, j
            if self.self_ok:
                ar = np.arange(ny)
                row, col = np.concatenate([row, ar]), np.concatenate([col, ar])
                d2 = np.concatenate([d2, np.zeros(ny)])
        else:
            m = cKDTree(self.ya, balanced_tree=False, compact_nodes=False) \
                .sparse_distance_matrix(self.tree, self.bound, output_type='ndarray')
            row, col = m['i'], m['j']
            del m
            d2 = self._sqdist(col, row)
            keep = self._within(d2, row, col)
            row, col, d2 = row[keep], col[keep], d2[keep]
        # grouped by row, columns ascending: a CSR conversion (a linear-time counting sort)
        csr = scipy.sparse.csr_matrix((d2, (row, col)), shape=(ny, self.n))
        del row, col, d2
        csr.sort_indices()
        col, d2, count = csr.indices, csr.data, np.diff(csr.indptr)
        del csr
        # then by distance inside a row: sort by (row, rank of the distance), the rank from a
        # stable sort, so that equal distances keep the column order
        rank = np.empty(d2.size, dtype=np.int64)
        rank[np.argsort(d2, kind='stable')] = np.arange(d2.size)
        del d2
        row = np.repeat(np.arange(ny, dtype=np.int64), count)
        order = np.argsort((row << 32) | rank)           # unique keys
        del rank
        col = col[order].astype(np.int64)
        del order
        if count.size and count.max() > k:                # keep the k nearest of a row
            first = np.arange(col.size) - np.repeat(np.cumsum(count) - count, count) < k
            row, col = row[first], col[first]
        out = torch.empty(2, len(row), dtype=torch.long)
        out[1 if flip else 0] = torch.as_tensor(row)
        out[0 if flip else 1] = torch.as_tensor(col)
        return out

    def search(self, queries: Tensor):
        """Yields ``(q, d2, idx)`` chunk by chunk, rows in (distance, index) order."""
        kq0 = min(self.k + (0 if self.self_ok else 1) + 1, self.n)
        step = max(1, BUDGET // kq0)
        for s in range(0, queries.numel(), step):
            q = queries[s:s + step]
            d2, idx, ok = self.rows(q, kq0)
            kq = kq0
            while not bool(ok.all()):  # ties / duplicates at the k-th distance: ask for more
                kq = min(4 * kq, self.n)
                todo = (~ok).nonzero().view(-1)
                sub = max(1, BUDGET // kq)
                for t in range(0, todo.numel(), sub):
                    rows = todo[t:t + sub]
                    d2[rows], idx[rows], ok[rows] = self.rows(q[rows], kq)
            yield q, d2, idx


def _kd_search(xs: Tensor, ys: Tensor, bx: Tensor, by: Tensor, k: int, r2: Optional[float],
               self_ok: bool, flip: bool) -> Tensor:
    """The ``[2, E]`` result of the k-d tree search, written chunk by chunk into its output
    (rows ``(query, point)``, or ``(point, query)`` when ``flip``)."""
    kd = _KDSearch(xs, ys, bx, by, k, r2, self_ok)
    if r2 is not None:
        out = kd.pairs(ys is xs and by is bx, flip)
        if out is not None:
            return out
    queries = torch.arange(ys.size(0))
    parts, total = [], 0
    exact = r2 is None and not kd.multi and xs.size(0) > k   # every query gets exactly k
    out = torch.empty(2, ys.size(0) * k, dtype=torch.long) if exact else None
    a, b = (1, 0) if flip else (0, 1)
    for q, d2, idx in kd.search(queries):
        keep = torch.isfinite(d2)
        c = int(keep.sum())
        if c == keep.numel():
            row, col = q.repeat_interleave(idx.size(1)), idx.reshape(-1)
        else:
            row, col = q.unsqueeze(1).expand_as(idx)[keep], idx[keep]
        if exact:
            out[a, total:total + c] = row
            out[b, total:total + c] = col
        else:
            parts.append((row, col))
        total += c
    if exact:
        return out if total == out.size(1) else out[:, :total].clone()
    out = torch.empty(2, total, dtype=torch.long)
    pos = 0
    while parts:
        row, col = parts.pop(0)
        out[a, pos:pos + row.numel()] = row
        out[b, pos:pos + row.numel()] = col
        pos += row.numel()
    return out


# ----------------------------------------------------------------------------- driver
def _search(x: Tensor, y: Optional[Tensor], batch_x: Optional[Tensor],
            batch_y: Optional[Tensor], k: int, r: Optional[float], self_ok: bool,
            cosine: bool = False, batch_size: Optional[int] = None,
            flip: bool = False) -> Tensor:
    """``[2, E]``: rows (indices of ``y``) and columns (indices of ``x``), grouped by row in
    increasing order and by ``(distance, column)`` inside a row; swapped when ``flip``.
    ``y=None`` searches ``x`` itself (the graph functions)."""
    x = check_points(x, 'x')
    y = x if y is None else check_points(y, 'y')
    if x.size(1) != y.size(1):
        raise ValueError(f'x and y must have the same number of dimensions, '
                         f'got {x.size(1)} and {y.size(1)}')
    bx = check_batch(batch_x, x.size(0), x.device, 'batch_x')
    by = bx if (y is x and batch_y is batch_x) else \
        check_batch(batch_y, y.size(0), y.device, 'batch_y')
    if x.size(0) == 0 or y.size(0) == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    bx, by = _compact_batches(bx, by)
    if cosine:
        x, y = x.to(torch.float64), (x.to(torch.float64) if y is x else y.to(torch.float64))
    else:
        x, y, r = _to64(x, y, r)
    r2 = None if r is None else r * r
    if r2 == 0.0 and r > 0:
        # r * r underflows (a radius far below the data's scale): after the power-of-two
        # scaling distinct points are at least 2^-52 apart, so only coincident points are
        # within r, and the smallest positive double keeps ``d2 <= r2`` exact for them
        r2 = 5e-324
    dim = x.size(1)
    if (x.device.type == 'cpu' and _CPU_METHOD == 'kdtree' and not cosine
            and dim <= _DIRECT_MAX_DIM):
        return _kd_search(x, y, bx, by, k, r2, self_ok, flip)

    num = int(max(int(bx.max()), int(by.max()))) + 1
    if batch_size is not None:
        num = max(num, int(batch_size))
    px, py = _sort_by_batch(bx), _sort_by_batch(by)
    xs, bxs = (x, bx) if px is None else (x[px], bx[px])
    ys, bys = (y, by) if py is None else (y[py], by[py])
    ptr_x = torch.searchsorted(bxs, torch.arange(num + 1, device=x.device))
    queries = torch.arange(ys.size(0), device=x.device)

    parts = []
    if dim <= _GRID_MAX_DIM and not cosine:
        if r is not None:
            # a radius wider than the data needs no finer cells than the data's extent
            h = _fit_grid(xs, ptr_x, min(r, 4.0 * math.sqrt(dim) + 1.0))
        else:
            h = _fit_grid(xs, ptr_x, _cell_width(xs, ptr_x, k))
        grid = _Grid(xs, bxs, ptr_x, num, h)
        ring = 1
        max_ring = int(grid.shape.max()) + 1
        while queries.numel():
            row, col, dist, queries = _grid_pass(grid, xs, ys, bys, queries, k, r2, self_ok,
                                                 ring)
            parts.append((row, col))
            if ring >= max_ring:
                break
            ring = min(2 * ring, max_ring)
            if (2 * ring + 1) ** dim > _MAX_BLOCK:  # few, far-off queries: compare
                break                                 # them with their whole example
        if queries.numel():
            parts.append(_brute(xs, ys, bxs, bys, ptr_x, k, r2, self_ok, False, queries)[:2])
    else:
        parts.append(_brute(xs, ys, bxs, bys, ptr_x, k, r2, self_ok, cosine, queries)[:2])

    row = torch.cat([p[0] for p in parts])
    col = torch.cat([p[1] for p in parts])
    if px is not None:
        col = px[col]
    if py is not None:
        row = py[row]
    # group by query: passes and cell groups finish queries in any order, but the
    # neighbours of one query are contiguous and in (distance, index) order; place every run
    # at its query's offset (a counting sort, no comparison sort)
    m = row.numel()
    if m:
        counts = torch.bincount(row, minlength=y.size(0))
        offset = torch.cumsum(counts, 0) - counts
        ar = torch.arange(m, device=row.device)
        first = torch.ones(m, dtype=torch.bool, device=row.device)
        first[1:] = row[1:] != row[:-1]
        run_start = torch.cummax(torch.where(first, ar, torch.zeros_like(ar)), 0).values
        pos = offset[row] + (ar - run_start)
        out_row = torch.empty_like(row)
        out_col = torch.empty_like(col)
        out_row[pos] = row
        out_col[pos] = col
        row, col = out_row, out_col
    return torch.stack([col, row] if flip else [row, col])


# ----------------------------------------------------------------------------- public API
def knn(x: Tensor, y: Tensor, k: int, batch_x: Optional[Tensor] = None,
        batch_y: Optional[Tensor] = None, cosine: bool = False, num_workers: int = 1,
        batch_size: Optional[int] = None) -> Tensor:
    r"""For every point of ``y``, its ``k`` nearest points of ``x`` (same example).

    As ``torch_cluster.knn``: returns ``[2, M]`` with row 0 indexing ``y`` and row 1 indexing
    ``x``; rows come in increasing order, and inside a row neighbours by increasing
    ``(distance, index)``. A query gets ``min(k, n)`` neighbours, ``n`` the number of points
    of ``x`` in its example.

    Args:
        x: points ``[N, D]`` searched. y: query points ``[M, D]``.
        k: neighbours per query (a positive integer).
        batch_x, batch_y: example of every point (sorted or not).
        cosine: use the cosine distance :math:`1 - \cos(x, y)` instead of Euclidean.
        num_workers: ignored (the torch thread count is used).
        batch_size: the number of examples, when known.
    """
    k = check_k(k)
    return _search(x, y, batch_x, batch_y, k, None, True, cosine, batch_size)


def knn_graph(x: Tensor, k: int, batch: Optional[Tensor] = None, loop: bool = False,
              flow: str = 'source_to_target', cosine: bool = False, num_workers: int = 1,
              batch_size: Optional[int] = None) -> Tensor:
    r"""The k-nearest-neighbour graph of ``x``: an edge ``j -> i`` from each of the ``k``
    nearest points ``j`` of every point ``i`` (``flow='source_to_target'``, as
    ``torch_cluster.knn_graph``). With ``loop=False`` a point is not its own neighbour (its
    duplicates are); every node gets ``min(k, n - 1)`` neighbours.

    Shapes: x ``[N, D]``, batch ``[N]`` -> edge_index ``[2, N k]`` (fewer for small examples).
    """
    k = check_k(k)
    _graph_check_flow(flow)
    return _search(x, None, batch, batch, k, None, loop, cosine, batch_size,
                   flip=flow == 'source_to_target')


def _graph_check_flow(flow: str) -> None:
    if flow not in ('source_to_target', 'target_to_source'):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")


def radius(x: Tensor, y: Tensor, r: float, batch_x: Optional[Tensor] = None,
           batch_y: Optional[Tensor] = None, max_num_neighbors: int = 32,
           num_workers: int = 1, batch_size: Optional[int] = None) -> Tensor:
    r"""For every point of ``y``, the points of ``x`` (same example) within distance
    ``<= r``; at most ``max_num_neighbors``, the nearest ones (ties: smaller index).

    Returns ``[2, M]`` (row 0 indexes ``y``, row 1 indexes ``x``) as ``torch_cluster.radius``.
    """
    r = check_r(r)
    k = check_k(max_num_neighbors, 'max_num_neighbors')
    return _search(x, y, batch_x, batch_y, k, r, True, False, batch_size)


def radius_graph(x: Tensor, r: float, batch: Optional[Tensor] = None, loop: bool = False,
                 max_num_neighbors: int = 32, flow: str = 'source_to_target',
                 num_workers: int = 1, batch_size: Optional[int] = None) -> Tensor:
    r"""The radius graph of ``x``: an edge ``j -> i`` for every point ``j`` within distance
    ``<= r`` of ``i`` (same example), at most ``max_num_neighbors`` per node (the nearest).
    With ``loop=False`` the point itself is excluded (its duplicates are not)."""
    r = check_r(r)
    k = check_k(max_num_neighbors, 'max_num_neighbors')
    _graph_check_flow(flow)
    return _search(x, None, batch, batch, k, r, loop, False, batch_size,
                   flip=flow == 'source_to_target')
