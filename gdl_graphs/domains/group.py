"""Groups: lattices lifted to the roto-translation groups p4 (C4) and p4m (D4).

Cohen and Welling, "Group Equivariant Convolutional Networks" (ICML 2016,
https://arxiv.org/abs/1602.07576) convolve over the group itself. As a graph: the lifted lattice
has one node per (pixel, group element) and typed edges, so a group convolution is typed linear
message passing (:class:`gdl_graphs.nn.LiftingConv`, :class:`gdl_graphs.nn.GroupConv`).

Conventions:

- the point group G acts on pixel displacements ``(row, col)`` by the integer matrices
  ``r^k m^f`` (element id ``g = 4 f + k``), ``r = [[0, -1], [1, 0]]`` (a quarter turn that
  equals ``torch.rot90(img, 1, dims=(-2, -1))`` on images) and ``m = [[1, 0], [0, -1]]`` (the
  mirror ``torch.flip(img, dims=(-1,))``); C4 = ``{r^k}``, D4 = ``{r^k m^f}``. An element acts on
  an image as :math:`(g f)(p) = f(g^{-1} p)` about the image centre (:meth:`Group.act_image`);
- lifted node ``p * |G| + g`` is pixel ``p`` (raster order of ``image_to_graph``) at group
  element ``g``, so lifted features ``[N * |G|, C]`` are ``[N, |G| * C]`` pixel features with
  channel ``g * C + c``;
- lifting edges (pixels -> lifted nodes): ``j -> (i, g)`` for every lattice edge ``j = i + u``,
  of type ``t(g^{-1} u)`` (the stencil offset id of :func:`gdl_graphs.domains.image_to_graph`);
- group edges (lifted -> lifted): ``(j, s) -> (i, g)`` of type ``t(g^{-1} u) * |G| + g^{-1} s``.

So with filters :math:`\\psi` the layers compute :math:`[f \\star \\psi](t, g) = \\sum_{h}
f(h) \\psi(g^{-1} h)` exactly as the dense p4/p4m CNN, and the group acts on the lifted graph
by a node permutation together with a shift along the group axis:
:math:`(h F)(t, g) = F(h^{-1} t, h^{-1} g)` (see :mod:`gdl_graphs.testing.group`).
"""
from __future__ import annotations

import functools
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..coarsening.lattice import lattice_pool
from ..core import annotate
from ..core.lattice import lattice_info, stencil_offsets

GROUPS = ('C4', 'D4')

__all__ = ['GROUPS', 'Group', 'get_group', 'lift_lattice', 'group_pool', 'lift_cluster',
           'lifted_pool', 'lifting_filter_bank', 'group_filter_bank', 'LiftLattice']


