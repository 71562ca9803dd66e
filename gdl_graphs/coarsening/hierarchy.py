r"""Multiscale hierarchies (scale separation in the blueprint): a graph, point cloud or mesh
coarsened ``L`` times, for pooling down and unpooling up (U-Net style), and PyG's one-level
``max_pool`` / ``avg_pool`` on the coarsening core.

Level 0 is the input; level ``l + 1`` is :func:`gdl_graphs.coarsening.coarsen` of level ``l``
under a cluster map from one of

- ``'graclus'``: greedy heavy-edge matching (normalized-cut weights), about halves the nodes;
- ``'voxel'``: voxel clusters of width ``size * 2**l`` (needs ``pos``);
- ``'fps'``: farthest-point samples (``ratio``) as centres, every point joining its nearest
  centre (needs ``pos``); the coarse positions are the samples themselves;
- a callable ``f(edge_index, pos, batch, num_nodes, level) -> cluster``.

The hierarchy depends only on the graph, so :func:`hierarchy_of` caches it on the tensor that
defines the graph (``edge_index``, else ``pos``): built once per data set item, reused every
epoch, dropped when the tensor is freed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from ..core import cached, check_edge_index, check_index, plain
from ..core.validate import check_node_features
from ..geometry.fps import fps
from ..geometry.search import knn, knn_graph
from ..geometry.validate import check_points
from ..geometry.voxel import voxel_grid
from .core import Coarsened, coarsen, coarsen_data, consecutive, pool, unpool
from .graclus import graclus
from .interpolate import knn_interpolate

__all__ = ['Hierarchy', 'build_hierarchy', 'hierarchy_of', 'max_pool', 'avg_pool',
           'max_pool_x', 'avg_pool_x']

METHODS = ('graclus', 'voxel', 'fps')


@dataclass
class Hierarchy:
    """``graphs[l]`` is the graph of level ``l`` (``edge_index``, ``num_nodes``, ``pos``,
    ``batch``); ``levels[l]`` maps level ``l`` to level ``l + 1``."""
    graphs: List[Coarsened] = field(default_factory=list)
    levels: List[Coarsened] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.levels)

    def num_nodes(self, level: int) -> int:
        return self.graphs[level].num_clusters

    def _level(self, level: int) -> Coarsened:
        if not 0 <= level < self.depth:
            raise ValueError(f'level {level} out of range: the hierarchy maps levels '
                             f'0..{self.depth - 1} to the next one')
        return self.levels[level]

    def pool(self, x: Tensor, level: int, reduce: str = 'max') -> Tensor:
        """Features of level ``level`` -> level ``level + 1`` (a reduction per cluster)."""
        c = self._level(level)
        return pool(x, c.cluster, c.num_clusters, reduce)

    def unpool(self, x: Tensor, level: int) -> Tensor:
        """Features of level ``level + 1`` -> level ``level`` (copied to every member)."""
        c = self._level(level)
        if x.size(0) != c.num_clusters:
            raise ValueError(f'x has {x.size(0)} rows but level {level + 1} has '
                             f'{c.num_clusters} nodes')
        return unpool(x, c.cluster)

    def interpolate(self, x: Tensor, level: int, k: int = 3) -> Tensor:
        """Features of level ``level + 1`` -> level ``level`` by k-NN interpolation."""
        fine, coarse = self.graphs[level], self.graphs[level + 1]
        if fine.pos is None or coarse.pos is None:
            raise ValueError('interpolate needs positions: build the hierarchy with pos')
        return knn_interpolate(x, coarse.pos, fine.pos, coarse.batch, fine.batch, k=k)

    def down(self, x: Tensor, reduce: str = 'max') -> List[Tensor]:
        """``x`` pooled to every level: ``[x_0, x_1, ..., x_L]``."""
        out = [x]
        for level in range(self.depth):
            out.append(self.pool(out[-1], level, reduce))
        return out

    def to(self, device) -> 'Hierarchy':
        def mv(c: Coarsened) -> Coarsened:
            return Coarsened(*[t.to(device) if isinstance(t, Tensor) else t for t in c])
        return Hierarchy([mv(g) for g in self.graphs], [mv(c) for c in self.levels])


def _graph(edge_index: Tensor, n: int, pos, batch) -> Coarsened:
    return Coarsened(torch.arange(n, device=edge_index.device), n, edge_index, None, pos,
                     batch)


def build_hierarchy(edge_index: Optional[Tensor] = None, num_nodes: Optional[int] = None,
                    pos: Optional[Tensor] = None, batch: Optional[Tensor] = None,
                    levels: int = 2, method: Union[str, Callable] = 'graclus',
                    size: Optional[float] = None, ratio: float = 0.25, k: Optional[int] = None,
                    generator: Optional[torch.Generator] = None) -> Hierarchy:
    """Coarsen ``levels`` times.

    Args:
        edge_index: the graph (``None`` for a point cloud: then ``k`` builds k-NN graphs).
        num_nodes: nodes of the graph (default: from ``pos``, else ``edge_index``).
        pos, batch: positions and example of every node.
        levels: the number of coarsenings.
        method: ``'graclus'``, ``'voxel'``, ``'fps'`` or a callable (see the module).
        size: voxel width of the first coarsening (``'voxel'``).
        ratio: the fraction kept per level (``'fps'``).
        k: when given, the graph of every level is the k-NN graph of its positions instead
            of the coarsened graph.
        generator: tie-breaking randomness of ``'graclus'``.
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise ValueError(f'levels must be a non-negative integer, got {levels!r}')
    if isinstance(method, str) and method not in METHODS:
        raise ValueError(f'unknown coarsening method {method!r}: use one of {METHODS} '
                         f'or a callable')
    if method in ('voxel', 'fps') and pos is None:
        raise ValueError(f"method {method!r} needs node positions: pass pos")
    if method == 'voxel' and (size is None or not float(size) > 0):
        raise ValueError(f"method 'voxel' needs a positive voxel size, got size={size!r}")
    if num_nodes is None:
        if pos is not None:
            num_nodes = pos.size(0)
        elif edge_index is not None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        else:
            raise ValueError('give edge_index or pos')
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 0:
        raise ValueError(f'num_nodes must be a non-negative integer, got {num_nodes!r}')
    if pos is not None:
        check_points(pos, 'pos')
        if pos.size(0) != num_nodes:
            raise ValueError(f'pos has {pos.size(0)} rows but there are {num_nodes} nodes')
    if batch is not None:
        check_index(batch, num_nodes, name='batch')
    if edge_index is not None:
        check_edge_index(plain(edge_index), num_nodes)
    dev = pos.device if pos is not None else edge_index.device
    if edge_index is None:
        if k is None:
            raise ValueError('a point cloud (edge_index=None) needs k to build k-NN graphs')
        edge_index = knn_graph(pos, k, batch)
    edge_index = plain(edge_index)
    h = Hierarchy([_graph(edge_index, num_nodes, pos, batch)], [])
    for level in range(levels):
        g = h.graphs[-1]
        n, ei, p, b = g.num_clusters, g.edge_index, g.pos, g.batch
        centres = None
        if callable(method):
            cluster = method(ei, p, b, n, level)
        elif method == 'graclus':
            cluster = graclus(ei, num_nodes=n, generator=generator)
        elif method == 'voxel':
            cluster = voxel_grid(p, float(size) * 2 ** level, b)
        else:
            centres = fps(p, b, ratio=ratio, random_start=False)
            cb = None if b is None else b[centres]
            cluster = knn(p[centres], p, 1, cb, b)[1]
        out = coarsen(cluster.to(dev), ei, n, pos=p, batch=b)
        if centres is not None:  # fps: clusters are numbered by centre, keep centre positions
            out = out._replace(pos=_centre_pos(p, out.cluster, centres))
        if k is not None and out.pos is not None:
            out = out._replace(edge_index=knn_graph(out.pos, k, out.batch))
        h.levels.append(out)
        h.graphs.append(_graph(out.edge_index, out.num_clusters, out.pos, out.batch))
    return h


