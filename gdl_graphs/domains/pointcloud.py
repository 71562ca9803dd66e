"""Point clouds as graphs: k-nearest-neighbour or radius graphs on positions.

The graph depends on the positions only through their distances, so it is invariant under
E(n) (rotations, reflections, translations) and relabels with the points: an E(n)-equivariant
layer on it (:class:`gdl_graphs.nn.EGNNConv`) makes the whole pipeline E(n) equivariant.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..core import scatter
from ..core.validate import check_finite, check_index
from ..geometry.search import knn_graph, radius_graph

__all__ = ['to_graph', 'PointCloudToGraph']


def _check_pos(pos: Tensor, batch: Optional[Tensor]) -> None:
    if not isinstance(pos, Tensor) or pos.dim() != 2 or not pos.is_floating_point():
        got = f'{list(pos.shape)} {pos.dtype}' if isinstance(pos, Tensor) else \
            type(pos).__name__
        raise ValueError(f'pos must be a floating tensor [N, D] (one point per row), got {got}')
    if pos.size(0) == 0 or pos.size(1) == 0:
        raise ValueError(f'pos is empty {list(pos.shape)}: a point cloud needs at least one '
                         f'point with at least one coordinate')
    check_finite(pos, 'pos')
    pos = pos.detach()                       # only checked here: the graph is indices
    if batch is None:
        spread = (pos - pos[:1]).abs().amax() if pos.size(0) > 1 else None
        if spread is not None and float(spread) == 0.0:
            raise ValueError(f'degenerate point cloud: all {pos.size(0)} points coincide, so '
                             f'every distance is 0 and a k-NN / radius graph would be '
                             f'arbitrary; remove duplicate points or add jitter')
        return
    check_index(batch, pos.size(0), name='batch')
    ids, batch = torch.unique(batch, return_inverse=True)   # any ids, even 2**60
    num = ids.numel()
    lo, hi = scatter(pos, batch, num, 'min'), scatter(pos, batch, num, 'max')
    count = torch.bincount(batch, minlength=num)
    bad = ((hi - lo).amax(1) == 0) & (count > 1)
    if bool(bad.any()):
        b = int(bad.nonzero()[0])
        raise ValueError(f'degenerate point cloud: all {int(count[b])} points of example '
                         f'{int(ids[b])} '
                         f'coincide, so a k-NN / radius graph would be arbitrary; remove '
                         f'duplicate points or add jitter')


def to_graph(pos: Tensor, features: Optional[Tensor] = None, k: Optional[int] = None,
             r: Optional[float] = None, batch: Optional[Tensor] = None, loop: bool = False,
             max_num_neighbors: int = 32) -> Data:
    """A point cloud as a graph: an edge ``j -> i`` from each of the ``k`` nearest points ``j``
    of ``i`` (``k``), or from every point within distance ``<= r`` (``r``, at most
    ``max_num_neighbors``, the nearest). Exactly one of ``k`` and ``r``.

    Args:
        pos: positions ``[N, D]`` (finite; not all equal).
        features: node features ``[N, F]`` (stored as ``x``).
        k: neighbours per point.
        r: radius.
        batch: the example of every point (graphs never connect two examples).
        loop: include self-loops.

    Returns:
        ``Data(x, pos, edge_index [2, E], batch)``, edges sorted by target (the neighbours of
        every target by distance), as ``torch_cluster.knn_graph`` / ``radius_graph``.
    """
    if (k is None) == (r is None):
        raise ValueError('give exactly one of k (k-nearest-neighbour graph) and r (radius '
                         f'graph), got k={k!r}, r={r!r}')
    _check_pos(pos, batch)
    if features is not None:
        if not isinstance(features, Tensor) or features.dim() < 1 or \
                features.size(0) != pos.size(0):
            got = list(features.shape) if isinstance(features, Tensor) else \
                type(features).__name__
            raise ValueError(f'features must have one row per point ({pos.size(0)}), got {got}')
    if k is not None:
        ei = knn_graph(pos, k, batch, loop=loop)
    else:
        ei = radius_graph(pos, r, batch, loop=loop, max_num_neighbors=max_num_neighbors)
    data = Data(pos=pos, edge_index=ei, num_nodes=pos.size(0))
    if features is not None:
        data.x = features
    if batch is not None:
        data.batch = batch
    return data


class PointCloudToGraph(BaseTransform):
    """The :class:`~torch_geometric.transforms.BaseTransform` twin of :func:`to_graph`: a
    ``Data`` with ``pos`` (and optional ``x``, ``batch``) gets its ``edge_index``."""

    def __init__(self, k: Optional[int] = None, r: Optional[float] = None, loop: bool = False,
                 max_num_neighbors: int = 32):
        if (k is None) == (r is None):
            raise ValueError(f'give exactly one of k and r, got k={k!r}, r={r!r}')
        self.k, self.r, self.loop, self.max_num_neighbors = k, r, loop, max_num_neighbors

    def forward(self, data: Data) -> Data:
        if data.get('pos') is None:
            raise ValueError('data has no pos: a point cloud needs positions [N, D]')
        g = to_graph(data.pos, data.get('x'), self.k, self.r, data.get('batch'), self.loop,
                     self.max_num_neighbors)
        out = data.clone()
        out.edge_index = g.edge_index
        return out

    def __repr__(self) -> str:
        what = f'k={self.k}' if self.k is not None else f'r={self.r}'
        return f'{self.__class__.__name__}({what})'
