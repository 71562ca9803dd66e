r"""Meshes as graphs with tangent frames, log-map coordinates and parallel transport.

:func:`mesh_to_graph` turns a triangle mesh ``(pos, face)`` into a
:class:`~torch_geometric.data.Data` with both directions of every mesh edge and its geometry,
precomputed once (vectorised, CPU and CUDA):

- ``normal [N, 3]``: **angle-weighted** vertex normals (Thuermer & Wuethrich 1998): the sum of
  the unit normals of the faces around a vertex, weighted by the face's corner angle there.
  Isolated vertices, and vertices whose normals cancel (e.g. inconsistently oriented faces), get
  the fallback normal ``(0, 0, 1)``.
- ``frame [N, 2, 3]``: the gauge, ``(e1, e2)`` with ``e1 x e2 = normal``. ``e1`` is the world
  axis least aligned with the normal, projected onto the tangent plane (see
  :func:`gdl_graphs.core.mesh.frame_from_normal`): it depends on the vertex alone.
- ``edge_coords [E, 2]``: log map ``(r, theta)`` of the source ``j`` of edge ``j -> i`` in the
  target's frame: ``r = |p_j - p_i|``, ``theta`` the angle of ``p_j - p_i`` projected onto the
  tangent plane of ``i``.
- ``connection [E]``: the transport angle of ``j -> i`` (discrete Levi-Civita connection):
  rotate ``j``'s tangent plane onto ``i``'s by the smallest rotation taking ``normal[j]`` to
  ``normal[i]`` and read the angle of the transported ``e1`` in ``i``'s frame. A tangent vector
  of angle ``phi`` at ``j`` arrives at angle ``phi + connection`` at ``i``.

Messy meshes (:func:`mesh_report` counts every defect):

=========================== ===============================================================
defect                      with ``repair=True`` (default)
=========================== ===============================================================
duplicate vertices          kept (not merged: they are separate nodes)
flipped faces               kept (an edge two faces traverse in the same direction); the
                            normals around it may cancel, then the fallback normal is used
boundary edges / holes      supported as they are (one-sided neighbourhoods)
non-manifold edges          kept: normals, frames and transport are per vertex, well defined
duplicate faces             removed (same vertex set, either orientation)
faces with a repeated index removed (they are segments or points)
zero-area faces             kept for connectivity, with zero weight in the normals
                            (area <= max(1e-12, 64 eps) * longest edge^2)
unreferenced vertices       kept as isolated nodes with the fallback normal, or removed with
                            ``remove_unreferenced=True`` (``data.vertex_id`` maps back)
=========================== ===============================================================

With ``repair=False`` every defect except boundaries raises a ``ValueError`` naming it.
Faces must be triangles (:func:`gdl_graphs.io.read_mesh` triangulates polygons); indices out
of range, non-finite positions and non-integer faces are errors. No attribute is ever NaN.

Gauge changes: :func:`change_gauge` (and the transform :class:`ChangeGauge`) rotate every frame
by its own angle ``a_i``; then ``theta -> theta - a_i``, ``connection_{j->i} -> connection +
a_j - a_i`` and rho_n features ``z -> exp(-i n a) z`` (:func:`transform_features`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..core import check_finite, scatter
from ..core.mesh import (
    check_types,
    edge_geometry,
    frame_from_normal,
    rho_rotate,
    rotate_frame,
    safe_normalize,
    types_dim,
    wrap_angle,
)

FALLBACK_NORMAL = (0.0, 0.0, 1.0)

__all__ = ['mesh_to_graph', 'mesh_report', 'MeshReport', 'change_gauge', 'transform_features',
           'ChangeGauge', 'MeshToGraph', 'vertex_normals', 'angle_defect', 'torus_mesh',
           'sphere_mesh', 'types_dim', 'random_gauge', 'geodesic_distance', 'geodesic_patches',
           'GeodesicPatches']


# --------------------------------------------------------------------------- validation


def _check_pos(pos: Tensor) -> Tensor:
    if not isinstance(pos, Tensor):
        raise ValueError(f'pos must be a torch.Tensor of shape [N, 3], got {type(pos).__name__}')
    if pos.dim() != 2 or pos.size(1) != 3:
        raise ValueError(f'pos must have shape [N, 3] (vertex positions), got {list(pos.shape)}')
    if not pos.is_floating_point():
        pos = pos.to(torch.get_default_dtype())
    check_finite(pos, 'pos')
    return pos


def _check_face(face: Tensor, num_nodes: int) -> Tensor:
    """Return faces as ``[F, 3]`` long. Only PyG's ``[3, F]`` layout is accepted: a tensor
    whose first dimension is not 3 is refused (pass ``face.t()``); the layout is never guessed,
    so a ``[3, 3]`` tensor is read as ``[3, F]`` (column ``f`` is face ``f``), with a warning
    (shown once) when its transpose would give other triangles."""
    if not isinstance(face, Tensor):
        raise ValueError(f'face must be a torch.Tensor of shape [3, F], got {type(face).__name__}')
    if face.dtype not in (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f'face must hold integer vertex indices, got {face.dtype}; '
                         f'convert with .long()')
    if face.dim() != 2 or face.size(0) != 3:
        shape = list(face.shape)
        if face.dim() == 2 and face.size(1) == 3:
            raise ValueError(f'face must have shape [3, F] (PyG layout: column f is triangle f), '
                             f'got {shape}; for an [F, 3] array of triangles pass face.t()')
        k = shape[0] if face.dim() == 2 else '?'
        raise ValueError(f'face must have shape [3, F] (triangles), got {shape}: faces with '
                         f'{k} vertices are not triangles; triangulate them first (e.g. '
                         f'gdl_graphs.io.mesh.triangulate, or read_mesh, which does it)')
    if face.shape == (3, 3) and not torch.equal(face, face.t()):
        import warnings
        warnings.warn('face has shape [3, 3], which fits both layouts: read in PyG\'s [3, F] '
                      'layout (column f is triangle f); if its rows are the triangles, pass '
                      'face.t()', UserWarning, stacklevel=3)
    face = face.long().t()
    if face.numel():
        lo, hi = int(face.min()), int(face.max())
        if lo < 0:
            raise ValueError(f'face holds a negative vertex index ({lo}); indices run from 0 '
                             f'to N - 1')
        if hi >= num_nodes:
            bad = int((face >= num_nodes).any(1).nonzero()[0, 0])
            raise ValueError(f'face index out of range: face {bad} refers to vertex {hi}, but '
                             f'the mesh has only {num_nodes} vertices (pos has {num_nodes} rows)')
    return face.contiguous()


# --------------------------------------------------------------------------- report


@dataclass
class MeshReport:
    """Counts of the defects of a triangle mesh (see the module docstring)."""
    num_vertices: int
    num_faces: int
    boundary_edges: int
    non_manifold_edges: int
    duplicate_faces: int
    degenerate_faces: int
    zero_area_faces: int
    unreferenced_vertices: int
    duplicate_vertices: int = 0
    flipped_faces: int = 0

    @property
    def closed(self) -> bool:
        return self.boundary_edges == 0

    def defects(self) -> list:
        names = ('non_manifold_edges', 'duplicate_faces', 'degenerate_faces', 'zero_area_faces',
                 'unreferenced_vertices', 'duplicate_vertices', 'flipped_faces')
        return [(n, getattr(self, n)) for n in names if getattr(self, n)]


def _undirected_edges(face: Tensor, n: int) -> Tuple[Tensor, Tensor]:
    """Unique undirected edges ``[2, U]`` (low, high) of triangles and their face counts."""
    e = torch.cat([face[:, [0, 1]], face[:, [1, 2]], face[:, [2, 0]]], 0)
    lo, hi = e.min(1).values, e.max(1).values
    key = lo * n + hi
    uniq, counts = torch.unique(key, return_counts=True)
    return torch.stack([uniq // n, uniq % n]), counts


def _clean_faces(pos: Tensor, face: Tensor) -> Tuple[Tensor, int, int, Tensor]:
    """Drop faces with a repeated index and duplicate faces (first kept, order kept)."""
    n = pos.size(0)
    repeated = (face[:, 0] == face[:, 1]) | (face[:, 1] == face[:, 2]) | \
        (face[:, 0] == face[:, 2])
    num_degenerate = int(repeated.sum())
    face = face[~repeated]
    s = face.sort(1).values
    key = (s[:, 0] * n + s[:, 1]) * n + s[:, 2] if n < 2 ** 20 else None
    if key is not None:
        uniq, inv = torch.unique(key, return_inverse=True)
    else:
        uniq, inv = torch.unique(s, dim=0, return_inverse=True)
    first = _first_occurrence(inv, uniq.size(0))
    keep = torch.zeros(face.size(0), dtype=torch.bool, device=face.device)
    keep[first] = True
    num_dup = face.size(0) - int(keep.sum())
    return face[keep], num_degenerate, num_dup, keep


def _first_occurrence(inv: Tensor, num: int) -> Tensor:
    """Index of the first row of every group of ``inv`` (without a scatter kernel)."""
    order = torch.argsort(inv, stable=True)
    sorted_inv = inv[order]
    start = torch.ones_like(sorted_inv, dtype=torch.bool)
    start[1:] = sorted_inv[1:] != sorted_inv[:-1]
    return order[start]


def _face_geometry(pos: Tensor, face: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Unit face normals ``[F, 3]`` (zero for zero-area faces), face areas ``[F]`` and corner
    angles ``[F, 3]`` (robust ``atan2`` form, finite for degenerate triangles)."""
    p = pos[face]                                   # [F, 3, 3]
    cross = torch.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], dim=-1)
    unit, norm = safe_normalize(cross)
    angles = []
    for k in range(3):
        a = p[:, (k + 1) % 3] - p[:, k]
        b = p[:, (k + 2) % 3] - p[:, k]
        angles.append(torch.atan2(torch.linalg.vector_norm(torch.cross(a, b, dim=-1), dim=-1),
                                  (a * b).sum(-1)))
    return unit, 0.5 * norm, torch.stack(angles, 1)


