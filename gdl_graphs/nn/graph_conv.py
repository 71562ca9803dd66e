from __future__ import annotations

from typing import Optional, Tuple, Union

from torch import Tensor
from torch.nn import Linear

from ..core import GDLConv


class GraphConv(GDLConv):
    r"""The graph convolution of Morris et al., "Weisfeiler and Leman Go Neural"
    (AAAI 2019, https://arxiv.org/abs/1810.02244), on the one core.

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2
        \bigoplus_{j \in \mathcal{N}(i)} e_{j,i} \cdot \mathbf{x}_j

    The message is linear in :math:`\mathbf{x}_j`, so sum and mean run fused (a cached CSR
    product, no ``E x F`` tensor); max, min and mul run on the generic path.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        in_channels: input features (or a pair for bipartite graphs).
        out_channels: output features.
        aggr: ``'sum'`` (default), ``'mean'``, ``'max'``, ``'min'`` or ``'mul'``.
        bias: learn an additive bias (in :math:`\mathbf{W}_2`'s linear map, as PyG).

    Shapes:
        x ``[N, F_in]``, edge_index ``[2, E]``, edge_weight ``[E]`` (optional) -> ``[N, F_out]``.
    """

    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 aggr: str = 'sum', bias: bool = True, **kwargs):
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

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_weight: Optional[Tensor] = None,
                size: Optional[Tuple[int, int]] = None) -> Tensor:
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        if size is None:
            size = (x_src.size(0), x_dst.size(0))
        out = self.propagate_linear(edge_index, x_src, edge_weight, size=size)
        return self.lin_rel(out) + self.lin_root(x_dst)

    @classmethod
    def from_pyg(cls, layer) -> 'GraphConv':
        """A copy of ``torch_geometric.nn.GraphConv`` with the same weights."""
        out = cls(layer.in_channels, layer.out_channels, aggr=_aggr_name(layer.aggr),
                  bias=layer.lin_rel.bias is not None)
        out = out.to(layer.lin_rel.weight.dtype)  # before loading: no float32 rounding
        out.load_state_dict(_strip(layer.state_dict()), strict=True)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels[0]}, {self.out_channels}, '
                f'aggr={self.aggr})')


def _aggr_name(aggr) -> str:
    if not isinstance(aggr, str):
        raise ValueError(f'cannot convert the aggregation {aggr!r}: use a string aggregation')
    return 'sum' if aggr == 'add' else aggr


def _strip(state: dict) -> dict:
    """Drop PyG's aggregation-module buffers from a state dict."""
    return {k: v for k, v in state.items() if not k.startswith('aggr_module')}
