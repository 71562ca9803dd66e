from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from ..core.validate import check_node_features
from ..domains.group import Group, lifting_filter_bank
from ._common import GroupStencilConv


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
    the typed linear path (:func:`gdl_graphs.core.typed_matmul`, inside ``propagate``), or
    gather/scatter with
    ``kernel='generic'``. All paths are equal.

    Equivariance: rotating / flipping the image by :math:`h \in G` permutes the output nodes
    and shifts them along the group axis, :math:`x'_{(i, g)} \mapsto x'_{(h^{-1} i,
    h^{-1} g)}` (exact for square images, 'zeros' or 'circular' padding).

    Args:
        in_channels (int): Input features per pixel.
        out_channels (int): Output features per pixel and group element.
        kernel_size (int, optional): Odd square stencil; must match the lattice. (default:
            :obj:`3`)
        group (str or Group, optional): ``'C4'`` (p4) or ``'D4'`` (p4m). (default: :obj:`"C4"`)
        dilation (int, optional): Stencil dilation; must match the lattice. (default: :obj:`1`)
        bias (bool, optional): Learn a bias (one per output channel, shared by the group elements).
            (default: :obj:`True`)

    Shapes:
        - **input:** pixel features :math:`(N, F_{in})`, edge indices :math:`(2, E)`
          (``lifted.lift_edge_index``: pixels to lifted nodes), edge types :math:`(E)`
        - **output:** lifted node features :math:`(N |G|, F_{out})` (row :math:`p |G| + g`)
    """


    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 group: Union[str, Group] = 'C4', dilation: int = 1, bias: bool = True,
                 **kwargs):
        if kwargs.get('flow', 'source_to_target') != 'source_to_target':
            raise ValueError("LiftingConv maps pixels to (pixel, group element) nodes, so only "
                             "flow='source_to_target' is meaningful: drop the flow argument")
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


__all__ = ['LiftingConv']