def _zero_area(area: Tensor, pos: Tensor, face: Tensor) -> Tensor:
    """Faces whose area is at most ``max(1e-12, 64 eps)`` times their longest edge squared
    (``eps`` of the dtype): their normal is rounding noise."""
    p = pos[face]
    longest = torch.stack([(p[:, 1] - p[:, 0]).norm(dim=-1), (p[:, 2] - p[:, 1]).norm(dim=-1),
                           (p[:, 0] - p[:, 2]).norm(dim=-1)], 1).max(1).values
    tol = max(1e-12, 64 * torch.finfo(pos.dtype).eps)
    return area <= tol * longest.square()


def mesh_report(pos: Tensor, face: Tensor) -> MeshReport:
    """Count the defects of a triangle mesh (boundaries, non-manifold edges, duplicate,
    degenerate and zero-area faces, unreferenced vertices)."""
    pos = _check_pos(pos)
    return _report(pos, _check_face(face, pos.size(0)))


def _report(pos: Tensor, face: Tensor) -> MeshReport:
    n = pos.size(0)
    clean, num_deg, num_dup, _ = _clean_faces(pos, face)
    _, counts = _undirected_edges(clean, n)
    _, area, _ = _face_geometry(pos, clean)
    referenced = torch.zeros(n, dtype=torch.bool, device=pos.device)
    referenced[face.reshape(-1)] = True
    return MeshReport(n, face.size(0), int((counts == 1).sum()), int((counts > 2).sum()),
                      num_dup, num_deg, int(_zero_area(area, pos, clean).sum()),
                      int((~referenced).sum()), _duplicate_vertices(pos),
                      _flipped_faces(clean, counts, n))


def _duplicate_vertices(pos: Tensor) -> int:
    """Vertices at exactly the position of an earlier vertex."""
    if pos.size(0) < 2:
        return 0
    return pos.size(0) - int(torch.unique(pos, dim=0).size(0))


def _flipped_faces(face: Tensor, counts: Tensor, n: int) -> int:
    """Manifold edges that both of their faces traverse in the same direction (an
    inconsistently oriented, 'flipped' face on one side)."""
    if face.numel() == 0:
        return 0
    d = torch.cat([face[:, [0, 1]], face[:, [1, 2]], face[:, [2, 0]]], 0)
    key = d[:, 0] * n + d[:, 1]
    _, c = torch.unique(key, return_counts=True)
    return int((c > 1).sum())


# --------------------------------------------------------------------------- geometry


def vertex_normals(pos: Tensor, face: Tensor) -> Tensor:
    """Angle-weighted unit vertex normals ``[N, 3]`` (fallback ``(0, 0, 1)`` where undefined).
    ``face`` is ``[3, F]`` (PyG's layout)."""
    pos = _check_pos(pos)
    return _vertex_normals(pos, _check_face(face, pos.size(0)))


