"""Triangle meshes as arrays: the input checks, the cleaning (faces with a repeated index,
duplicate faces) and the per-face geometry that the mesh converter
(:func:`gdl_graphs.domains.mesh.mesh_to_graph`) and the geodesic solvers share.

Faces are PyG's ``[3, F]`` layout at the public boundary and ``[F, 3]`` inside."""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core import check_finite, scatter
from ..core.mesh import safe_normalize

FALLBACK_NORMAL = (0.0, 0.0, 1.0)

__all__ = ['check_pos', 'check_face', 'undirected_edges', 'clean_faces', 'face_geometry',
           'zero_area', 'vertex_normals', 'with_attributes', 'pow2_scale', 'FALLBACK_NORMAL']


def check_pos(pos: Tensor) -> Tensor:
    if not isinstance(pos, Tensor):
        raise ValueError(f'pos must be a torch.Tensor of shape [N, 3], got {type(pos).__name__}')
    if pos.dim() != 2 or pos.size(1) != 3:
        raise ValueError(f'pos must have shape [N, 3] (vertex positions), got {list(pos.shape)}')
    if not pos.is_floating_point():
        pos = pos.to(torch.get_default_dtype())
    check_finite(pos, 'pos')
    return pos


def check_face(face: Tensor, num_nodes: int) -> Tensor:
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


def undirected_edges(face: Tensor, n: int) -> Tuple[Tensor, Tensor]:
    """Unique undirected edges ``[2, U]`` (low, high) of triangles and their face counts."""
    e = torch.cat([face[:, [0, 1]], face[:, [1, 2]], face[:, [2, 0]]], 0)
    lo, hi = e.min(1).values, e.max(1).values
    key = lo * n + hi
    uniq, counts = torch.unique(key, return_counts=True)
    return torch.stack([uniq // n, uniq % n]), counts


def clean_faces(pos: Tensor, face: Tensor) -> Tuple[Tensor, int, int, Tensor]:
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
    first = first_occurrence(inv, uniq.size(0))
    keep = torch.zeros(face.size(0), dtype=torch.bool, device=face.device)
    keep[first] = True
    num_dup = face.size(0) - int(keep.sum())
    return face[keep], num_degenerate, num_dup, keep


def first_occurrence(inv: Tensor, num: int) -> Tensor:
    """Index of the first row of every group of ``inv`` (without a scatter kernel)."""
    order = torch.argsort(inv, stable=True)
    sorted_inv = inv[order]
    start = torch.ones_like(sorted_inv, dtype=torch.bool)
    start[1:] = sorted_inv[1:] != sorted_inv[:-1]
    return order[start]


def face_geometry(pos: Tensor, face: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
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


def zero_area(area: Tensor, pos: Tensor, face: Tensor) -> Tensor:
    """Faces whose area is at most ``max(1e-12, 64 eps)`` times their longest edge squared
    (``eps`` of the dtype): their normal is rounding noise."""
    p = pos[face]
    longest = torch.stack([(p[:, 1] - p[:, 0]).norm(dim=-1), (p[:, 2] - p[:, 1]).norm(dim=-1),
                           (p[:, 0] - p[:, 2]).norm(dim=-1)], 1).max(1).values
    tol = max(1e-12, 64 * torch.finfo(pos.dtype).eps)
    return area <= tol * longest.square()


def vertex_normals(pos: Tensor, face: Tensor) -> Tensor:
    unit, area, angles = face_geometry(pos, face)
    unit = unit * (~zero_area(area, pos, face)).unsqueeze(-1).to(unit.dtype)
    contrib = (angles.unsqueeze(-1) * unit.unsqueeze(1)).reshape(-1, 3)
    acc = scatter(contrib, face.reshape(-1), pos.size(0), 'sum')
    normal, norm = safe_normalize(acc)
    fallback = torch.tensor(FALLBACK_NORMAL, dtype=pos.dtype, device=pos.device).expand_as(acc)
    return torch.where((norm > 1e-12).unsqueeze(-1), normal, fallback)


def with_attributes(data: Data, who: str, build) -> Data:
    """``build(pos, face)``, keeping the other attributes of ``data``."""
    if data.get('pos') is None or data.get('face') is None:
        raise ValueError(f'{who} needs data.pos [N, 3] and data.face [3, F]')
    out = build(data.pos, data.face)
    for key, value in data.items():
        if key not in out:
            out[key] = value
    return out


def pow2_scale(pos: Tensor) -> float:
    """A power of two ``s`` (exact to multiply by) that brings the largest coordinate of
    ``pos`` into ``[1, 2)``, as the k-NN search does: geometry computed on ``s * pos``
    neither overflows (float32 ``1e20``, float64 ``1e200``: squared lengths) nor underflows
    (``1e-60``), and lengths come back divided by ``s``. ``1.0`` for an empty or all-zero
    ``pos``."""
    if pos.numel() == 0:
        return 1.0
    m = float(pos.detach().abs().max())
    if m == 0.0 or not math.isfinite(m):
        return 1.0
    return math.ldexp(1.0, -math.frexp(m)[1] + 1)
