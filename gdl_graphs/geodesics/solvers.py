r"""Geodesic polar coordinates on cropped copies of a mesh: one interface, three solvers.

:func:`gdl_graphs.geodesics.geodesic_patches` cuts, for every centre ``i``, a copy of the
mesh inside a Euclidean ball around ``i`` (a :class:`Crop`: the copies of a chunk of centres
form one union mesh of disjoint pieces) and asks a :class:`PatchSolver` for every crop vertex
``j`` within the geodesic radius: the distance ``rho_ij``, the direction ``theta_ij`` of the
geodesic at ``i`` in ``i``'s frame and the transport angle ``conn_{j->i}``. The assembly of the
crops, the selection of the patch and the output are written once, in
:mod:`gdl_graphs.geodesics.patches`; a solver only solves.

- :class:`MarchingSolver` (``'fast'``, default): an eikonal solver restricted to the disk.
  Distances by a vectorised fast-iterative marching (Jeong & Whitaker 2008) over the crop's
  triangles, every crop of the chunk at once: each corner takes the smallest of the
  edge updates ``d_a + |ac|`` and the planar triangle update from the virtual source (the
  point at distances ``d_a``, ``d_b`` of the unfolded edge ``ab``, Kimmel & Sethian 1998),
  until no distance changes. The direction of the geodesic at ``j`` is the direction of the
  winning update (the ray from the virtual source, exact on a plane), and ``theta`` and the
  transport are read with :func:`gdl_graphs.domains.mesh.mesh_to_graph`'s discrete
  Levi-Civita connection applied to the pair ``(j, i)`` (the smallest rotation taking
  ``n_j`` to ``n_i``: exact parallel transport along the geodesic on planes and spheres).
  Cost: a few passes over the triangles of the disk.
- :class:`HeatSolver` (``'heat'``, the reference and the robust option): the heat method
  (Crane et al. 2013) for distances and the vector heat method (Sharp et al. 2019) for
  transport, with geometry-central's operators (cotan Laplacian, lumped mass,
  ``t = t_coef h^2``), assembled here; block-diagonal conjugate gradients and one sparse LU
  per chunk.
- :class:`Potpourri3dSolver` (``'potpourri3d'``): the library's own heat and vector heat
  solvers (its intrinsic-Delaunay Laplacian) on the union of the crops.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from ..core.mesh import transport_angle
from .operators import (
    angle_weighted_gradient,
    components,
    corner_geometry,
    degenerate,
    divergence_weights,
    face_connection,
    gradient_basis,
    pcg,
    robust_laplacian,
    vertex_gradient,
)

__all__ = ['Crop', 'MeshArrays', 'PatchSolver', 'MarchingSolver', 'HeatSolver',
           'Potpourri3dSolver', 'SOLVERS', 'make_solver']

Edges = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class MeshArrays:
    """The mesh as float64 numpy arrays: positions ``v [N, 3]``, faces ``f [F, 3]``, the
    normals and frames of :func:`~gdl_graphs.domains.mesh.mesh_to_graph`, the mean edge
    length ``h`` and the heat-time coefficient."""
    v: np.ndarray
    f: np.ndarray
    normal: np.ndarray
    frame: np.ndarray
    h: float
    t_coef: float = 1.0


@dataclass
class Crop:
    """Copies of the mesh cut by balls around ``centres`` (original vertex ids ``[C]``), as
    one union mesh: vertex ``u`` is a copy of ``orig[u]`` in patch ``owner[u]`` (sorted by
    owner, then vertex); ``faces [Fu, 3]`` index the union, ``fid`` the original face of each;
    ``cu [C]`` is the union vertex of every centre."""
    centres: np.ndarray
    owner: np.ndarray
    orig: np.ndarray
    faces: np.ndarray
    fid: np.ndarray
    cu: np.ndarray

    @property
    def size(self) -> int:
        return self.orig.size


class PatchSolver:
    """The interface: :meth:`prepare` once per mesh, then :meth:`solve` per chunk of crops,
    returning the patch edges ``(owner, orig, rho, theta, conn)`` (``owner`` indexes
    ``crop.centres``) for the crop vertices ``j != i`` of the centre's piece with
    ``rho <= radius`` (a vertex may appear twice in a patch; the shorter geodesic is kept).
    ``margin`` is the default crop margin, in mean edge lengths, beyond the radius."""
    name = ''
    margin = 2.0

    def prepare(self, mesh: MeshArrays) -> None:
        self.mesh = mesh

    def solve(self, crop: Crop, radius: float) -> Edges:  # pragma: no cover - interface
        raise NotImplementedError

    def solve_centres(self, centres: np.ndarray, reach: float, radius: float):
        """The same edges for ``centres`` without cropped copies (the crop of a centre: the
        faces inside its Euclidean ball of radius ``reach``), or ``None`` when the solver
        needs the copies (then :meth:`solve` is called)."""
        return None

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


def _theta_conn(mesh: MeshArrays, j: np.ndarray, i: np.ndarray, direction: np.ndarray):
    """``theta_{ij}`` and ``conn_{j->i}`` from the unit direction ``[E, 3]`` of the geodesic
    at ``j`` (pointing away from ``i``): the direction is read in ``j``'s frame and carried to
    ``i`` by the connection of the pair (the smallest rotation taking ``n_j`` to ``n_i``)."""
    fr = mesh.frame[j]
    phi = np.arctan2((direction * fr[:, 1]).sum(1), (direction * fr[:, 0]).sum(1))
    nt, ft = torch.from_numpy(mesh.normal), torch.from_numpy(mesh.frame)
    jt, it = torch.from_numpy(j), torch.from_numpy(i)
    conn = transport_angle(nt[jt], ft[jt], nt[it], ft[it]).numpy()
    return phi + conn, conn


def _distinct(idx: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of ``idx`` (in ``[0, size)``), sorted, by a mask (no sort)."""
    mask = np.zeros(size, dtype=bool)
    mask[idx] = True
    return np.flatnonzero(mask)


