"""The sphere as an icosphere mesh graph, and its 60 icosahedral rotations as vertex permutations.

``icosphere(s)`` subdivides the regular icosahedron ``s`` times (every triangle into four, new
vertices pushed onto the unit sphere): ``10 * 4**s + 2`` vertices, ``20 * 4**s`` faces and
``30 * 4**s`` edges. The rotation group of the icosahedron (order 60) maps this vertex set onto
itself, so every rotation acts on a signal on the icosphere as a vertex permutation; these are
the exact symmetries a spherical layer can be tested against.
"""
from __future__ import annotations

import functools
import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ['icosphere', 'icosahedral_rotations', 'icosahedron']

_PHI = (1.0 + math.sqrt(5.0)) / 2.0



def _distances(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise Euclidean distances from coordinate differences (exact on the diagonal; unlike
    ``torch.cdist``, no matmul path whose rounding depends on the BLAS)."""
    return (a[:, None, :] - b[None, :, :]).norm(dim=-1)

def icosahedron(dtype: torch.dtype = torch.float64) -> Tuple[Tensor, Tensor]:
    """The regular icosahedron on the unit sphere: ``pos [12, 3]`` and outward-oriented
    ``face [20, 3]`` (rows)."""
    p = _PHI
    v = []
    for a in (-1.0, 1.0):
        for b in (-p, p):
            v += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    pos = torch.tensor(v, dtype=torch.float64)
    # edges have length 2 (the minimum distance); the faces are the 20 triangles of that graph
    d = _distances(pos, pos)
    adj = (d - 2.0).abs() < 1e-9
    faces = []
    for i in range(12):
        for j in range(i + 1, 12):
            if not adj[i, j]:
                continue
            for k in range(j + 1, 12):
                if adj[i, k] and adj[j, k]:
                    faces.append((i, j, k))
    face = torch.tensor(faces, dtype=torch.long)
    face = _orient(pos, face)
    return (pos / pos.norm(dim=1, keepdim=True)).to(dtype), face


def _orient(pos: Tensor, face: Tensor) -> Tensor:
    a, b, c = pos[face[:, 0]], pos[face[:, 1]], pos[face[:, 2]]
    flip = (torch.cross(b - a, c - a, dim=1) * (a + b + c)).sum(1) < 0
    face = face.clone()
    face[flip] = face[flip][:, [0, 2, 1]]
    return face


def _edges(face: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    """Unique undirected edges ``[M, 2]`` (u < v, sorted) and, for each face side
    (a-b, b-c, c-a), the row of its edge ``[F, 3]``."""
    sides = torch.stack([face, face.roll(-1, dims=1)], dim=-1)      # [F, 3, 2]
    lo, hi = sides.min(-1).values, sides.max(-1).values
    key = lo * num_nodes + hi
    uniq, inv = torch.unique(key.flatten(), return_inverse=True)
    uv = torch.stack([uniq // num_nodes, uniq % num_nodes], dim=1)
    return uv, inv.view(-1, 3)


def _subdivide(pos: Tensor, face: Tensor,
               perms: Optional[Tensor]) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    n = pos.size(0)
    uv, side = _edges(face, n)
    mid = pos[uv[:, 0]] + pos[uv[:, 1]]
    mid = mid / mid.norm(dim=1, keepdim=True)
    m = n + side                                           # midpoint of a-b, b-c, c-a
    a, b, c = face[:, 0], face[:, 1], face[:, 2]
    ab, bc, ca = m[:, 0], m[:, 1], m[:, 2]
    new_face = torch.cat([torch.stack([a, ab, ca], 1), torch.stack([b, bc, ab], 1),
                          torch.stack([c, ca, bc], 1), torch.stack([ab, bc, ca], 1)])
    if perms is not None:
        # a vertex permutation that maps edges to edges maps midpoints to midpoints
        key = uv[:, 0] * n + uv[:, 1]                      # sorted (from torch.unique)
        pu, pv = perms[:, uv[:, 0]], perms[:, uv[:, 1]]
        pkey = torch.minimum(pu, pv) * n + torch.maximum(pu, pv)
        row = torch.searchsorted(key, pkey)
        if bool((row >= key.numel()).any()) or not torch.equal(key[row.clamp(max=key.numel() - 1)],
                                                                pkey):
            raise RuntimeError('internal error: a symmetry did not map the edges onto edges')
        perms = torch.cat([perms, n + row], dim=1)
    return torch.cat([pos, mid]), new_face, perms


def _build(subdivisions: int, dtype: torch.dtype,
           perms: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    if isinstance(subdivisions, bool) or not isinstance(subdivisions, int) or subdivisions < 0:
        raise ValueError(f'subdivisions must be a non-negative integer, got {subdivisions!r}')
    if subdivisions > 8:
        raise ValueError(f'subdivisions={subdivisions} would make {10 * 4 ** subdivisions + 2} '
                         f'vertices; use at most 8')
    pos, face = icosahedron(torch.float64)
    for _ in range(subdivisions):
        pos, face, perms = _subdivide(pos, face, perms)
    return pos.to(dtype), face, perms


def icosphere(subdivisions: int = 0, dtype: torch.dtype = torch.float64) -> Data:
    """The icosphere mesh graph.

    Args:
        subdivisions: how often every triangle is split into four (0: the icosahedron).
        dtype: floating type of ``pos``.

    Returns:
        ``Data(pos [V, 3], face [3, F], edge_index [2, 2M], num_nodes=V)``: vertices on the
        unit sphere, faces oriented outward (counter-clockwise seen from outside; PyG's
        ``[3, F]`` layout), and every mesh edge in both directions (sorted by source, then
        target).
    """
    pos, face, _ = _build(subdivisions, dtype)
    n = pos.size(0)
    uv, _ = _edges(face, n)
    ei = torch.cat([uv, uv.flip(1)]).t()
    ei = ei[:, torch.argsort(ei[0] * n + ei[1])]
    return Data(pos=pos, face=face.t().contiguous(), edge_index=ei.contiguous(), num_nodes=n)


@functools.lru_cache(maxsize=1)
def _rotation_group() -> Tuple[Tensor, Tensor]:
    """The 60 rotations of the icosahedron and their permutations of its 12 vertices."""
    pos, face = icosahedron(torch.float64)
    d = _distances(pos, pos)
    adj = (d - d[0][d[0] > 1e-9].min()).abs() < 1e-9

    def frame(a: Tensor, b: Tensor) -> Tensor:
        e1 = a
        e2 = b - (b @ a) * a
        e2 = e2 / e2.norm()
        return torch.stack([e1, e2, torch.cross(e1, e2, dim=0)], dim=1)

    base = frame(pos[0], pos[int(adj[0].nonzero()[0])])
    rots, perms = [], []
    # a rotation is fixed by where it sends vertex 0 and one neighbour: 12 * 5 = 60 choices
    for a in range(12):
        for b in adj[a].nonzero().flatten().tolist():
            r = frame(pos[a], pos[b]) @ base.T
            moved = pos @ r.T
            dist = _distances(moved, pos)
            perm = dist.argmin(1)
            if float(dist.min(1).values.max()) > 1e-9:
                raise RuntimeError('internal error: not a symmetry of the icosahedron')
            rots.append(r)
            perms.append(perm)
    rots, perms = torch.stack(rots), torch.stack(perms)
    ident = int(torch.argmin((rots - torch.eye(3, dtype=torch.float64)).abs().flatten(1)
                             .amax(1)))
    order = [ident] + [i for i in range(60) if i != ident]
    rots, perms = rots[order], perms[order]
    rots[0] = torch.eye(3, dtype=torch.float64)  # exact (it is the identity up to rounding)
    return rots, perms


def icosahedral_rotations(subdivisions: int = 0,
                          dtype: torch.dtype = torch.float64) -> Tuple[Tensor, Tensor]:
    """The rotation group of the icosahedron acting on ``icosphere(subdivisions)``.

    Returns:
        ``(rotations [60, 3, 3], perms [60, V])`` with ``rotations[0]`` the identity and, for
        every element ``g``, ``pos @ rotations[g].T == pos[perms[g]]``: rotating the mesh is
        relabelling its vertices by ``gdl_graphs.testing.Permutation(perms[g])`` (faces and
        edges are mapped onto faces and edges). A vertex signal ``f`` rotated by ``g``,
        :math:`(g f)(v) = f(g^{-1} v)`, is ``f[perms[g].argsort()]``.
    """
    rots, perms = (t.clone() for t in _rotation_group())
    pos, _, perms = _build(subdivisions, torch.float64, perms)
    moved = torch.einsum('gij,vj->gvi', rots, pos)
    err = float((moved - pos[perms]).abs().max())
    if err > 1e-12:  # the construction is exact; this check guards it
        raise RuntimeError(f'internal error: icosahedral rotation off by {err:.2e}')
    return rots.to(dtype), perms
