from __future__ import annotations

import copy
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear

from ..core import GDLConv
from ._common import aggr_of, check_edge_attr, load_pyg, pair, reset_module, target_of


class NNConv(GDLConv):
    r"""The edge-conditioned convolution of Gilmer et al., "Neural Message Passing for
    Quantum Chemistry" (ICML 2017, https://arxiv.org/abs/1704.01212) and Simonovsky and
    Komodakis, "Dynamic Edge-Conditioned Filters" (CVPR 2017,
    https://arxiv.org/abs/1704.02901), on the one core.

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta} \mathbf{x}_i + \bigoplus_{j \in \mathcal{N}(i)}
        h_{\mathbf{\Theta}}(\mathbf{e}_{j,i})^{\top} \mathbf{x}_j + \mathbf{b}

    where :math:`h_{\mathbf{\Theta}}` maps each edge's features to an
    ``[F_in, F_out]`` matrix. The message is linear in :math:`\mathbf{x}_j` but with a
    per-edge matrix, so it runs on the generic gather/scatter path (one batched product).

    Equivariance: permutation equivariant (node relabelling permutes the output rows; edge
    features travel with their edges).

    Args:
        in_channels (int or tuple): Input features (or a pair ``(F_src, F_dst)``).
        out_channels (int): Output features.
        nn (callable): Maps ``[E, D]`` edge features to ``[E, F_in * F_out]``.
        aggr (str, optional): ``'sum'``, ``'mean'``, ``'max'`` or ``'min'``.
            (default: :obj:`"sum"`)
        root_weight (bool, optional): Add :math:`\mathbf{\Theta} \mathbf{x}_i`. (default:
            :obj:`True`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair, edge indices :math:`(2, E)`, edge
          features :math:`(E, D)`
        - **output:** node features :math:`(N_{dst}, F_{out})`
    """


    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 nn: Callable, aggr: str = 'sum', root_weight: bool = True, bias: bool = True,
                 **kwargs):
        super().__init__(aggr=aggr, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.nn = nn
        self.root_weight = root_weight
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.in_channels_l = in_channels[0]
        if root_weight:
            self.lin = Linear(in_channels[1], out_channels, bias=False,
                              weight_initializer='uniform')
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_module(self.nn)
        if self.root_weight:
            self.lin.reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x = pair(x, 'NNConv')
        if edge_attr is None:
            raise ValueError('NNConv needs edge_attr [E, D]: the edge features condition the '
                             'filters')
        if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided:
            edge_attr = check_edge_attr(edge_attr, edge_index.size(-1))
        out = self.propagate(edge_index, x=x, edge_attr=edge_attr, size=size)
        x_root = target_of(x)
        if self.root_weight and x_root is not None:
            out = out + self.lin(x_root)
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        weight = self.nn(edge_attr)
        if weight.numel() != edge_attr.size(0) * self.in_channels_l * self.out_channels:
            raise ValueError(f'NNConv.nn must map edge_attr to [E, {self.in_channels_l} * '
                             f'{self.out_channels}], got {list(weight.shape)}')
        weight = weight.view(-1, self.in_channels_l, self.out_channels)
        return torch.bmm(x_j.unsqueeze(1), weight).squeeze(1)

    @classmethod
    def from_pyg(cls, layer) -> 'NNConv':
        """A copy of ``torch_geometric.nn.NNConv`` (its ``nn`` deep-copied) with the same
        weights."""
        out = cls(layer.in_channels, layer.out_channels, copy.deepcopy(layer.nn),
                  aggr=aggr_of(layer), root_weight=layer.root_weight,
                  bias=layer.bias is not None, flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'aggr={self.aggr}, nn={self.nn})')
