from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from torch import Tensor
from torch_geometric.nn.dense.linear import Linear

from ..core import Adjacency, GDLConv, matmul
from ._common import (
    aggr_of,
    check_features,
    load_pyg,
    message_weighted,
    pair,
    source_of,
    target_of,
)


class GraphConv(GDLConv):
    r"""The graph convolution of Morris et al., "Weisfeiler and Leman Go Neural"
    (AAAI 2019, https://arxiv.org/abs/1810.02244), on the one core.

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \bigoplus_{j \in \mathcal{N}(i)} e_{j,i} \cdot \mathbf{x}_j

    The message is linear in :math:`\mathbf{x}_j`, so sum and mean run fused (a cached CSR
    product, no ``E x F`` tensor); every other aggregation, the explainer and message hooks
    run PyG's gather/message/scatter.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        in_channels (int or tuple): Input features (or a pair for bipartite graphs; ``-1``: lazy).
        out_channels (int): Output features.
        aggr (str or Aggregation, optional): Any aggregation PyG accepts (string,
            list, module). (default: :obj:`"sum"`)
        bias (bool, optional): Learn an additive bias (in :math:`\mathbf{W}_2`'s linear map, as
            PyG). (default: :obj:`True`)
        **kwargs (optional): ``flow``, ``kernel``, ... (see :class:`~gdl_graphs.core.GDLConv`).

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_{src}, F_{src}), (N_{dst}, F_{dst}))`, edge indices :math:`(2, E)` (or a sparse
          ``adj_t``), edge weights :math:`(E)` *(optional)*
        - **output:** node features :math:`(N_{dst}, F_{out})`
    """

    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 aggr: Any = 'sum', bias: bool = True, **kwargs):
        super().__init__(aggr=aggr, **kwargs)
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin_rel = Linear(in_channels[0], out_channels, bias=bias)
        self.lin_root = Linear(in_channels[1], out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_rel.reset_parameters()
        self.lin_root.reset_parameters()

    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Tensor,
                edge_weight: Optional[Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x = pair(x, 'GraphConv')
        check_features(x[0], self.in_channels[0], 'GraphConv')
        out = self.lin_rel(self.propagate(edge_index, x=x, edge_weight=edge_weight, size=size))
        x_root = target_of(x)
        if x_root is not None:
            out = out + self.lin_root(x_root)
        return out

    def message(self, x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
        return message_weighted(x_j, edge_weight)

    def message_and_aggregate(self, adj: Adjacency, x: Tuple[Tensor, Optional[Tensor]],
                              edge_weight: Optional[Tensor]) -> Tensor:
        return matmul(adj, source_of(x), edge_weight, self.aggr)

    @classmethod
    def from_pyg(cls, layer) -> 'GraphConv':
        """A copy of ``torch_geometric.nn.GraphConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, aggr=aggr_of(layer),
                  bias=layer.lin_rel.bias is not None, flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels[0]}, {self.out_channels}, '
                f'aggr={self.aggr})')
