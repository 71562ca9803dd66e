"""The compiled path of :class:`~gdl_graphs.geodesics.solvers.MarchingSolver` (numba, an
optional dependency: ``pip install gdl-graphs[mesh]``): the same updates as the vectorised
path, one centre at a time with a heap (a label-correcting fast marching), directly on the
mesh (no cropped copies), so its cost is the disk's. Same fixed point as the vectorised path
(tests compare them)."""
from __future__ import annotations

import heapq
import math

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None

__all__ = ['available', 'march_patches']


def available() -> bool:
    return numba is not None


def _candidate(q, da, db, lab, cx, cy, lac, lbc, tri):
    """The update of corner row ``q`` from ``da``, ``db``: ``(distance, kind, dx, dy)``,
    ``kind`` 0: from a, 1: from b, 2: the triangle (ray ``(dx, dy)`` in the face's 2-D
    frame)."""
    via_a = da + lac[q]
    via_b = db + lbc[q]
    best, kind = (via_a, 0) if via_a <= via_b else (via_b, 1)
    dx = dy = 0.0
    if tri[q] and da < math.inf and db < math.inf:
        lq = lab[q]
        sx = (da * da - db * db + lq * lq) / (2 * lq)
        s2 = da * da - sx * sx
        if s2 >= 0:
            sy = math.sqrt(s2)
            ex, ey = cx[q] - sx, cy[q] + sy
            x0 = sx + ex * sy / ey
            t = math.sqrt(ex * ex + ey * ey)
            if x0 >= 0 and x0 <= lq and t < best:
                best, kind, dx, dy = t, 2, ex, ey
    return best, kind, dx, dy


def _inside(v, f, fa, x, y, z, r2, seen, flag, ci):
    """Whether the three corners of face ``fa`` lie within ``sqrt(r2)`` of ``(x, y, z)``
    (per vertex, cached in ``flag`` for centre ``ci``)."""
    for k in range(3):
        u = f[fa, k]
        if seen[u] != ci:
            a, b, c = v[u, 0] - x, v[u, 1] - y, v[u, 2] - z
            seen[u] = ci
            flag[u] = a * a + b * b + c * c <= r2
        if not flag[u]:
            return False
    return True


def _angle_at(nj, ni, fi, w):
    """The angle in frame ``fi [2, 3]`` of ``w`` (tangent at ``j``) rotated by the smallest
    rotation taking unit ``nj`` to unit ``ni`` (antipodal normals: by pi about ``w``'s own
    direction, as :func:`gdl_graphs.core.mesh.smallest_rotation` falls back)."""
    c = nj[0] * ni[0] + nj[1] * ni[1] + nj[2] * ni[2]
    k0 = nj[1] * ni[2] - nj[2] * ni[1]
    k1 = nj[2] * ni[0] - nj[0] * ni[2]
    k2 = nj[0] * ni[1] - nj[1] * ni[0]
    if 1.0 + c > 1e-12:
        kw = (k0 * w[0] + k1 * w[1] + k2 * w[2]) / (1.0 + c)
        r0 = c * w[0] + (k1 * w[2] - k2 * w[1]) + k0 * kw
        r1 = c * w[1] + (k2 * w[0] - k0 * w[2]) + k1 * kw
        r2 = c * w[2] + (k0 * w[1] - k1 * w[0]) + k2 * kw
    else:
        r0, r1, r2 = w[0], w[1], w[2]
    return math.atan2(r0 * fi[1, 0] + r1 * fi[1, 1] + r2 * fi[1, 2],
                      r0 * fi[0, 0] + r1 * fi[0, 1] + r2 * fi[0, 2])


