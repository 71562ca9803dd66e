r"""Geodesic polar patches (Masci et al. 2015) on the frames of
:func:`gdl_graphs.domains.mesh.mesh_to_graph`: the crop assembly, the chunk loop and the
output, written once for every solver of :mod:`gdl_graphs.geodesics.solvers`."""
from __future__ import annotations

import math
import numbers
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..core.mesh import frame_from_normal, wrap_angle
from .mesh import (
    check_face,
    check_pos,
    clean_faces,
    pow2_scale,
    undirected_edges,
    vertex_normals,
    with_attributes,
)
from .solvers import Crop, MeshArrays, PatchSolver, make_solver

__all__ = ['geodesic_patches', 'GeodesicPatches', 'build_crop', 'check_number',
           'geodesic_extent']


def check_number(value, name: str, low: float = 0.0, allow_low: bool = False) -> float:
    """``value`` as a finite ``float`` above ``low`` (or equal, with ``allow_low``); else one
    ``ValueError`` naming ``name``."""
    what = 'non-negative' if allow_low and low == 0 else 'positive' if low == 0 else f'> {low}'
    try:
        if isinstance(value, (bool, str)) or value is None:
            raise TypeError
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a finite, {what} number, got {value!r}') from None
    if not math.isfinite(x) or x < low or (x == low and not allow_low):
        raise ValueError(f'{name} must be a finite, {what} number, got {x!r}')
    return x


def check_face_strict(face: Tensor, num_nodes: int) -> Tensor:
    """Faces in PyG's ``[3, F]`` layout only -> ``[F, 3]`` long."""
    if isinstance(face, Tensor) and face.dim() == 2 and face.size(0) != 3:
        raise ValueError(f'face must have shape [3, F] (PyG layout), got {list(face.shape)}; '
                         f'for a [F, 3] array of triangles pass face.t()')
    return check_face(face, num_nodes)


