from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.aggr import MultiAggregation
from torch_geometric.nn.dense.linear import Linear

from ..core import Adjacency, GDLConv, matmul
from ._common import aggr_of, check_features, load_pyg, pair, source_of, target_of


class SAGEConv(GDLConv):
    r"""GraphSAGE of Hamilton et al., "Inductive Representation Learning on Large Graphs"
    (NeurIPS 2017, https://arxiv.org/abs/1706.02216), on the one core.

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \bigoplus_{j \in \mathcal{N}(i)} \mathbf{x}_j

    with :math:`\bigoplus` = mean (default), sum, max or min; with ``project`` the sources are
    first mapped by :math:`\mathrm{ReLU}(\mathbf{W}_3 \mathbf{x}_j + \mathbf{b})`, with
    ``normalize`` the output rows are scaled to unit L2 norm. Mean and sum are linear in
    :math:`\mathbf{x}_j` and run fused (a cached CSR product); other aggregations, the
    explainer and message hooks run PyG's gather/message/scatter.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        in_channels (int or tuple): Input features (or a pair ``(F_src, F_dst)`` for bipartite
            graphs).
        out_channels (int): Output features.
        aggr (str or Aggregation, optional): Any aggregation PyG accepts (string,
            list, module). (default: :obj:`"mean"`)
        normalize (bool, optional): L2-normalise the output rows. (default: :obj:`False`)
        root_weight (bool, optional): Add the root term :math:`\mathbf{W}_1 \mathbf{x}_i`.
            (default: :obj:`True`)
        project (bool, optional): Project the source features first (as PyG). (default:
            :obj:`False`)
        bias (bool, optional): Learn an additive bias (in :math:`\mathbf{W}_2`'s linear map, as
            PyG). (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_{src}, F_{src}), (N_{dst}, F_{dst}))`, edge indices :math:`(2, E)`
        - **output:** node features :math:`(N_{dst}, F_{out})`
    """

    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 aggr: Any = 'mean', normalize: bool = False, root_weight: bool = True,
                 project: bool = False, bias: bool = True, **kwargs):
        super().__init__(aggr=aggr, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight
        self.project = project
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        if project:
            self.lin = Linear(in_channels[0], in_channels[0], bias=True)
        aggr_out = in_channels[0]
        if isinstance(self.aggr_module, MultiAggregation):  # as PyG: the concatenated width
            aggr_out = self.aggr_module.get_out_channels(in_channels[0])
        self.lin_l = Linear(aggr_out, out_channels, bias=bias)
        if root_weight:
            self.lin_r = Linear(in_channels[1], out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.project:
            self.lin.reset_parameters()
        self.lin_l.reset_parameters()
        if self.root_weight:
            self.lin_r.reset_parameters()

    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Tensor,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x = pair(x, 'SAGEConv')
        in_src = self.in_channels if isinstance(self.in_channels, int) else self.in_channels[0]
        check_features(x[0], in_src, 'SAGEConv')
        if self.project:
            x = (self.lin(x[0]).relu(), x[1])
        out = self.lin_l(self.propagate(edge_index, x=x, size=size))
        x_root = target_of(x)
        if self.root_weight and x_root is not None:
            out = out + self.lin_r(x_root)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def message_and_aggregate(self, adj: Adjacency, x: Tuple[Tensor, Optional[Tensor]]
                              ) -> Tensor:
        return matmul(adj, source_of(x), None, self.aggr)

    @classmethod
    def from_pyg(cls, layer) -> 'SAGEConv':
        """A copy of ``torch_geometric.nn.SAGEConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, aggr=aggr_of(layer),
                  normalize=layer.normalize, root_weight=layer.root_weight,
                  project=layer.project, bias=layer.lin_l.bias is not None, flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'aggr={self.aggr})')
