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
from ..core.mesh import (check_types, edge_geometry, frame_from_normal, rho_rotate, rotate_frame,
                         safe_normalize, types_dim, wrap_angle)

FALLBACK_NORMAL = (0.0, 0.0, 1.0)

__all__ = ['mesh_to_graph', 'mesh_report', 'MeshReport', 'change_gauge', 'transform_features',
           'ChangeGauge', 'MeshToGraph', 'vertex_normals', 'angle_defect', 'torus_mesh',
           'sphere_mesh', 'types_dim', 'random_gauge']


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
    """Return faces as ``[F, 3]`` long; accepts PyG's ``[3, F]`` (preferred) or ``[F, 3]``."""
    if not isinstance(face, Tensor):
        raise ValueError(f'face must be a torch.Tensor of shape [3, F], got {type(face).__name__}')
    if face.dtype not in (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f'face must hold integer vertex indices, got {face.dtype}; '
                         f'convert with .long()')
    if face.dim() != 2 or 3 not in face.shape:
        shape = list(face.shape)
        k = shape[0] if face.dim() == 2 else '?'
        raise ValueError(f'face must have shape [3, F] (triangles), got {shape}: faces with '
                         f'{k} vertices are not triangles; triangulate them first (e.g. '
                         f'gdl_graphs.io.mesh.triangulate, or read_mesh, which does it)')
    face = face.long()
    face = face.t() if face.size(0) == 3 else face
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

    @property
    def closed(self) -> bool:
        return self.boundary_edges == 0

    def defects(self) -> list:
        names = ('non_manifold_edges', 'duplicate_faces', 'degenerate_faces', 'zero_area_faces',
                 'unreferenced_vertices')
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
                      int((~referenced).sum()))


# --------------------------------------------------------------------------- geometry


def vertex_normals(pos: Tensor, face: Tensor) -> Tensor:
    """Angle-weighted unit vertex normals ``[N, 3]`` (fallback ``(0, 0, 1)`` where undefined).
    ``face`` is ``[F, 3]`` or ``[3, F]``."""
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
        face: triangles ``[3, F]`` (PyG's layout; ``[F, 3]`` is accepted too).
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


class MeshToGraph(BaseTransform):
    """Transform twin of :func:`mesh_to_graph`: ``Data(pos, face, ...)`` -> mesh graph (other
    node attributes are kept; ``remove_unreferenced`` is not offered here since it would
    misalign them)."""

    def __init__(self, repair: bool = True):
        self.repair = repair

    def forward(self, data: Data) -> Data:
        if data.get('pos') is None or data.get('face') is None:
            raise ValueError('MeshToGraph needs data.pos [N, 3] and data.face [3, F]')
        out = mesh_to_graph(data.pos, data.face, repair=self.repair)
        for key, value in data.items():
            if key not in out:
                out[key] = value
        return out

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
