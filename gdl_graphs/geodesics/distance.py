"""Geodesic distance from one vertex or a set of vertices on any triangle mesh."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .mesh import check_pos, clean_faces, pow2_scale, undirected_edges
from .operators import components
from .patches import check_face_strict, check_number
from .solvers import Crop, MarchingSolver, MeshArrays, _pp3d, pp3d_call

__all__ = ['geodesic_distance']


def geodesic_distance(pos: Tensor, face: Tensor, source, t_coef: float = 1.0,
                      solver: str = 'fast') -> Tensor:
    r"""Geodesic distance on a triangle mesh from one vertex or a set of vertices:

    .. math::
        d(v) = \min_{s \in \text{source}} d_{\mathcal{M}}(s, v).

    ``solver='fast'`` (default): eikonal marching over the triangles (the distances of
    :class:`~gdl_graphs.geodesics.solvers.MarchingSolver` on the whole mesh), any triangle
    mesh (non-manifold, degenerate faces with zero weight); ``'potpourri3d'``: the heat
    method (Crane, Weischedel & Wardetzky 2013) through potpourri3d (a manifold mesh;
    ``t_coef``: heat time in squared mean edge lengths). Vertices in a connected component
    without a source (and unreferenced vertices) are unreachable: their distance is ``inf``.

    Equivariance: invariant to rigid motions and to relabelling vertices (distances move with
    the vertices).

    Args:
        pos: vertex positions ``[N, 3]``.
        face: triangles ``[3, F]`` (PyG's layout only; pass ``face.t()`` for ``[F, 3]``).
        source: a vertex index or a sequence / 1-D tensor of indices.
        t_coef: heat time of ``'potpourri3d'`` (finite, positive).
        solver: ``'fast'`` or ``'potpourri3d'``.

    Shapes:
        output ``[N]``, dtype of ``pos``.
    """
    if solver not in ('fast', 'potpourri3d'):
        raise ValueError(f"solver must be 'fast' or 'potpourri3d', got {solver!r}")
    t_coef = check_number(t_coef, 't_coef')
    pos = check_pos(pos)
    n = pos.size(0)
    face = check_face_strict(face, n)
    src = torch.as_tensor(source).reshape(-1)
    if src.numel() == 0 or src.is_floating_point() or src.dtype == torch.bool:
        raise ValueError(f'source must be a vertex index or a non-empty list of indices, got '
                         f'{source!r}')
    src = src.long()
    if int(src.min()) < 0 or int(src.max()) >= n:
        raise ValueError(f'source vertex out of range: {src.tolist()[:8]} for a mesh of {n} '
                         f'vertices (indices run from 0 to {n - 1})')
    face, _, _, _ = clean_faces(pos, face)
    scale = pow2_scale(pos)
    v = (pos.detach().to(torch.float64) * scale).cpu().numpy()
    f = face.cpu().numpy()
    s_np = np.unique(src.cpu().numpy())
    if solver == 'fast':
        und = undirected_edges(face, n)[0].cpu().numpy()
        h = float(np.sqrt(((v[und[0]] - v[und[1]]) ** 2).sum(1)).mean()) if und.size else 0.0
        marching = MarchingSolver()
        marching.prepare(MeshArrays(v, f, np.zeros_like(v), np.zeros((n, 2, 3)), h))
        crop = Crop(s_np, np.zeros(n, dtype=np.int64), np.arange(n), f,
                    np.arange(len(f)), s_np)
        d, _ = marching.march(crop, math.inf)
    else:
        d = _heat_distance(v, f, s_np, n, t_coef)
    return torch.from_numpy(d / scale).to(pos.dtype).to(pos.device)


def _heat_distance(v, f, s_np, n, t_coef):
    """potpourri3d's heat method on the referenced vertices, zero at the sources of every
    component, ``inf`` elsewhere."""
    out = np.full(n, np.inf)
    out[s_np] = 0.0
    used = np.zeros(n, dtype=bool)
    used[f.reshape(-1)] = True
    vid = np.nonzero(used)[0]
    new = np.full(n, -1, dtype=np.int64)
    new[vid] = np.arange(vid.size)
    f_loc = new[f]
    s_loc = new[s_np]
    s_loc = np.unique(s_loc[s_loc >= 0])
    if s_loc.size == 0:
        return out
    comp = components(f_loc, vid.size)
    pp3d = _pp3d()
    solver = pp3d_call(lambda: pp3d.MeshHeatMethodDistanceSolver(v[vid], f_loc, t_coef),
                       'geodesic_distance')
    d = np.asarray(solver.compute_distance_multisource(s_loc.tolist()), dtype=np.float64)
    reach = np.isin(comp, comp[s_loc])
    # the heat method fixes distance up to a constant per component: zero at the sources
    for c in np.unique(comp[s_loc]):
        members = comp == c
        d[members] -= d[s_loc[comp[s_loc] == c]].min()
    d = np.where(reach, np.maximum(d, 0.0), np.inf)
    d[s_loc] = 0.0
    out[vid] = d
    return out
