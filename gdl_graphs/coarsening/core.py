"""The coarsening core: every local pooling of every domain goes through :func:`coarsen`.

A cluster map sends each of N nodes to one of C clusters. The coarse graph has one node per
cluster, an edge ``(c(j), c(i))`` for every edge ``(j, i)`` (duplicates merged, their attributes
reduced, self-loops dropped unless kept), positions averaged and the batch vector inherited.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core import check_edge_index, check_index, plain, scatter, segment
from ..core.validate import check_node_features


class Coarsened(NamedTuple):
    """A coarse graph: ``cluster`` maps every fine node to its coarse node (0 .. C-1)."""
    cluster: Tensor
    num_clusters: int
    edge_index: Tensor
    edge_attr: Optional[Tensor]
    pos: Optional[Tensor]
    batch: Optional[Tensor]


def consecutive(cluster: Tensor) -> tuple[Tensor, int]:
    """Relabel arbitrary cluster ids to ``0 .. C-1`` in increasing order of the ids."""
    if not isinstance(cluster, Tensor) or cluster.dim() != 1 or cluster.is_floating_point() \
            or cluster.is_complex() or cluster.dtype == torch.bool:
        got = f'{list(cluster.shape)} {cluster.dtype}' if isinstance(cluster, Tensor) else \
            type(cluster).__name__
        raise ValueError(f'cluster must be a 1-D integer tensor (one id per node), got {got}')
    if cluster.numel() == 0:
        return cluster.long(), 0
    uniq, inv = torch.unique(cluster, return_inverse=True)
    return inv, uniq.numel()


def coarsen(cluster: Tensor, edge_index: Tensor, num_nodes: Optional[int] = None,
            edge_attr: Optional[Tensor] = None, pos: Optional[Tensor] = None,
            batch: Optional[Tensor] = None, self_loops: bool = False,
            edge_reduce: str = 'sum', relabel: bool = True) -> Coarsened:
    """Build the coarse graph of ``cluster`` (length N).

    Args:
        cluster: the cluster of every node; relabelled to ``0 .. C-1`` when ``relabel``.
        edge_index: the fine graph ``[2, E]``.
        edge_attr: edge attributes ``[E, ...]``, reduced over merged edges by ``edge_reduce``.
        pos: node positions, averaged per cluster.
        batch: the graph of every node; a cluster must not span two graphs.
        self_loops: keep the edges inside a cluster as coarse self-loops.
    """
    ei = plain(edge_index)
    n = int(num_nodes if num_nodes is not None else cluster.numel())
    check_index(cluster, n, name='cluster')
    check_edge_index(ei, n)
    if pos is not None:
        check_node_features(pos, n, 'pos')
    if edge_attr is not None:
        check_node_features(edge_attr, ei.size(1), 'edge_attr')
    if relabel:
        cluster, c = consecutive(cluster)
    else:
        c = int(cluster.max()) + 1 if cluster.numel() else 0
    src, dst = cluster[ei[0]], cluster[ei[1]]
    keep = None if self_loops else src != dst
    if keep is not None:
        src, dst = src[keep], dst[keep]
        if edge_attr is not None:
            edge_attr = edge_attr[keep]
    key = src * max(c, 1) + dst
    uniq, inv = torch.unique(key, return_inverse=True)
    new_ei = torch.stack([uniq // max(c, 1), uniq % max(c, 1)]).to(ei.dtype)
    if edge_attr is not None:
        edge_attr = scatter(edge_attr, inv, uniq.numel(), edge_reduce)
    new_pos = None if pos is None else scatter(pos, cluster, c, 'mean')
    new_batch = None
    if batch is not None:
        check_index(batch, n, name='batch')
        lo = scatter(batch, cluster, c, 'min')
        hi = scatter(batch, cluster, c, 'max')
        if bool((lo != hi).any()):
            raise ValueError('a cluster spans two graphs of the batch: cluster each graph '
                             'separately (pass batch to the clustering function)')
        new_batch = lo
    return Coarsened(cluster, c, new_ei, edge_attr, new_pos, new_batch)


def pool(x: Tensor, cluster: Tensor, num_clusters: Optional[int] = None,
         reduce: str = 'max') -> Tensor:
    """Pool node features per cluster: ``x'_c = reduce_{i : cluster_i = c} x_i``."""
    check_node_features(x)
    check_index(cluster, x.size(0), num_clusters, name='cluster')
    if num_clusters is None:
        num_clusters = int(cluster.max()) + 1 if cluster.numel() else 0
    return scatter(x, cluster, num_clusters, reduce)


def unpool(x: Tensor, cluster: Tensor) -> Tensor:
    """Copy every coarse feature back to the nodes of its cluster (``x'_i = x_{c(i)}``)."""
    check_node_features(x)
    check_index(cluster, cluster.numel() if isinstance(cluster, Tensor) else 0, x.size(0),
                name='cluster')
    return x.index_select(0, cluster)


def global_pool(x: Tensor, batch: Optional[Tensor] = None, reduce: str = 'sum',
                num_graphs: Optional[int] = None) -> Tensor:
    """Invariant readout ``[N, F] -> [B, F]``: one reduction per graph of the batch.

    A sorted batch vector (as PyG's ``Batch`` makes) runs as a segment reduction."""
    check_node_features(x)
    if batch is None:
        batch = x.new_zeros(x.size(0), dtype=torch.long)
        num_graphs = 1 if num_graphs is None else num_graphs
    check_index(batch, x.size(0), name='batch')
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    if batch.numel() > 1 and bool((batch[1:] >= batch[:-1]).all()):
        ptr = torch.searchsorted(batch, torch.arange(num_graphs + 1, device=batch.device))
        return segment(x, ptr, reduce)
    return scatter(x, batch, num_graphs, reduce)


def coarsen_data(data: Data, cluster: Tensor, reduce: str = 'max',
                 self_loops: bool = False) -> Data:
    """Coarsen a whole ``Data``: graph, ``pos``, ``batch``, ``edge_attr`` and pooled ``x``."""
    out = coarsen(cluster, data.edge_index, data.num_nodes, data.get('edge_attr'),
                  data.get('pos'), data.get('batch'), self_loops=self_loops)
    coarse = Data(edge_index=out.edge_index, num_nodes=out.num_clusters)
    if data.get('x') is not None:
        coarse.x = pool(data.x, out.cluster, out.num_clusters, reduce)
    for key in ('edge_attr', 'pos', 'batch'):
        if getattr(out, key) is not None:
            coarse[key] = getattr(out, key)
    coarse.cluster = out.cluster
    return coarse
