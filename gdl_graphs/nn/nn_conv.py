from __future__ import annotations

import copy
import math
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Linear, Parameter

from ..core import GDLConv, plain, scatter
from ..core.validate import check_edge_index
from .gat_conv import check_edge_attr
from .gin_conv import _reset
from .gcn_conv import load_pyg, reject_sparse
from .graph_conv import _aggr_name
from .sage_conv import _pair


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
        in_channels: input features (or a pair ``(F_src, F_dst)``).
        out_channels: output features.
        nn: maps ``[E, D]`` edge features to ``[E, F_in * F_out]``.
        aggr: ``'sum'`` (default), ``'mean'``, ``'max'`` or ``'min'``.
        root_weight: add :math:`\mathbf{\Theta} \mathbf{x}_i`.
        bias: learn an additive bias.

    Shapes:
        x ``[N, F_in]``, edge_index ``[2, E]``, edge_attr ``[E, D]`` -> ``[N_dst, F_out]``.
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
            self.lin = Linear(in_channels[1], out_channels, bias=False)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        _reset(self.nn)
        if self.root_weight:
            bound = 1.0 / math.sqrt(self.lin.weight.size(1))  # PyG's 'uniform' initialiser
            with torch.no_grad():
                self.lin.weight.uniform_(-bound, bound)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        reject_sparse(edge_index, 'NNConv')
        x_src, x_dst = _pair(x)
        check_edge_index(edge_index, x_src.size(0))
        if edge_attr is None:
            raise ValueError('NNConv needs edge_attr [E, D]: the edge features condition the '
                             'filters')
        edge_attr = check_edge_attr(edge_attr, edge_index.size(1))
        src, dst = plain(edge_index)
        n_dst = x_dst.size(0) if size is None else int(size[1])
        weight = self.nn(edge_attr)
        if weight.numel() != edge_attr.size(0) * self.in_channels_l * self.out_channels:
            raise ValueError(f'NNConv.nn must map edge_attr to [E, {self.in_channels_l} * '
                             f'{self.out_channels}], got {list(weight.shape)}')
        weight = weight.view(-1, self.in_channels_l, self.out_channels)
        msg = torch.bmm(x_src.index_select(0, src).unsqueeze(1), weight).squeeze(1)
        out = scatter(msg, dst, n_dst, self.aggr)
        if self.root_weight:
            out = out + self.lin(x_dst)
        if self.bias is not None:
            out = out + self.bias
        return out

    @classmethod
    def from_pyg(cls, layer) -> 'NNConv':
        """A copy of ``torch_geometric.nn.NNConv`` (its ``nn`` deep-copied) with the same
        weights."""
        out = cls(layer.in_channels, layer.out_channels, copy.deepcopy(layer.nn),
                  aggr=_aggr_name(layer.aggr), root_weight=layer.root_weight,
                  bias=layer.bias is not None)
        return load_pyg(out, layer)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'aggr={self.aggr}, nn={self.nn})')
