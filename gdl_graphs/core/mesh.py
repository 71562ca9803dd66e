"""Tangent-plane geometry kernels shared by mesh converters, mesh layers and mesh coarsening.

Conventions (used by :mod:`gdl_graphs.domains.mesh`, :class:`gdl_graphs.nn.GEMConv` and
:mod:`gdl_graphs.coarsening.mesh`):

- a *gauge* at vertex ``i`` is an orthonormal tangent frame ``frame[i] = (e1, e2)`` with
  ``e1 x e2 = normal[i]``; tangent vectors are complex numbers ``x + i y`` in it;
- ``theta`` of an edge ``j -> i`` is the angle of neighbour ``j`` in the target's frame (log map);
- the transport angle ``g`` of an edge ``j -> i`` (the discrete Levi-Civita connection) maps a
  tangent vector of angle ``phi`` at ``j`` to angle ``phi + g`` at ``i``;
- features are stacks of SO(2) irreps given by multiplicities ``types = (c_0, c_1, ..., c_M)``:
  ``c_0`` scalars (rho_0), then for each order ``n >= 1`` ``c_n`` consecutive pairs ``(x, y)``
  (rho_n: rotation by ``n * angle``). Their width is ``c_0 + 2 (c_1 + ... + c_M)``.
- rotating every frame by its own angle ``a_i`` maps ``theta -> theta - a_i``,
  ``g_{j->i} -> g + a_j - a_i`` and rho_n features ``z -> exp(-i n a) z``.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
from torch import Tensor


def types_dim(types: Sequence[int]) -> int:
    """Width of a rho_0 .. rho_M feature stack with multiplicities ``types``."""
    return int(types[0]) + 2 * sum(int(c) for c in types[1:])


def check_types(types: Sequence[int], name: str = 'types') -> Tuple[int, ...]:
    """Validate multiplicities ``(c_0, ..., c_M)``: non-negative ints, not all zero."""
    try:
        out = tuple(int(c) for c in types)
    except TypeError:
        raise ValueError(f'{name} must be a sequence of multiplicities (c_0, c_1, ..., c_M) of '
                         f'the irreps rho_0 .. rho_M, got {types!r}') from None
    if len(out) == 0 or any(c < 0 for c in out) or sum(out) == 0:
        raise ValueError(f'{name} must be non-negative multiplicities (c_0, ..., c_M), not all '
                         f'zero, got {types!r}')
    return out


def rho_rotate(x: Tensor, angle: Tensor, types: Sequence[int]) -> Tensor:
    """Apply ``rho(angle)`` to a feature stack: every rho_n pair rotates by ``n * angle``.

    ``x`` is ``[R, D]`` with ``D = types_dim(types)``; ``angle`` is ``[R]`` (one angle per row)
    or a scalar. rho_0 channels are unchanged."""
    types = tuple(types)
    if x.size(-1) != types_dim(types):
        raise ValueError(f'features have {x.size(-1)} channels but types {types} describe '
                         f'{types_dim(types)} (c_0 + 2 * (c_1 + ... + c_M))')
    angle = torch.as_tensor(angle, dtype=x.dtype, device=x.device)
    if angle.dim() == 0:
        angle = angle.expand(x.size(0))
    parts = [x[:, :types[0]]]
    off = types[0]
    for n, c in enumerate(types[1:], 1):
        if c == 0:
            continue
        z = x[:, off:off + 2 * c].reshape(x.size(0), c, 2)
        cos = torch.cos(n * angle).view(-1, 1)
        sin = torch.sin(n * angle).view(-1, 1)
        re, im = z[..., 0], z[..., 1]
        parts.append(torch.stack([cos * re - sin * im, sin * re + cos * im], -1)
                     .reshape(x.size(0), 2 * c))
        off += 2 * c
    return torch.cat(parts, dim=-1)


def wrap_angle(a: Tensor) -> Tensor:
    """Wrap angles to ``(-pi, pi]``."""
    return torch.atan2(torch.sin(a), torch.cos(a))


def safe_normalize(v: Tensor) -> Tuple[Tensor, Tensor]:
    """``(v / |v|, |v|)`` with zero vectors left zero (never NaN, in every float dtype)."""
    norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return v / norm.clamp(min=torch.finfo(v.dtype).tiny), norm.squeeze(-1)


def frame_from_normal(normal: Tensor) -> Tensor:
    """The default gauge: ``e1`` is the world axis least aligned with the normal, projected onto
    the tangent plane and normalised; ``e2 = normal x e1``. ``[N, 3] -> [N, 2, 3]``.

    Always well defined (the chosen axis makes an angle of at least ~54.7 degrees with the
    normal) and depends on the vertex alone, not on the order of its neighbours."""
    k = normal.abs().argmin(dim=-1)
    axis = torch.nn.functional.one_hot(k, 3).to(normal.dtype)
    e1 = axis - (axis * normal).sum(-1, keepdim=True) * normal
    e1, _ = safe_normalize(e1)
    e2 = torch.cross(normal, e1, dim=-1)
    return torch.stack([e1, e2], dim=1)


def smallest_rotation(v: Tensor, n_src: Tensor, n_dst: Tensor, fallback_axis: Tensor) -> Tensor:
    """Rotate vectors ``v`` by the smallest rotation taking unit ``n_src`` to unit ``n_dst``
    (Rodrigues). Antipodal normals (no unique smallest rotation) rotate by pi about
    ``fallback_axis`` (a unit vector orthogonal to ``n_src``). All inputs ``[E, 3]``."""
    c = (n_src * n_dst).sum(-1, keepdim=True)
    k = torch.cross(n_src, n_dst, dim=-1)   # axis * sin
    one_c = 1.0 + c
    ok = one_c > 1e-12
    denom = torch.where(ok, one_c, torch.ones_like(one_c))
    rot = c * v + torch.cross(k, v, dim=-1) + k * (k * v).sum(-1, keepdim=True) / denom
    flip = 2.0 * (fallback_axis * v).sum(-1, keepdim=True) * fallback_axis - v
    return torch.where(ok, rot, flip)


def transport_angle(normal_src: Tensor, frame_src: Tensor, normal_dst: Tensor,
                    frame_dst: Tensor) -> Tensor:
    """The discrete Levi-Civita connection between two tangent planes: rotate the source
    plane onto the target's by the smallest rotation taking one normal to the other, then read
    the angle of the transported source ``e1`` in the target's frame. ``[E]``, in ``(-pi, pi]``."""
    e1 = smallest_rotation(frame_src[:, 0], normal_src, normal_dst, frame_src[:, 0])
    return torch.atan2((e1 * frame_dst[:, 1]).sum(-1), (e1 * frame_dst[:, 0]).sum(-1))