def _march(v, f, vf_ptr, vf_idx, lab, cx, cy, lac, lbc, tri, ex, ey, dir_a, dir_b, normal,
           frame, centres, reach, limit, radius, cap):
    """For every centre: the vertices within ``radius`` (not the centre), their distances and
    the direction ``theta`` of the geodesic at the centre and the transport ``conn_{j->i}``
    (the direction at ``j`` of the winning update carried by the smallest rotation of the
    normals, as :func:`gdl_graphs.geodesics.solvers._theta_conn`). Faces with a corner
    farther than ``reach`` from the centre (Euclidean) are outside its crop; vertices farther
    than ``limit`` do not pass their distance on. ``cap``: initial output capacity (grown as
    needed)."""
    n = v.shape[0]
    stamp = np.full(n, -1, np.int64)
    d = np.full(n, np.inf)
    out_j = np.empty(cap, np.int64)
    out_i = np.empty(cap, np.int64)
    out_d = np.empty(cap)
    out_t = np.empty(cap)
    out_c = np.empty(cap)
    w = np.empty(3)
    m = 0
    touched = np.empty(n, np.int64)
    seen = np.full(n, -1, np.int64)
    win_q = np.zeros(n, np.int64)          # the update that set d (row, kind, ray)
    win_k = np.zeros(n, np.int64)
    win_x = np.zeros(n)
    win_y = np.zeros(n)
    flag = np.zeros(n, np.bool_)
    r2 = reach * reach
    for ci in range(centres.size):
        c0 = centres[ci]
        p0x, p0y, p0z = v[c0, 0], v[c0, 1], v[c0, 2]
        nt = 0
        stamp[c0] = ci
        d[c0] = 0.0
        touched[nt] = c0
        nt += 1
        heap = [(0.0, c0)]
        while len(heap):
            da0, a = heapq.heappop(heap)
            if da0 > d[a] or da0 > limit:
                continue
            for t in range(vf_ptr[a], vf_ptr[a + 1]):
                fa = vf_idx[t]
                if not _inside(v, f, fa, p0x, p0y, p0z, r2, seen, flag, ci):
                    continue
                for k in range(3):
                    tc = f[fa, k]
                    if tc == a:
                        continue
                    x, y = f[fa, (k + 1) % 3], f[fa, (k + 2) % 3]
                    dx_ = d[x] if stamp[x] == ci else math.inf
                    dy_ = d[y] if stamp[y] == ci else math.inf
                    q = 3 * fa + k
                    cand, kind, rx, ry = _candidate(q, dx_, dy_, lab, cx, cy, lac, lbc, tri)
                    old = d[tc] if stamp[tc] == ci else math.inf
                    if cand < old * (1 - 1e-12):
                        if stamp[tc] != ci:
                            stamp[tc] = ci
                            touched[nt] = tc
                            nt += 1
                        d[tc] = cand
                        win_q[tc], win_k[tc], win_x[tc], win_y[tc] = q, kind, rx, ry
                        heapq.heappush(heap, (cand, tc))
        # the patch: the winning update of every vertex within the radius
        for s in range(1, nt):
            j = touched[s]
            if d[j] > radius:
                continue
            bq, bk, bx, by = win_q[j], win_k[j], win_x[j], win_y[j]
            if bk == 2:
                norm = math.sqrt(bx * bx + by * by)
                for e in range(3):
                    w[e] = (bx * ex[bq, e] + by * ey[bq, e]) / norm
            elif bk == 0:
                w[:] = dir_a[bq]
            else:
                w[:] = dir_b[bq]
            if m == out_j.size:
                grow = 2 * out_j.size + 1
                out_j = _grow1(out_j, grow)
                out_i = _grow1(out_i, grow)
                out_d = _grow1(out_d, grow)
                out_t = _grow1(out_t, grow)
                out_c = _grow1(out_c, grow)
            conn = _angle_at(normal[j], normal[c0], frame[c0], frame[j, 0])
            phi = math.atan2(w[0] * frame[j, 1, 0] + w[1] * frame[j, 1, 1] + w[2] * frame[j, 1, 2],
                             w[0] * frame[j, 0, 0] + w[1] * frame[j, 0, 1] + w[2] * frame[j, 0, 2])
            out_j[m], out_i[m], out_d[m], out_t[m], out_c[m] = j, c0, d[j], phi + conn, conn
            m += 1
    return out_j[:m], out_i[:m], out_d[:m], out_t[:m], out_c[:m]


def _grow1(a, size):
    b = np.empty(size, a.dtype)
    b[:a.size] = a
    return b


if numba is not None:
    _candidate = numba.njit(cache=True, inline='always')(_candidate)
    _grow1 = numba.njit(cache=True)(_grow1)
    _inside = numba.njit(cache=True, inline='always')(_inside)
    _angle_at = numba.njit(cache=True, inline='always')(_angle_at)
    _march = numba.njit(cache=True)(_march)


def march_patches(v, f, vf_ptr, vf_idx, tables, normal, frame, centres, reach, limit, radius):
    """Run the compiled marching for ``centres`` (see :func:`_march`): ``(j, i, rho, theta,
    conn)`` per patch edge ``j -> i``."""
    cap = max(16, 64 * centres.size)
    return _march(v, f, vf_ptr, vf_idx, *tables, normal, frame, centres.astype(np.int64),
                  float(reach), float(limit), float(radius), cap)
