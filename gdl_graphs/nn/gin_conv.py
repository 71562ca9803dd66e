from __future__ import annotations

import copy
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear

from ..core import Adjacency, GDLConv, matmul
from ._common import aggr_of, load_pyg, pair, reset_module, source_of, target_of


class GINConv(GDLConv):
    r"""The graph isomorphism operator of Xu et al., "How Powerful are Graph Neural Networks?"
    (ICLR 2019, https://arxiv.org/abs/1810.00826), on the one core.

    .. math::
        \mathbf{x}'_i = h_{\mathbf{\Theta}} \left( (1 + \epsilon) \cdot \mathbf{x}_i +
        \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j \right)

    The sum is linear in :math:`\mathbf{x}_j` and runs fused (a cached CSR product); other
    aggregations, the explainer and message hooks run PyG's gather/message/scatter.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        nn (callable): The network :math:`h_{\mathbf{\Theta}}` (e.g. an MLP), applied node-wise.
        eps (float, optional): The initial :math:`\epsilon`. (default: :obj:`0.0`)
        train_eps (bool, optional): Learn :math:`\epsilon` (a parameter), else a buffer. (default:
            :obj:`False`)
        aggr (str or Aggregation, optional): Any aggregation PyG accepts (string, list,
            module), passed as a keyword argument. (default: :obj:`"sum"`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_{src}, F), (N_{dst}, F))`, edge indices :math:`(2, E)`
        - **output:** node features :math:`(N_{dst}, F_{out})`
    """

    def __init__(self, nn: Callable, eps: float = 0.0, train_eps: bool = False, **kwargs):
        kwargs.setdefault('aggr', 'sum')
        super().__init__(**kwargs)
        self.nn = nn
        self.initial_eps = eps
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer('eps', torch.empty(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_module(self.nn)
        self.eps.data.fill_(self.initial_eps)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Tensor,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x = pair(x, 'GINConv')
        out = self.propagate(edge_index, x=x, size=size)
        x_root = target_of(x)
        if x_root is not None:
            out = out + (1 + self.eps) * x_root
        return self.nn(out)

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def message_and_aggregate(self, adj: Adjacency, x: Tuple[Tensor, Optional[Tensor]]
                              ) -> Tensor:
        return matmul(adj, source_of(x), None, self.aggr)

    @classmethod
    def from_pyg(cls, layer) -> 'GINConv':
        """A copy of ``torch_geometric.nn.GINConv`` (its ``nn`` deep-copied) with the same
        weights and :math:`\\epsilon`."""
        out = cls(copy.deepcopy(layer.nn), eps=layer.initial_eps,
                  train_eps=isinstance(layer.eps, torch.nn.Parameter),
                  aggr=aggr_of(layer), flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(nn={self.nn})'


def _in_features(nn) -> int:
    first = nn[0] if isinstance(nn, torch.nn.Sequential) else nn
    for name in ('in_features', 'in_channels'):
        if hasattr(first, name):
            return int(getattr(first, name))
    raise ValueError('GINEConv(edge_dim=...) could not infer the input channels of nn: '
                     'start nn with a Linear layer')


class GINEConv(GDLConv):
    r"""GIN with edge features, Hu et al., "Strategies for Pre-training Graph Neural
    Networks" (ICLR 2020, https://arxiv.org/abs/1905.12265), on the one core.

    .. math::
        \mathbf{x}'_i = h_{\mathbf{\Theta}} \left( (1 + \epsilon) \cdot \mathbf{x}_i +
        \sum_{j \in \mathcal{N}(i)} \mathrm{ReLU} ( \mathbf{x}_j + \mathbf{W}
        \mathbf{e}_{j,i} + \mathbf{b} ) \right)

    (:math:`\mathbf{W}, \mathbf{b}` only with ``edge_dim``; otherwise the edge features must
    have the node features' width). The message is not linear in :math:`\mathbf{x}_j`: it runs
    PyG's gather/message/scatter.

    Equivariance: permutation equivariant (node relabelling permutes the output rows; edge
    features travel with their edges).

    Args:
        nn (torch.nn.Module): The network :math:`h_{\mathbf{\Theta}}`.
        eps (float, optional): The initial :math:`\epsilon`. (default: :obj:`0.0`)
        train_eps (bool, optional): Learn :math:`\epsilon`. (default: :obj:`False`)
        edge_dim (int, optional): Edge feature width, mapped to ``nn``'s input width by a linear
            layer. (default: :obj:`None`)
        aggr (str or Aggregation, optional): Any aggregation PyG accepts (string, list,
            module), passed as a keyword argument. (default: :obj:`"sum"`)

    Shapes:
        - **input:** node features :math:`(N, F)` or a pair, edge indices :math:`(2, E)`, edge
          features :math:`(E, D)`
        - **output:** node features :math:`(N_{dst}, F_{out})`
    """


    def __init__(self, nn: torch.nn.Module, eps: float = 0.0, train_eps: bool = False,
                 edge_dim: Optional[int] = None, **kwargs):
        kwargs.setdefault('aggr', 'sum')
        super().__init__(**kwargs)
        self.nn = nn
        self.initial_eps = eps
        self.edge_dim = edge_dim
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer('eps', torch.empty(1))
        self.lin = Linear(edge_dim, _in_features(nn)) if edge_dim is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_module(self.nn)
        self.eps.data.fill_(self.initial_eps)
        if self.lin is not None:
            self.lin.reset_parameters()

    def forward(self, x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x = pair(x, 'GINEConv')
        if edge_attr is None:
            raise ValueError('GINEConv needs edge_attr [E, D]: pass edge features, or use '
                             'GINConv for graphs without them')
        if edge_attr.dim() == 1:
            edge_attr = edge_attr.unsqueeze(-1)
        if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided \
                and edge_attr.size(0) != edge_index.size(-1):
            raise ValueError(f'edge_attr has {edge_attr.size(0)} rows but edge_index has '
                             f'{edge_index.size(-1)} edges: one row per edge')
        if self.lin is None and edge_attr.size(-1) != x[0].size(-1):
            raise ValueError(f'edge_attr has {edge_attr.size(-1)} channels but x has '
                             f'{x[0].size(-1)}: set GINEConv(edge_dim={edge_attr.size(-1)})')
        out = self.propagate(edge_index, x=x, edge_attr=edge_attr, size=size)
        x_root = target_of(x)
        if x_root is not None:
            out = out + (1 + self.eps) * x_root
        return self.nn(out)

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        if self.lin is not None:
            edge_attr = self.lin(edge_attr)
        return (x_j + edge_attr).relu()

    @classmethod
    def from_pyg(cls, layer) -> 'GINEConv':
        """A copy of ``torch_geometric.nn.GINEConv`` (its ``nn`` deep-copied) with the same
        weights and :math:`\\epsilon`."""
        edge_dim = None if layer.lin is None else layer.lin.in_channels
        out = cls(copy.deepcopy(layer.nn), eps=layer.initial_eps,
                  train_eps=isinstance(layer.eps, torch.nn.Parameter), edge_dim=edge_dim,
                  aggr=aggr_of(layer), flow=layer.flow)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(nn={self.nn})'
