from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter

from ..core import GDLConv, cached, plain, scatter
from ..core.validate import check_edge_index, check_node_features
from .gcn_conv import load_pyg, reject_sparse


FillValue = Union[float, Tensor, str]


def glorot_(t: Optional[Tensor]) -> None:
    """PyG's ``glorot``: uniform in :math:`\\pm\\sqrt{6 / (\\mathrm{fan}_{-2} +
    \\mathrm{fan}_{-1})}`."""
    if t is not None:
        a = math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
        with torch.no_grad():
            t.uniform_(-a, a)


def self_loop_graph(edge_index: Tensor, edge_attr: Optional[Tensor], num_nodes: int,
                    fill_value: FillValue = 'mean') -> Tuple[Tensor, Optional[Tensor]]:
    """PyG's ``remove_self_loops`` then ``add_self_loops``: the edges without their
    self-loops, followed by one self-loop per node ``0 .. num_nodes-1``.

    The new ``edge_index`` is cached per input ``edge_index`` (built once per graph, so the
    caches keyed on it survive across calls). The loops' ``edge_attr`` is ``fill_value`` (a
    float or a tensor) or the reduction (``'mean'``, ``'sum'``, ``'max'``, ...) of the node's
    incoming edge attributes."""
    ei = plain(edge_index)

    def build():
        keep = (ei[0] != ei[1]).nonzero().view(-1)
        loop = torch.arange(num_nodes, device=ei.device, dtype=ei.dtype)
        return keep, torch.cat([ei.index_select(1, keep), torch.stack([loop, loop])], 1)

    keep, new = cached((edge_index,), ('self_loop_graph', num_nodes), build)
    if edge_attr is None:
        return new, None
    kept = edge_attr.index_select(0, keep)
    if isinstance(fill_value, str):
        loop_attr = scatter(kept, ei[1].index_select(0, keep), num_nodes, fill_value)
    elif isinstance(fill_value, Tensor):
        loop_attr = fill_value.to(edge_attr.device, edge_attr.dtype)
        if edge_attr.dim() != loop_attr.dim():
            loop_attr = loop_attr.unsqueeze(0)
        loop_attr = loop_attr.expand([num_nodes] + [-1] * (loop_attr.dim() - 1))
    else:
        loop_attr = edge_attr.new_full((num_nodes,) + tuple(edge_attr.shape[1:]),
                                       float(fill_value))
    return new, torch.cat([kept, loop_attr], 0)


def check_edge_attr(edge_attr: Optional[Tensor], num_edges: int) -> Optional[Tensor]:
    if edge_attr is None:
        return None
    if not isinstance(edge_attr, Tensor):
        raise ValueError(f'edge_attr must be a tensor [E, D], got {type(edge_attr).__name__}')
    if edge_attr.dim() == 1:
        edge_attr = edge_attr.view(-1, 1)
    if edge_attr.size(0) != num_edges:
        raise ValueError(f'edge_attr has {edge_attr.size(0)} rows but edge_index has '
                         f'{num_edges} edges: one row per edge')
    return edge_attr


def attend(layer, score: Tensor, h_j: Tensor, dst: Tensor, n_dst: int, res: Optional[Tensor],
           edge_index: Tensor, return_attention_weights: Optional[bool]):
    """The part GATConv and GATv2Conv share: softmax of the edge scores ``[E, H]`` over the
    incoming edges of each target, dropout, the weighted sum of ``h_j`` ``[E, H, C]``, heads
    concatenated or averaged, then residual and bias."""
    alpha = layer.attention_softmax(score, dst, n_dst)
    alpha = F.dropout(alpha, p=layer.dropout, training=layer.training)
    out = scatter(h_j * alpha.unsqueeze(-1), dst, n_dst, 'sum')
    out = out.reshape(-1, layer.heads * layer.out_channels) if layer.concat else out.mean(dim=1)
    if res is not None:
        out = out + res
    if layer.bias is not None:
        out = out + layer.bias
    if return_attention_weights:
        return out, (edge_index, alpha)
    return out


