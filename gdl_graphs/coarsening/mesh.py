"""Mesh coarsening with transport-aware pooling and unpooling.

A coarse level keeps a subset of the fine vertices (farthest-point sampling by default) and
assigns every fine vertex to its nearest kept vertex (Euclidean). The coarse graph connects two
clusters when a fine edge does (:func:`gdl_graphs.coarsening.coarsen`); every coarse vertex
keeps the position, normal and **frame (gauge)** of the fine vertex it was selected from, and
its edges get log-map coordinates and transport angles from the same geometry kernels as
:func:`gdl_graphs.domains.mesh.mesh_to_graph`.

Pooling parallel-transports every fine rho_n feature into its cluster centre's frame
(smallest rotation between the normals, :func:`gdl_graphs.core.mesh.transport_angle`) before
averaging; unpooling transports back. A gauge change of the fine level therefore induces the
gauge change ``angle[index]`` of the coarse level, and pooling and unpooling commute with it
exactly, so a multiscale GEM network stays gauge equivariant.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core.mesh import check_types, edge_geometry, rho_rotate, transport_angle
from .core import coarsen, pool, unpool


class MeshLevel(NamedTuple):
    """A coarse level: ``data`` (the coarse mesh graph), ``index`` (the fine vertex of every
    coarse vertex), ``cluster`` (the coarse vertex of every fine vertex) and ``transport``
    (the angle taking a fine vertex's tangent plane into its cluster centre's frame)."""
    data: Data
    index: Tensor
    cluster: Tensor
    transport: Tensor


def _check_mesh_data(data: Data) -> None:
    missing = [k for k in ('pos', 'normal', 'frame', 'edge_index') if data.get(k) is None]
    if missing:
        raise ValueError(f'coarsen_mesh needs a mesh graph ({", ".join(missing)} missing): '
                         f'build it with gdl_graphs.domains.mesh.mesh_to_graph')


def coarsen_mesh(data: Data, ratio: float = 0.25, index: Optional[Tensor] = None,
                 random_start: bool = False) -> MeshLevel:
    """Coarsen a mesh graph.

    Args:
        data: a mesh graph (``pos``, ``normal``, ``frame``, ``edge_index``; ``batch``
            optional: every mesh of a batch is coarsened separately).
        ratio: fraction of vertices kept by farthest-point sampling.
        index: the fine vertices to keep, instead of sampling (sorted or not, no repeats).
        random_start: start the sampling at a random vertex (default: deterministic).
    """
    _check_mesh_data(data)
    pos, n = data.pos, data.num_nodes
    batch = data.get('batch')
    if index is None:
        if not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f'ratio must be in (0, 1], got {ratio}')
        from ..geometry.fps import fps
        index = fps(pos, batch, ratio=ratio, random_start=random_start)
    index = index.long().view(-1)
    if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= n:
        raise ValueError(f'index must hold coarse vertices in 0 .. {n - 1}')
    if torch.unique(index).numel() != index.numel():
        raise ValueError('index holds a vertex twice; coarse vertices must be distinct')
    from ..geometry.search import knn
    b_c = None if batch is None else batch[index]
    assign = knn(pos[index], pos, 1, b_c, batch)
    cluster = torch.empty(n, dtype=torch.long, device=pos.device)
    cluster[assign[0]] = assign[1]
    cluster[index] = torch.arange(index.numel(), device=pos.device)  # centres are their own
    c = coarsen(cluster, data.edge_index, n, relabel=False, batch=batch)
    normal, frame = data.normal[index], data.frame[index]
    cpos = pos[index]
    coords, conn = edge_geometry(cpos, normal, frame, c.edge_index)
    coarse = Data(pos=cpos, edge_index=c.edge_index, normal=normal, frame=frame,
                  edge_coords=coords, connection=conn, num_nodes=index.numel())
    if batch is not None:
        coarse.batch = c.batch
    transport = transport_angle(data.normal, data.frame, normal[cluster], frame[cluster])
    return MeshLevel(coarse, index, cluster, transport)


def mesh_pool(x: Tensor, level: MeshLevel, types: Sequence[int], reduce: str = 'mean') -> Tensor:
    """Pool rho_0 .. rho_M features to the coarse level: transport each fine feature into its
    cluster centre's frame, then ``reduce`` (``'mean'`` or ``'sum'``: the reductions that
    commute with rotations)."""
    if reduce not in ('mean', 'sum'):
        raise ValueError(f"mesh_pool reduces with 'mean' or 'sum' (max is not gauge "
                         f"equivariant for rho_n, n >= 1), got {reduce!r}")
    types = check_types(types)
    moved = rho_rotate(x, level.transport.to(x.dtype), types)
    return pool(moved, level.cluster, level.data.num_nodes, reduce)


def mesh_unpool(x: Tensor, level: MeshLevel, types: Sequence[int]) -> Tensor:
    """Copy every coarse feature to the fine vertices of its cluster, transported back from the
    centre's frame into each fine vertex's frame."""
    types = check_types(types)
    return rho_rotate(unpool(x, level.cluster), -level.transport.to(x.dtype), types)


__all__ = ['MeshLevel', 'coarsen_mesh', 'mesh_pool', 'mesh_unpool']
