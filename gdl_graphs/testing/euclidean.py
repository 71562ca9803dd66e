"""E(n) actions for the harness: orthogonal maps (rotations and reflections) and translations.

An element of E(n) acts on positions as :math:`\\mathbf{x} \\mapsto Q\\mathbf{x} + \\mathbf{t}`
with :math:`Q \\in O(n)` and on vectors (velocities, coordinate differences) as
:math:`\\mathbf{v} \\mapsto Q\\mathbf{v}`; scalar node features are left unchanged. Combine
with :class:`gdl_graphs.testing.Permutation` for the full symmetry of point-cloud layers.

    >>> g = EuclideanTransform.random(3, reflection=True, dtype=torch.float64)
    >>> assert_equivariant(conv, (h, pos, ei), lambda a: (a[0], g.pos(a[1]), a[2]),
    ...                    lambda out: (out[0], g.pos(out[1])))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data


def random_orthogonal(dim: int, reflection: Optional[bool] = None,
                      generator: Optional[torch.Generator] = None,
                      dtype: torch.dtype = torch.float64) -> Tensor:
    """A Haar-random orthogonal ``dim x dim`` matrix.

    Args:
        dim: the dimension (>= 1).
        reflection: ``True`` forces ``det = -1`` (an improper map, a reflection composed with a
            rotation), ``False`` forces ``det = +1`` (a rotation), ``None`` leaves it random.
    """
    if int(dim) < 1:
        raise ValueError(f'dim must be a positive integer, got {dim}')
    a = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # Haar measure (Mezzadri 2007)
    det = torch.linalg.det(q)
    if reflection is not None and bool(det < 0) != bool(reflection):
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


@dataclass(frozen=True)
class EuclideanTransform:
    """The E(n) element ``x -> x @ rotation.T + translation`` (``rotation`` orthogonal)."""
    rotation: Tensor
    translation: Tensor

    def __post_init__(self):
        q, t = self.rotation, self.translation
        if q.dim() != 2 or q.size(0) != q.size(1):
            raise ValueError(f'rotation must be a square matrix, got shape {list(q.shape)}')
        if t.shape != (q.size(0),):
            raise ValueError(f'translation must have shape [{q.size(0)}], got {list(t.shape)}')
        eye = torch.eye(q.size(0), dtype=q.dtype, device=q.device)
        err = float((q @ q.T - eye).abs().max()) if q.numel() else 0.0
        if err > (1e-6 if q.dtype == torch.float64 else 1e-3):
            raise ValueError(f'rotation is not orthogonal (max |Q Q^T - I| = {err:.2e}); use '
                             f'random_orthogonal() or orthonormalise it with torch.linalg.qr')

    @property
    def dim(self) -> int:
        return self.rotation.size(0)

    @property
    def is_reflection(self) -> bool:
        return bool(torch.linalg.det(self.rotation.double()) < 0)

    def pos(self, pos: Tensor) -> Tensor:
        """Act on positions ``[N, n]``."""
        self._check(pos)
        return pos @ self.rotation.to(pos).T + self.translation.to(pos)

    def vectors(self, v: Tensor) -> Tensor:
        """Act on vectors ``[N, n]`` (differences, velocities): rotation only."""
        self._check(v)
        return v @ self.rotation.to(v).T

    def data(self, data: Data) -> Data:
        """Act on a ``Data``: ``pos`` moves, everything else (``x``, graph) stays."""
        out = data.clone()
        if data.get('pos') is None:
            raise ValueError('data has no pos attribute for the Euclidean transform to act on')
        out.pos = self.pos(data.pos)
        return out

    def __call__(self, pos: Tensor) -> Tensor:
        return self.pos(pos)

    @property
    def inverse(self) -> 'EuclideanTransform':
        qt = self.rotation.T.contiguous()
        return EuclideanTransform(qt, -(qt @ self.translation))

    def compose(self, other: 'EuclideanTransform') -> 'EuclideanTransform':
        """``self`` after ``other``."""
        q = self.rotation @ other.rotation
        return EuclideanTransform(q, self.rotation @ other.translation + self.translation)

    def _check(self, t: Tensor) -> None:
        if t.dim() != 2 or t.size(1) != self.dim:
            raise ValueError(f'expected points of shape [N, {self.dim}], got {list(t.shape)}')

    @staticmethod
    def random(dim: int, reflection: Optional[bool] = None, scale: float = 1.0,
               generator: Optional[torch.Generator] = None,
               dtype: torch.dtype = torch.float64) -> 'EuclideanTransform':
        """A random orthogonal map (see :func:`random_orthogonal`) and a Gaussian translation
        of standard deviation ``scale``."""
        q = random_orthogonal(dim, reflection, generator, dtype)
        t = scale * torch.randn(dim, generator=generator, dtype=torch.float64)
        return EuclideanTransform(q, t.to(dtype))


def pairwise_distances(a: Tensor, b: Optional[Tensor] = None) -> Tensor:
    """Euclidean distances ``[N, M]`` from coordinate differences, in float64: a reference
    that takes no matrix-product path (``torch.cdist`` may, and leaves about 1e-8 on the
    diagonal on some CPUs)."""
    b = a if b is None else b
    return (a.double()[:, None, :] - b.double()[None, :, :]).pow(2).sum(-1).sqrt()


def assert_nearest_neighbours(pos: Tensor, edge_index: Tensor, k: int,
                              rtol: float = 1e-5) -> None:
    """Assert that every node's sources in ``edge_index`` (``source -> target``) are ``k``
    other points that are nearest to it, up to ties: no source is farther than the ``k``-th
    nearest distance by more than ``rtol`` (relative). Robust to the rounding of the
    implementation under test, which may order near-equal distances differently."""
    n = pos.size(0)
    d = pairwise_distances(pos)
    d.fill_diagonal_(float('inf'))
    src, dst = edge_index.tolist()
    got: list = [[] for _ in range(n)]
    for j, i in zip(src, dst):
        got[i].append(j)
    kk = min(k, n - 1)
    kth = d.topk(kk, largest=False).values[:, -1] if kk > 0 else torch.zeros(n)
    for i in range(n):
        if len(got[i]) != kk or len(set(got[i])) != kk or i in got[i]:
            raise AssertionError(f'node {i}: sources {sorted(got[i])}, expected {kk} distinct '
                                 f'other points')
        far = float(d[i, got[i]].max()) if kk else 0.0
        if far > float(kth[i]) * (1 + rtol):
            raise AssertionError(f'node {i}: a source at distance {far:.9g}, but the {kk}-th '
                                 f'nearest point is at {float(kth[i]):.9g}')


def assert_radius_graph(pos: Tensor, edge_index: Tensor, r: float, rtol: float = 1e-5) -> None:
    """Assert that ``edge_index`` joins exactly the pairs of distinct points closer than
    ``r``, up to rounding: pairs within ``r (1 - rtol)`` must be joined, pairs beyond
    ``r (1 + rtol)`` must not."""
    d = pairwise_distances(pos)
    n = pos.size(0)
    got = torch.zeros(n, n, dtype=torch.bool)
    got[edge_index[1], edge_index[0]] = True
    eye = torch.eye(n, dtype=torch.bool)
    missing = (d <= r * (1 - rtol)) & ~eye & ~got
    extra = got & ((d > r * (1 + rtol)) | eye)
    for name, bad in (('missing', missing), ('extra', extra)):
        if bool(bad.any()):
            i, j = (int(t) for t in torch.nonzero(bad)[0])
            raise AssertionError(f'{name} edge {j} -> {i} at distance {float(d[i, j]):.9g} '
                                 f'(r = {r})')


__all__ = ['random_orthogonal', 'EuclideanTransform', 'pairwise_distances',
           'assert_nearest_neighbours', 'assert_radius_graph']