def _pair_or_none(x) -> Tuple[Tensor, Tensor, bool]:
    if isinstance(x, Tensor):
        return x, x, False
    if isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(t, Tensor) for t in x):
        return x[0], x[1], True
    raise ValueError('x must be a tensor [N, F] or a pair (x_src, x_dst) of tensors '
                     '(a None target is not supported)')


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
    :meth:`GDLConv.attention_softmax` over each target's incoming edges (generic path).

    Equivariance: permutation equivariant (node relabelling permutes the output rows; the
    attention weights travel with their edges).

    Args:
        in_channels: input features (or a pair ``(F_src, F_dst)``: separate projections).
        out_channels: features per head.
        heads: number of attention heads :math:`H`.
        concat: concatenate the heads (``[N, H * C]``), else average them (``[N, C]``).
        negative_slope: LeakyReLU slope of the scores.
        dropout: dropout on the attention weights (training only).
        add_self_loops: remove existing self-loops, then add one per node.
        edge_dim: edge feature width (edge features enter the scores).
        fill_value: edge features of the added loops: a float, a tensor, or a reduction of
            the incoming edges' features (``'mean'`` as PyG, ``'sum'``, ``'max'``, ...).
        bias: learn an additive bias.
        residual: add a linear skip connection of the target features.

    Shapes:
        x ``[N, F_in]`` or a pair, edge_index ``[2, E]``, edge_attr ``[E, D]`` (optional)
        -> ``[N_dst, H * C]`` (or ``[N_dst, C]``); with ``return_attention_weights=True``
        also ``(edge_index, alpha [E', H])``.
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
            self.lin = Linear(in_channels, heads * out_channels, bias=False)
        else:
            self.lin_src = Linear(in_channels[0], heads * out_channels, bias=False)
            self.lin_dst = Linear(in_channels[1], heads * out_channels, bias=False)
        self.att_src = Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = Parameter(torch.empty(1, heads, out_channels))
        if edge_dim is not None:
            self.lin_edge = Linear(edge_dim, heads * out_channels, bias=False)
            self.att_edge = Parameter(torch.empty(1, heads, out_channels))
        else:
            self.lin_edge = None
            self.register_parameter('att_edge', None)
        total = out_channels * (heads if concat else 1)
        if residual:
            f_dst = in_channels if isinstance(in_channels, int) else in_channels[1]
            self.res = Linear(f_dst, total, bias=False)
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
                glorot_(lin.weight)
        glorot_(self.att_src)
        glorot_(self.att_dst)
        glorot_(self.att_edge)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None, size: Optional[Tuple[int, int]] = None,
                return_attention_weights: Optional[bool] = None):
        H, C = self.heads, self.out_channels
        reject_sparse(edge_index, 'GATConv')
        x_src, x_dst, bipartite = _pair_or_none(x)
        check_node_features(x_src, name='x_src' if bipartite else 'x')
        check_edge_index(edge_index)
        edge_attr = check_edge_attr(edge_attr, edge_index.size(1))
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
            edge_index, edge_attr = self_loop_graph(edge_index, edge_attr, min(n_src, n_dst),
                                                    self.fill_value)
        src, dst = plain(edge_index)
        alpha = a_src.index_select(0, src) + a_dst.index_select(0, dst)
        if edge_attr is not None and self.lin_edge is not None and src.numel() > 0:
            e = self.lin_edge(edge_attr).view(-1, H, C)
            alpha = alpha + (e * self.att_edge).sum(-1)
        alpha = F.leaky_relu(alpha, self.negative_slope)
        return attend(self, alpha, h_src.index_select(0, src), dst, n_dst, res, edge_index,
                      return_attention_weights)

    @classmethod
    def from_pyg(cls, layer) -> 'GATConv':
        """A copy of ``torch_geometric.nn.GATConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, heads=layer.heads,
                  concat=layer.concat, negative_slope=layer.negative_slope,
                  dropout=layer.dropout, add_self_loops=layer.add_self_loops,
                  edge_dim=layer.edge_dim, fill_value=layer.fill_value,
                  bias=layer.bias is not None, residual=getattr(layer, 'residual', False))
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'heads={self.heads})')
