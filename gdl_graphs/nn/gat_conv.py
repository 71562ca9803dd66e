from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear

from ..core import Adjacency, GDLConv, attention_matmul
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


class GATConv(GDLConv):
    r"""The graph attention operator of Velickovic et al., "Graph Attention Networks"
    (ICLR 2018, https://arxiv.org/abs/1710.10903), on the one core.

    .. math::
        \mathbf{x}'_i = \Big\Vert_{h=1}^{H} \sum_{j \in \mathcal{N}(i) \cup \{ i \}}
        \alpha^h_{i,j} \mathbf{\Theta}^h_s \mathbf{x}_j + \mathbf{b}, \qquad
        \alpha^h_{i,j} = \mathrm{softmax}_j \Big( \mathrm{LeakyReLU} \big(
        \mathbf{a}^{h\top}_s \mathbf{\Theta}^h_s \mathbf{x}_j +
        \mathbf{a}^{h\top}_t \mathbf{\Theta}^h_t \mathbf{x}_i +
        \mathbf{a}^{h\top}_e \mathbf{\Theta}^h_e \mathbf{e}_{j,i} \big) \Big)

    (heads averaged instead of concatenated with ``concat=False``). Scores are normalised by
    :meth:`GDLConv.attention_softmax` over each target's incoming edges. With sum or mean
    aggregation the core runs it fused (:func:`~gdl_graphs.core.attention_matmul`): a segment
    softmax in the cached CSR's order and one block-diagonal CSR product for the heads, no
    ``E x H x C`` messages; ``kernel='generic'`` runs PyG's gather/message/scatter, with the same
    numbers (and, seeded, the same attention dropout).

    Equivariance: permutation equivariant (node relabelling permutes the output rows; the
    attention weights travel with their edges).

    Args:
        in_channels (int or tuple): Input features (or a pair ``(F_src, F_dst)``: separate
            projections).
        out_channels (int): Features per head.
        heads (int, optional): Number of attention heads :math:`H`. (default: :obj:`1`)
        concat (bool, optional): Concatenate the heads (``[N, H * C]``), else average them
            (``[N, C]``). (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope of the scores. (default: :obj:`0.2`)
        dropout (float, optional): Dropout on the attention weights (training only). (default:
            :obj:`0.0`)
        add_self_loops (bool, optional): Remove existing self-loops, then add one per node.
            (default: :obj:`True`)
        edge_dim (int, optional): Edge feature width (edge features enter the scores). (default:
            :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): Edge features of the added loops: a
            float, a tensor, or a reduction of the incoming edges' features (``'mean'`` as PyG,
            ``'sum'``, ``'max'``, ...). (default: :obj:`"mean"`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        residual (bool, optional): Add a linear skip connection of the target features. (default:
            :obj:`False`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_{src}, F_{src}), (N_{dst}, F_{dst}))`, edge indices :math:`(2, E)`, edge
          features :math:`(E, D)` *(optional)*
        - **output:** node features :math:`(N_{dst}, H \cdot C)`, or :math:`(N_{dst}, C)` without
          ``concat``; with ``return_attention_weights=True`` also the pair (edge indices
          :math:`(2, E')`, attention weights :math:`(E', H)`)
    """


    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 heads: int = 1, concat: bool = True, negative_slope: float = 0.2,
                 dropout: float = 0.0, add_self_loops: bool = True,
                 edge_dim: Optional[int] = None, fill_value: FillValue = 'mean',
                 bias: bool = True, residual: bool = False, **kwargs):
        kwargs.setdefault('aggr', 'sum')
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
        self.lin = self.lin_src = self.lin_dst = None
        if isinstance(in_channels, int):
            self.lin = Linear(in_channels, heads * out_channels, bias=False,
                              weight_initializer='glorot')
        else:
            self.lin_src = Linear(in_channels[0], heads * out_channels, bias=False,
                              weight_initializer='glorot')
            self.lin_dst = Linear(in_channels[1], heads * out_channels, bias=False,
                              weight_initializer='glorot')
        self.att_src = Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = Parameter(torch.empty(1, heads, out_channels))
        if edge_dim is not None:
            self.lin_edge = Linear(edge_dim, heads * out_channels, bias=False,
                              weight_initializer='glorot')
            self.att_edge = Parameter(torch.empty(1, heads, out_channels))
        else:
            self.lin_edge = None
            self.register_parameter('att_edge', None)
        total = out_channels * (heads if concat else 1)
        if residual:
            f_dst = in_channels if isinstance(in_channels, int) else in_channels[1]
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
        for lin in (self.lin, self.lin_src, self.lin_dst, self.lin_edge, self.res):
            if lin is not None:
                lin.reset_parameters()
        glorot_(self.att_src)
        glorot_(self.att_dst)
        glorot_(self.att_edge)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None, size: Optional[Tuple[int, int]] = None,
                return_attention_weights: Optional[bool] = None):
        H, C = self.heads, self.out_channels
        x_src, x_dst, bipartite, edge_index, edge_attr = attention_inputs(
            x, edge_index, edge_attr, 'GATConv')
        in_src = self.in_channels if isinstance(self.in_channels, int) else self.in_channels[0]
        check_features(x_src, in_src, 'GATConv')
        res = self.res(x_dst) if self.res is not None else None
        if self.lin is not None:
            h_src = self.lin(x_src).view(-1, H, C)
            h_dst = h_src if not bipartite else self.lin(x_dst).view(-1, H, C)
        else:
            h_src = self.lin_src(x_src).view(-1, H, C)
            h_dst = self.lin_dst(x_dst).view(-1, H, C)
        a_src = (h_src * self.att_src).sum(-1)
        a_dst = (h_dst * self.att_dst).sum(-1)
        n_src, n_dst = (h_src.size(0), h_dst.size(0)) if size is None else size
        if self.add_self_loops:
            self.check_edges(edge_index, (n_src, n_dst))
            edge_index, edge_attr = self_loop_graph(edge_index, edge_attr, min(n_src, n_dst),
                                                    self.fill_value)
        out = self.propagate(edge_index, x=(h_src, h_dst), alpha=(a_src, a_dst),
                             edge_attr=edge_attr, size=size)
        return attention_output(self, out, res, edge_index, return_attention_weights)

    def message(self, x_j: Tensor, alpha_j: Tensor, alpha_i: Optional[Tensor],
                edge_attr: Optional[Tensor], index: Tensor, ptr: Optional[Tensor],
                size_i: Optional[int]) -> Tensor:
        alpha = alpha_j if alpha_i is None else alpha_j + alpha_i
        if edge_attr is not None and self.lin_edge is not None and index.numel() > 0:
            e = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
            alpha = alpha + (e * self.att_edge).sum(-1)
        alpha = F.leaky_relu(alpha, self.negative_slope)
        return attention_message(self, x_j, alpha, index, ptr, size_i)

    def message_and_aggregate(self, adj: Adjacency, x: Tuple[Tensor, Tensor],
                              alpha: Tuple[Tensor, Optional[Tensor]],
                              edge_attr: Optional[Tensor]) -> Tensor:
        a_src, a_dst = alpha
        score = a_src.index_select(0, adj.src)
        if a_dst is not None:
            score = score + a_dst.index_select(0, adj.dst)
        if edge_attr is not None and self.lin_edge is not None and adj.num_edges > 0:
            e = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
            score = score + (e * self.att_edge).sum(-1)
        score = F.leaky_relu(score, self.negative_slope)
        out, self._alpha = attention_matmul(adj, x, score, self.dropout, self.training,
                                            self.aggr)
        return out

    @classmethod
    def from_pyg(cls, layer) -> 'GATConv':
        """A copy of ``torch_geometric.nn.GATConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, heads=layer.heads,
                  concat=layer.concat, negative_slope=layer.negative_slope,
                  dropout=layer.dropout, add_self_loops=layer.add_self_loops,
                  edge_dim=layer.edge_dim, fill_value=layer.fill_value,
                  bias=layer.bias is not None, residual=getattr(layer, 'residual', False),
                  flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'heads={self.heads})')
