from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor
from torch.nn import Parameter, init

from ..core import Adjacency, GDLConv, typed_matmul
from ..core.lattice import check_stencil, dense_conv
from ..core.validate import check_node_features
from ..domains.group import Group, dense_group_meta, get_group, lifting_filter_bank
from ._common import typed_message


class GroupStencilConv(GDLConv):
    """Shared by :class:`LiftingConv` and :class:`~gdl_graphs.nn.GroupConv`: a square odd
    stencil on a lifted lattice of ``group``, one ``weight`` of shape
    ``[F_out, F_in, (|G|,) k, k]`` and one bias per output channel (shared by the group
    elements), initialised as ``torch.nn.Conv2d`` / ``Conv3d`` (fan-in ``weight[0].numel()``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 group: Union[str, Group], dilation: int, bias: bool, group_axis: bool,
                 **kwargs):
        super().__init__(aggr='sum', **kwargs)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f'channels must be positive, got {in_channels} -> {out_channels}')
        if not isinstance(kernel_size, int) or not isinstance(dilation, int):
            raise ValueError(f'kernel_size and dilation must be ints (a square stencil), got '
                             f'{kernel_size!r}, {dilation!r}')
        check_stencil((kernel_size,) * 2, (dilation,) * 2)
        self.group = get_group(group)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = kernel_size
        self.dilation = dilation
        axis = (self.group.order,) if group_axis else ()
        self.weight = Parameter(torch.empty(out_channels, in_channels, *axis, kernel_size,
                                            kernel_size))
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            init.uniform_(self.bias, -bound, bound)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'kernel_size={self.kernel_size}, group={self.group.name})')


class LiftingConv(GroupStencilConv):
    r"""The lifting convolution :math:`\mathbb{Z}^2 \to G` of a p4 / p4m CNN (Cohen and Welling,
    "Group Equivariant Convolutional Networks", ICML 2016, https://arxiv.org/abs/1602.07576) as
    typed message passing from the pixels of a lattice to its lifted lattice
    (:func:`gdl_graphs.domains.group.lift_lattice`):

    .. math::
        \mathbf{x}'_{(i, g)} = \mathbf{b} + \sum_{j = i + u}
            \mathbf{W}_{t(g^{-1} u)}\, \mathbf{x}_j ,

    i.e. :math:`[f \star \psi](i, g) = \sum_u \psi(g^{-1} u) f(i + u)`: output ``g`` is the
    cross-correlation with the filter transformed by ``g``. ``weight`` has ``nn.Conv2d``'s
    layout ``[F_out, F_in, k, k]`` (:meth:`from_conv`). On a full lattice (tagged edges) the
    core runs one ``conv2d`` with the filter bank of the ``|G|`` transformed filters
    (:func:`~gdl_graphs.domains.group.lifting_filter_bank`) on the channels-last view; otherwise
    the typed linear path (:func:`gdl_graphs.core.propagate_typed`), or gather/scatter with
    ``kernel='generic'``. All paths are equal.

    Equivariance: rotating / flipping the image by :math:`h \in G` permutes the output nodes
    and shifts them along the group axis, :math:`x'_{(i, g)} \mapsto x'_{(h^{-1} i,
    h^{-1} g)}` (exact for square images, 'zeros' or 'circular' padding).

    Args:
        in_channels: input features per pixel.
        out_channels: output features per pixel and group element.
        kernel_size: odd square stencil; must match the lattice.
        group: ``'C4'`` (p4) or ``'D4'`` (p4m).
        dilation: stencil dilation; must match the lattice.
        bias: learn a bias (one per output channel, shared by the group elements).

    Shapes:
        x ``[N, F_in]``, edge_index ``[2, E]`` (``lifted.lift_edge_index``: pixels -> lifted
        nodes), edge_type ``[E]`` -> ``[N * |G|, F_out]`` (row ``p * |G| + g``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 group: Union[str, Group] = 'C4', dilation: int = 1, bias: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, group, dilation, bias,
                         group_axis=False, **kwargs)

    def typed_weight(self) -> Tensor:
        """``[T, F_in, F_out]``: the weight of stencil offset ``t`` (``W_t^T``)."""
        return self.weight.flatten(2).permute(2, 1, 0)

    def filter_bank(self) -> Tensor:
        """The dense ``conv2d`` filter bank ``[|G| F_out, F_in, k, k]``."""
        return lifting_filter_bank(self.weight, self.group, self.dilation)

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_type: Optional[Tensor] = None) -> Tensor:
        check_node_features(x, channels=self.in_channels)
        if x.dim() != 2:
            raise ValueError(f'x must be [N, {self.in_channels}], got {list(x.shape)}')
        n = x.size(0)
        out = self.propagate(edge_index, x=x, edge_type=edge_type,
                             size=(n, n * self.group.order))
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, edge_type: Optional[Tensor]) -> Tensor:
        return typed_message(x_j, edge_type, self.typed_weight(),
                             'lifted.lift_edge_type from lift_lattice')

    def message_and_aggregate(self, adj: Adjacency, x: Tensor,
                              edge_type: Optional[Tensor]) -> Tensor:
        tag = adj.structure if adj.structure is not None and \
            adj.structure.kind == 'lattice' else None
        meta = dense_group_meta(tag, 'lift', self.group, self.kernel_size, self.dilation,
                                x.size(0), 1)
        if meta is not None and (edge_type is None or edge_type is tag.edge_type):
            return dense_conv(x, self.filter_bank(), None, meta, (1, 1)).reshape(
                -1, self.out_channels)
        if edge_type is None:
            self.message(x, None)  # raises the clear error
        return typed_matmul(adj, x, edge_type, self.typed_weight())

    @classmethod
    def from_conv(cls, conv: torch.nn.Conv2d, group: Union[str, Group] = 'C4') -> 'LiftingConv':
        """The lifting of ``torch.nn.Conv2d`` (square odd kernel, ``'same'`` padding,
        ``groups=1``, stride 1) to ``group``: output element ``g = e`` equals the conv."""
        if not isinstance(conv, torch.nn.Conv2d):
            raise ValueError(f'from_conv expects torch.nn.Conv2d, got {type(conv).__name__}')
        k, r = conv.kernel_size, conv.dilation
        if k[0] != k[1] or r[0] != r[1] or conv.groups != 1 or tuple(conv.stride) != (1, 1):
            raise ValueError(f'only square kernels and dilations, groups=1 and stride 1 lift to '
                             f'{group}: got kernel_size={k}, dilation={r}, groups={conv.groups}, '
                             f'stride={conv.stride}')
        same = (r[0] * (k[0] - 1) // 2,) * 2
        if conv.padding != 'same' and tuple(conv.padding) != same:
            raise ValueError(f'padding {conv.padding} is not the lattice padding: use '
                             f'padding={same} (or padding="same")')
        out = cls(conv.in_channels, conv.out_channels, k[0], group, r[0],
                  bias=conv.bias is not None)
        out = out.to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(conv.weight)
            if conv.bias is not None:
                out.bias.copy_(conv.bias)
        return out

    from_torch = from_conv


__all__ = ['GroupStencilConv', 'LiftingConv']