def _vertex_normals(pos: Tensor, face: Tensor) -> Tensor:
    unit, area, angles = _face_geometry(pos, face)
    unit = unit * (~_zero_area(area, pos, face)).unsqueeze(-1).to(unit.dtype)
    contrib = (angles.unsqueeze(-1) * unit.unsqueeze(1)).reshape(-1, 3)
    acc = scatter(contrib, face.reshape(-1), pos.size(0), 'sum')
    normal, norm = safe_normalize(acc)
    fallback = torch.tensor(FALLBACK_NORMAL, dtype=pos.dtype, device=pos.device).expand_as(acc)
    return torch.where((norm > 1e-12).unsqueeze(-1), normal, fallback)


def angle_defect(pos: Tensor, face: Tensor) -> Tensor:
    """Discrete Gaussian curvature ``2 pi - sum of corner angles`` at every vertex ``[N]``
    (a closed surface sums to ``2 pi`` times its Euler characteristic)."""
    pos = _check_pos(pos)
    face = _check_face(face, pos.size(0))
    _, _, angles = _face_geometry(pos, face)
    return 2 * math.pi - scatter(angles.reshape(-1), face.reshape(-1), pos.size(0), 'sum')


def mesh_to_graph(pos: Tensor, face: Tensor, repair: bool = True,
                  remove_unreferenced: bool = False) -> Data:
    """Build the mesh graph with its geometry (see the module docstring).

    Args:
        pos: vertex positions ``[N, 3]``.
        face: triangles ``[3, F]`` (PyG's layout only: column ``f`` is triangle ``f``; an
            ``[F, 3]`` tensor is refused, pass ``face.t()``; the layout is never guessed).
        repair: remove duplicate faces and faces with a repeated index; with ``False`` any
            defect other than a boundary raises a ``ValueError`` naming it.
        remove_unreferenced: drop vertices no face uses (``data.vertex_id`` holds the original
            index of every kept vertex); by default they stay as isolated nodes.

    Returns:
        ``Data(pos, face [3, F'], edge_index [2, E], normal, frame, edge_coords, connection)``
        with both directions of every edge, sorted by target then source.
    """
    pos = _check_pos(pos)
    face = _check_face(face, pos.size(0))
    n = pos.size(0)
    if not repair:
        rep = _report(pos, face)
        if rep.defects():
            what = ', '.join(f'{v} {k.replace("_", " ")}' for k, v in rep.defects())
            raise ValueError(f'the mesh has defects ({what}); pass repair=True to repair them '
                             f'(see gdl_graphs.domains.mesh for what each repair does)')
    face, _, _, _ = _clean_faces(pos, face)
    vertex_id = None
    if remove_unreferenced:
        used = torch.zeros(n, dtype=torch.bool, device=pos.device)
        used[face.reshape(-1)] = True
        vertex_id = used.nonzero().view(-1)
        new = torch.full((n,), -1, dtype=torch.long, device=pos.device)
        new[vertex_id] = torch.arange(vertex_id.numel(), device=pos.device)
        pos, face, n = pos[vertex_id], new[face], vertex_id.numel()
    normal = _vertex_normals(pos, face)
    frame = frame_from_normal(normal)
    und, _ = _undirected_edges(face, n)
    src = torch.cat([und[0], und[1]])
    dst = torch.cat([und[1], und[0]])
    order = torch.argsort(dst * max(n, 1) + src)
    edge_index = torch.stack([src[order], dst[order]])
    coords, conn = edge_geometry(pos, normal, frame, edge_index)
    data = Data(pos=pos, face=face.t().contiguous(), edge_index=edge_index, normal=normal,
                frame=frame, edge_coords=coords, connection=conn, num_nodes=n)
    if vertex_id is not None:
        data.vertex_id = vertex_id
    return data


def _with_attributes(data: Data, who: str, build) -> Data:
    """``build(pos, face)``, keeping the other attributes of ``data``."""
    if data.get('pos') is None or data.get('face') is None:
        raise ValueError(f'{who} needs data.pos [N, 3] and data.face [3, F]')
    out = build(data.pos, data.face)
    for key, value in data.items():
        if key not in out:
            out[key] = value
    return out


class MeshToGraph(BaseTransform):
    """Transform twin of :func:`mesh_to_graph`: ``Data(pos, face, ...)`` -> mesh graph (other
    node attributes are kept; ``remove_unreferenced`` is not offered here since it would
    misalign them)."""

    def __init__(self, repair: bool = True):
        self.repair = repair

    def forward(self, data: Data) -> Data:
        return _with_attributes(data, 'MeshToGraph',
                                lambda pos, face: mesh_to_graph(pos, face, repair=self.repair))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(repair={self.repair})'


# --------------------------------------------------------------------------- gauges


def transform_features(x: Tensor, angle: Tensor, types: Sequence[int]) -> Tensor:
    """Express rho_0 .. rho_M features in the new gauge after every frame rotated by ``angle``
    (``[N]``): each rho_n pair ``z`` becomes ``exp(-i n angle) z``; rho_0 is unchanged."""
    types = check_types(types)
    return rho_rotate(x, -angle, types)


def _check_geometry(data: Data, who: str) -> None:
    missing = [k for k in ('frame', 'edge_coords', 'connection', 'edge_index')
               if data.get(k) is None]
    if missing:
        raise ValueError(f'{who} needs the mesh geometry ({", ".join(missing)} missing): build '
                         f'the graph with gdl_graphs.domains.mesh.mesh_to_graph')


def change_gauge(data: Data, angle: Tensor, types: Optional[Sequence[int]] = None,
                 keys: Sequence[str] = ('x',)) -> Data:
    """Rotate the frame of every vertex ``i`` by ``angle[i]`` and update the geometry:
    ``theta_{j->i} -= angle[i]``, ``connection_{j->i} += angle[j] - angle[i]`` (wrapped to
    ``(-pi, pi]``). With ``types``, the node features named in ``keys`` are rho_0 .. rho_M
    stacks and are transformed too (:func:`transform_features`). Returns a new ``Data``."""
    _check_geometry(data, 'change_gauge')
    n = data.num_nodes
    angle = torch.as_tensor(angle, dtype=data.frame.dtype, device=data.frame.device)
    if angle.shape != (n,):
        raise ValueError(f'angle must hold one angle per vertex, shape [{n}], got '
                         f'{list(angle.shape)}')
    out = data.clone()
    src, dst = data.edge_index[0], data.edge_index[1]
    out.frame = rotate_frame(data.frame, angle)
    coords = data.edge_coords.clone()
    coords[:, 1] = wrap_angle(coords[:, 1] - angle[dst])
    out.edge_coords = coords
    out.connection = wrap_angle(data.connection + angle[src] - angle[dst])
    if types is not None:
        for key in keys:
            if data.get(key) is not None:
                out[key] = transform_features(data[key], angle.to(data[key].dtype), types)
    return out


