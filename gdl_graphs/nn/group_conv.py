from __future__ import annotations

from typing import Optional, Union

from torch import Tensor

from ..core.validate import check_node_features
from ..domains.group import Group, group_filter_bank
from ._common import GroupStencilConv


class GroupConv(GroupStencilConv):
    r"""The group convolution :math:`G \to G` of a p4 / p4m CNN (Cohen and Welling, "Group
    Equivariant Convolutional Networks", ICML 2016, https://arxiv.org/abs/1602.07576) as typed
    message passing on a lifted lattice (:func:`gdl_graphs.domains.group.lift_lattice`):

    .. math::
        \mathbf{x}'_{(i, g)} = \mathbf{b} + \sum_{j = i + u} \sum_{s \in G}
            \mathbf{W}_{t(g^{-1} u),\, g^{-1} s}\, \mathbf{x}_{(j, s)} ,

    i.e. :math:`[f \star \psi](i, g) = \sum_{h} f(h) \psi(g^{-1} h)` over ``h = (i + u, s)``.
    ``weight`` is ``[F_out, F_in, |G|, k, k]`` (GrouPy's layout). On a full lattice (tagged
    edges) the core runs one ``conv2d`` of the ``|G| F_in -> |G| F_out`` filter bank
    (:func:`~gdl_graphs.domains.group.group_filter_bank`) on the channels-last view; otherwise
    the typed linear path (:func:`gdl_graphs.core.typed_matmul` inside ``propagate``, ``k^2 |G|``
    edge types),
    or gather/scatter with ``kernel='generic'``. All paths are equal.

    Equivariance: for :math:`h \in G`, relabelling the input nodes
    :math:`(i, g) \mapsto (h^{-1} i, h^{-1} g)` (a rotation / flip of the lattice and a shift
    along the group axis) relabels the output alike (exact for square images, 'zeros' or
    'circular' padding).

    Args:
        in_channels (int): Input features per pixel and group element.
        out_channels (int): Output features per pixel and group element.
        kernel_size (int, optional): Odd square stencil; must match the lattice. (default:
            :obj:`3`)
        group (str or Group, optional): ``'C4'`` (p4) or ``'D4'`` (p4m). (default: :obj:`"C4"`)
        dilation (int, optional): Stencil dilation; must match the lattice. (default: :obj:`1`)
        bias (bool, optional): Learn a bias (one per output channel, shared by the group elements).
            (default: :obj:`True`)

    Shapes:
        - **input:** lifted node features :math:`(N |G|, F_{in})`, edge indices :math:`(2, E)`
          (``lifted.edge_index``), edge types :math:`(E)`
        - **output:** lifted node features :math:`(N |G|, F_{out})`
    """


    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 group: Union[str, Group] = 'C4', dilation: int = 1, bias: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, group, dilation, bias,
                         group_axis=True, **kwargs)

    def typed_weight(self) -> Tensor:
        """``[T |G|, F_in, F_out]``: the weight of edge type ``t * |G| + s``."""
        w = self.weight.flatten(3).permute(3, 2, 1, 0)                 # [T, s, i, o]
        return w.reshape(-1, self.in_channels, self.out_channels)

    def filter_bank(self) -> Tensor:
        """The dense ``conv2d`` filter bank ``[|G| F_out, |G| F_in, k, k]``."""
        return group_filter_bank(self.weight, self.group, self.dilation)

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_type: Optional[Tensor] = None) -> Tensor:
        check_node_features(x, channels=self.in_channels)
        order = self.group.order
        if x.dim() != 2 or x.size(0) % order:
            raise ValueError(f'x must be lifted features [N * {order}, {self.in_channels}], got '
                             f'{list(x.shape)}')
        n = x.size(0)
        out = self.propagate(edge_index, x=x, edge_type=edge_type, size=(n, n))
        return out if self.bias is None else out + self.bias


__all__ = ['GroupConv']