class MarchingSolver(PatchSolver):
    """Eikonal marching restricted to the disk (see the module docstring). With numba
    installed (``compiled=True``, the default) one centre at a time on the mesh itself, else
    vectorised over the cropped copies; the two paths reach the same fixed point."""
    name = 'fast'
    margin = 0.5

    def __init__(self, compiled: bool = True):
        self.compiled = compiled

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(compiled={self.compiled})'

    def prepare(self, mesh: MeshArrays) -> None:
        super().prepare(mesh)
        v, f = mesh.v, mesh.f
        p = v[f]                                         # [F, 3, 3]
        _, area2, _, _ = corner_geometry(p)
        flat = degenerate(p, area2) | (area2 == 0)
        # corner k is the target c; a, b the next two corners; a at the origin, b on the x axis
        c, a, b = p, np.roll(p, -1, 1), np.roll(p, -2, 1)
        e = b - a
        lab = np.sqrt((e * e).sum(-1))
        ex = e / np.where(lab > 0, lab, 1.0)[..., None]
        w = c - a
        cx = (w * ex).sum(-1)
        wy = w - cx[..., None] * ex
        cy = np.sqrt((wy * wy).sum(-1))
        ey = wy / np.where(cy > 0, cy, 1.0)[..., None]
        # tables flattened per (face, corner): row 3 f + k
        self.lab, self.cx, self.cy = lab.ravel(), cx.ravel(), cy.ravel()
        self.ex, self.ey = ex.reshape(-1, 3), ey.reshape(-1, 3)
        self.lac = np.sqrt(((c - a) ** 2).sum(-1)).ravel()
        self.lbc = np.sqrt(((c - b) ** 2).sum(-1)).ravel()
        self.tri = ((~flat)[:, None] & (lab > 0) & (cy > 0)).ravel()  # triangle update valid
        self.dir_a = self._unit(c - a).reshape(-1, 3)
        self.dir_b = self._unit(c - b).reshape(-1, 3)

    def _candidates(self, q, da, db, direction: bool = False):
        """Distance candidates of the corners ``q`` (rows ``3 face + corner``) from ``da``,
        ``db``; with ``direction``: also the unit direction ``[T, 3]`` of the winning
        update."""
        lab, cx, cy = self.lab[q], self.cx[q], self.cy[q]
        via_a = da + self.lac[q]
        via_b = db + self.lbc[q]
        best = np.minimum(via_a, via_b)
        with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
            sx = (da * da - db * db + lab * lab) / (2 * lab)
            sy = np.sqrt(da * da - sx * sx)             # NaN: no virtual source
            # the source (sx, -sy), across ab from c; the ray to c crosses the segment ab
            dx, dy = cx - sx, cy + sy
            x0 = sx + dx * sy / dy
            tri = np.sqrt(dx * dx + dy * dy)
            use = self.tri[q] & (x0 >= 0) & (x0 <= lab) & (tri < best)
        best = np.where(use, tri, best)
        if not direction:
            return best
        ray = (dx / np.where(use, tri, 1.0))[:, None] * self.ex[q] + \
            (dy / np.where(use, tri, 1.0))[:, None] * self.ey[q]
        edge = np.where((via_a <= via_b)[:, None], self.dir_a[q], self.dir_b[q])
        return best, np.where(use[:, None], ray, edge)

    @staticmethod
    def _unit(x):
        n = np.sqrt((x * x).sum(-1, keepdims=True))
        return x / np.where(n > 0, n, 1.0)

    def solve_centres(self, centres: np.ndarray, reach: float, radius: float):
        # numba is imported here, on first use, not with the package (it takes a while)
        if not self.compiled or importlib.util.find_spec('numba') is None:
            return None
        from . import _marching
        mesh = self.mesh
        if not hasattr(self, '_vf'):
            n, f = mesh.v.shape[0], mesh.f
            order = np.argsort(f.reshape(-1), kind='stable')
            self._vf = (np.concatenate([[0], np.cumsum(np.bincount(f.reshape(-1),
                                                                   minlength=n))]),
                        (order // 3).astype(np.int64))
        tables = (self.lab, self.cx, self.cy, self.lac, self.lbc, self.tri, self.ex, self.ey,
                  self.dir_a, self.dir_b)
        return _marching.march_patches(mesh.v, mesh.f.astype(np.int64), *self._vf, tables,
                                       mesh.normal, mesh.frame, centres, reach,
                                       radius + self.margin * mesh.h, radius)

    def march(self, crop: Crop, limit: float):
        """Distances ``[U]`` from the centres of ``crop`` (each copy from its own centre;
        several sources in one piece: the nearest), marched until no distance changes;
        corners farther than ``limit`` do not pass their distance on. Also returns the rows
        ``(face, corner, c, a, b)`` of the union's corners."""
        uf, fid, U = crop.faces, crop.fid, crop.size
        # one row per (union face, corner): target c, the other corners a, b
        tq = (3 * fid[:, None] + np.arange(3)).reshape(-1)
        uc = uf.reshape(-1)
        ua = uf[:, [1, 2, 0]].reshape(-1)
        ub = uf[:, [2, 0, 1]].reshape(-1)
        # vertex -> rows that read it (as a or b)
        reader = np.concatenate([ua, ub])
        order = np.argsort(reader, kind='stable')
        rows_of = np.concatenate([np.arange(uc.size)] * 2)[order]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(reader, minlength=U))])
        d = np.full(U, np.inf)
        d[crop.cu] = 0.0
        changed = _distinct(crop.cu, U)
        while changed.size:
            changed = changed[d[changed] <= limit]
            cnt = ptr[changed + 1] - ptr[changed]
            total = int(cnt.sum())
            if not total:
                break
            start = np.repeat(ptr[changed] - np.cumsum(cnt) + cnt, cnt)
            rows = _distinct(rows_of[start + np.arange(total)], uc.size)
            cand = self._candidates(tq[rows], d[ua[rows]], d[ub[rows]])
            tgt = uc[rows]
            better = cand < d[tgt] * (1 - 1e-12)
            tgt, cand = tgt[better], cand[better]
            if not tgt.size:
                break
            np.minimum.at(d, tgt, cand)
            changed = _distinct(tgt, U)
        return d, (tq, uc, ua, ub)

    def solve(self, crop: Crop, radius: float) -> Edges:
        # a corner beyond the disk still passes its distance on for one more edge
        d, (tq, uc, ua, ub) = self.march(crop, radius + self.margin * self.mesh.h)
        # the patch: every copy within the radius but the centre; the winning update of each
        sel = (d <= radius)
        sel[crop.cu] = False
        rows = np.nonzero(sel[uc])[0]
        cand, dirv = self._candidates(tq[rows], d[ua[rows]], d[ub[rows]], True)
        tgt = uc[rows]
        order = np.lexsort((tq[rows], cand, tgt))       # ties: the smallest row
        first = np.ones(order.size, dtype=bool)
        first[1:] = tgt[order][1:] != tgt[order][:-1]
        win = order[first]
        u = tgt[win]
        owner, orig = crop.owner[u], crop.orig[u]
        theta, conn = _theta_conn(self.mesh, orig, crop.centres[owner], dirv[win])
        return owner, orig, d[u], theta, conn


