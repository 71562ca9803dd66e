"""Input validation with messages that name the problem and the fix.

Validation is on by default. Switch it off for speed per layer (``validate=False``) or for a
block (``with gdl_graphs.core.validation(False): ...``); the checks cost one pass over the
indices.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .config import validation_enabled


def check_edge_index(edge_index: Tensor, num_nodes: Optional[int] = None,
                     name: str = 'edge_index',
                     size: Optional[Tuple[int, int]] = None) -> None:
    """``edge_index`` must be an integer tensor of shape ``[2, E]`` with indices in range:
    below ``num_nodes``, or below ``size = (num_src, num_dst)`` row by row (bipartite).
    One pass over the indices (a per-row min/max)."""
    if not isinstance(edge_index, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor of shape [2, E], '
                         f'got {type(edge_index).__name__}')
    if edge_index.layout != torch.strided:
        raise ValueError(f'{name} must be an edge list [2, E], got a sparse adjacency '
                         f'({edge_index.layout}): this step reads the edges one by one; pass '
                         f'torch_geometric.utils.to_edge_index(adj_t)[0].flip(0)')
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f'{name} must have shape [2, E], got {list(edge_index.shape)}; '
                         f'transpose an [E, 2] edge list with .t()')
    if edge_index.dtype not in (torch.long, torch.int32):
        raise ValueError(f'{name} must hold integers (torch.long), got {edge_index.dtype}; '
                         f'convert with .long()')
    if not validation_enabled() or edge_index.numel() == 0:
        return
    lo, hi = torch.aminmax(edge_index, dim=1)
    (lo_src, lo_dst), (hi_src, hi_dst) = lo.tolist(), hi.tolist()
    if min(lo_src, lo_dst) < 0:
        raise ValueError(f'{name} holds a negative node index ({min(lo_src, lo_dst)}); '
                         f'node indices run from 0 to num_nodes - 1')
    if size is not None:
        if hi_src >= size[0]:
            raise ValueError(f'{name} refers to source node {hi_src}, but x has only '
                             f'{size[0]} rows')
        if hi_dst >= size[1]:
            raise ValueError(f'{name} refers to target node {hi_dst}, but there are only '
                             f'{size[1]} target nodes')
    elif num_nodes is not None and max(hi_src, hi_dst) >= num_nodes:
        raise ValueError(f'{name} refers to node {max(hi_src, hi_dst)}, but the graph has only '
                         f'{num_nodes} nodes (x has {num_nodes} rows)')


def check_index(index: Tensor, size: int, num_groups: Optional[int] = None,
                name: str = 'index') -> None:
    """A 1-D integer map of length ``size`` (e.g. ``batch`` or a cluster map)."""
    if not isinstance(index, Tensor) or index.dim() != 1:
        shape = list(index.shape) if isinstance(index, Tensor) else type(index).__name__
        raise ValueError(f'{name} must be a 1-D tensor, got {shape}')
    if index.dtype not in (torch.long, torch.int32):
        raise ValueError(f'{name} must hold integers (torch.long), got {index.dtype}')
    if index.numel() != size:
        raise ValueError(f'{name} has {index.numel()} entries but there are {size} nodes; '
                         f'it needs one entry per node')
    if not validation_enabled() or index.numel() == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0:
        raise ValueError(f'{name} holds a negative entry ({lo})')
    if num_groups is not None and hi >= num_groups:
        raise ValueError(f'{name} holds {hi}, out of range for {num_groups} groups')


def check_node_features(x: Tensor, num_nodes: Optional[int] = None, name: str = 'x',
                        channels: Optional[int] = None) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor, got {type(x).__name__}')
    if x.dim() < 1:
        raise ValueError(f'{name} must have one row per node, got a scalar')
    if num_nodes is not None and x.size(0) != num_nodes:
        raise ValueError(f'{name} has {x.size(0)} rows but the graph has {num_nodes} nodes')
    if channels is not None and (x.dim() < 2 or x.size(-1) != channels):
        got = x.size(-1) if x.dim() >= 2 else 'no channel dimension'
        raise ValueError(f'{name} has {got} channels but the layer expects {channels}; '
                         f'reshape x to [num_nodes, {channels}]')


def check_finite(t: Tensor, name: str) -> None:
    if validation_enabled() and t.is_floating_point() and t.numel() and \
            not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).nonzero()[0, 0])
        raise ValueError(f'{name} holds NaN or infinite values (first at row {bad}); '
                         f'clean the data before building the graph')
