from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear

from ..core import GDLConv
from ._common import (
    FillValue,
    attention_inputs,
    attention_message,
    attention_output,
    check_features,
    glorot_,
    load_pyg,
    self_loop_graph,
)


class GATv2Conv(GDLConv):
    r"""The dynamic attention operator of Brody et al., "How Attentive are Graph Attention
    Networks?" (ICLR 2022, https://arxiv.org/abs/2105.14491), on the one core.

    .. math::
        \mathbf{x}'_i = \Big\Vert_{h=1}^{H} \sum_{j \in \mathcal{N}(i) \cup \{ i \}}
        \alpha^h_{i,j} \mathbf{\Theta}^h_s \mathbf{x}_j + \mathbf{b}, \qquad
        \alpha^h_{i,j} = \mathrm{softmax}_j \Big( \mathbf{a}^{h\top} \mathrm{LeakyReLU}
        \big( \mathbf{\Theta}^h_s \mathbf{x}_j + \mathbf{\Theta}^h_t \mathbf{x}_i +
        \mathbf{\Theta}^h_e \mathbf{e}_{j,i} \big) \Big)

    (heads averaged with ``concat=False``; :math:`\mathbf{\Theta}_s, \mathbf{\Theta}_t` carry
    biases as in PyG). Scores are normalised by :meth:`GDLConv.attention_softmax` (generic
    path).

    Equivariance: permutation equivariant (node relabelling permutes the output rows; the
    attention weights travel with their edges).

    Args:
        in_channels (int or tuple): Input features (or a pair ``(F_src, F_dst)``).
        out_channels (int): Features per head.
        heads (int, optional): Number of attention heads. (default: :obj:`1`)
        concat (bool, optional): Concatenate the heads, else average them. (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout on the attention weights (training only). (default:
            :obj:`0.0`)
        add_self_loops (bool, optional): Remove existing self-loops, then add one per node.
            (default: :obj:`True`)
        edge_dim (int, optional): Edge feature width. (default: :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): Edge features of the added loops
            (float, tensor or reduction name). (default: :obj:`"mean"`)
        bias (bool, optional): Biases in the two projections and an output bias. (default:
            :obj:`True`)
        share_weights (bool, optional): One projection for sources and targets. (default:
            :obj:`False`)
        residual (bool, optional): Add a linear skip connection of the target features. (default:
            :obj:`False`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_{src}, F_{src}), (N_{dst}, F_{dst}))`, edge indices :math:`(2, E)`, edge
          features :math:`(E, D)` *(optional)*
        - **output:** node features :math:`(N_{dst}, H \cdot C)`, or :math:`(N_{dst}, C)` without
          ``concat``
    """


    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 heads: int = 1, concat: bool = True, negative_slope: float = 0.2,
                 dropout: float = 0.0, add_self_loops: bool = True,
                 edge_dim: Optional[int] = None, fill_value: FillValue = 'mean',
                 bias: bool = True, share_weights: bool = False, residual: bool = False,
                 **kwargs):
        super().__init__(node_dim=0, **kwargs)
        if heads < 1:
            raise ValueError(f'heads must be >= 1, got {heads}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.add_self_loops = add_self_loops
        self.edge_dim = edge_dim
        self.fill_value = fill_value
        self.residual = residual
        self.share_weights = share_weights
        f_src, f_dst = (in_channels, in_channels) if isinstance(in_channels, int) \
            else in_channels
        self.lin_l = Linear(f_src, heads * out_channels, bias=bias, weight_initializer='glorot',
                            bias_initializer='zeros')
        self.lin_r = self.lin_l if share_weights else Linear(
            f_dst, heads * out_channels, bias=bias, weight_initializer='glorot',
            bias_initializer='zeros')
        self.att = Parameter(torch.empty(1, heads, out_channels))
        self.lin_edge = Linear(edge_dim, heads * out_channels, bias=False,
                                  weight_initializer='glorot') \
            if edge_dim is not None else None
        total = out_channels * (heads if concat else 1)
        if residual:
            self.res = Linear(f_dst, total, bias=False,
                                  weight_initializer='glorot')
        else:
            self.register_parameter('res', None)
        if bias:
            self.bias = Parameter(torch.empty(total))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for lin in (self.lin_l, self.lin_r, self.lin_edge, self.res):
            if lin is not None:
                lin.reset_parameters()
        glorot_(self.att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None,
                return_attention_weights: Optional[bool] = None):
        H, C = self.heads, self.out_channels
        x_src, x_dst, bipartite, edge_index, edge_attr = attention_inputs(
            x, edge_index, edge_attr, 'GATv2Conv')
        in_src = self.in_channels if isinstance(self.in_channels, int) else self.in_channels[0]
        check_features(x_src, in_src, 'GATv2Conv')
        if edge_attr is not None and self.lin_edge is None:
            raise ValueError('GATv2Conv got edge_attr but has no edge_dim: construct it with '
                             f'edge_dim={edge_attr.size(-1)}')
        res = self.res(x_dst) if self.res is not None else None
        h_src = self.lin_l(x_src).view(-1, H, C)
        if self.share_weights and not bipartite:
            h_dst = h_src
        else:
            h_dst = self.lin_r(x_dst).view(-1, H, C)
        if self.add_self_loops:
            self.check_edges(edge_index, (h_src.size(0), h_dst.size(0)))
            edge_index, edge_attr = self_loop_graph(edge_index, edge_attr,
                                                    min(h_src.size(0), h_dst.size(0)),
                                                    self.fill_value)
        out = self.propagate(edge_index, x=(h_src, h_dst), edge_attr=edge_attr,
                             size=(h_src.size(0), h_dst.size(0)))
        return attention_output(self, out, res, edge_index, return_attention_weights)

    def message(self, x_j: Tensor, x_i: Tensor, edge_attr: Optional[Tensor], index: Tensor,
                ptr: Optional[Tensor], size_i: Optional[int]) -> Tensor:
        z = x_j + x_i
        if edge_attr is not None:
            z = z + self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
        z = F.leaky_relu(z, self.negative_slope)
        alpha = (z * self.att).sum(dim=-1)
        return attention_message(self, x_j, alpha, index, ptr, size_i)

    @classmethod
    def from_pyg(cls, layer) -> 'GATv2Conv':
        """A copy of ``torch_geometric.nn.GATv2Conv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, heads=layer.heads,
                  concat=layer.concat, negative_slope=layer.negative_slope,
                  dropout=layer.dropout, add_self_loops=layer.add_self_loops,
                  edge_dim=layer.edge_dim, fill_value=layer.fill_value,
                  bias=layer.bias is not None, share_weights=layer.share_weights,
                  residual=getattr(layer, 'residual', False), flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'heads={self.heads})')
