from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear

from ..core import Adjacency, GDLConv, matmul, plain, scatter, sparse_to_edge_index
from ._common import check_features, load_pyg, message_weighted, pair


def gcn_norm_values(edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int,
                    improved: bool = False, add_self_loops: bool = True,
                    dtype: torch.dtype = torch.float32,
                    flow: str = 'source_to_target') -> Tuple[Tensor, Optional[Tensor]]:
    r"""The symmetric GCN normalisation of ``edge_index`` *in place of* new edges.

    Returns ``(value, loop)``: ``value[e]`` is the normalised weight of edge ``e`` (0 for the
    self-loops of the input, which are replaced) and ``loop[i]`` the weight of the single
    self-loop of node ``i`` (``None`` without self-loops), so that
    :math:`\hat{D}^{-1/2}\hat{A}\hat{D}^{-1/2} X = A_{\mathrm{value}} X + \mathrm{loop} \odot X`.
    ``edge_index`` is never rebuilt, so its cached CSR serves every call.

    As PyG's ``gcn_norm`` (``add_remaining_self_loops``): a node's existing self-loop keeps its
    weight, the others get ``2`` (``improved``) or ``1``; the fill applies only when
    ``edge_weight`` is given (without weights every loop has weight 1, as in PyG 2.8).
    """
    src, dst = plain(edge_index)
    if flow == 'target_to_source':
        src, dst = dst, src
    if edge_weight is None:
        weight = torch.ones(src.numel(), dtype=dtype, device=src.device)
    else:
        weight = edge_weight
    if not add_self_loops:
        deg = scatter(weight, dst, num_nodes, 'sum')
        dinv = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
        return dinv.index_select(0, src) * weight * dinv.index_select(0, dst), None
    is_loop = src == dst
    if edge_weight is None:
        loop_w = torch.ones(num_nodes, dtype=dtype, device=src.device)
    else:
        loop_w = torch.full((num_nodes,), 2.0 if improved else 1.0, dtype=weight.dtype,
                            device=src.device)
        if bool(is_loop.any()):
            loop_w = loop_w.index_put((src[is_loop],), weight[is_loop])
    off = weight.masked_fill(is_loop, 0.0)
    deg = scatter(off, dst, num_nodes, 'sum') + loop_w
    dinv = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
    value = dinv.index_select(0, src) * off * dinv.index_select(0, dst)
    return value, dinv * loop_w * dinv


class GCNConv(GDLConv):
    r"""The graph convolution of Kipf and Welling, "Semi-Supervised Classification with Graph
    Convolutional Networks" (ICLR 2017, https://arxiv.org/abs/1609.02907), on the one core.

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta}^{\top} \sum_{j \in \mathcal{N}(i) \cup \{ i \}}
        \frac{e_{j,i}}{\sqrt{\hat{d}_j \hat{d}_i}} \mathbf{x}_j + \mathbf{b},
        \qquad \hat{d}_i = \sum_{j \in \mathcal{N}(i) \cup \{i\}} e_{j,i}

    The message is linear in :math:`\mathbf{x}_j`: the normalised adjacency runs as one cached
    CSR product of the *input* ``edge_index`` (its self-loops weighted 0) plus a diagonal term
    for the added self-loops, so no edge list is rebuilt and no ``E x F`` tensor exists.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        in_channels (int): Input features.
        out_channels (int): Output features.
        improved (bool, optional): Self-loops of weight 2 (:math:`\hat{A} = A + 2I`); as PyG 2.8
            this only changes the result when ``edge_weight`` is given. (default: :obj:`False`)
        cached (bool, optional): Normalise once and reuse (transductive learning on one fixed
            graph). (default: :obj:`False`)
        add_self_loops (bool, optional): Add remaining self-loops; :obj:`None` follows
            ``normalize``. (default: :obj:`None`)
        normalize (bool, optional): Apply the symmetric normalisation (otherwise a plain weighted
            sum). (default: :obj:`True`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        kernel (str, optional): ``'auto'``, ``'generic'`` or ``'fused'`` (see
            :class:`~gdl_graphs.core.GDLConv`). (default: :obj:`"auto"`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, edge indices :math:`(2, E)`, edge weights
          :math:`(E)` *(optional)*
        - **output:** node features :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, improved: bool = False,
                 cached: bool = False, add_self_loops: Optional[bool] = None,
                 normalize: bool = True, bias: bool = True, **kwargs):
        kwargs.setdefault('aggr', 'sum')
        super().__init__(**kwargs)
        if add_self_loops is None:
            add_self_loops = normalize
        if add_self_loops and not normalize:
            raise ValueError('GCNConv cannot add self-loops without normalize=True: pass '
                             'add_self_loops=False or normalize=True')
        if self.aggr not in ('sum', 'add'):
            raise ValueError(f"GCNConv sums its messages, got aggr={self.aggr!r}: use 'sum'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self._cache: Optional[tuple] = None
        self.lin = Linear(in_channels, out_channels, bias=False, weight_initializer='glorot')
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin.reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cache = None

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        if isinstance(x, (tuple, list)):
            raise ValueError('GCNConv does not support bipartite message passing (a pair of '
                             'node feature tensors): use SAGEConv or GraphConv instead')
        x, _ = pair(x, 'GCNConv')
        check_features(x, self.in_channels, 'GCNConv')
        if not isinstance(edge_index, Tensor) or edge_index.layout != torch.strided:
            # a sparse adj_t (rows = targets): its entries are the edges, its values weights
            if self.flow != 'source_to_target':
                raise ValueError("GCNConv with flow='target_to_source' cannot take a sparse "
                                 "adj_t: pass adj_t.t() or an edge_index")
            edge_index, values = sparse_to_edge_index(edge_index)
            edge_weight = values if edge_weight is None else edge_weight
        if edge_weight is not None and edge_weight.shape != (edge_index.size(-1),):
            raise ValueError(f'edge_weight must have shape [E] = [{edge_index.size(-1)}], got '
                             f'{list(edge_weight.shape)}')
        n = x.size(0)
        loop = None
        if self.normalize:
            if self._cache is not None:  # propagate validates edge_index
                edge_weight, loop = self._cache
            else:
                self._validate(edge_index, (n, n), {})  # before the normalisation indexes
                edge_weight, loop = gcn_norm_values(edge_index, edge_weight, n, self.improved,
                                                    self.add_self_loops, x.dtype, self.flow)
                if self.cached:
                    self._cache = (edge_weight, loop)
        x = self.lin(x)
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight, size=(n, n))
        if loop is not None:
            out = out + loop.unsqueeze(-1).to(x.dtype) * x
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
        return message_weighted(x_j, edge_weight)

    def message_and_aggregate(self, adj: Adjacency, x: Tensor,
                              edge_weight: Optional[Tensor]) -> Tensor:
        return matmul(adj, x, edge_weight, 'sum')

    @classmethod
    def from_pyg(cls, layer) -> 'GCNConv':
        """A copy of ``torch_geometric.nn.GCNConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, improved=layer.improved,
                  cached=layer.cached, add_self_loops=layer.add_self_loops,
                  normalize=layer.normalize, bias=layer.bias is not None,
                  flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.in_channels}, {self.out_channels})'