class HeatSolver(PatchSolver):
    r"""Heat and vector heat methods on the crops (see the module docstring).

    On each crop, with the cotan Laplacian ``L`` (positive semidefinite), the lumped
    (barycentric) mass ``M``, the transport ``r_{j->i} = exp(i conn_{j->i})`` of
    :func:`~gdl_graphs.domains.mesh.mesh_to_graph` and the heat time ``t``:

    - heat method: ``(M + t L) u = delta_c``, ``X = -grad u / |grad u|`` per face,
      ``(L + 1e-6 I) phi = -div X``, distance ``phi - phi_c``;
    - vector heat method: ``(M + t L^\nabla) Y = delta_c``, with
      ``L^\nabla_{ij} = -w_{ij} r_{j->i}``, ``L^\nabla_{ii} = \sum_j w_{ij}``: the angle of
      ``Y_j`` in ``j``'s frame is the centre's ``e_1`` transported to ``j``.
    """
    name = 'heat'

    def __init__(self, laplacian: str = 'cotan'):
        if laplacian not in ('cotan', 'intrinsic'):
            raise ValueError(f"laplacian must be 'cotan' or 'intrinsic', got {laplacian!r}")
        self.laplacian = laplacian

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(laplacian={self.laplacian!r})'

    def prepare(self, mesh: MeshArrays) -> None:
        super().prepare(mesh)
        p = mesh.v[mesh.f]
        nu, area2, cot, ang = corner_geometry(p)
        self.ops = (cot, ang, area2, gradient_basis(p, nu, area2), divergence_weights(p, cot),
                    face_connection(mesh.f, mesh.normal, mesh.frame))
        self.t = mesh.t_coef * mesh.h * mesh.h

    def solve(self, crop: Crop, radius: float) -> Edges:
        cot, ang, area2, G, D, conn = self.ops
        uf, fid, U, cu, owner = crop.faces, crop.fid, crop.size, crop.cu, crop.owner
        c_, G_, D_, a_ = cot[fid], G[fid], D[fid], ang[fid]
        rows, cols, w, r = [], [], [], []
        for k in range(3):
            i, j = uf[:, (k + 1) % 3], uf[:, (k + 2) % 3]
            rows += [i, j]
            cols += [j, i]
            w += [0.5 * c_[:, k]] * 2
            e = np.exp(1j * conn[fid, k])                    # j -> i
            r += [e, np.conj(e)]
        rows, cols, w, r = map(np.concatenate, (rows, cols, w, r))
        W = sp.csr_matrix((w, (rows, cols)), shape=(U, U))   # cotan weights (summed per edge)
        deg = np.asarray(W.sum(1)).ravel()
        mass = np.bincount(uf.reshape(-1), np.repeat(area2[fid] / 6.0, 3), minlength=U)
        # vertices without weight (outside every face of the crop, or only on degenerate
        # faces): decoupled, unit diagonal, dropped below
        lone = (mass == 0).astype(np.float64)
        L = sp.diags(deg) - W
        Lc = sp.diags(deg.astype(np.complex128)) - sp.csr_matrix((w * r, (rows, cols)),
                                                                 shape=(U, U))
        delta = np.zeros(U)
        delta[cu] = 1.0
        _, comp = connected_components(W, directed=False)
        if self.laplacian == 'intrinsic':
            # the heat step on the intrinsic-Delaunay Laplacian of the crops (an M-matrix: a
            # positive, monotone heat kernel on any triangulation); the Poisson step keeps the
            # cotan L that the divergence is the adjoint of
            Li, mi = robust_laplacian(self.mesh.v[crop.orig], uf)
            u = pcg(sp.diags(mi + lone) + self.t * Li, delta)
        else:
            u = pcg(sp.diags(mass + lone) + self.t * L, delta)
        grad = sum(u[uf[:, k], None] * G_[:, k] for k in range(3))   # [Fu, 3]
        gn = np.sqrt((grad * grad).sum(-1, keepdims=True))
        X = -grad / np.where(gn > 0, gn, 1.0)
        div = sum(np.bincount(uf[:, k], (X * D_[:, k]).sum(-1), minlength=U) for k in range(3))
        # L + 1e-6 I has the constant of each component as an exact eigenvector: removing the
        # component means of the right-hand side only shifts phi by a constant per component
        # (then removed by phi - phi_c), and keeps phi small (no 1e6-sized constant to cancel)
        div = div - (np.bincount(comp, div) / np.bincount(comp))[comp]
        phi = splu((L + sp.diags(1e-6 + lone)).tocsc()).solve(-div)
        dist = phi - phi[cu][owner]
        Y = pcg(sp.diags((mass + lone).astype(np.complex128)) + self.t * Lc,
                delta.astype(np.complex128))
        alpha = np.angle(Y)
        # direction of the geodesic at j: corner-angle weighted face gradients of the distance
        gv = angle_weighted_gradient(uf, G_, a_, dist, U)
        fr = self.mesh.frame[crop.orig]
        phi_dir = np.arctan2((gv * fr[:, 1]).sum(-1), (gv * fr[:, 0]).sum(-1))
        sel = (comp == comp[cu][owner]) & (dist <= radius) & (crop.orig != crop.centres[owner]) \
            & (lone == 0)
        a = alpha[sel]
        return owner[sel], crop.orig[sel], dist[sel], phi_dir[sel] - a, -a


