r"""Voxel-grid clustering (Simonovsky and Komodakis 2017), as
``torch_geometric.nn.voxel_grid`` / ``torch_cluster.grid_cluster``, in pure PyTorch.

A point :math:`p` of example :math:`b` falls into the voxel

.. math::
    v_d = \left\lfloor \frac{p_d - \mathrm{start}_d}{\mathrm{size}_d} \right\rfloor,
    \qquad c = b \prod_d n_d + \sum_d v_d \prod_{d' < d} n_{d'},
    \quad n_d = \left\lfloor \frac{\mathrm{end}_d - \mathrm{start}_d}
    {\mathrm{size}_d} \right\rfloor + 1 ,

the linear voxel index (first axis fastest, the example slowest), exactly PyG's numbering.
The ids are not consecutive; :func:`gdl_graphs.coarsening.consecutive` (or ``coarsen``)
relabels them.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .validate import check_batch, check_points

__all__ = ['voxel_grid', 'grid_cluster']

Scalars = Union[float, Sequence[float], Tensor]


def _per_dim(value: Optional[Scalars], dim: int, like: Tensor, name: str) -> Optional[Tensor]:
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device).view(-1)
    if t.numel() == 1:
        t = t.expand(dim)
    if t.numel() != dim:
        raise ValueError(f'{name} has {t.numel()} values but the positions have {dim} '
                         f'dimensions; pass one value or one per dimension')
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f'{name} must be finite, got {t.tolist()}')
    return t


def grid_cluster(pos: Tensor, size: Scalars, start: Optional[Scalars] = None,
                 end: Optional[Scalars] = None) -> Tensor:
    """The linear voxel index of every point (``torch_cluster.grid_cluster``)."""
    pos = check_points(pos, 'pos')
    dim = pos.size(1)
    size_t = _per_dim(size, dim, pos, 'size')
    if not bool((size_t > 0).all()):
        raise ValueError(f'size must be positive in every dimension, got {size_t.tolist()}')
    if pos.size(0) == 0:
        return torch.empty(0, dtype=torch.long, device=pos.device)
    start_t = _per_dim(start, dim, pos, 'start')
    end_t = _per_dim(end, dim, pos, 'end')
    if start_t is None:
        start_t = pos.min(0).values
    if end_t is None:
        end_t = pos.max(0).values
    if bool((pos < start_t).any()) or bool((pos > end_t).any()):
        raise ValueError('pos has points outside [start, end]: widen start/end or leave them '
                         'as None (the bounding box of pos)')
    # voxels per axis in float64 first: a tiny size must not wrap around in .long()
    n64 = torch.floor((end_t.double() - start_t.double()) / size_t.double()) + 1
    log2_total = float(torch.log2(n64).sum())
    if not math.isfinite(log2_total) or log2_total >= 62:
        raise ValueError(f'the grid has about 2^{log2_total:.0f} voxels, more than a 64-bit '
                         f'index holds: use a larger size')
    voxel = torch.floor((pos - start_t) / size_t).long()
    n = n64.long()
    stride = torch.cumprod(torch.cat([n.new_ones(1), n[:-1]]), 0)
    return (voxel * stride).sum(1)


def voxel_grid(pos: Tensor, size: Scalars, batch: Optional[Tensor] = None,
               start: Optional[Scalars] = None, end: Optional[Scalars] = None) -> Tensor:
    r"""Voxel clusters of width ``size`` (a float or one per dimension), per example.

    As ``torch_geometric.nn.voxel_grid``: the example index is the slowest "axis" of the grid,
    ``start``/``end`` default to the bounding box of ``pos`` (over the whole batch).

    Args:
        pos: positions ``[N, D]`` (finite).
        size: voxel width, positive.
        batch: example of every point.
        start, end: the grid's corners; every point must lie inside ``[start, end]``.

    Returns: ``[N]`` voxel ids (not consecutive).
    """
    pos = check_points(pos, 'pos')
    batch = check_batch(batch, pos.size(0), pos.device, 'batch')
    dim = pos.size(1)
    pos_b = torch.cat([pos, batch.unsqueeze(-1).to(pos.dtype)], dim=-1)
    size_t = _per_dim(size, dim, pos, 'size')
    size_b = torch.cat([size_t, size_t.new_ones(1)])
    start_b = end_b = None
    if start is not None:
        start_b = torch.cat([_per_dim(start, dim, pos, 'start'), pos.new_zeros(1)])
    if end is not None:
        last = float(batch.max()) if batch.numel() else 0.0
        end_b = torch.cat([_per_dim(end, dim, pos, 'end'), pos.new_full((1,), last)])
    return grid_cluster(pos_b, size_b, start_b, end_b)
