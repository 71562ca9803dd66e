from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Parameter, init

from ..core import Adjacency, GDLConv, Structure, typed_matmul
from ..core.lattice import (
    DENSE_MASKED_MIN_FILL,
    IntOrTuple,
    as_tuple,
    check_stencil,
    dense_applies,
    dense_conv,
)
from ._common import typed_message

_CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


class LatticeConv(GDLConv):
    r"""The convolution of a CNN (LeCun et al., "Gradient-based learning applied to document
    recognition", Proc. IEEE 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf) as
    message passing on a lattice graph with one weight matrix per stencil offset (Bronstein
    et al., "Geometric Deep Learning", 2021, https://arxiv.org/abs/2104.13478, Sec. 5.1).

    .. math::
        \mathbf{x}'_i = \mathbf{b} + \sum_{(j \to i,\, t)} \mathbf{W}_t\, \mathbf{x}_j,
        \qquad j = i + \delta_t,

    where :math:`t` is the edge type (the stencil offset :math:`\delta_t`, numbered as in
    :func:`gdl_graphs.domains.image_to_graph`) and :math:`\mathbf{W}_t` = ``weight[:, :, a]``
    for the kernel tap :math:`a` of offset :math:`t`. ``weight`` has ``torch.nn.Conv*d``'s layout
    ``[F_out, F_in, *kernel_size]``, so on the lattice graph of ``image_to_graph(img,
    kernel_size, dilation, padding)`` the layer equals ``nn.Conv{1,2,3}d(..., padding='same',
    padding_mode=padding)`` with the same weights (:meth:`from_conv`, :meth:`to_conv`).

    Kernels (all equal): on a regular lattice (``edge_index`` tagged ``'lattice'``) the core
    runs ``conv{1,2,3}d`` on the zero-copy channels-last view of ``x``; on a tagged masked
    lattice that keeps at least a quarter of its pixels, the same conv on the zero-filled
    lattice (removed pixels send nothing, as zeros), keeping the rows of the nodes; on any other
    lattice graph (sparser masks, an untagged or reloaded graph, edge types other than the
    converter's own, a ``kernel='fused'`` layer) the typed linear path
    (:func:`gdl_graphs.core.typed_matmul`: transform once, aggregate by a cached CSR product);
    with ``kernel='generic'``, the explainer or message hooks, PyG's gather/message/scatter.
    All of them run inside ``propagate``.

    Stride ``s`` is the convolution followed by ``s x s`` lattice coarsening that keeps the
    first pixel of each block: pass ``coarse = coarsen_lattice(data, s, ceil_mode=True)``.

    Equivariance: equivariant to lattice translations (exact with circular padding) and to
    node permutations that preserve edge types; rotating or flipping the lattice maps it to the
    layer with the rotated / flipped kernel.

    Args:
        in_channels (int): Input features per pixel.
        out_channels (int): Output features per pixel.
        kernel_size (int or tuple): Odd stencil size (int or one per spatial axis); must match the
            graph's.
        dilation (int or tuple, optional): Stencil dilation; must match the graph's. (default:
            :obj:`1`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        stride (int or tuple, optional): Output grid step (needs ``coarse`` in :meth:`forward`).
            (default: :obj:`1`)
        dim (int, optional): Number of spatial axes (1, 2 or 3); :obj:`None`: 2 when
            ``kernel_size`` is an int, else its length. (default: :obj:`None`)

    Shapes:
        - **input:** pixel features :math:`(N, F_{in})`, edge indices :math:`(2, E)`, edge types
          :math:`(E)`
        - **output:** pixel features :math:`(N, F_{out})`, or :math:`(N_{coarse}, F_{out})` with a
          stride
    """


    dense_kernels = {'lattice': 'conv'}

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 dilation: IntOrTuple = 1, bias: bool = True, stride: IntOrTuple = 1,
                 dim: Optional[int] = None, **kwargs):
        super().__init__(aggr=self.fixed_aggr(kwargs, 'LatticeConv', 'sum',
                                              'as Conv2d, it sums over the stencil'), **kwargs)
        if dim is None:
            dim = 2 if isinstance(kernel_size, int) else len(tuple(kernel_size))
        if dim not in (1, 2, 3):
            raise ValueError(f'dim must be 1, 2 or 3 spatial axes, got {dim}')
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f'channels must be positive, got {in_channels} -> {out_channels}')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.dim = dim
        self.kernel_size = as_tuple(kernel_size, dim, 'kernel_size')
        self.dilation = as_tuple(dilation, dim, 'dilation')
        self.stride = as_tuple(stride, dim, 'stride')
        check_stencil(self.kernel_size, self.dilation)
        if any(s < 1 for s in self.stride):
            raise ValueError(f'stride {self.stride} must be positive')
        # stored channels-last (as the node features are), so the dense path needs no copy
        fmt = {2: torch.channels_last, 3: torch.channels_last_3d}.get(dim,
                                                                   torch.contiguous_format)
        self.weight = Parameter(torch.empty(out_channels, in_channels, *self.kernel_size,
                                            memory_format=fmt))
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    @property
    def num_types(self) -> int:
        return math.prod(self.kernel_size)

    def reset_parameters(self) -> None:
        """As ``torch.nn.Conv*d``: Kaiming-uniform weights, uniform bias."""
        super().reset_parameters()
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.num_types
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def typed_weight(self) -> Tensor:
        """The per-offset weights ``[T, F_in, F_out]`` (``W_t^T``) of the typed path."""
        return self.weight.flatten(2).permute(2, 1, 0)

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Optional[Tensor] = None,
                coarse=None) -> Tensor:
        self.check(x, edge_index, channels=self.in_channels)
        if x.dim() != 2:
            raise ValueError(f'x must be [N, {self.in_channels}], got {list(x.shape)}')
        strided = any(s > 1 for s in self.stride)
        if strided:
            self._check_coarse(coarse)
        n = x.size(0)
        out = self.propagate(edge_index, x=x, edge_type=edge_type, size=(n, n))
        if strided and out.size(0) != coarse.num_nodes:  # the sparse paths: keep the corners
            out = out.index_select(0, coarse.select)
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, edge_type: Optional[Tensor]) -> Tensor:
        return typed_message(x_j, edge_type, self.typed_weight(),
                             'data.edge_type from image_to_graph')

    def dense_check(self, structure: Structure, x: Tensor, edge_type: Optional[Tensor] = None,
                    **kwargs) -> Optional[str]:
        meta = structure.meta
        if 'group' in meta:
            return 'a lifted lattice (group layers run on it)'
        if edge_type is not None and edge_type is not structure.edge_type:
            return 'edge_type is not the converter\'s'
        if not dense_applies(meta):
            return f'a masked lattice under {DENSE_MASKED_MIN_FILL:.0%} full'
        if (tuple(meta['kernel_size']) != self.kernel_size
                or tuple(meta['dilation']) != self.dilation):
            raise ValueError(
                f'the lattice graph has kernel_size {tuple(meta["kernel_size"])} and '
                f'dilation {tuple(meta["dilation"])} but the layer has {self.kernel_size} '
                f'and {self.dilation}: build the graph with image_to_graph(..., '
                f'kernel_size={self.kernel_size}, dilation={self.dilation})')
        index = meta.get('index')
        n = math.prod(meta['shape']) if index is None else index.numel()
        if x.size(0) != n or len(meta['shape']) != self.dim + 1:
            raise ValueError(f'x has {x.size(0)} rows but the lattice {tuple(meta["shape"])}'
                             f' has {n} nodes ({self.dim}-D layer)')
        return None

    def message_and_aggregate(self, adj: Adjacency, x: Tensor,
                              edge_type: Optional[Tensor]) -> Tensor:
        if adj.plan.kernel == 'conv':
            return dense_conv(x, self.weight, None, adj.structure.meta, self.stride)
        if edge_type is None:
            self.message(x, None)  # raises the clear error
        return typed_matmul(adj, x, edge_type, self.typed_weight())

    def _check_coarse(self, coarse) -> None:
        select = coarse.get('select') if hasattr(coarse, 'get') else None
        stride = coarse.get('lattice_stride') if hasattr(coarse, 'get') else None
        if (select is None or stride is None or not coarse.get('lattice_ceil_mode')
                or tuple(int(v) for v in stride[0].tolist()) != self.stride):
            raise ValueError(f'a LatticeConv with stride {self.stride} needs the coarse lattice '
                             f'of its output: pass coarse=coarsen_lattice(data, {self.stride}, '
                             f'ceil_mode=True) (a full lattice; masked lattices have no stride)')

    @classmethod
    def from_conv(cls, conv: torch.nn.Module) -> 'LatticeConv':
        """A copy of ``torch.nn.Conv1d/2d/3d`` (``groups=1``, ``'same'`` padding: ``padding =
        dilation * (kernel_size - 1) / 2``, ``padding_mode`` ``'zeros'`` or ``'circular'``) with
        the same weights. Build the graph with the conv's padding_mode as ``padding``."""
        if not isinstance(conv, _CONVS):
            raise ValueError(f'from_conv expects torch.nn.Conv1d/2d/3d, got '
                             f'{type(conv).__name__}')
        if conv.groups != 1:
            raise ValueError(f'grouped convolutions (groups={conv.groups}) are not lattice '
                             f'convolutions of one graph: use groups=1')
        if conv.padding_mode not in ('zeros', 'circular'):
            raise ValueError(f"padding_mode {conv.padding_mode!r} has no lattice graph: use "
                             f"'zeros' or 'circular'")
        if isinstance(conv.output_padding, tuple) and any(conv.output_padding):
            raise ValueError('transposed convolutions are not supported')
        kernel, dilation = tuple(conv.kernel_size), tuple(conv.dilation)
        check_stencil(kernel, dilation)
        same = tuple(r * (k - 1) // 2 for k, r in zip(kernel, dilation))
        if conv.padding != 'same' and tuple(conv.padding) != same:
            raise ValueError(f'padding {conv.padding} is not the lattice padding: a lattice keeps '
                             f'the grid, so use padding={same} (or padding="same")')
        out = cls(conv.in_channels, conv.out_channels, kernel, dilation,
                  bias=conv.bias is not None, stride=tuple(conv.stride), dim=len(kernel))
        out = out.to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(conv.weight)
            if conv.bias is not None:
                out.bias.copy_(conv.bias)
        return out

    def to_conv(self, padding_mode: str = 'zeros') -> torch.nn.Module:
        """The ``torch.nn.Conv{1,2,3}d`` with the same weights (``padding_mode`` = the
        ``padding`` of the graphs it runs on)."""
        if padding_mode not in ('zeros', 'circular'):
            raise ValueError(f"padding_mode must be 'zeros' or 'circular', got {padding_mode!r}")
        pad = tuple(r * (k - 1) // 2 for k, r in zip(self.kernel_size, self.dilation))
        conv = _CONVS[self.dim - 1](self.in_channels, self.out_channels, self.kernel_size,
                                    stride=self.stride, padding=pad, dilation=self.dilation,
                                    bias=self.bias is not None, padding_mode=padding_mode)
        conv = conv.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight)
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv

    from_torch = from_conv

    def __repr__(self) -> str:
        extra = '' if self.dilation == (1,) * self.dim else f', dilation={self.dilation}'
        extra += '' if self.stride == (1,) * self.dim else f', stride={self.stride}'
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'kernel_size={self.kernel_size}{extra})')


__all__ = ['LatticeConv']
