"""Lattice structure: the stencil convention, the lattice graph builder, its metadata and the
dense kernels that run a tagged regular lattice as a convolution / pooling.

Conventions (shared by :mod:`gdl_graphs.domains.grid`, lattice coarsening, ``LatticeConv`` and
the lifted group lattices built on them):

- nodes in raster order ``(b, i_1, ..., i_d)`` (image-major, last axis fastest), so node
  features ``[B * prod(sizes), C]`` are the channels-last layout of ``[B, C, *sizes]``;
- the stencil of an odd ``kernel_size`` ``(k_1, ..., k_d)`` with ``dilation`` ``(r_1, ..., r_d)``
  has ``T = k_1 * ... * k_d`` offsets; offset id ``t`` is the raster (C-order) index of the
  kernel tap ``(a_1, ..., a_d)`` (``t = a_1 k_2 + a_2`` in 2-D), and its displacement is
  ``delta_t = ((a_1 - (k_1 - 1) / 2) r_1, ..., (a_d - (k_d - 1) / 2) r_d)``;
- an edge ``j -> i`` of type ``t`` joins the source pixel ``j = i + delta_t`` to the target
  ``i`` (so a weight ``W_t = weight[:, :, a_1, ..., a_d]`` reproduces a cross-correlation, as
  ``torch.nn.Conv*d``); the centre offset is a self-loop;
- ``padding='zeros'`` drops the edges whose source leaves the image, ``'circular'`` wraps them;
- edges are in the core's CSR order: by target, then by source (image-major, so a PyG
  ``Batch`` of one-image graphs has exactly the edges of the graph built for the whole batch,
  and the fused / typed CSR structures are built without a sort).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .structure import annotate

PADDINGS = ('zeros', 'circular')
IntOrTuple = Union[int, Sequence[int]]


def as_tuple(value: IntOrTuple, dim: int, name: str) -> Tuple[int, ...]:
    """``value`` repeated ``dim`` times (an int) or checked to have ``dim`` entries."""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f'{name} must be an int or a tuple of {dim} ints, got {value!r}')
    if isinstance(value, int):
        return (value,) * dim
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be an int or a tuple of {dim} ints, '
                         f'got {value!r}') from None
    if len(out) != dim:
        raise ValueError(f'{name} has {len(out)} entries {out}, but the lattice has {dim} '
                         f'spatial dimensions: give {dim} entries or one int')
    return out


def check_padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}: use 'zeros' (edges leaving the image "
                         f"are dropped) or 'circular' (the lattice wraps around, a torus)")
    return padding


def check_stencil(kernel_size: Tuple[int, ...], dilation: Tuple[int, ...],
                  sizes: Optional[Tuple[int, ...]] = None, padding: str = 'zeros') -> None:
    """Odd positive kernel sizes and positive dilations. With zero padding any stencil is a
    lattice (offsets that leave the image send nothing, as ``nn.Conv*d``'s zero padding does,
    even when the stencil is wider than the image); with circular padding the wrap-around may
    not exceed the image (``torch``'s circular padding refuses more than one full turn)."""
    for k in kernel_size:
        if k < 1 or k % 2 == 0:
            raise ValueError(f'kernel_size {kernel_size}: a lattice stencil needs a centre pixel, '
                             f'so even (or non-positive) kernel sizes are not supported; use an '
                             f'odd kernel_size (1, 3, 5, ...)')
    for r in dilation:
        if r < 1:
            raise ValueError(f'dilation {dilation} must be positive')
    if sizes is not None and padding == 'circular':
        for axis, (k, r, n) in enumerate(zip(kernel_size, dilation, sizes)):
            half = r * (k - 1) // 2
            if half > n:
                raise ValueError(
                    f'the stencil (kernel_size {k}, dilation {r}) reaches {half} pixels to each '
                    f'side but the image has only {n} along spatial axis {axis}: circular '
                    f"padding wraps at most once; use a smaller kernel_size or dilation, or "
                    f"padding='zeros'")


def stencil_offsets(kernel_size: Tuple[int, ...], dilation: Tuple[int, ...],
                    device=None) -> Tensor:
    """``[T, d]`` displacements ``delta_t`` (source minus target), offset ids in raster order."""
    axes = [(torch.arange(k, device=device) - (k - 1) // 2) * r
            for k, r in zip(kernel_size, dilation)]
    grids = torch.meshgrid(*axes, indexing='ij')
    return torch.stack([g.reshape(-1) for g in grids], dim=1)


def raster_strides(sizes: Tuple[int, ...]) -> Tuple[int, ...]:
    out, acc = [], 1
    for n in reversed(sizes):
        out.append(acc)
        acc *= n
    return tuple(reversed(out))


def pixel_coords(sizes: Tuple[int, ...], device=None) -> Tensor:
    """``[P, d]`` array coordinates of the pixels of one image, in raster order."""
    grids = torch.meshgrid(*[torch.arange(n, device=device) for n in sizes], indexing='ij')
    return torch.stack([g.reshape(-1) for g in grids], dim=1)


def image_edges(sizes: Tuple[int, ...], kernel_size: Tuple[int, ...],
                dilation: Tuple[int, ...], padding: str,
                device=None) -> Tuple[Tensor, Tensor]:
    """``(edge_index [2, E], edge_type [E])`` of one full image (by target, then source)."""
    p = math.prod(sizes)
    coords = pixel_coords(sizes, device)                        # [P, d]
    off = stencil_offsets(kernel_size, dilation, device)        # [T, d]
    src = coords.unsqueeze(0) + off.unsqueeze(1)                # [T, P, d]
    size_t = torch.tensor(sizes, device=device)
    if padding == 'circular':
        src = torch.remainder(src, size_t)
        valid = None
    else:
        valid = ((src >= 0) & (src < size_t)).all(-1)           # [T, P]
    src_id = (src * torch.tensor(raster_strides(sizes), device=device)).sum(-1)
    dst_id = torch.arange(p, device=device).expand_as(src_id)
    etype = torch.arange(off.size(0), device=device).unsqueeze(1).expand_as(src_id)
    if valid is None:
        src_id, dst_id, etype = src_id.reshape(-1), dst_id.reshape(-1), etype.reshape(-1)
    else:
        src_id, dst_id, etype = src_id[valid], dst_id[valid], etype[valid]
    order = torch.argsort(dst_id * p + src_id)
    return torch.stack([src_id[order], dst_id[order]]), etype[order]


@dataclass(frozen=True)
class LatticeInfo:
    """What a lattice graph is: ``batch_size`` images of ``sizes`` with a stencil.

    ``pixel`` (``[N]``, raster index of each node inside its image) is set for a masked lattice
    (pixels removed) and ``None`` for a full one."""
    batch_size: int
    sizes: Tuple[int, ...]
    kernel_size: Tuple[int, ...]
    dilation: Tuple[int, ...]
    padding: str
    pixel: Optional[Tensor] = None

    @property
    def dim(self) -> int:
        return len(self.sizes)

    @property
    def num_pixels(self) -> int:
        return math.prod(self.sizes)

    @property
    def shape(self) -> Tuple[int, ...]:
        return (self.batch_size,) + self.sizes

    @property
    def num_nodes(self) -> int:
        return self.batch_size * self.num_pixels if self.pixel is None else self.pixel.numel()

    def meta(self, index: Optional[Tensor] = None) -> dict:
        """The ``'lattice'`` structure tag: ``shape``, ``kernel_size``, ``dilation``,
        ``padding`` and, for a masked lattice, ``index`` (``[N]``, the position ``b * P + p`` of
        every node in the full lattice of the batch)."""
        meta = dict(shape=self.shape, kernel_size=self.kernel_size, dilation=self.dilation,
                    padding=self.padding)
        if index is not None:
            meta['index'] = index
        return meta


def lattice_edges(info: LatticeInfo, keep: Optional[Tensor] = None,
                  device=None) -> Tuple[Tensor, Tensor]:
    """Edges of ``info``'s whole batch (image-major). ``keep`` (bool ``[B * P]``) removes pixels:
    only edges between kept pixels remain, relabelled to the kept nodes' raster order."""
    ei, et = image_edges(info.sizes, info.kernel_size, info.dilation, info.padding, device)
    b, p, e = info.batch_size, info.num_pixels, ei.size(1)
    shift = (torch.arange(b, device=device) * p).view(b, 1, 1)
    ei = (ei.unsqueeze(0) + shift).permute(1, 0, 2).reshape(2, b * e)
    et = et.repeat(b)
    if keep is not None:
        valid = keep[ei[0]] & keep[ei[1]]
        new_id = torch.cumsum(keep.long(), 0) - 1
        ei, et = new_id[ei[:, valid]], et[valid]
    return ei, et


def build_lattice(info: LatticeInfo, keep: Optional[Tensor] = None, device=None,
                  pos_dtype: Optional[torch.dtype] = None, batch: bool = True) -> dict:
    """The attributes of the lattice graph (no ``x``): ``edge_index`` (tagged ``'lattice'``
    when full), ``edge_type``, ``pos`` (``(x, y[, z]) = (column, row[, depth])``, y pointing
    down), ``batch`` (when ``batch``), ``pixel`` (masked only) and the plain metadata
    ``lattice_shape`` / ``lattice_kernel`` / ``lattice_dilation`` (``[B, d]`` long) and
    ``lattice_padding`` (str)."""
    b, p = info.batch_size, info.num_pixels
    ei, et = lattice_edges(info, keep, device)
    coords = pixel_coords(info.sizes, device)
    dtype = pos_dtype or torch.get_default_dtype()
    pos = coords.flip(-1).to(dtype).repeat(b, 1)
    node_batch = torch.arange(b, device=device).repeat_interleave(p)
    out = {}
    if keep is None:
        out['edge_index'] = annotate(ei, 'lattice', edge_type=et, **info.meta())
    else:
        out['edge_index'] = annotate(ei, 'lattice', edge_type=et,
                                     **info.meta(keep.nonzero().view(-1)))
        pos, node_batch = pos[keep], node_batch[keep]
        out['pixel'] = torch.arange(p, device=device).repeat(b)[keep]
    out['edge_type'] = et
    out['pos'] = pos
    if batch:
        out['batch'] = node_batch
    def rows(t):
        return torch.tensor([t], dtype=torch.long, device=device).repeat(b, 1)
    out['lattice_shape'] = rows(info.sizes)
    out['lattice_kernel'] = rows(info.kernel_size)
    out['lattice_dilation'] = rows(info.dilation)
    out['lattice_padding'] = info.padding
    return out


def _leaves(items) -> list:
    """The non-list values of a (nested) list."""
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in _leaves(item)]
    return [items]


def lattice_info(data, name: str = 'data') -> LatticeInfo:
    """Read the lattice metadata of a graph made by ``gdl_graphs.domains.image_to_graph`` (or a
    PyG ``Batch`` of such graphs, or a coarse lattice); a clear ``ValueError`` otherwise."""
    shape = data.get('lattice_shape') if hasattr(data, 'get') else None
    if shape is None:
        raise ValueError(f'{name} has no lattice metadata (lattice_shape): build the graph with '
                         f'gdl_graphs.domains.image_to_graph (or the ImageToGraph transform)')
    rows = {}
    for key in ('lattice_shape', 'lattice_kernel', 'lattice_dilation'):
        t = data.get(key)
        if not isinstance(t, Tensor) or t.dim() != 2 or t.size(0) < 1:
            raise ValueError(f'{name}.{key} must be a [B, d] integer tensor as written by '
                             f'image_to_graph, got {t!r}')
        if t.size(0) > 1 and not bool((t == t[:1]).all()):
            raise ValueError(f'{name} batches lattices with different {key[8:]}s '
                             f'{t.unique(dim=0).tolist()}: a lattice operation needs one shape '
                             f'and stencil per batch; batch images of equal size')
        rows[key] = tuple(int(v) for v in t[0].tolist())
    padding = data.get('lattice_padding')
    if isinstance(padding, (list, tuple)):
        values = set(_leaves(padding))   # a batch of batches collates to nested lists
        if len(values) != 1:
            raise ValueError(f'{name} batches lattices with different paddings {values}')
        padding = values.pop()
    check_padding(padding)
    b = int(data.lattice_shape.size(0))
    pixel = data.get('pixel')
    info = LatticeInfo(b, rows['lattice_shape'], rows['lattice_kernel'],
                       rows['lattice_dilation'], padding, pixel)
    if len({len(info.sizes), len(info.kernel_size), len(info.dilation)}) != 1:
        raise ValueError(f'{name}: lattice_shape, lattice_kernel and lattice_dilation disagree '
                         f'on the number of dimensions')
    n = data.num_nodes
    if n is not None and n != info.num_nodes:
        raise ValueError(f'{name} has {n} nodes but its lattice metadata describes '
                         f'{info.num_nodes} ({b} images of {info.sizes}); the graph was changed '
                         f'after image_to_graph: rebuild it')
    return info


# --------------------------------------------------------------------------- dense kernels


def to_dense(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Node features ``[B * prod(sizes), C]`` as ``[B, C, *sizes]``: a zero-copy channels-last
    view when ``x`` is contiguous."""
    return x.reshape(*shape, x.size(-1)).movedim(-1, 1)


def from_dense(y: Tensor) -> Tensor:
    """``[B, C, *sizes]`` back to node features ``[B * prod(sizes), C]`` (a view when ``y`` is
    channels-last)."""
    return y.movedim(1, -1).reshape(-1, y.size(1))


DENSE_MASKED_MIN_FILL = 0.25


def dense_applies(meta: dict) -> bool:
    """Whether the dense kernel pays off: the lattice is full, or a masked one that keeps at
    least :data:`DENSE_MASKED_MIN_FILL` of its pixels (sparser ones run on the typed path)."""
    index = meta.get('index')
    return index is None or index.numel() >= DENSE_MASKED_MIN_FILL * math.prod(meta['shape'])


def dense_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor], meta: dict,
               stride: Tuple[int, ...]) -> Tensor:
    """The lattice convolution as ``conv{1,2,3}d`` on the channels-last view of ``x``
    (``weight`` in ``torch.nn.Conv*d`` layout ``[F_out, F_in, *kernel]``). A masked lattice
    (``meta['index']``) runs on the zero-filled full lattice: a removed pixel sends nothing,
    exactly as a zero pixel; the kept rows of the result are returned."""
    shape, dilation = tuple(meta['shape']), tuple(meta['dilation'])
    kernel = tuple(weight.shape[2:])
    d = len(shape) - 1
    index = meta.get('index')
    if index is not None:
        if any(v != 1 for v in stride):
            raise ValueError('a masked lattice has no strided convolution')
        full = x.new_zeros(math.prod(shape), x.size(1)).index_copy(0, index, x)
        return dense_conv(full, weight, bias, dict(meta, index=None), stride).index_select(
            0, index)
    img = to_dense(x, shape)
    pad = [r * (k - 1) // 2 for k, r in zip(kernel, dilation)]
    if meta['padding'] == 'circular' and any(pad):
        img = F.pad(img, [p for q in reversed(pad) for p in (q, q)], mode='circular')
        pad = [0] * d
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    return from_dense(conv(img, weight, bias, stride, pad, dilation))


def dense_pool(x: Tensor, shape: Sequence[int], stride: Tuple[int, ...], reduce: str,
               ceil_mode: bool) -> Tensor:
    """``max_pool`` / ``avg_pool`` with kernel = stride on the channels-last view of ``x``."""
    d = len(shape) - 1
    img = to_dense(x, shape)
    if reduce == 'max':
        fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[d - 1]
    else:
        fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[d - 1]
    return from_dense(fn(img, stride, stride, 0, ceil_mode=ceil_mode))
