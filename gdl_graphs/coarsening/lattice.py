"""Lattice coarsening: ``s x s`` (x s) blocks of pixels are the clusters of the coarsening core.

:func:`coarsen_lattice` turns a lattice graph (from :func:`gdl_graphs.domains.image_to_graph`)
into the coarse lattice graph with the same conventions (raster node order, stencil edge types,
``pos``, metadata, structure tag), so lattice layers stack. :func:`lattice_pool` pools node
features over the blocks on the coarsening core (:func:`gdl_graphs.coarsening.pool`); on a tagged
regular lattice it runs ``max_pool`` / ``avg_pool`` on the channels-last view instead. Both equal
``F.max_pool2d(x, s)`` / ``F.avg_pool2d(x, s)`` (kernel = stride = ``s``, no padding).

Border pixels: with ``ceil_mode=False`` (PyTorch's default, *floor mode*) the pixels of an
incomplete block at the right/bottom border belong to no coarse node and are dropped; with
``ceil_mode=True`` incomplete blocks become coarse nodes (average over the pixels present), as
``ceil_mode=True`` in PyTorch and as the output grid of a strided convolution.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core import annotate, structure_of
from ..core.config import effective_kernel
from ..core.lattice import (
    IntOrTuple,
    LatticeInfo,
    as_tuple,
    build_lattice,
    check_padding,
    check_stencil,
    dense_pool,
    lattice_info,
    pixel_coords,
    raster_strides,
)
from ..core.validate import check_node_features
from .core import global_pool, pool

REDUCTIONS = ('max', 'mean', 'sum', 'min')


def coarsen_lattice(data: Data, stride: IntOrTuple = 2, ceil_mode: bool = False,
                    kernel_size: Optional[IntOrTuple] = None,
                    dilation: Optional[IntOrTuple] = None,
                    padding: Optional[str] = None) -> Data:
    """The coarse lattice graph of ``stride``-sized blocks of ``data``'s lattice.

    Args:
        data: a lattice graph (``image_to_graph``, a ``Batch`` of them, or a coarse lattice).
        stride: block size ``s`` (int or one per spatial axis).
        ceil_mode: keep incomplete border blocks (``True``) or drop their pixels (``False``,
            floor mode, PyTorch's pooling default). A strided ``LatticeConv`` needs ``True``.
        kernel_size, dilation, padding: the stencil of the coarse graph (default: ``data``'s).

    Returns:
        A ``Data`` with the coarse lattice (``edge_index`` tagged when the lattice is full,
        ``edge_type``, ``pos``, ``batch`` when ``data`` has one, ``lattice_*`` metadata, ``pixel``
        when masked) plus ``cluster`` (``[N_fine]``: the coarse node of every fine node;
        ``num_nodes`` of the coarse graph for a fine node dropped in floor mode),
        ``select`` (full lattices: ``[N_coarse]``, the fine node at each block's first corner,
        the output grid of a strided convolution), ``lattice_stride`` (``[B, d]``) and
        ``lattice_ceil_mode``. A masked lattice gives a masked coarse lattice whose nodes are the
        blocks holding at least one kept pixel.
    """
    info = lattice_info(data)
    d = info.dim
    s = as_tuple(stride, d, 'stride')
    if any(v < 1 for v in s):
        raise ValueError(f'stride {s} must be positive')
    coarse_sizes = tuple((n + v - 1) // v if ceil_mode else n // v
                         for n, v in zip(info.sizes, s))
    if any(n == 0 for n in coarse_sizes):
        raise ValueError(f'stride {s} is larger than the image {info.sizes}: floor mode leaves no '
                         f'complete block; use a smaller stride or ceil_mode=True')
    kernel = as_tuple(info.kernel_size if kernel_size is None else kernel_size, d,
                      'kernel_size')
    dil = as_tuple(info.dilation if dilation is None else dilation, d, 'dilation')
    pad = check_padding(info.padding if padding is None else padding)
    try:
        check_stencil(kernel, dil, coarse_sizes, pad)
    except ValueError as exc:
        raise ValueError(f'{exc} (the coarse lattice is {coarse_sizes}: pass a smaller '
                         f'kernel_size to coarsen_lattice)') from None
    coarse = LatticeInfo(info.batch_size, coarse_sizes, kernel, dil, pad)
    device = data.edge_index.device if data.get('edge_index') is not None else None
    b, p, pc = info.batch_size, info.num_pixels, coarse.num_pixels

    # coarse raster id (in the full coarse lattice of the batch) of every fine pixel
    coords = pixel_coords(info.sizes, device)                         # [P, d]
    block = coords // torch.tensor(s, device=device)
    inside = (block < torch.tensor(coarse_sizes, device=device)).all(-1)
    q_img = (block * torch.tensor(raster_strides(coarse_sizes), device=device)).sum(-1)
    if info.pixel is None:
        img = torch.arange(b, device=device).repeat_interleave(p)
        q = q_img.repeat(b) + img * pc
        ok = inside.repeat(b)
        keep = None
        num = b * pc
        cluster = torch.where(ok, q, torch.full_like(q, num))
    else:
        fine_batch = data.get('batch')
        if fine_batch is None:
            if b != 1:
                raise ValueError('a masked lattice batch needs its batch vector')
            fine_batch = torch.zeros(info.pixel.numel(), dtype=torch.long, device=device)
        ok = inside[info.pixel]
        q = torch.where(ok, q_img[info.pixel] + fine_batch * pc, 0)
        keep = torch.zeros(b * pc, dtype=torch.bool, device=device)
        keep[q[ok]] = True
        new_id = torch.cumsum(keep.long(), 0) - 1
        num = int(keep.sum())
        cluster = torch.where(ok, new_id[q], torch.full_like(q, num))

    pos = data.get('pos')
    attrs = build_lattice(coarse, keep, device, pos.dtype if pos is not None else None,
                          batch=data.get('batch') is not None)
    out = Data(num_nodes=num, **attrs)
    out.cluster = cluster
    out.lattice_stride = torch.tensor([s], dtype=torch.long, device=device).repeat(b, 1)
    out.lattice_ceil_mode = bool(ceil_mode)
    if info.pixel is None:
        corner = pixel_coords(coarse_sizes, device) * torch.tensor(s, device=device)
        first = (corner * torch.tensor(raster_strides(info.sizes), device=device)).sum(-1)
        out.select = (first.unsqueeze(0)
                      + (torch.arange(b, device=device) * p).unsqueeze(1)).reshape(-1)
        out.edge_index = annotate(out.edge_index, 'lattice', **coarse.meta(),
                                  edge_type=out.edge_type,
                                  pool=dict(fine_shape=info.shape, stride=s,
                                            ceil_mode=bool(ceil_mode)))
    return out


def lattice_pool(x: Tensor, coarse: Data, reduce: str = 'max', kernel: str = 'auto') -> Tensor:
    r"""Pool fine node features onto the coarse lattice ``coarse = coarsen_lattice(data, s)``:
    :math:`\mathbf{x}'_c = \bigoplus_{i \in \mathrm{block}(c)} \mathbf{x}_i`.

    ``reduce='max'`` equals ``F.max_pool{1,2,3}d(img, s)`` and ``'mean'`` equals
    ``F.avg_pool{1,2,3}d(img, s)`` (same ``ceil_mode``); ``'sum'`` and ``'min'`` run on the
    coarsening core only. ``kernel='generic'`` forces the coarsening core on a tagged lattice.

    Shapes: x ``[N_fine, C]`` -> ``[N_coarse, C]``.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f'unknown lattice pooling {reduce!r}: use one of {REDUCTIONS}')
    cluster = coarse.get('cluster') if isinstance(coarse, Data) else None
    if cluster is None:
        raise ValueError('coarse has no cluster map: make it with '
                         'gdl_graphs.coarsening.coarsen_lattice(data, stride)')
    check_node_features(x, cluster.numel())
    c = int(coarse.num_nodes)
    tag = structure_of(coarse.get('edge_index'))
    if (reduce in ('max', 'mean') and kernel == 'auto' and effective_kernel() == 'auto'
            and tag is not None and 'pool' in tag.meta and x.dim() == 2):
        meta = tag.meta['pool']
        return dense_pool(x, meta['fine_shape'], meta['stride'], reduce, meta['ceil_mode'])
    return pool(x, cluster, c + 1, reduce)[:c]


def lattice_global_pool(x: Tensor, data: Data, reduce: str = 'mean') -> Tensor:
    """Invariant readout ``[N, C] -> [B, C]`` over each image of a lattice batch: equals
    ``F.adaptive_avg_pool2d(img, 1)`` (``'mean'``) / ``adaptive_max_pool2d`` (``'max'``)."""
    info = lattice_info(data)
    return global_pool(x, data.get('batch'), reduce, num_graphs=info.batch_size)


__all__ = ['coarsen_lattice', 'lattice_pool', 'lattice_global_pool']
