r"""Discrete differential operators on triangle meshes (numpy / scipy), computed once per mesh
and shared by the solvers of :mod:`gdl_graphs.geodesics.solvers`:

- :func:`corner_geometry`: unit face normals, twice the areas, corner cotangents and angles;
- :func:`gradient_basis`: ``grad u = sum_k u_k G_k`` on each face;
- :func:`divergence_weights`: the integrated divergence at corner ``k`` of a face field ``X``
  is ``<D_k, X>``;
- :func:`cotan_laplacian` and :func:`mass`: the cotan Laplacian ``L`` (positive
  semidefinite) and the lumped (barycentric) mass;
- :func:`robust_laplacian`: the intrinsic-Delaunay Laplacian and mass of the tufted cover
  (Sharp & Crane 2020, the PyPI package ``robust-laplacian``): positive weights on any
  triangle mesh, non-manifold, degenerate and badly shaped ones included;
- :func:`face_connection`: the transport angle across the edge opposite every corner
  (:func:`gdl_graphs.domains.mesh.mesh_to_graph`'s discrete Levi-Civita connection).

**Degenerate faces** (area at most ``max(1e-12, 64 eps)`` times their longest edge squared:
zero-area faces, collapsed edges where two vertices share a position) get zero weight in every
operator (no cotangent, no gradient, no mass) instead of the ``1/0`` that makes a
factorisation singular; a vertex left without weight is decoupled by the solvers.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from ..core.mesh import transport_angle

__all__ = ['corner_geometry', 'gradient_basis', 'divergence_weights', 'vertex_gradient',
           'angle_weighted_gradient', 'cotan_laplacian', 'mass', 'robust_laplacian',
           'face_connection', 'components', 'pcg', 'degenerate']


def degenerate(p: np.ndarray, area2: np.ndarray) -> np.ndarray:
    """Faces ``p [F, 3, 3]`` whose area is rounding noise (see the module docstring)."""
    longest = np.max([((p[:, (k + 1) % 3] - p[:, k]) ** 2).sum(1) for k in range(3)], 0)
    tol = max(1e-12, 64 * np.finfo(p.dtype).eps)
    return 0.5 * area2 <= tol * longest


def corner_geometry(p: np.ndarray):
    """For faces ``p [F, 3, 3]``: unit normals ``[F, 3]``, twice the areas ``[F]``, and per
    corner the cotangent and the angle ``[F, 3]``. Degenerate faces: zero normal, area and
    cotangents (their angles stay the true ones)."""
    nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area2 = np.sqrt((nrm * nrm).sum(1))
    bad = degenerate(p, area2)
    area2 = np.where(bad, 0.0, area2)
    nu = nrm / np.where(bad, 1.0, area2)[:, None] * (~bad)[:, None]
    cot, ang = np.empty((len(p), 3)), np.empty((len(p), 3))
    for k in range(3):
        a = p[:, (k + 1) % 3] - p[:, k]
        b = p[:, (k + 2) % 3] - p[:, k]
        dot = (a * b).sum(1)
        cr = np.sqrt((np.cross(a, b) ** 2).sum(1))
        cot[:, k] = np.where(bad, 0.0, dot / np.where(bad, 1.0, cr))
        ang[:, k] = np.arctan2(cr, dot)
    return nu, area2, cot, ang


def gradient_basis(p: np.ndarray, nu: np.ndarray, area2: np.ndarray) -> np.ndarray:
    """``G [F, 3, 3]`` with ``grad u = sum_k u_k G_k`` on each face (``G_k``: the unit normal
    times the edge opposite corner ``k``, over twice the area); zero on degenerate faces."""
    inv = np.where(area2 > 0, 1.0 / np.where(area2 > 0, area2, 1.0), 0.0)[:, None]
    return np.stack([np.cross(nu, p[:, (k + 2) % 3] - p[:, (k + 1) % 3]) * inv
                     for k in range(3)], 1)


def divergence_weights(p: np.ndarray, cot: np.ndarray) -> np.ndarray:
    """``D [F, 3, 3]``: the integrated divergence at corner ``k`` of a face field ``X`` is
    ``<D_k, X>`` (the adjoint of the gradient, cotan form)."""
    return np.stack([0.5 * (cot[:, (k + 2) % 3, None] * (p[:, (k + 1) % 3] - p[:, k])
                            + cot[:, (k + 1) % 3, None] * (p[:, (k + 2) % 3] - p[:, k]))
                     for k in range(3)], 1)


def angle_weighted_gradient(faces, G, ang, u, n):
    """Per vertex ``[n, 3]``: the face gradients of ``u`` summed over the incident faces,
    each weighted by the vertex's corner angle in it."""
    g = sum(u[faces[:, k], None] * G[:, k] for k in range(3))
    return np.stack([sum(np.bincount(faces[:, k], ang[:, k] * g[:, c], minlength=n)
                         for k in range(3)) for c in range(3)], 1)