class Group:
    """A point group of the square lattice (``'C4'`` or ``'D4'``) as small integer tables."""

    def __init__(self, name: str):
        if name not in GROUPS:
            raise ValueError(f'unknown group {name!r}: use one of {GROUPS} (p4: C4, p4m: D4)')
        self.name = name
        self.order = 4 if name == 'C4' else 8
        r = torch.tensor([[0, -1], [1, 0]])
        m = torch.tensor([[1, 0], [0, -1]])
        mats = []
        for f in range(self.order // 4):
            for k in range(4):
                mats.append(torch.linalg.matrix_power(r, k) @ torch.linalg.matrix_power(m, f))
        self.matrices = torch.stack(mats)                              # [|G|, 2, 2]
        keys = {tuple(a.flatten().tolist()): i for i, a in enumerate(self.matrices)}
        n = self.order
        self.table = torch.tensor([[keys[tuple((self.matrices[a] @ self.matrices[b])
                                               .flatten().tolist())] for b in range(n)]
                                   for a in range(n)])                 # table[a, b] = a b
        self.inverse = torch.tensor([int((self.table[a] == 0).nonzero()) for a in range(n)])

    def __repr__(self) -> str:
        return f'Group({self.name!r})'

    def __eq__(self, other) -> bool:
        return isinstance(other, Group) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def element(self, g: int) -> Tuple[int, int]:
        """``(k, f)`` of element ``g = r^k m^f``."""
        return g % 4, g // 4

    def act_image(self, g: int, img: Tensor) -> Tensor:
        """:math:`(g f)(p) = f(g^{-1} p)` on the last two axes (rows, columns) of ``img``."""
        k, f = self.element(int(g))
        if f:
            img = torch.flip(img, dims=(-1,))
        return torch.rot90(img, k, dims=(-2, -1)) if k else img

    def offset_permutation(self, kernel_size: int, dilation: int = 1) -> Tensor:
        """``[|G|, T]``: the stencil offset id of :math:`g^{-1} \\delta_t` for every element and
        offset of the square stencil (raster ids as in ``image_to_graph``)."""
        return _offset_permutation(self.name, int(kernel_size), int(dilation)).clone()


@functools.lru_cache(maxsize=None)
def _group(name: str) -> Group:
    return Group(name)


def get_group(group: Union[str, Group]) -> Group:
    """The :class:`Group` of a name (``'C4'``, ``'D4'``) or the group itself."""
    if isinstance(group, Group):
        return group
    if isinstance(group, (list, tuple)) and len(set(group)) == 1:  # collated by PyG
        group = group[0]
    if not isinstance(group, str):
        raise ValueError(f'group must be one of {GROUPS} or a Group, got {group!r}')
    return _group(group)


@functools.lru_cache(maxsize=None)
def _offset_permutation(name: str, kernel_size: int, dilation: int) -> Tensor:
    g = _group(name)
    off = stencil_offsets((kernel_size, kernel_size), (dilation, dilation))   # [T, 2]
    ids = {tuple(o.tolist()): t for t, o in enumerate(off)}
    out = torch.empty(g.order, off.size(0), dtype=torch.long)
    for a in range(g.order):
        inv = g.matrices[int(g.inverse[a])]
        moved = off @ inv.T
        out[a] = torch.tensor([ids[tuple(o.tolist())] for o in moved])
    return out


def lift_lattice(data: Data, group: Union[str, Group] = 'C4') -> Data:
    """Lift a 2-D lattice graph to the group lattice of ``group``.

    Args:
        data: a lattice graph from :func:`gdl_graphs.domains.image_to_graph` (one image or a
            batch), or a coarse lattice from :func:`gdl_graphs.coarsening.coarsen_lattice`.
            The images must be square and the stencil square (rotations map it onto itself).
        group: ``'C4'`` (p4) or ``'D4'`` (p4m).

    Returns:
        A ``Data`` with ``num_nodes = N * |G|`` (``N`` pixels) and

        - ``edge_index`` / ``edge_type``: the group edges (``T * |G|`` types) for
          :class:`gdl_graphs.nn.GroupConv`,
        - ``lift_edge_index`` / ``lift_edge_type``: the lifting edges from the ``N`` pixels
          (``T`` types) for :class:`gdl_graphs.nn.LiftingConv`,
        - ``group`` (name), ``group_element`` (``[N |G|]``), ``num_pixels``, and ``pos`` /
          ``batch`` of the pixels repeated over the group.

        On a full lattice both edge sets carry a ``'lattice'`` structure tag (with ``group``),
        so the layers run as ``conv2d`` with the rotated filter bank; a masked lattice runs on
        the typed path. Lift after batching (the lifted graph is not a PyG batching unit).
    """
    g = get_group(group)
    info = lattice_info(data)
    if info.dim != 2:
        raise ValueError(f'group lattices are 2-D; the lattice has {info.dim} spatial '
                         f'dimensions {info.sizes}')
    h, w = info.sizes
    if h != w:
        raise ValueError(f'the lattice is {h} x {w}: the rotations of {g.name} map a square '
                         f'onto itself only, so a non-square lattice has no {g.name} symmetry; '
                         f'crop or pad the images to a square')
    if len(set(info.kernel_size)) != 1 or len(set(info.dilation)) != 1:
        raise ValueError(f'the stencil kernel_size {info.kernel_size}, dilation {info.dilation} '
                         f'is not square, so rotations do not map it onto itself; build the '
                         f'lattice with a square kernel_size and dilation')
    k, r = info.kernel_size[0], info.dilation[0]
    ei, et = data.edge_index, data.get('edge_type')
    if et is None:
        raise ValueError('data has no edge_type: build the lattice with image_to_graph')
    ei = ei.as_subclass(Tensor)
    n_pix = int(data.num_nodes)
    order = g.order
    dev = ei.device
    perm = _offset_permutation(g.name, k, r).to(dev)              # [|G|, T]
    num_t = perm.size(1)
    ga = torch.arange(order, device=dev)
    # lifting edges: j -> (i, g), type t(g^-1 u)
    l_src = ei[0].unsqueeze(0).expand(order, -1)
    l_dst = ei[1].unsqueeze(0) * order + ga.unsqueeze(1)
    l_type = perm[:, et]                                           # [|G|, E]
    # group edges: (j, s) -> (i, g), type t(g^-1 u) * |G| + g^-1 s
    inv_s = g.table.to(dev)[g.inverse.to(dev)]                     # [g, s] -> g^-1 s
    g_src = ei[0].view(1, 1, -1) * order + ga.view(1, order, 1)
    g_dst = ei[1].view(1, 1, -1) * order + ga.view(order, 1, 1)
    g_type = perm[:, et].unsqueeze(1) * order + inv_s.unsqueeze(-1)
    shape = (order, order, ei.size(1))
    g_ei = torch.stack([g_src.expand(shape).reshape(-1), g_dst.expand(shape).reshape(-1)])
    l_ei = torch.stack([l_src.reshape(-1), l_dst.reshape(-1)])
    out = Data(num_nodes=n_pix * order)
    meta = dict(info.meta(), group=g.name) if info.pixel is None else None
    out.edge_type = g_type.expand(shape).reshape(-1)
    out.lift_edge_type = l_type.reshape(-1)
    out.edge_index = g_ei if meta is None else annotate(g_ei, 'lattice', role='group',
                                                        edge_type=out.edge_type, **meta)
    out.lift_edge_index = l_ei if meta is None else annotate(
        l_ei, 'lattice', role='lift', edge_type=out.lift_edge_type, **meta)
    out.group = g.name
    out.num_types = num_t
    out.num_pixels = n_pix
    out.group_element = ga.repeat(n_pix)
    for key in ('pos', 'batch'):
        v = data.get(key)
        if isinstance(v, Tensor) and v.size(0) == n_pix:
            out[key] = v.repeat_interleave(order, dim=0)
    return out


class LiftLattice(BaseTransform):
    """The :class:`~torch_geometric.transforms.BaseTransform` twin of :func:`lift_lattice`:
    a lattice graph -> its lifted lattice (the pixel graph's ``x`` is kept as ``pixel_x``)."""

    def __init__(self, group: Union[str, Group] = 'C4'):
        self.group = get_group(group)

    def forward(self, data: Data) -> Data:
        out = lift_lattice(data, self.group)
        if data.get('x') is not None:
            out.pixel_x = data.x
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.group.name!r})'


