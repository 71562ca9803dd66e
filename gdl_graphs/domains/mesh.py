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

from ..core import scatter
from ..core.mesh import (
    check_types,
    edge_geometry,
    frame_from_normal,
    rho_rotate,
    rotate_frame,
    types_dim,
    wrap_angle,
)

# geodesic_distance, geodesic_patches and GeodesicPatches moved to gdl_graphs.geodesics; the
# names here are aliases kept for one release
from ..geodesics import GeodesicPatches, geodesic_distance, geodesic_patches
from ..geodesics import mesh as _mesh

FALLBACK_NORMAL = _mesh.FALLBACK_NORMAL
# the mesh checks and face geometry live in gdl_graphs.geodesics.mesh (the solvers share them)
_check_pos, _check_face, _clean_faces = _mesh.check_pos, _mesh.check_face, _mesh.clean_faces
_face_geometry, _zero_area = _mesh.face_geometry, _mesh.zero_area
_undirected_edges, _vertex_normals = _mesh.undirected_edges, _mesh.vertex_normals
_with_attributes, pow2_scale = _mesh.with_attributes, _mesh.pow2_scale

__all__ = ['mesh_to_graph', 'mesh_report', 'MeshReport', 'change_gauge', 'transform_features',
           'ChangeGauge', 'MeshToGraph', 'vertex_normals', 'angle_defect', 'torus_mesh',
           'sphere_mesh', 'types_dim', 'random_gauge', 'geodesic_distance', 'geodesic_patches',
           'GeodesicPatches']


# --------------------------------------------------------------------------- validation


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


def mesh_report(pos: Tensor, face: Tensor) -> MeshReport:
    """Count the defects of a triangle mesh (boundaries, non-manifold edges, duplicate,
    degenerate and zero-area faces, unreferenced vertices)."""
    pos = _check_pos(pos)
    return _report(pos * pow2_scale(pos), _check_face(face, pos.size(0)))


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
    return _vertex_normals(pos * pow2_scale(pos), _check_face(face, pos.size(0)))


def angle_defect(pos: Tensor, face: Tensor) -> Tensor:
    """Discrete Gaussian curvature ``2 pi - sum of corner angles`` at every vertex ``[N]``
    (a closed surface sums to ``2 pi`` times its Euler characteristic)."""
    pos = _check_pos(pos)
    face = _check_face(face, pos.size(0))
    _, _, angles = _face_geometry(pos * pow2_scale(pos), face)
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
        rep = _report(pos * pow2_scale(pos), face)
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
    # the geometry of the mesh rescaled by a power of two (exact): no overflow of squared
    # lengths at float32 1e20, no underflow at 1e-20; lengths are scaled back
    scale = pow2_scale(pos)
    scaled = pos * scale
    normal = _vertex_normals(scaled, face)
    frame = frame_from_normal(normal)
    und, _ = _undirected_edges(face, n)
    src = torch.cat([und[0], und[1]])
    dst = torch.cat([und[1], und[0]])
    order = torch.argsort(dst * max(n, 1) + src)
    edge_index = torch.stack([src[order], dst[order]])
    coords, conn = edge_geometry(scaled, normal, frame, edge_index)
    coords = torch.cat([coords[:, :1] / scale, coords[:, 1:]], 1)
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