def geodesic_extent(v: np.ndarray, f: np.ndarray) -> float:
    """An upper bound of the geodesic diameter of every connected piece: twice the largest
    edge-path distance from one vertex of the piece (edge paths are never shorter than
    geodesics). ``0`` for a mesh without faces."""
    if f.size == 0:
        return 0.0
    n = v.shape[0]
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    w = np.sqrt(((v[e[:, 0]] - v[e[:, 1]]) ** 2).sum(1))
    # tiny weights instead of zero ones (collapsed edges): csgraph drops explicit zeros
    g = sp.csr_matrix((np.maximum(w, 1e-300), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    used = np.zeros(n, dtype=bool)
    used[f.reshape(-1)] = True
    reps = np.unique(np.where(used, comp, -1), return_index=True)[1]
    reps = reps[used[reps]]
    d = dijkstra(g, directed=False, indices=reps, min_only=True)
    return 2.0 * float(d[np.isfinite(d)].max())


def build_crop(v: np.ndarray, f: np.ndarray, vf, centres: np.ndarray, balls) -> Crop:
    """The union mesh of the copies of the mesh inside ``balls`` (one array of vertex ids per
    centre): the faces with all three corners in a ball, re-indexed into the union."""
    n = v.shape[0]
    sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
    M = sp.csr_matrix((np.ones(int(sizes.sum()), dtype=np.int32),
                       np.concatenate([np.asarray(b, dtype=np.int64) for b in balls]),
                       np.concatenate([[0], np.cumsum(sizes)])), shape=(len(centres), n))
    M.sort_indices()
    owner = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    orig = M.indices.astype(np.int64)
    keys = owner.astype(np.int64) * n + orig                  # sorted: owner, then vertex
    C = (M @ vf).tocoo()                                       # [C, F]: face corners in ball
    full = C.data == 3
    fo, fid = C.row[full].astype(np.int64), C.col[full].astype(np.int64)
    uf = np.searchsorted(keys, fo[:, None] * n + f[fid])       # [Fu, 3] union faces
    cu = np.searchsorted(keys, np.arange(len(centres)) * n + centres)
    return Crop(centres, owner, orig, uf, fid, cu)


def geodesic_patches(pos: Tensor, face: Tensor, radius: float, margin: Optional[float] = None,
                     t_coef: float = 1.0, max_chunk: int = 100_000,
                     solver: Union[str, PatchSolver] = 'fast') -> Data:
    r"""Geodesic disks with geodesic polar coordinates and parallel transport (Masci et al.
    2015's patches), on the frames of :func:`~gdl_graphs.domains.mesh.mesh_to_graph`.

    For every vertex ``i``, every ``j != i`` with geodesic distance
    :math:`\rho_{ij} = d_{\mathcal{M}}(i, j) \le` ``radius`` gives an edge ``j -> i`` with

    .. math::
        \text{edge\_coords}_{j \to i} = (\rho_{ij}, \theta_{ij}), \qquad
        \log_i(j) = \rho_{ij} (\cos\theta_{ij} e_1^i + \sin\theta_{ij} e_2^i),

    ``theta`` the direction at ``i`` of the shortest geodesic to ``j`` in ``i``'s frame, and
    ``connection`` the angle of the parallel transport along that geodesic (a tangent vector of
    angle ``phi`` at ``j`` arrives at angle ``phi + connection`` at ``i``), exactly the
    conventions of :func:`~gdl_graphs.domains.mesh.mesh_to_graph`. Each patch is solved on its
    own copy of the mesh inside the Euclidean ball of radius ``radius + margin * h`` (``h`` the
    mean edge length; a Euclidean ball holds the geodesic disk), many patches per chunk; the
    solvers are described in :mod:`gdl_graphs.geodesics.solvers`.

    Any triangle mesh is accepted (``'fast'`` and ``'heat'``): non-manifold edges and vertices,
    several components (a patch stays in its centre's piece), flipped faces, and degenerate
    faces (zero area, collapsed edges), which get zero weight. Coordinates are rescaled by a
    power of two before solving, so ``1e-60`` and ``1e55`` meshes give the same patches up to
    the scale.

    Gauges: ``frame`` is :func:`~gdl_graphs.domains.mesh.mesh_to_graph`'s, and
    ``theta``/``connection`` are expressed in it, so
    :func:`~gdl_graphs.domains.mesh.change_gauge` applies unchanged (``theta -= a_i``,
    ``connection += a_j - a_i``). Equivariance: the patches are invariant to rigid motions and
    relabellings.

    Args:
        pos: vertex positions ``[N, 3]``.
        face: triangles ``[3, F]`` (PyG's layout only).
        radius: geodesic radius, finite and positive, at most the geodesic extent of the mesh
            (twice the longest edge path from a vertex of each piece).
        margin: extra Euclidean margin of each local solve, in mean edge lengths (finite,
            ``>= 0``); default: the solver's (``'fast'`` 1, ``'heat'`` and ``'potpourri3d'``
            2).
        t_coef: heat time in squared mean edge lengths (``'heat'``, ``'potpourri3d'``;
            finite and positive).
        max_chunk: at most this many vertex copies per solve (bounds memory; a positive
            integer).
        solver: ``'fast'`` (default: eikonal marching restricted to the disk), ``'heat'``
            (heat and vector heat methods: the reference), ``'potpourri3d'`` (the library's
            solvers, its intrinsic-Delaunay Laplacian; needs a manifold crop), or a
            :class:`~gdl_graphs.geodesics.solvers.PatchSolver`.

    Returns:
        ``Data(pos, face, edge_index [2, E], normal, frame, edge_coords [E, 2], connection
        [E], radius)``: ``edge_index``, ``edge_coords`` and ``connection`` are the geodesic
        patches (sorted by target, then source). Vertices without a face have no patch
        edges.

    Raises:
        ValueError: a parameter out of range (naming it), ``radius`` beyond the geodesic
            extent, bad ``pos`` or ``face``.
    """
    solver = make_solver(solver)
    radius = check_number(radius, 'radius')
    margin = solver.margin if margin is None else check_number(margin, 'margin',
                                                                allow_low=True)
    t_coef = check_number(t_coef, 't_coef')
    if isinstance(max_chunk, bool) or not isinstance(max_chunk, numbers.Integral) \
            or max_chunk < 1:
        raise ValueError(f'max_chunk must be a positive integer, got {max_chunk!r}')
    pos = check_pos(pos)
    n = pos.size(0)
    face, _, _, _ = clean_faces(pos, check_face_strict(face, n))
    scale = pow2_scale(pos)
    p64 = pos.detach().to(torch.float64) * scale
    normal = vertex_normals(p64, face)
    frame = frame_from_normal(normal)
    v = p64.cpu().numpy()
    f = face.cpu().numpy()
    und = undirected_edges(face, n)[0].cpu().numpy()
    lengths = np.sqrt(((v[und[0]] - v[und[1]]) ** 2).sum(1))
    h = float(lengths.mean()) if lengths.size else 0.0
    r = radius * scale
    extent = geodesic_extent(v, f)
    if r > extent:
        raise ValueError(f'radius {radius:g} is larger than the mesh (its geodesic extent is '
                         f'at most {extent / scale:g}): every patch would be the whole mesh; '
                         f'use geodesic_distance for all pairs')
    mesh = MeshArrays(v, f, normal.cpu().numpy(), frame.contiguous().cpu().numpy(), h, t_coef)
    solver.prepare(mesh)
    used = np.zeros(n, dtype=bool)
    used[f.reshape(-1)] = True
    centres_all = np.nonzero(used)[0]
    # every crop holds its centre's Euclidean ball of this radius, so its centre's whole fan
    reach = max(r + margin * h, 1.001 * float(lengths.max(initial=0.0)))
    out, start = [], 0
    direct = solver.solve_centres(centres_all, reach, r) if centres_all.size else None
    if direct is not None:
        out.append(direct)
        start = centres_all.size
    else:
        tree = cKDTree(v)
        vf = sp.csr_matrix((np.ones(f.size, dtype=np.int32), (f.reshape(-1),
                            np.repeat(np.arange(len(f)), 3))), shape=(n, len(f)))
    while start < centres_all.size:
        # grow the chunk until it holds about max_chunk vertex copies
        centres = centres_all[start:start + min(centres_all.size - start, 4096)]
        balls = tree.query_ball_point(v[centres], reach)
        sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
        cut = max(1, int(np.searchsorted(np.cumsum(sizes), max_chunk, side='right')))
        crop = build_crop(v, f, vf, centres[:cut], balls[:cut])
        owner, orig, rho, theta, conn = solver.solve(crop, r)
        out.append((orig, crop.centres[owner], rho, theta, conn))
        start += cut
    return _patch_data(pos, face, normal, frame, out, n, radius, scale)


def _patch_data(pos, face, normal, frame, out, n, radius, scale) -> Data:
    """The patches as ``Data``: one edge per (centre, vertex) pair (a rim vertex split in two
    pieces can reach the centre twice: the shorter geodesic is kept), sorted by target then
    source."""
    src, dst, rho, theta, conn = (np.concatenate([o[k] for o in out]) if out else
                                  np.zeros(0) for k in range(5))
    src, dst = src.astype(np.int64), dst.astype(np.int64)
    key = dst * max(n, 1) + src
    order = np.argsort(key, kind='stable')
    keep = np.ones(key.size, dtype=bool)
    keep[1:] = key[order][1:] != key[order][:-1]
    if not keep.all():                                  # duplicates: the shortest first
        order = np.lexsort((rho, key))
        keep[1:] = key[order][1:] != key[order][:-1]
    order = torch.from_numpy(order[keep])
    src, dst = torch.from_numpy(src), torch.from_numpy(dst)
    dt, dev = pos.dtype, pos.device
    coords = torch.stack([torch.from_numpy(rho / scale),
                          wrap_angle(torch.from_numpy(theta))], 1)
    return Data(pos=pos, face=face.t().contiguous(),
                edge_index=torch.stack([src[order], dst[order]]).to(dev),
                normal=normal.to(dt).to(dev), frame=frame.to(dt).to(dev),
                edge_coords=coords[order].to(dt).to(dev),
                connection=wrap_angle(torch.from_numpy(conn))[order].to(dt).to(dev),
                num_nodes=n, radius=radius)


class GeodesicPatches(BaseTransform):
    """Transform twin of :func:`geodesic_patches`: ``Data(pos, face, ...)`` -> geodesic
    patches (other node attributes are kept)."""

    def __init__(self, radius: float, margin: Optional[float] = None, t_coef: float = 1.0,
                 solver: Union[str, PatchSolver] = 'fast'):
        make_solver(solver)                                   # checked before any data
        self.radius, self.margin, self.t_coef, self.solver = radius, margin, t_coef, solver

    def forward(self, data: Data) -> Data:
        return with_attributes(data, 'GeodesicPatches', lambda pos, face: geodesic_patches(
            pos, face, self.radius, self.margin, self.t_coef, solver=self.solver))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(radius={self.radius}, solver={self.solver!r})'
