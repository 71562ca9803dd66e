"""Grids as lattice graphs: images, volumes and 1-D signals -> :class:`~torch_geometric.data.Data`.

A ``[B, C, *sizes]`` tensor becomes a graph with one node per pixel and one edge per stencil tap:
a convolution is then message passing with one weight matrix per edge type
(:class:`gdl_graphs.nn.LatticeConv`), and pooling is lattice coarsening
(:mod:`gdl_graphs.coarsening.lattice`). The conventions are documented in
:func:`image_to_graph` and :mod:`gdl_graphs.core.lattice`.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from ..core import annotate, plain, structure_of
from ..core.lattice import (
    IntOrTuple,
    LatticeInfo,
    as_tuple,
    build_lattice,
    check_padding,
    check_stencil,
    lattice_edges,
    lattice_info,
    pixel_coords,
    to_dense,
)
from ..core.validate import check_finite
from ._structured import read_tagged


def _layout(images: Tensor, dim: Optional[int]) -> tuple:
    """(spatial dims, batched?) of ``images``."""
    if not isinstance(images, Tensor):
        raise ValueError(f'images must be a torch.Tensor, got {type(images).__name__}')
    n = images.dim()
    if dim is None:
        if n in (3, 4):
            return 2, n == 4
        if n == 5:
            return 3, True
        raise ValueError(f'images has {n} dimensions {list(images.shape)}: expected [C, H, W] or '
                         f'[B, C, H, W] (2-D), [B, C, D, H, W] (3-D); for 1-D signals [B, C, L] '
                         f'or [C, L] pass dim=1')
    if dim not in (1, 2, 3):
        raise ValueError(f'dim must be 1, 2 or 3 spatial dimensions, got {dim}')
    if n == dim + 1:
        return dim, False
    if n == dim + 2:
        return dim, True
    raise ValueError(f'images has {n} dimensions {list(images.shape)} but dim={dim} expects '
                     f'{dim + 1} ([C, *sizes]) or {dim + 2} ([B, C, *sizes])')


class LatticeData(Data):
    r"""A lattice graph (what :func:`image_to_graph` returns): a
    :class:`~torch_geometric.data.Data` whose ``edge_index`` carries the ``'lattice'``
    structure wherever the graph goes. Clones, device moves, ``torch.save``/``torch.load``
    (``weights_only=True``) and PyG's ``Batch``/``DataLoader`` collation keep the plain
    ``lattice_*`` attributes; reading ``data.edge_index`` then checks once (per tensor) that
    the edges are exactly the lattice they describe and returns them tagged, so a batch of
    lattices from a ``DataLoader`` is a batched lattice and runs ``conv2d``. Edges that are
    not that lattice any more come back plain (and run the sparse kernels, correctly).

    A full lattice is saved compactly in a dataset folder (:func:`compact_lattices`): its
    ``edge_index``, ``edge_type`` and ``pos`` follow from the ``lattice_*`` rows and are
    rebuilt on first use."""

    def __getattr__(self, key: str):
        if key in REBUILT and self.__dict__.get('_store') is not None and \
                key not in self._store and self._store.get('lattice_shape') is not None:
            self._rebuild()
        return super().__getattr__(key)

    def _rebuild(self) -> None:
        """Rebuild the edges and positions a compact full lattice left out."""
        store = self._store
        if store.get('pixel') is not None:
            return  # a masked lattice is saved with its edges
        info = lattice_info(self)
        device = store.x.device if store.get('x') is not None else None
        ei, et = lattice_edges(info, None, device)
        x = store.get('x')
        dtype = x.dtype if x is not None and x.is_floating_point() else None
        store.edge_index = annotate(ei, 'lattice', edge_type=et, **info.meta())
        store.edge_type = et
        store.pos = pixel_coords(info.sizes, device).flip(-1).to(
            dtype or torch.get_default_dtype()).repeat(info.batch_size, 1)

    @property
    def edge_index(self):
        store = self._store
        if 'edge_index' not in store and store.get('lattice_shape') is not None:
            self._rebuild()
        if store.get('lattice_shape') is None or store.get('edge_type') is None:
            return store.get('edge_index')
        et = store.edge_type
        return read_tagged(self, lambda ei: _tagged_lattice(self, ei, et), (et,))

    @edge_index.setter
    def edge_index(self, value):
        self._store.edge_index = value

    @property
    def pos(self):
        if 'pos' not in self._store and self._store.get('lattice_shape') is not None:
            self._rebuild()
        return self._store.get('pos')

    @pos.setter
    def pos(self, value):
        self._store.pos = value


torch.serialization.add_safe_globals([LatticeData])

#: what a compact full lattice leaves out of a dataset file and rebuilds on first use
REBUILT = ('edge_index', 'edge_type', 'pos')


def compact_lattices(data_list) -> bool:
    """Whether every graph of ``data_list`` is a full lattice whose edges, edge types and
    positions are exactly what its ``lattice_*`` rows rebuild (then a dataset file can leave
    them out: see :class:`LatticeData`)."""
    for g in data_list:
        if not isinstance(g, LatticeData) or g.get('pixel') is not None or \
                structure_of(g.edge_index) is None:
            return False
        info = lattice_info(g)
        x = g.get('x')
        dtype = x.dtype if x is not None and x.is_floating_point() else \
            torch.get_default_dtype()
        pos = pixel_coords(info.sizes, g.pos.device).flip(-1).to(dtype).repeat(
            info.batch_size, 1)
        if g.pos.dtype != dtype or not torch.equal(g.pos, pos):
            return False
    return True


def image_to_graph(images: Tensor, kernel_size: IntOrTuple = 3, dilation: IntOrTuple = 1,
                   padding: str = 'zeros', mask: Optional[Tensor] = None,
                   dim: Optional[int] = None) -> Union[Data, Batch]:
    r"""Turn images into lattice graphs whose typed edges are a convolution stencil.

    Nodes are the pixels in raster order ``(b, i_1, ..., i_d)``: ``x = [B * prod(sizes), C]``
    is the channels-last layout of ``images`` (no information lost, see
    :func:`graph_to_image`). An edge ``j -> i`` of type ``t`` joins the source pixel
    ``j = i + delta_t`` to the target ``i``, where the offsets of an odd ``kernel_size``
    ``(k_1, .., k_d)`` and ``dilation`` ``(r_1, .., r_d)`` are numbered in raster order of the
    kernel window: ``t = a_1 k_2 + a_2`` for the tap ``(a_1, a_2)`` in 2-D (``t = (a_1 k_2 +
    a_2) k_3 + a_3`` in 3-D, ``t = a_1`` in 1-D), ``delta_t = ((a_1 - (k_1-1)/2) r_1, ...)``.
    So ``t = 0`` is the top-left tap and ``t = (T - 1) / 2`` the centre (a self-loop); the
    weight of type ``t`` is ``conv.weight[:, :, a_1, a_2]``. Edges are in the core's CSR
    order: by target node, then by source node (so image-major).

    ``padding='zeros'`` drops the edges whose source leaves the image (a zero-padded
    convolution); ``'circular'`` wraps them (the lattice is a torus). ``pos`` holds
    ``(x, y) = (column, row)`` (``(x, y, z) = (column, row, depth)`` in 3-D, ``(l,)`` in 1-D) with
    y pointing *down*, as PyG's ``ToSLIC`` (PyG's ``utils.grid`` flips y; we do not).

    The lattice is stored twice: as plain attributes that survive ``torch.save`` and PyG
    batching (``lattice_shape``, ``lattice_kernel``, ``lattice_dilation``: ``[B, d]`` long;
    ``lattice_padding``: str) and as the ``'lattice'`` structure tag of ``edge_index``
    (``shape=(B, *sizes)``, ``kernel_size``, ``dilation``, ``padding``) that lets layers run the
    dense kernel. Restore a lost tag with :func:`tag_lattice`.

    Args:
        images: ``[C, H, W]`` or ``[B, C, H, W]``; ``[B, C, D, H, W]``; ``[B, C, L]`` or
            ``[C, L]`` with ``dim=1`` (``dim`` also disambiguates ``[B, C, L]`` from ``[C, H, W]``).
        kernel_size: odd stencil size, an int or one per spatial axis.
        dilation: stencil dilation, an int or one per axis.
        padding: ``'zeros'`` or ``'circular'``.
        mask: optional bool ``sizes`` or ``[B, *sizes]``: ``False`` removes the pixel (node and
            its edges). The masked graph stores ``pixel`` (raster index of each node within its
            image) and its tag the nodes' positions ``index`` in the full lattice.
        dim: number of spatial dimensions (inferred for 2-D and 3-D).

    Returns:
        A ``Data`` for a single image, a ``Batch`` (with ``batch`` and ``ptr``) for a batch.
    """
    d, batched = _layout(images, dim)
    if images.is_floating_point():
        check_finite(images, 'images')
    sizes = tuple(int(n) for n in images.shape[-d:])
    channels = int(images.shape[-d - 1])
    if any(n == 0 for n in sizes) or channels == 0 or (batched and images.size(0) == 0):
        raise ValueError(f'images has an empty dimension {list(images.shape)}')
    kernel = as_tuple(kernel_size, d, 'kernel_size')
    dil = as_tuple(dilation, d, 'dilation')
    check_padding(padding)
    check_stencil(kernel, dil, sizes, padding)
    b = images.size(0) if batched else 1
    imgs = images if batched else images.unsqueeze(0)
    keep = None
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise ValueError('mask must be a bool tensor (True keeps the pixel)')
        if tuple(mask.shape) == sizes:
            mask = mask.unsqueeze(0).expand(b, *sizes)
        elif not (batched and tuple(mask.shape) == (b,) + sizes):
            want = f'{list(sizes)}' + (f' or {[b, *sizes]}' if batched else '')
            raise ValueError(f'mask has shape {list(mask.shape)}, expected {want}')
        keep = mask.reshape(b, -1).to(images.device)
    pos_dtype = images.dtype if images.is_floating_point() else None
    x_all = imgs.movedim(1, -1).reshape(b, -1, channels)          # [B, P, C]
    device = images.device
    single = LatticeInfo(1, sizes, kernel, dil, padding)
    if not batched:
        attrs = build_lattice(single, None if keep is None else keep[0], device, pos_dtype,
                              batch=False)
        x = x_all[0] if keep is None else x_all[0][keep[0]]
        return LatticeData(x=x, **attrs)
    shared = None if keep is not None else build_lattice(single, None, device, pos_dtype,
                                                         batch=False)
    graphs = []
    for k in range(b):
        if keep is None:
            graphs.append(LatticeData(x=x_all[k], **shared))
        else:
            attrs = build_lattice(single, keep[k], device, pos_dtype, batch=False)
            graphs.append(LatticeData(x=x_all[k][keep[k]], **attrs))
    out = Batch.from_data_list(graphs)
    index = None if keep is None else keep.reshape(-1).nonzero().view(-1)
    out.edge_index = annotate(out['edge_index'], 'lattice', edge_type=out['edge_type'],
                              **LatticeInfo(b, sizes, kernel, dil, padding).meta(index))
    return out


def graph_to_image(x: Tensor, data: Data, fill: float = 0.0) -> Tensor:
    """The exact inverse of :func:`image_to_graph`: node features ``[N, C]`` of ``data``'s
    lattice -> ``[B, C, *sizes]`` (``[C, *sizes]`` for a graph without ``batch``, i.e. a single
    image). Removed pixels of a masked lattice get ``fill``. Works for any ``C`` (features
    computed on the graph) and for coarse lattices."""
    info = lattice_info(data)
    if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) != info.num_nodes:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'x must be [N, C] with N = {info.num_nodes} nodes of the lattice, '
                         f'got {got}')
    if info.pixel is None:
        img = to_dense(x, info.shape).contiguous()
    else:
        batch = data.get('batch')
        if batch is None:
            batch = torch.zeros_like(info.pixel)
        flat = x.new_full((info.batch_size * info.num_pixels, x.size(1)), fill)
        flat[batch * info.num_pixels + info.pixel] = x
        img = to_dense(flat, info.shape).contiguous()
    return img if data.get('batch') is not None else img[0]


def tag_lattice(data: Data) -> Data:
    """Re-attach the ``'lattice'`` structure tag to ``data.edge_index`` (in place, returned),
    for a plain ``Data`` that holds a lattice (a :class:`LatticeData` does it by itself).
    Checks that the edges are exactly the lattice the metadata describes (for a masked lattice,
    with ``pixel`` and ``batch``)."""
    data.edge_index = _tagged_lattice(data, plain(data.edge_index), data.edge_type)
    return data


def _tagged_lattice(data: Data, ei: Tensor, edge_type: Tensor) -> Tensor:
    info = lattice_info(data)
    index = keep = None
    if info.pixel is not None:
        batch = data.get('batch')
        if batch is None:
            batch = torch.zeros_like(info.pixel)
        index = batch * info.num_pixels + info.pixel
        keep = torch.zeros(info.batch_size * info.num_pixels, dtype=torch.bool,
                           device=ei.device)
        keep[index] = True
        if int(keep.sum()) != index.numel() or not bool((index[1:] > index[:-1]).all()):
            raise ValueError('pixel / batch do not list distinct pixels in raster order: the '
                             'graph was changed; rebuild it with image_to_graph')
    ref, ref_type = lattice_edges(info, keep, device=ei.device)
    if not (torch.equal(plain(ei), ref) and torch.equal(plain(edge_type), ref_type)):
        raise ValueError('edge_index / edge_type are not the lattice that lattice_shape, '
                         'lattice_kernel, lattice_dilation and lattice_padding describe: '
                         'the graph was changed; rebuild it with image_to_graph')
    return annotate(ei, 'lattice', edge_type=edge_type, **info.meta(index))


class ImageToGraph(BaseTransform):
    """The :class:`~torch_geometric.transforms.BaseTransform` twin of :func:`image_to_graph`
    (composes with ``torch_geometric.transforms.Compose``): an image tensor -> lattice graph.

    Args: as :func:`image_to_graph`.
    """

    def __init__(self, kernel_size: IntOrTuple = 3, dilation: IntOrTuple = 1,
                 padding: str = 'zeros', dim: Optional[int] = None):
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = check_padding(padding)
        self.dim = dim

    def forward(self, images: Tensor) -> Union[Data, Batch]:
        return image_to_graph(images, self.kernel_size, self.dilation, self.padding,
                              dim=self.dim)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(kernel_size={self.kernel_size}, '
                f'dilation={self.dilation}, padding={self.padding!r})')


__all__ = ['image_to_graph', 'graph_to_image', 'tag_lattice', 'ImageToGraph', 'LatticeData']