def _centre_pos(pos: Tensor, cluster: Tensor, centres: Tensor) -> Tensor:
    """The position of the sample that names each (relabelled) cluster."""
    out = pos.new_empty(int(cluster.max()) + 1 if cluster.numel() else 0, pos.size(1))
    out[cluster[centres]] = pos[centres]
    return out


def hierarchy_of(data: Data, levels: int = 2, method: Union[str, Callable] = 'graclus',
                 **kwargs) -> Hierarchy:
    """:func:`build_hierarchy` of ``data``, cached on its ``edge_index`` (else ``pos``)."""
    ei, pos = data.get('edge_index'), data.get('pos')
    anchor = ei if ei is not None else pos
    if anchor is None:
        raise ValueError('data has neither edge_index nor pos: nothing to coarsen')
    extra = ('hierarchy', levels, method if isinstance(method, str) else id(method),
             tuple(sorted((k, v) for k, v in kwargs.items() if k != 'generator')),
             data.num_nodes)
    tensors = [t for t in (ei, pos, data.get('batch')) if t is not None]
    return cached(tensors, extra, lambda: build_hierarchy(
        ei, data.num_nodes, pos, data.get('batch'), levels, method, **kwargs))


# ----------------------------------------------------------------------------- PyG pooling
def _pool_data(cluster: Tensor, data: Data, reduce: str, transform) -> Data:
    """PyG's pooling result (a ``Batch``) from the coarsening core's :func:`coarsen_data`."""
    coarse = coarsen_data(data, cluster, reduce)
    del coarse.cluster
    coarse = Batch(**coarse.to_dict())
    return coarse if transform is None else transform(coarse)


def max_pool(cluster: Tensor, data: Data, transform: Optional[Callable] = None) -> Data:
    """``torch_geometric.nn.max_pool`` on the coarsening core: features max-pooled per
    cluster, positions averaged, edges merged (attributes summed), self-loops dropped."""
    return _pool_data(cluster, data, 'max', transform)


def avg_pool(cluster: Tensor, data: Data, transform: Optional[Callable] = None) -> Data:
    """``torch_geometric.nn.avg_pool`` on the coarsening core (features averaged)."""
    return _pool_data(cluster, data, 'mean', transform)


def _pool_x(cluster: Tensor, x: Tensor, batch: Optional[Tensor], reduce: str):
    check_node_features(x)
    if batch is not None:
        check_index(batch, x.size(0), name='batch')
    cluster, c = consecutive(cluster)
    out = pool(x, cluster, c, reduce)
    if batch is None:
        return out, None
    from ..core import scatter
    return out, scatter(batch, cluster, c, 'min')


def max_pool_x(cluster: Tensor, x: Tensor, batch: Optional[Tensor] = None):
    """``torch_geometric.nn.max_pool_x``: ``(pooled x, pooled batch)``."""
    return _pool_x(cluster, x, batch, 'max')


def avg_pool_x(cluster: Tensor, x: Tensor, batch: Optional[Tensor] = None):
    """``torch_geometric.nn.avg_pool_x``: ``(pooled x, pooled batch)``."""
    return _pool_x(cluster, x, batch, 'mean')
