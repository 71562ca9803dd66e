r"""Exact k-nearest-neighbour and radius search, chunked so memory is :math:`O(N k)`.

Drop-in replacements for ``torch_cluster.knn``, ``knn_graph``, ``radius`` and
``radius_graph`` (PyG 2.8 needs pyg-lib or torch-cluster for these), in pure PyTorch, on CPU
and CUDA.

How it searches:

- positions of dimension <= 3 (point clouds, meshes, images) are bucketed into a uniform grid
  (cells keyed by example and cell coordinates, sorted once); a query looks at the
  :math:`(2R+1)^D` cells around its own. For ``radius`` the cell is as wide as ``r`` so one
  ring is exact. For ``knn`` the cell holds a few points on average, and a query is accepted
  only when its k-th distance is smaller than the distance to the border of the searched
  block; the others search again with a wider block, up to the whole example. The result is
  therefore exact, never approximate.
- higher dimensions (and ``cosine=True``) compare a chunk of queries with every point of
  their example.

Every step works on chunks of queries whose candidate lists hold at most ``2**22`` entries,
so the working memory is bounded by that constant plus the :math:`O(N k)` output.

Conventions (what tests check against brute force):

- distances are Euclidean, computed as :math:`\sum_d (y_d - x_d)^2` (for more than 8
  dimensions through :math:`\|x\|^2 + \|y\|^2 - 2 x \cdot y`, which rounds differently);
- neighbours of a query are returned sorted by ``(distance, index)``: **ties are broken by
  the smaller index** of ``x`` (torch-cluster leaves the order of ties unspecified);
- a query gets ``min(k, n)`` neighbours where ``n`` is the number of candidate points of its
  example (PyG's behaviour; an example without points gives its queries no neighbours);
- ``knn_graph`` / ``radius_graph`` with ``loop=False`` exclude the point itself (not its
  duplicates) *before* choosing ``k``, so every node gets ``min(k, n - 1)`` neighbours;
  torch-cluster instead asks for ``k + 1`` and drops self-loops afterwards;
- ``radius`` keeps points with distance ``<= r``; when more than ``max_num_neighbors``
  qualify it keeps the nearest (torch-cluster keeps an unspecified subset).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..core.validate import check_finite

__all__ = ['knn', 'knn_graph', 'radius', 'radius_graph']

BUDGET = 1 << 22          # candidate entries per chunk
_GRID_MAX_DIM = 3         # grid search up to this dimension
_DIRECT_MAX_DIM = 8       # exact difference formula up to this dimension
_OCCUPANCY = 0.4         # target points per grid cell, times k
_INT_MAX = torch.iinfo(torch.long).max
_MAX_BLOCK = 4096         # cells in a search block before falling back to brute force


# ----------------------------------------------------------------------------- validation
def _points(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor of positions [N, D], '
                         f'got {type(x).__name__}')
    if x.dim() == 1:
        x = x.view(-1, 1)
    if x.dim() != 2:
        raise ValueError(f'{name} must have shape [N, D] (one row per point), '
                         f'got {list(x.shape)}')
    if not x.is_floating_point():
        raise ValueError(f'{name} must be a floating point tensor, got {x.dtype}; '
                         f'convert with .float()')
    check_finite(x, name)
    return x


def _batch(batch: Optional[Tensor], n: int, device, name: str) -> Tensor:
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device)
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != n:
        shape = list(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f'{name} must be a 1-D tensor with one entry per point ({n}), '
                         f'got {shape}')
    if batch.dtype not in (torch.long, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise ValueError(f'{name} must hold integers, got {batch.dtype}')
    batch = batch.long()
    if n and int(batch.min()) < 0:
        raise ValueError(f'{name} holds a negative example index')
    return batch


def _check_k(k, name: str = 'k') -> int:
    if isinstance(k, bool) or not isinstance(k, int) and not (
            isinstance(k, Tensor) and k.numel() == 1 and not k.is_floating_point()):
        raise ValueError(f'{name} must be a positive integer, got {k!r}')
    k = int(k)
    if k < 1:
        raise ValueError(f'{name} must be a positive integer, got {k}')
    return k


def _check_r(r) -> float:
    r = float(r)
    if not r > 0 or math.isinf(r):  # also catches NaN
        raise ValueError(f'r must be a positive, finite radius, got {r}')
    return r


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
    per = max(largest, 1) * (dim if (dim <= _DIRECT_MAX_DIM and not cosine) else 1)
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
            d = (yq.unsqueeze(1) - xc.unsqueeze(0)).pow_(2).sum(-1)
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


# ----------------------------------------------------------------------------- driver
def _search(x: Tensor, y: Tensor, batch_x: Optional[Tensor], batch_y: Optional[Tensor],
            k: int, r: Optional[float], self_ok: bool, cosine: bool = False,
            batch_size: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Rows (indices of ``y``) and columns (indices of ``x``), grouped by row in increasing
    order and by ``(distance, column)`` inside a row."""
    x, y = _points(x, 'x'), _points(y, 'y')
    if x.size(1) != y.size(1):
        raise ValueError(f'x and y must have the same number of dimensions, '
                         f'got {x.size(1)} and {y.size(1)}')
    if y.dtype != x.dtype:
        y = y.to(x.dtype)
    bx = _batch(batch_x, x.size(0), x.device, 'batch_x')
    by = _batch(batch_y, y.size(0), y.device, 'batch_y')
    empty = torch.empty(0, dtype=torch.long, device=x.device)
    if x.size(0) == 0 or y.size(0) == 0:
        return empty, empty
    num = int(max(int(bx.max()), int(by.max()))) + 1
    if batch_size is not None:
        num = max(num, int(batch_size))
    px, py = _sort_by_batch(bx), _sort_by_batch(by)
    xs, bxs = (x, bx) if px is None else (x[px], bx[px])
    ys, bys = (y, by) if py is None else (y[py], by[py])
    ptr_x = torch.searchsorted(bxs, torch.arange(num + 1, device=x.device))
    r2 = None if r is None else r * r
    queries = torch.arange(ys.size(0), device=x.device)

    parts = []
    if x.size(1) <= _GRID_MAX_DIM and not cosine:
        if r is not None:
            h = _fit_grid(xs, ptr_x, r)
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
            if (2 * ring + 1) ** x.size(1) > _MAX_BLOCK:  # few, far-off queries: compare
                break                                     # them with their whole example
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
    if m == 0:
        return row, col
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
    return out_row, out_col


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
        num_workers: ignored (torch's own threads are used).
        batch_size: the number of examples, when known.
    """
    k = _check_k(k)
    row, col = _search(x, y, batch_x, batch_y, k, None, True, cosine, batch_size)
    return torch.stack([row, col])


def _graph(row: Tensor, col: Tensor, flow: str) -> Tensor:
    return torch.stack([col, row] if flow == 'source_to_target' else [row, col])


def knn_graph(x: Tensor, k: int, batch: Optional[Tensor] = None, loop: bool = False,
              flow: str = 'source_to_target', cosine: bool = False, num_workers: int = 1,
              batch_size: Optional[int] = None) -> Tensor:
    r"""The k-nearest-neighbour graph of ``x``: an edge ``j -> i`` from each of the ``k``
    nearest points ``j`` of every point ``i`` (``flow='source_to_target'``, as
    ``torch_cluster.knn_graph``). With ``loop=False`` a point is not its own neighbour (its
    duplicates are); every node gets ``min(k, n - 1)`` neighbours.

    Shapes: x ``[N, D]``, batch ``[N]`` -> edge_index ``[2, N k]`` (fewer for small examples).
    """
    k = _check_k(k)
    _graph_check_flow(flow)
    row, col = _search(x, x, batch, batch, k, None, loop, cosine, batch_size)
    return _graph(row, col, flow)


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
    r = _check_r(r)
    k = _check_k(max_num_neighbors, 'max_num_neighbors')
    row, col = _search(x, y, batch_x, batch_y, k, r, True, False, batch_size)
    return torch.stack([row, col])


def radius_graph(x: Tensor, r: float, batch: Optional[Tensor] = None, loop: bool = False,
                 max_num_neighbors: int = 32, flow: str = 'source_to_target',
                 num_workers: int = 1, batch_size: Optional[int] = None) -> Tensor:
    r"""The radius graph of ``x``: an edge ``j -> i`` for every point ``j`` within distance
    ``<= r`` of ``i`` (same example), at most ``max_num_neighbors`` per node (the nearest).
    With ``loop=False`` the point itself is excluded (its duplicates are not)."""
    r = _check_r(r)
    k = _check_k(max_num_neighbors, 'max_num_neighbors')
    _graph_check_flow(flow)
    row, col = _search(x, x, batch, batch, k, r, loop, False, batch_size)
    return _graph(row, col, flow)