def log_map(pos_src: Tensor, pos_dst: Tensor, normal_dst: Tensor, frame_dst: Tensor) -> Tensor:
    """Log-map coordinates ``(r, theta)`` of the source points in the target's tangent plane:
    ``r`` is the edge length, ``theta`` the angle of the edge vector projected onto the target's
    tangent plane, in the target's frame (0 when the projection vanishes). ``[E, 2]``."""
    d = pos_src - pos_dst
    r = torch.linalg.vector_norm(d, dim=-1)
    d = d - (d * normal_dst).sum(-1, keepdim=True) * normal_dst
    theta = torch.atan2((d * frame_dst[:, 1]).sum(-1), (d * frame_dst[:, 0]).sum(-1))
    return torch.stack([r, theta], dim=-1)


def edge_geometry(pos: Tensor, normal: Tensor, frame: Tensor, edge_index: Tensor,
                  pos_dst: Tensor = None, normal_dst: Tensor = None,
                  frame_dst: Tensor = None) -> Tuple[Tensor, Tensor]:
    """``edge_coords [E, 2]`` (r, theta) and ``connection [E]`` for edges ``j -> i``.

    For bipartite edges (e.g. fine -> coarse) pass the target's ``pos_dst``, ``normal_dst``,
    ``frame_dst``; by default targets are the same vertices."""
    pos_dst = pos if pos_dst is None else pos_dst
    normal_dst = normal if normal_dst is None else normal_dst
    frame_dst = frame if frame_dst is None else frame_dst
    src, dst = edge_index[0], edge_index[1]
    nd, fd = normal_dst.index_select(0, dst), frame_dst.index_select(0, dst)
    coords = log_map(pos.index_select(0, src), pos_dst.index_select(0, dst), nd, fd)
    conn = transport_angle(normal.index_select(0, src), frame.index_select(0, src), nd, fd)
    return coords, conn


def rotate_frame(frame: Tensor, angle: Tensor) -> Tensor:
    """Rotate every frame ``(e1, e2)`` by its own angle within its tangent plane."""
    c = torch.cos(angle).view(-1, 1).to(frame.dtype)
    s = torch.sin(angle).view(-1, 1).to(frame.dtype)
    e1, e2 = frame[:, 0], frame[:, 1]
    return torch.stack([c * e1 + s * e2, -s * e1 + c * e2], dim=1)


TWO_PI = 2.0 * math.pi