def _split_fans(f, n):
    """Split non-manifold ('bowtie') vertices: corners of a vertex are joined when their
    faces share an edge at it; every group becomes its own vertex. Returns the new faces and,
    for every new vertex, the old one it copies (the groups of a manifold vertex: itself)."""
    nc = f.size
    corner = np.arange(nc).reshape(-1, 3)
    v = f.reshape(-1)
    a, b = [], []
    for k in range(3):
        for o in (1, 2):            # the edges (v, next) and (v, prev) at corner k
            a.append(corner[:, k])
            b.append(f[:, (k + o) % 3])
    a, b = np.concatenate(a), np.concatenate(b)
    key = v[a] * np.int64(n) + b
    order = np.argsort(key, kind='stable')
    same = key[order][1:] == key[order][:-1]
    i, j = a[order][:-1][same], a[order][1:][same]
    g = sp.coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(nc, nc))
    _, label = connected_components(g, directed=False)
    # one new vertex per (vertex, group); number them in vertex order
    pair = v * np.int64(nc) + label
    uniq, inv = np.unique(pair, return_inverse=True)
    return inv.reshape(-1, 3), (uniq // nc).astype(np.int64)


def pp3d_call(fn, who: str):
    """Run a potpourri3d call; its refusals become one ``ValueError`` that quotes the
    library and names the solvers that accept any triangle mesh."""
    try:
        return fn()
    except (RuntimeError, ValueError) as exc:
        msg = ' '.join(str(exc).split())[:200]
        raise ValueError(f"{who}: potpourri3d refused the mesh ({msg}); its halfedge mesh "
                         f"needs a manifold, consistently oriented surface without degenerate "
                         f"faces; solver='fast' or 'heat' accept any triangle mesh") from None


def _pp3d():
    try:
        import potpourri3d
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("solver='potpourri3d' needs potpourri3d: pip install potpourri3d, "
                          "or pip install gdl-graphs[mesh]") from None
    return potpourri3d


class Potpourri3dSolver(PatchSolver):
    """potpourri3d's heat and vector heat solvers on the union of the crops (one multi-source
    solve per chunk; rim vertices with two fans of faces are split first)."""
    name = 'potpourri3d'

    def prepare(self, mesh: MeshArrays) -> None:
        super().prepare(mesh)
        self.pp3d = _pp3d()

    def solve(self, crop: Crop, radius: float) -> Edges:
        uf, cu = crop.faces, crop.cu
        rows, cols = crop.owner, crop.orig
        # cropping a surface by a ball can leave a rim vertex with two separate fans of faces
        # (a 'bowtie', which the library refuses): give every fan its own copy of the vertex
        uf, copy_of = _split_fans(uf, crop.size)
        first = np.full(crop.size, -1, dtype=np.int64)
        first[copy_of[::-1]] = np.arange(copy_of.size)[::-1]   # first copy of each vertex
        rows, cols = rows[copy_of], cols[copy_of]
        cu = first[cu]
        comp = components(uf, len(rows))
        keep_v = np.isin(comp, comp[cu])
        uf = uf[keep_v[uf[:, 0]]]
        used = np.zeros(len(rows), dtype=bool)
        used[uf.reshape(-1)] = True
        used[cu] = True
        vid = np.nonzero(used)[0]
        new = np.full(len(rows), -1, dtype=np.int64)
        new[vid] = np.arange(vid.size)
        uf, cu = new[uf], new[cu]
        owner, orig = rows[vid], cols[vid]
        uv = self.mesh.v[orig]
        t_coef, pp3d = self.mesh.t_coef, self.pp3d
        heat = pp3d_call(lambda: pp3d.MeshHeatMethodDistanceSolver(uv, uf, t_coef),
                         'geodesic_patches')
        dist = np.asarray(heat.compute_distance_multisource(cu.tolist()), dtype=np.float64)
        dist = dist - dist[cu][owner]                            # zero at each centre
        vec = pp3d_call(lambda: pp3d.MeshVectorHeatSolver(uv, uf, t_coef), 'geodesic_patches')
        X, Y, _ = vec.get_tangent_frames()
        trans = np.asarray(vec.transport_tangent_vectors(cu.tolist(), [[1.0, 0.0]] * len(cu)))
        alpha = np.arctan2(trans[:, 1], trans[:, 0])            # transported X_centre, at j
        g = vertex_gradient(uv, uf, dist)
        phi = np.arctan2((g * Y).sum(1), (g * X).sum(1))        # geodesic direction at j
        e1 = self.mesh.frame[orig, 0]
        beta = np.arctan2((e1 * Y).sum(1), (e1 * X).sum(1))     # our e1 in the library's frame
        sel = (dist <= radius) & (orig != crop.centres[owner])
        i_u = cu[owner[sel]]
        theta = phi[sel] - alpha[sel] - beta[i_u]
        conn = beta[sel] - alpha[sel] - beta[i_u]
        return owner[sel], orig[sel], dist[sel], theta, conn


SOLVERS = {'fast': MarchingSolver, 'heat': HeatSolver, 'potpourri3d': Potpourri3dSolver}


def make_solver(solver) -> PatchSolver:
    """A :class:`PatchSolver` from its name (``'fast'``, ``'heat'``, ``'potpourri3d'``) or
    an instance."""
    if isinstance(solver, PatchSolver):
        return solver
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)} or a PatchSolver, got "
                         f"{solver!r}")
    return SOLVERS[solver]()