def _check_lifted(x: Tensor, order: int, name: str = 'x') -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) % order:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'{name} must be lifted features [N * {order}, C] (one row per pixel '
                         f'and group element), got {got}')


def group_pool(x: Tensor, group: Union[str, Group], reduce: str = 'max') -> Tensor:
    """Pool over the group axis: ``[N * |G|, C] -> [N, C]``,
    :math:`\\mathbf{x}'_p = \\bigoplus_{g \\in G} \\mathbf{x}_{(p, g)}`: invariant to the shift
    along the group axis, so the output transforms like an image (rotations and flips permute
    its pixels only)."""
    g = get_group(group)
    _check_lifted(x, g.order)
    if reduce not in ('max', 'mean', 'sum'):
        raise ValueError(f"unknown group pooling {reduce!r}: use 'max', 'mean' or 'sum'")
    if reduce == 'mean' and not (x.is_floating_point() or x.is_complex()):
        raise ValueError(f"reduce='mean' needs floating point features, got {x.dtype}")
    y = x.reshape(x.size(0) // g.order, g.order, x.size(1))
    if reduce == 'max':
        return y.amax(1)
    if reduce == 'mean':
        return y.mean(1)
    return y.sum(1)


def lift_cluster(cluster: Tensor, group: Union[str, Group]) -> Tensor:
    """Lift a pixel cluster map (``[N]``, e.g. ``coarsen_lattice(data, 2).cluster``) to the
    lifted lattice: node ``(p, g)`` goes to coarse node ``(cluster[p], g)``."""
    order = get_group(group).order
    ga = torch.arange(order, device=cluster.device)
    return (cluster.unsqueeze(1) * order + ga).reshape(-1)


def lifted_pool(x: Tensor, coarse: Data, group: Union[str, Group],
                reduce: str = 'max') -> Tensor:
    """Lattice coarsening lifted to the group lattice: pool lifted features ``[N * |G|, C]``
    over the pixel blocks of ``coarse = coarsen_lattice(data, s)`` for every group element
    (``[N_coarse * |G|, C]``); equal to ``max_pool2d`` / ``avg_pool2d`` of the dense p4/p4m
    feature maps. Lift ``coarse`` with :func:`lift_lattice` to continue on the coarse grid."""
    order = get_group(group).order
    _check_lifted(x, order)
    c = x.size(1)
    return lattice_pool(x.reshape(-1, order * c), coarse, reduce).reshape(-1, c)


@functools.lru_cache(maxsize=64)
def _bank_index(name: str, kernel_size: int, dilation: int, f_out: int, f_in: int,
                lifting: bool, device: str) -> Tensor:
    """Flat indices into the weight that build a filter bank in one gather, laid out as
    ``[|G| F_out, k, k, (|G|) F_in]`` (so its permuted view is channels-last)."""
    g = _group(name)
    n, k = g.order, kernel_size
    perm = _offset_permutation(name, k, dilation)                          # [g, T]
    o = torch.arange(f_out).view(1, f_out, 1, 1)
    i = torch.arange(f_in)
    if lifting:   # weight [o, i, T]: bank[g, o, t, i] = w[o, i, perm[g, t]]
        idx = (o * f_in + i.view(1, 1, 1, f_in)) * k * k + perm.view(n, 1, k * k, 1)
        return idx.reshape(n * f_out, k, k, f_in).to(device)
    # weight [o, i, s, T]: bank[g, o, t, s', i] = w[o, i, g^-1 s', perm[g, t]]
    inv_s = g.table[g.inverse]                                              # [g, s']
    idx = (((o.unsqueeze(-1) * f_in + i.view(1, 1, 1, 1, f_in)) * n
            + inv_s.view(n, 1, 1, n, 1)) * k * k + perm.view(n, 1, k * k, 1, 1))
    return idx.reshape(n * f_out, k, k, n * f_in).to(device)


def lifting_filter_bank(weight: Tensor, group: Union[str, Group], dilation: int = 1) -> Tensor:
    """The dense p4/p4m lifting filter bank of ``weight [F_out, F_in, k, k]``: ``[|G| F_out,
    F_in, k, k]`` (channels-last) with output channel ``g * F_out + o`` holding the filter
    transformed by ``g`` (:math:`\\psi(g^{-1} u)`; ``torch.rot90`` / ``torch.flip`` of the
    kernel). One gather (differentiable)."""
    g = get_group(group)
    f_out, f_in, k, k2 = weight.shape
    if k != k2:
        raise ValueError(f'weight must be square [F_out, F_in, k, k], got {list(weight.shape)}')
    idx = _bank_index(g.name, k, int(dilation), f_out, f_in, True, str(weight.device))
    return weight.reshape(-1)[idx].permute(0, 3, 1, 2)


def group_filter_bank(weight: Tensor, group: Union[str, Group], dilation: int = 1) -> Tensor:
    """The dense p4/p4m group-convolution filter bank of ``weight [F_out, F_in, |G|, k, k]``:
    ``[|G| F_out, |G| F_in, k, k]`` (channels-last) with entry ``(g * F_out + o, s * F_in + i)``
    the filter :math:`\\psi_{o,i}(g^{-1} u, g^{-1} s)` (spatially transformed and shifted along
    the group axis, Cohen & Welling 2016). One gather (differentiable)."""
    g = get_group(group)
    f_out, f_in, order, k, k2 = weight.shape
    if order != g.order or k != k2:
        raise ValueError(f'weight must be [F_out, F_in, {g.order}, k, k] for {g.name}, got '
                         f'{list(weight.shape)}')
    idx = _bank_index(g.name, k, int(dilation), f_out, f_in, False, str(weight.device))
    return weight.reshape(-1)[idx].permute(0, 3, 1, 2)


def dense_group_meta(tag, role: str, group: Group, kernel_size: int, dilation: int,
                     num_rows: int, rows_per_pixel: int) -> Optional[dict]:
    """The lattice tag's metadata when a group layer can run densely on it, else ``None``;
    a ``ValueError`` when the tagged graph does not fit the layer."""
    if tag is None or tag.meta.get('group') is None:
        return None
    meta = tag.meta
    if meta.get('role') != role:
        other = 'lift_edge_index' if role == 'lift' else 'edge_index'
        raise ValueError(f'this layer runs on the {role} edges of lift_lattice (data.{other}), '
                         f'got the {meta.get("role")} edges')
    if meta['group'] != group.name:
        raise ValueError(f'the graph is lifted to {meta["group"]} but the layer is a '
                         f'{group.name} layer: lift with lift_lattice(data, {group.name!r})')
    if tuple(meta['kernel_size']) != (kernel_size,) * 2 or \
            tuple(meta['dilation']) != (dilation,) * 2:
        raise ValueError(f'the lattice has kernel_size {tuple(meta["kernel_size"])} and '
                         f'dilation {tuple(meta["dilation"])} but the layer has {kernel_size} and '
                         f'{dilation}: build the lattice with image_to_graph(..., '
                         f'kernel_size={kernel_size}, dilation={dilation})')
    n = 1
    for v in meta['shape']:
        n *= int(v)
    if num_rows != n * rows_per_pixel:
        raise ValueError(f'x has {num_rows} rows but the lifted lattice {tuple(meta["shape"])} '
                         f'expects {n * rows_per_pixel}')
    return meta