def random_gauge(num_nodes: int, generator: Optional[torch.Generator] = None,
                 dtype: torch.dtype = torch.float64) -> Tensor:
    """Uniform random angles in ``[-pi, pi)``, one per vertex."""
    return (torch.rand(num_nodes, generator=generator, dtype=dtype) * 2 - 1) * math.pi


class ChangeGauge(BaseTransform):
    """Transform twin of :func:`change_gauge`: a fixed ``angle`` per vertex, or random angles
    drawn from ``seed`` when ``angle`` is ``None``."""

    def __init__(self, angle: Optional[Tensor] = None, types: Optional[Sequence[int]] = None,
                 seed: int = 0):
        self.angle, self.types, self.seed = angle, types, seed

    def forward(self, data: Data) -> Data:
        angle = self.angle
        if angle is None:
            g = torch.Generator().manual_seed(self.seed)
            angle = random_gauge(data.num_nodes, g, data.frame.dtype).to(data.frame.device)
        return change_gauge(data, angle, self.types)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(types={self.types})'


# --------------------------------------------------------------------------- procedural meshes


def torus_mesh(n_major: int = 32, n_minor: int = 16, major: float = 1.0, minor: float = 0.4,
               dtype: torch.dtype = torch.float64) -> Tuple[Tensor, Tensor]:
    """A closed, consistently oriented torus: ``n_major * n_minor`` vertices, faces ``[3, F]``."""
    if n_major < 3 or n_minor < 3:
        raise ValueError('a torus needs n_major >= 3 and n_minor >= 3')
    u = torch.arange(n_major, dtype=dtype) * (2 * math.pi / n_major)
    v = torch.arange(n_minor, dtype=dtype) * (2 * math.pi / n_minor)
    uu, vv = torch.meshgrid(u, v, indexing='ij')
    rad = major + minor * torch.cos(vv)
    pos = torch.stack([rad * torch.cos(uu), rad * torch.sin(uu), minor * torch.sin(vv)], -1)
    i = torch.arange(n_major).view(-1, 1)
    j = torch.arange(n_minor).view(1, -1)
    a = i * n_minor + j
    b = ((i + 1) % n_major) * n_minor + j
    c = ((i + 1) % n_major) * n_minor + (j + 1) % n_minor
    d = i * n_minor + (j + 1) % n_minor
    face = torch.cat([torch.stack([a, b, c], -1).view(-1, 3),
                      torch.stack([a, c, d], -1).view(-1, 3)]).t().contiguous()
    return pos.reshape(-1, 3), face


def sphere_mesh(n_lat: int = 16, n_lon: int = 32, radius: float = 1.0,
                dtype: torch.dtype = torch.float64) -> Tuple[Tensor, Tensor]:
    """A closed, outward-oriented UV sphere: two poles and ``(n_lat - 1) * n_lon`` ring
    vertices; faces ``[3, F]``."""
    if n_lat < 2 or n_lon < 3:
        raise ValueError('a UV sphere needs n_lat >= 2 and n_lon >= 3')
    lat = torch.arange(1, n_lat, dtype=dtype) * (math.pi / n_lat)
    lon = torch.arange(n_lon, dtype=dtype) * (2 * math.pi / n_lon)
    la, lo = torch.meshgrid(lat, lon, indexing='ij')
    ring = torch.stack([torch.sin(la) * torch.cos(lo), torch.sin(la) * torch.sin(lo),
                        torch.cos(la)], -1).reshape(-1, 3)
    pos = torch.cat([torch.tensor([[0, 0, 1.0]], dtype=dtype), ring,
                     torch.tensor([[0, 0, -1.0]], dtype=dtype)]) * radius
    south = pos.size(0) - 1
    j = torch.arange(n_lon)
    jn = (j + 1) % n_lon
    faces = [torch.stack([torch.zeros_like(j), 1 + j, 1 + jn], -1)]
    for r in range(n_lat - 2):
        a, b = 1 + r * n_lon + j, 1 + r * n_lon + jn
        c, d = 1 + (r + 1) * n_lon + jn, 1 + (r + 1) * n_lon + j
        faces += [torch.stack([a, d, c], -1), torch.stack([a, c, b], -1)]
    last = 1 + (n_lat - 2) * n_lon
    faces.append(torch.stack([torch.full_like(j, south), last + jn, last + j], -1))
    return pos, torch.cat(faces).t().contiguous()


# --------------------------------------------------------------------------- geodesics
#
# Geodesic distance comes from potpourri3d (Sharp's geometry-central bindings): the heat method
# (Crane et al. 2013). Geodesic polar patches use the heat method for distances and the vector
# heat method (Sharp et al. 2019) for parallel transport, with geometry-central's operators
# (cotan Laplacian, lumped mass, t = t_coef h^2, L + 1e-6 I for the Poisson step), assembled
# here with numpy/scipy on one cropped copy of the mesh per patch. Why not the library's
# solvers, as before: every patch is a separate small system, and potpourri3d builds a halfedge
# mesh and factors four systems per call, about 35 us per vertex copy (~90 copies per vertex):
# 1627 s for a 100k-vertex mesh. Here all crops of a chunk form one block-diagonal system, the
# heat and vector heat systems (well conditioned) are solved by conjugate gradients, the Poisson
# system by one sparse LU (SuperLU), and the transport uses mesh_to_graph's own discrete
# Levi-Civita connection, so no frame conversion is needed (README: the same accuracy figures,
# the transport more accurate).


def _pp3d():
    try:
        import potpourri3d
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('geodesics need potpourri3d (heat and vector heat methods): '
                          'pip install potpourri3d, or pip install gdl-graphs[mesh]') from None
    return potpourri3d


def _check_face_strict(face: Tensor, num_nodes: int) -> Tensor:
    """Faces in PyG's ``[3, F]`` layout only -> ``[F, 3]`` long."""
    if isinstance(face, Tensor) and face.dim() == 2 and face.size(0) != 3:
        raise ValueError(f'face must have shape [3, F] (PyG layout), got {list(face.shape)}; '
                         f'for a [F, 3] array of triangles pass face.t()')
    return _check_face(face, num_nodes)