def vertex_gradient(v, f, u):
    """Gradient of the piecewise-linear ``u`` per vertex (corner-angle weighted face
    gradients) ``[N, 3]``."""
    p = v[f]
    nu, area2, _, ang = corner_geometry(p)
    return angle_weighted_gradient(f, gradient_basis(p, nu, area2), ang, u, len(v))


def cotan_laplacian(f: np.ndarray, cot: np.ndarray, n: int) -> sp.csr_matrix:
    """The cotan Laplacian ``L = diag(W 1) - W``, ``W_ij = (cot a + cot b) / 2``."""
    rows, cols, w = [], [], []
    for k in range(3):
        i, j = f[:, (k + 1) % 3], f[:, (k + 2) % 3]
        rows += [i, j]
        cols += [j, i]
        w += [0.5 * cot[:, k]] * 2
    W = sp.csr_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    return sp.diags(np.asarray(W.sum(1)).ravel()) - W


def mass(f: np.ndarray, area2: np.ndarray, n: int) -> np.ndarray:
    """Lumped (barycentric) vertex areas ``[n]``: a third of every incident face."""
    return np.bincount(f.reshape(-1), np.repeat(area2 / 6.0, 3), minlength=n)


def robust_laplacian(v: np.ndarray, f: np.ndarray, mollify: float = 1e-5):
    """``(L, M)``: the intrinsic-Delaunay cotan Laplacian of the tufted cover and its lumped
    mass (Sharp & Crane 2020, ``pip install robust-laplacian``); any triangle mesh."""
    try:
        import robust_laplacian as rl
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError('the intrinsic-Delaunay Laplacian needs robust-laplacian: '
                          'pip install robust-laplacian, or pip install gdl-graphs[mesh]'
                          ) from None
    L, M = rl.mesh_laplacian(np.ascontiguousarray(v, dtype=np.float64),
                             np.ascontiguousarray(f, dtype=np.int64), mollify)
    return L.tocsr(), np.asarray(M.diagonal()).ravel()


def face_connection(f: np.ndarray, normal: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``[F, 3]``: the transport angle ``conn_{j->i}`` of the edge opposite every corner, from
    its second vertex ``j`` to its first ``i``."""
    nt, ft, ti = torch.from_numpy(normal), torch.from_numpy(frame), torch.from_numpy(f)
    return np.stack([transport_angle(nt[ti[:, (k + 2) % 3]], ft[ti[:, (k + 2) % 3]],
                                     nt[ti[:, (k + 1) % 3]], ft[ti[:, (k + 1) % 3]]).numpy()
                     for k in range(3)], 1)


def components(f: np.ndarray, n: int) -> np.ndarray:
    """Connected component of every vertex (through the faces' edges)."""
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def pcg(A, b, rtol: float = 1e-10, maxiter: int = 1000):
    """Solve the Hermitian positive definite ``A x = b`` (sparse, block diagonal: one block
    per patch) by Jacobi-preconditioned conjugate gradients to the relative residual ``rtol``.
    The heat and vector heat operators ``M + t L`` of a patch are well conditioned (their
    spectrum lies in ``[m, m + t lambda_max(L)]``): a few tens of iterations, each one sparse
    product, instead of a factorization per patch. Where it does not converge (an indefinite
    connection Laplacian on a non-Delaunay crop: geometry-central then also falls back to LU),
    a sparse LU factorization solves it."""
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