def _components(face_np, n: int):
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    e = np.concatenate([face_np[:, [0, 1]], face_np[:, [1, 2]], face_np[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def _manifold_check(pos: Tensor, face: Tensor, who: str) -> None:
    _, counts = _undirected_edges(face, pos.size(0))
    bad = int((counts > 2).sum())
    if bad:
        raise ValueError(f'{who}: the mesh has {bad} non-manifold edge(s) (shared by more than '
                         f'two faces); geodesics need a manifold mesh: split them first (e.g. '
                         f'trimesh or pymeshlab repair)')


def _solve(fn, who: str):
    try:
        return fn()
    except (RuntimeError, ValueError) as exc:
        msg = ' '.join(str(exc).split())[:200]
        raise ValueError(f'{who}: potpourri3d could not process the mesh ({msg}); it needs a '
                         f'manifold triangle mesh (no non-manifold vertices)') from None


def geodesic_distance(pos: Tensor, face: Tensor, source, t_coef: float = 1.0) -> Tensor:
    r"""Geodesic distance on a triangle mesh from one vertex or a set of vertices (heat method,
    Crane, Weischedel & Wardetzky 2013, through potpourri3d):

    .. math::
        d(v) = \min_{s \in \text{source}} d_{\mathcal{M}}(s, v).

    Vertices in a connected component without a source (and unreferenced vertices) are
    unreachable: their distance is ``inf``. The heat method's error falls with the mesh size
    ``h`` (see the README's accuracy table on icospheres).

    Equivariance: invariant to rigid motions and to relabelling vertices (distances move with
    the vertices).

    Args:
        pos: vertex positions ``[N, 3]``.
        face: triangles ``[3, F]`` (PyG's layout only; pass ``face.t()`` for ``[F, 3]``).
        source: a vertex index or a sequence / 1-D tensor of indices.
        t_coef: heat time in units of the squared mean edge length (potpourri3d's default 1).

    Shapes:
        output ``[N]``, dtype of ``pos``.
    """
    import numpy as np
    pos = _check_pos(pos)
    n = pos.size(0)
    face = _check_face_strict(face, n)
    src = torch.as_tensor(source).reshape(-1)
    if src.numel() == 0 or src.is_floating_point() or src.dtype == torch.bool:
        raise ValueError(f'source must be a vertex index or a non-empty list of indices, got '
                         f'{source!r}')
    src = src.long()
    if int(src.min()) < 0 or int(src.max()) >= n:
        raise ValueError(f'source vertex out of range: {src.tolist()[:8]} for a mesh of {n} '
                         f'vertices (indices run from 0 to {n - 1})')
    face, _, _, _ = _clean_faces(pos, face)
    _manifold_check(pos, face, 'geodesic_distance')
    out = torch.full((n,), math.inf, dtype=pos.dtype)
    out[src] = 0.0
    f_np = face.cpu().numpy()
    used = np.zeros(n, dtype=bool)
    used[f_np.reshape(-1)] = True
    if not used.any():
        return out.to(pos.device)
    vid = np.nonzero(used)[0]
    new = np.full(n, -1, dtype=np.int64)
    new[vid] = np.arange(vid.size)
    f_loc = new[f_np]
    comp = _components(f_loc, vid.size)
    s_loc = new[src.cpu().numpy()]
    s_loc = np.unique(s_loc[s_loc >= 0])
    if s_loc.size == 0:
        return out.to(pos.device)
    pp3d = _pp3d()
    v_np = pos.detach().cpu().double().numpy()[vid]
    solver = _solve(lambda: pp3d.MeshHeatMethodDistanceSolver(v_np, f_loc, t_coef),
                    'geodesic_distance')
    d = np.asarray(solver.compute_distance_multisource(s_loc.tolist()), dtype=np.float64)
    reach = np.isin(comp, comp[s_loc])
    # the heat method fixes distance up to a constant per component: zero at the sources
    for c in np.unique(comp[s_loc]):
        members = comp == c
        d[members] -= d[s_loc[comp[s_loc] == c]].min()
    d = np.where(reach, np.maximum(d, 0.0), np.inf)
    d[np.isin(np.arange(vid.size), s_loc)] = 0.0
    out[torch.from_numpy(vid)] = torch.from_numpy(d).to(pos.dtype)
    return out.to(pos.device)


def _corner_geometry(p):
    """For faces ``p [F, 3, 3]`` (vertex positions): unit normals ``[F, 3]``, twice the areas
    ``[F]``, and per corner the cotangent and the angle ``[F, 3]``."""
    import numpy as np
    nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area2 = np.sqrt((nrm * nrm).sum(1))
    nu = nrm / np.maximum(area2, 1e-300)[:, None]
    cot, ang = np.empty((len(p), 3)), np.empty((len(p), 3))
    for k in range(3):
        a = p[:, (k + 1) % 3] - p[:, k]
        b = p[:, (k + 2) % 3] - p[:, k]
        dot = (a * b).sum(1)
        cr = np.sqrt((np.cross(a, b) ** 2).sum(1))
        cot[:, k] = dot / np.maximum(cr, 1e-300)
        ang[:, k] = np.arctan2(cr, dot)
    return nu, area2, cot, ang


def _gradient_basis(p, nu, area2):
    """``G [F, 3, 3]`` with ``grad u = sum_k u_k G_k`` on each face (``G_k``: the unit normal
    times the edge opposite corner ``k``, over twice the area)."""
    import numpy as np
    return np.stack([np.cross(nu, p[:, (k + 2) % 3] - p[:, (k + 1) % 3])
                     / np.maximum(area2, 1e-300)[:, None] for k in range(3)], 1)


def _angle_weighted_gradient(faces, G, ang, u, n):
    """Per vertex ``[n, 3]``: the face gradients of ``u`` summed over the incident faces,
    each weighted by the vertex's corner angle in it."""
    import numpy as np
    g = sum(u[faces[:, k], None] * G[:, k] for k in range(3))
    return np.stack([sum(np.bincount(faces[:, k], ang[:, k] * g[:, c], minlength=n)
                         for k in range(3)) for c in range(3)], 1)


def _face_operators(v, f, normal, frame):
    """Per-face pieces of the heat and vector heat operators, computed once for the mesh:
    corner cotangents and angles ``[F, 3]``, twice the areas ``[F]``, the gradient basis
    ``grad u = sum_k u_k G_k`` (``G [F, 3, 3]``), the divergence weights (the integrated
    divergence at corner ``k`` of a face field ``X`` is ``<D_k, X>``, ``D [F, 3, 3]``) and the
    transport angle ``conn_{j->i}`` of the edge opposite every corner, from its second vertex
    ``j`` to its first ``i`` (:func:`mesh_to_graph`'s discrete Levi-Civita connection)."""
    import numpy as np

    from ..core.mesh import transport_angle
    p = v[f]
    nu, area2, cot, ang = _corner_geometry(p)
    G = _gradient_basis(p, nu, area2)
    D = np.stack([0.5 * (cot[:, (k + 2) % 3, None] * (p[:, (k + 1) % 3] - p[:, k])
                         + cot[:, (k + 1) % 3, None] * (p[:, (k + 2) % 3] - p[:, k]))
                  for k in range(3)], 1)
    nt, ft = torch.from_numpy(normal), torch.from_numpy(frame)
    ti = torch.from_numpy(f)
    conn = np.stack([transport_angle(nt[ti[:, (k + 2) % 3]], ft[ti[:, (k + 2) % 3]],
                                     nt[ti[:, (k + 1) % 3]], ft[ti[:, (k + 1) % 3]]).numpy()
                     for k in range(3)], 1)
    return cot, ang, area2, G, D, conn


def _pcg(A, b, rtol: float = 1e-10, maxiter: int = 1000):
    """Solve the Hermitian positive definite ``A x = b`` (sparse, block diagonal: one block
    per patch) by Jacobi-preconditioned conjugate gradients to the relative residual ``rtol``.
    The heat and vector heat operators ``M + t L`` of a patch are well conditioned (their
    spectrum lies in ``[m, m + t lambda_max(L)]``): a few tens of iterations, each one sparse
    product, instead of a factorization per patch. Where it does not converge (an indefinite
    connection Laplacian on a non-Delaunay crop: geometry-central then also falls back to LU),
    a sparse LU factorization solves it."""
    import numpy as np
    from scipy.sparse.linalg import splu
    A = A.tocsr()
    dinv = 1.0 / A.diagonal()

    def dot(u, w):                    # Re <u, w>, for real and complex vectors alike
        return float((u.view(np.float64) * w.view(np.float64)).sum())

    x = np.zeros_like(b)
    r = b.copy()
    z = dinv * r
    p = z.copy()
    rz = dot(r, z)
    stop = rtol * rtol * dot(b, b)
    for _ in range(maxiter):
        Ap = A @ p
        pAp = dot(p, Ap)
        if not pAp > 0:
            break
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        if dot(r, r) <= stop:
            return x
        z = dinv * r
        rz, rz_old = dot(r, z), rz
        p *= rz / rz_old
        p += z
    return splu(A.tocsc()).solve(b)


def _patch_chunk(ops, v, f, frame, centres, M, vf, radius, t):
    r"""Geodesic polar coordinates of the patches of ``centres``. Patch ``p`` is its own copy
    of the mesh cropped to row ``p`` of ``M`` (a CSR ``[C, N]`` 0/1 matrix of the Euclidean
    ball around each centre): the faces inside the ball, the centre's connected component.
    All copies form one union mesh (disjoint components), so each operator below is one
    block-diagonal sparse matrix and one sparse LU factorization (SuperLU) and one solve
    serve every patch of the chunk. ``vf`` is the vertex -> face incidence ``[N, F]``.

    On each crop, with the cotan Laplacian ``L`` (positive semidefinite), the lumped
    (barycentric) mass ``M``, the transport ``r_{j->i} = exp(i conn_{j->i})`` of
    :func:`mesh_to_graph` and the heat time ``t``, the operators of geometry-central's solvers
    (which potpourri3d wraps):

    - heat method (Crane et al. 2013): ``(M + t L) u = delta_c``, ``X = -grad u / |grad u|`` per
      face, ``(L + 1e-6 I) phi = -div X``, distance ``phi - phi_c``;
    - vector heat method (Sharp et al. 2019): ``(M + t L^\nabla) Y = delta_c``, with
      ``L^\nabla_{ij} = -w_{ij} r_{j->i}``, ``L^\nabla_{ii} = \sum_j w_{ij}``: the angle of
      ``Y_j`` in ``j``'s frame is the centre's ``e_1`` transported to ``j``.
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import splu
    cot, ang, area2, G, D, conn = ops
    n = v.shape[0]
    M.sort_indices()
    owner = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    orig = M.indices.astype(np.int64)
    keys = owner.astype(np.int64) * n + orig                  # sorted: owner, then vertex
    C = (M @ vf).tocoo()                                       # [C, F]: face corners in ball
    full = C.data == 3
    fo, fid = C.row[full].astype(np.int64), C.col[full].astype(np.int64)
    uf = np.searchsorted(keys, fo[:, None] * n + f[fid])       # [Fu, 3] union faces
    cu = np.searchsorted(keys, np.arange(len(centres)) * n + centres)
    U = keys.size
    c_, G_, D_, a_ = cot[fid], G[fid], D[fid], ang[fid]
    rows, cols, w, r = [], [], [], []
    for k in range(3):
        i, j = uf[:, (k + 1) % 3], uf[:, (k + 2) % 3]
        rows += [i, j]
        cols += [j, i]
        w += [0.5 * c_[:, k]] * 2
        e = np.exp(1j * conn[fid, k])                        # j -> i
        r += [e, np.conj(e)]
    rows, cols, w, r = map(np.concatenate, (rows, cols, w, r))
    W = sp.csr_matrix((w, (rows, cols)), shape=(U, U))       # cotan weights (summed per edge)
    deg = np.asarray(W.sum(1)).ravel()
    mass = np.bincount(uf.reshape(-1), np.repeat(area2[fid] / 6.0, 3), minlength=U)
    # vertices of the ball without a face inside it: decoupled, unit diagonal, dropped below
    lone = (mass == 0).astype(np.float64)
    L = sp.diags(deg) - W
    Lc = sp.diags(deg.astype(np.complex128)) - sp.csr_matrix((w * r, (rows, cols)),
                                                             shape=(U, U))
    delta = np.zeros(U)
    delta[cu] = 1.0
    _, comp = connected_components(W, directed=False)
    u = _pcg(sp.diags(mass + lone) + t * L, delta)
    grad = sum(u[uf[:, k], None] * G_[:, k] for k in range(3))   # [Fu, 3]
    gn = np.sqrt((grad * grad).sum(-1, keepdims=True))
    X = -grad / np.where(gn > 0, gn, 1.0)
    div = sum(np.bincount(uf[:, k], (X * D_[:, k]).sum(-1), minlength=U) for k in range(3))
    # L + 1e-6 I has the constant of each component as an exact eigenvector: removing the
    # component means of the right-hand side only shifts phi by a constant per component (then
    # removed by phi - phi_c), and keeps phi small (no 1e6-sized constant to cancel)
    cnt = np.bincount(comp)
    div = div - (np.bincount(comp, div) / cnt)[comp]
    phi = splu((L + sp.diags(1e-6 + lone)).tocsc()).solve(-div)
    dist = phi - phi[cu][owner]
    Y = _pcg(sp.diags((mass + lone).astype(np.complex128)) + t * Lc, delta.astype(np.complex128))
    alpha = np.angle(Y)
    # direction of the geodesic at j: corner-angle weighted face gradients of the distance
    gv = _angle_weighted_gradient(uf, G_, a_, dist, U)
    fr = frame[orig]
    phi_dir = np.arctan2((gv * fr[:, 1]).sum(-1), (gv * fr[:, 0]).sum(-1))
    # only the centre's connected component of the crop is its patch
    sel = (comp == comp[cu][owner]) & (dist <= radius) & (orig != centres[owner]) & (lone == 0)
    a = alpha[sel]
    return orig[sel], centres[owner[sel]], dist[sel], phi_dir[sel] - a, -a


# ----- the previous solver, kept as solver='potpourri3d': the library's own heat and vector heat
# solvers on the union of the crops (its robust, intrinsic-Delaunay Laplacian; ~3x slower)


def _vertex_gradient(v, f, u):
    """Gradient of the piecewise-linear ``u`` per vertex (corner-angle weighted face
    gradients) ``[N, 3]``."""
    p = v[f]
    nu, area2, _, ang = _corner_geometry(p)
    return _angle_weighted_gradient(f, _gradient_basis(p, nu, area2), ang, u, len(v))


def _split_fans(f, n):
    """Split non-manifold ('bowtie') vertices: corners of a vertex are joined when their
    faces share an edge at it; every group becomes its own vertex. Returns the new faces and,
    for every new vertex, the old one it copies (the groups of a manifold vertex: itself)."""
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
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


def _patch_chunk_library(pp3d, v, f, frame, centres, M, B, radius, t_coef):
    """Geodesic polar coordinates for the patches of ``centres`` (rows of ``M``, a CSR
    [C, N] 0/1 matrix of the Euclidean ball around each centre). Every patch becomes its own
    connected component of one union mesh, so one multi-source solve serves them all."""
    import numpy as np
    n = v.shape[0]
    M.sort_indices()
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    cols = M.indices.astype(np.int64)
    keys = rows.astype(np.int64) * n + cols                 # sorted: row, then column
    C = (M @ B).tocoo()
    full = C.data == 3
    fr, ff = C.row[full].astype(np.int64), C.col[full]
    uf = np.searchsorted(keys, fr[:, None] * n + f[ff])      # [Fu, 3] union faces
    centre_u = np.searchsorted(keys, np.arange(len(centres)) * n + centres)
    # cropping a surface by a ball can leave a rim vertex with two separate fans of faces (a
    # 'bowtie', which the library refuses): give every fan its own copy of the vertex
    uf, copy_of = _split_fans(uf, len(keys))
    first = np.full(len(keys), -1, dtype=np.int64)
    first[copy_of[::-1]] = np.arange(copy_of.size)[::-1]       # first copy of each vertex
    rows, cols = rows[copy_of], cols[copy_of]
    centre_u = first[centre_u]
    # keep the component of each centre only, and only referenced vertices
    comp = _components(uf, len(rows))
    keep_v = np.isin(comp, comp[centre_u])
    keep_f = keep_v[uf[:, 0]]
    uf = uf[keep_f]
    used = np.zeros(len(rows), dtype=bool)
    used[uf.reshape(-1)] = True
    used[centre_u] = True
    vid = np.nonzero(used)[0]
    new = np.full(len(rows), -1, dtype=np.int64)
    new[vid] = np.arange(vid.size)
    uf = new[uf]
    cu = new[centre_u]
    owner, orig = rows[vid], cols[vid]
    uv = v[orig]
    heat = _solve(lambda: pp3d.MeshHeatMethodDistanceSolver(uv, uf, t_coef), 'geodesic_patches')
    dist = np.asarray(heat.compute_distance_multisource(cu.tolist()), dtype=np.float64)
    dist = dist - dist[cu][owner]                            # zero at each centre
    vec = _solve(lambda: pp3d.MeshVectorHeatSolver(uv, uf, t_coef), 'geodesic_patches')
    X, Y, _ = vec.get_tangent_frames()
    trans = np.asarray(vec.transport_tangent_vectors(cu.tolist(),
                                                     [[1.0, 0.0]] * len(cu)))
    alpha = np.arctan2(trans[:, 1], trans[:, 0])            # transported X_centre, at j
    g = _vertex_gradient(uv, uf, dist)
    phi = np.arctan2((g * Y).sum(1), (g * X).sum(1))            # geodesic direction at j
    e1 = frame[orig, 0]
    beta = np.arctan2((e1 * Y).sum(1), (e1 * X).sum(1))     # our e1 in the library's frame
    sel = (dist <= radius) & (orig != centres[owner])
    i_u = cu[owner[sel]]
    rho = dist[sel]
    theta = phi[sel] - alpha[sel] - beta[i_u]
    conn = beta[sel] - alpha[sel] - beta[i_u]
    return orig[sel], centres[owner[sel]], rho, theta, conn


def geodesic_patches(pos: Tensor, face: Tensor, radius: float, margin: float = 2.0,
                     t_coef: float = 1.0, max_chunk: int = 100_000,
                     solver: str = 'fast') -> Data:
    r"""Geodesic disks with geodesic polar coordinates and parallel transport (Masci et al.
    2015's patches), on the frames of :func:`mesh_to_graph`.

    For every vertex ``i``, every ``j != i`` with geodesic distance
    :math:`\rho_{ij} = d_{\mathcal{M}}(i, j) \le` ``radius`` gives an edge ``j -> i`` with

    .. math::
        \text{edge\_coords}_{j \to i} = (\rho_{ij}, \theta_{ij}), \qquad
        \log_i(j) = \rho_{ij} (\cos\theta_{ij} e_1^i + \sin\theta_{ij} e_2^i),

    ``theta`` the direction at ``i`` of the shortest geodesic to ``j`` in ``i``'s frame, and
    ``connection`` the angle of the parallel transport along that geodesic (a tangent vector of
    angle ``phi`` at ``j`` arrives at angle ``phi + connection`` at ``i``), exactly the
    conventions of :func:`mesh_to_graph`. Distances come from the heat method and transport from
    the vector heat method, with geometry-central's operators (potpourri3d's solvers) and
    :func:`mesh_to_graph`'s connection; each patch is solved on its own copy of the mesh inside
    the Euclidean ball of radius ``radius + margin * h`` (``h`` the mean edge length), many
    patches per block-diagonal solve. The direction ``theta`` is the angle, relative to the
    transported frame, of the distance gradient at ``j`` (parallel transport keeps the angle
    with the geodesic). Cost: linear in the number of (vertex, crop vertex) pairs; a
    100k-vertex torus at ``radius = 3h`` takes a few minutes on 2 cores (README).

    Accuracy (README table): on unit icospheres the distance error falls with the mesh size;
    angles are within about a degree on average. Near a mesh boundary the vector heat method's
    transport and directions are much less accurate (tens of degrees at the corners of a flat
    grid), so boundary patches carry that error.

    Gauges: ``frame`` is :func:`mesh_to_graph`'s, and ``theta``/``connection`` are expressed in
    it, so :func:`change_gauge` applies unchanged (``theta -= a_i``, ``connection += a_j -
    a_i``). Equivariance: the patches are invariant to rigid motions and relabellings.

    Args:
        pos: vertex positions ``[N, 3]``.
        face: triangles ``[3, F]`` (PyG's layout only).
        radius: geodesic radius, ``0 < radius <=`` the bounding-box diagonal.
        margin: extra Euclidean margin of each local solve, in mean edge lengths.
        t_coef: heat time in squared mean edge lengths (potpourri3d's ``t_coef``; ``h`` is the
            mean edge length of the whole mesh).
        max_chunk: at most this many vertex copies per solve (bounds memory).
        solver: ``'fast'`` (default): the operators assembled here (plain cotan Laplacian of
            the mesh, :func:`mesh_to_graph`'s connection), block-diagonal conjugate gradients;
            ``'potpourri3d'``: the library's solvers on the union of the crops, with its
            robust (intrinsic Delaunay, mollified) Laplacian and its intrinsic connection:
            about 3x slower, more accurate on irregular meshes with obtuse triangles (README).

    Returns:
        :func:`mesh_to_graph`'s ``Data`` whose ``edge_index [2, E]``, ``edge_coords [E, 2]`` and
        ``connection [E]`` are the geodesic patches (sorted by target, then source), with
        ``radius``. Vertices without a face have no patch edges.

    Raises:
        ValueError: ``radius`` not finite and positive or larger than the mesh, a non-manifold
            mesh.
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.spatial import cKDTree
    if solver not in ('fast', 'potpourri3d'):
        raise ValueError(f"solver must be 'fast' or 'potpourri3d', got {solver!r}")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f'radius must be a positive number, got {radius!r}') from None
    data = mesh_to_graph(pos, _check_face_strict(face, _check_pos(pos).size(0)).t())
    pos, n = data.pos, data.num_nodes
    f = data.face.t().cpu().numpy()
    diag = float((pos.max(0).values - pos.min(0).values).norm()) if n else 0.0
    if not math.isfinite(radius) or radius <= 0:
        raise ValueError(f'radius must be finite and positive, got {radius}')
    if radius > diag:
        raise ValueError(f'radius {radius:g} is larger than the mesh (bounding-box diagonal '
                         f'{diag:g}): every patch would be the whole mesh; use '
                         f'geodesic_distance for all pairs')
    _manifold_check(pos, data.face.t(), 'geodesic_patches')
    v = pos.detach().cpu().double().numpy()
    frame = data.frame.detach().cpu().double().contiguous().numpy()
    normal = data.normal.detach().cpu().double().contiguous().numpy()
    h = float(data.edge_coords[:, 0].mean()) if data.edge_index.numel() else 0.0
    used = np.zeros(n, dtype=bool)
    used[f.reshape(-1)] = True
    centres_all = np.nonzero(used)[0]
    tree = cKDTree(v)
    # every patch's crop holds its Euclidean ball of this radius, so its centre's whole fan
    longest = float(data.edge_coords[:, 0].max()) if data.edge_index.numel() else 0.0
    reach = max(radius + margin * h, 1.001 * longest)
    vf = sp.csr_matrix((np.ones(f.size, dtype=np.int32), (f.reshape(-1),
                        np.repeat(np.arange(len(f)), 3))), shape=(n, len(f)))
    if solver == 'fast':
        ops = _face_operators(v, f, normal, frame)
    else:
        pp3d = _pp3d()
    t = t_coef * h * h
    out = []
    start = 0
    while start < centres_all.size:
        # grow the chunk until it holds about max_chunk vertex copies
        step = max(1, min(centres_all.size - start, 4096))
        centres = centres_all[start:start + step]
        balls = tree.query_ball_point(v[centres], reach)
        sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
        cut = max(1, int(np.searchsorted(np.cumsum(sizes), max_chunk, side='right')))
        centres, balls, sizes = centres[:cut], balls[:cut], sizes[:cut]
        M = sp.csr_matrix((np.ones(int(sizes.sum()), dtype=np.int32),
                           np.concatenate([np.asarray(b, dtype=np.int64) for b in balls]),
                           np.concatenate([[0], np.cumsum(sizes)])), shape=(len(centres), n))
        if solver == 'fast':
            out.append(_patch_chunk(ops, v, f, frame, centres, M, vf, radius, t))
        else:
            out.append(_patch_chunk_library(pp3d, v, f, frame, centres, M, vf, radius, t_coef))
        start += len(centres)
    src, dst, rho, theta, conn = (np.concatenate([o[k] for o in out]) if out else
                                  np.zeros(0) for k in range(5))
    # a rim vertex split into two fans can reach the centre twice: keep the shorter geodesic
    src, dst = src.astype(np.int64), dst.astype(np.int64)
    order = np.lexsort((rho, src, dst))
    key = dst[order] * max(n, 1) + src[order]
    keep = np.ones(key.size, dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    order = torch.from_numpy(order[keep])
    src, dst = torch.from_numpy(src), torch.from_numpy(dst)
    dt, dev = pos.dtype, pos.device
    coords = torch.stack([torch.from_numpy(rho), wrap_angle(torch.from_numpy(theta))], 1)
    data.edge_index = torch.stack([src[order], dst[order]]).to(dev)
    data.edge_coords = coords[order].to(dt).to(dev)
    data.connection = wrap_angle(torch.from_numpy(conn))[order].to(dt).to(dev)
    data.radius = radius
    return data


class GeodesicPatches(BaseTransform):
    """Transform twin of :func:`geodesic_patches`: ``Data(pos, face, ...)`` -> geodesic
    patches (other node attributes are kept)."""

    def __init__(self, radius: float, margin: float = 2.0, t_coef: float = 1.0,
                 solver: str = 'fast'):
        self.radius, self.margin, self.t_coef, self.solver = radius, margin, t_coef, solver

    def forward(self, data: Data) -> Data:
        return _with_attributes(data, 'GeodesicPatches', lambda pos, face: geodesic_patches(
            pos, face, self.radius, self.margin, self.t_coef, solver=self.solver))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(radius={self.radius}, solver={self.solver!r})'
