from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Linear, Module, Sequential, Sigmoid, SiLU, Tanh

from ..core import (
    GDLConv,
    check_edge_index,
    check_finite,
    check_node_features,
    degree,
    plain,
    scatter,
)


class EGNNConv(GDLConv):
    r"""The E(n)-equivariant graph convolution (EGCL) of Satorras, Hoogeboom and Welling,
    "E(n) Equivariant Graph Neural Networks" (ICML 2021, https://arxiv.org/abs/2102.09844),
    on the one core. It updates node features *and* coordinates:

    .. math::
        \mathbf{m}_{ij} &= \phi_e\big(\mathbf{h}_i, \mathbf{h}_j,
            \|\mathbf{x}_i - \mathbf{x}_j\|^2, a_{ij}\big) \\
        \mathbf{x}'_i &= \mathbf{x}_i + \operatorname*{agg}_{j \to i}
            (\mathbf{x}_i - \mathbf{x}_j)\, \phi_x(\mathbf{m}_{ij}) \\
        \mathbf{h}'_i &= [\mathbf{h}_i +]\ \phi_h\Big(\mathbf{h}_i,
            \sum_{j \to i} \mathbf{m}_{ij}\Big)

    with :math:`\operatorname{agg}` the mean (default, as the paper's reference code) or the
    sum. The layers, their names and their initialisation follow the reference code
    (``E_GCL`` of https://github.com/vgsatorras/egnn), so its ``state_dict`` loads as is
    (:meth:`from_reference`). The messages run on the generic core path (gather, message,
    one :func:`gdl_graphs.core.scatter` for messages and coordinate updates together); the first
    layer of :math:`\phi_e` is split into node-level products, so no ``E x 2F`` concatenation
    is ever built.

    Equivariance: E(n) equivariant (rotations, reflections and translations of ``pos`` move the
    output positions alike and leave the output features unchanged) and permutation
    equivariant.

    Args:
        in_channels (int): Node features :math:`F_{in}`.
        hidden_channels (int): Width of the message and update MLPs.
        out_channels (int): Output node features (must equal ``in_channels`` with ``residual``).
        edge_dim (int, optional): Edge attribute features :math:`a_{ij}` (0: none). (default:
            :obj:`0`)
        aggr (str, optional): Aggregation of the messages, ``'sum'`` (paper) or ``'mean'``.
            (default: :obj:`"sum"`)
        coords_agg (str, optional): Aggregation of the coordinate updates, ``'mean'`` or
            ``'sum'``. (default: :obj:`"mean"`)
        residual (bool, optional): Add the input features to the output (as the reference code).
            (default: :obj:`True`)
        attention (bool, optional): Gate every message by a learnt sigmoid. (default: :obj:`False`)
        normalize (bool, optional): Divide :math:`\mathbf{x}_i - \mathbf{x}_j` by its norm (+1e-8).
            (default: :obj:`False`)
        tanh (bool, optional): Bound the coordinate weight :math:`\phi_x` with a tanh. (default:
            :obj:`False`)
        update_pos (bool, optional): Update the coordinates (``False``: return ``pos`` unchanged).
            (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, positions :math:`(N, n)` (any dimension
          :math:`n`), edge indices :math:`(2, E)` (source, target), edge features :math:`(E, D)`
          *(optional)*
        - **output:** the pair (node features :math:`(N, F_{out})`, positions :math:`(N, n)`)
    """

    edge_list_only = True

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 edge_dim: int = 0, aggr: str = 'sum', coords_agg: str = 'mean',
                 residual: bool = True, attention: bool = False, normalize: bool = False,
                 tanh: bool = False, update_pos: bool = True, **kwargs):
        super().__init__(aggr=aggr, **kwargs)
        if aggr not in ('sum', 'add', 'mean'):
            raise ValueError(f"EGNNConv aggregates messages with 'sum' or 'mean', got {aggr!r}")
        if coords_agg not in ('sum', 'mean'):
            raise ValueError(f"coords_agg must be 'sum' or 'mean', got {coords_agg!r}")
        if residual and in_channels != out_channels:
            raise ValueError(f'residual=True needs in_channels == out_channels, got '
                             f'{in_channels} and {out_channels}; pass residual=False')
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.edge_dim = edge_dim
        self.coords_agg = coords_agg
        self.residual = residual
        self.attention = attention
        self.normalize = normalize
        self.tanh = tanh
        self.update_pos = update_pos
        self.epsilon = 1e-8
        h = hidden_channels
        self.edge_mlp = Sequential(Linear(2 * in_channels + 1 + edge_dim, h), SiLU(),
                                   Linear(h, h), SiLU())
        self.node_mlp = Sequential(Linear(h + in_channels, h), SiLU(), Linear(h, out_channels))
        coord = [Linear(h, h), SiLU(), Linear(h, 1, bias=False)]
        if tanh:
            coord.append(Tanh())
        self.coord_mlp = Sequential(*coord)
        if attention:
            self.att_mlp = Sequential(Linear(h, 1), Sigmoid())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in self.modules():
            if isinstance(m, Linear):
                m.reset_parameters()
        torch.nn.init.xavier_uniform_(self.coord_mlp[2].weight, gain=0.001)

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor,
                edge_attr: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        n = x.size(0) if isinstance(x, Tensor) else None
        check_node_features(x, channels=self.in_channels)
        check_node_features(pos, n, name='pos')
        if pos.dim() != 2 or not pos.is_floating_point():
            raise ValueError(f'pos must be a floating tensor of shape [N, n] (one point per '
                             f'row), got {list(pos.shape)} {pos.dtype}')
        check_finite(pos, 'pos')
        check_edge_index(edge_index, n)
        ei = plain(edge_index)
        if self.edge_dim:
            if edge_attr is None or edge_attr.shape != (ei.size(1), self.edge_dim):
                got = None if edge_attr is None else list(edge_attr.shape)
                raise ValueError(f'edge_attr must have shape [E, edge_dim] = '
                                 f'[{ei.size(1)}, {self.edge_dim}], got {got}')
        elif edge_attr is not None:
            raise ValueError('edge_attr given but the layer was built with edge_dim=0; '
                             'pass edge_dim=edge_attr.size(1)')
        f = self.in_channels
        lin = self.edge_mlp[0]
        w = lin.weight
        # first layer of phi_e split by blocks: [h_i, h_j, r_ij, a_ij] W^T = h_i A + h_j B + ...
        a = x @ w[:, :f].T
        if lin.bias is not None:
            a = a + lin.bias
        b = x @ w[:, f:2 * f].T
        out = self.propagate(ei, a=a, b=b, pos=pos, edge_attr=edge_attr, size=(n, n))
        h = self.hidden_channels
        m_agg, pos_agg = out[:, :h], out[:, h:]
        if self.aggr == 'mean' or (self.update_pos and self.coords_agg == 'mean'):
            target = ei[1] if self.flow == 'source_to_target' else ei[0]
            deg = degree(target, n, dtype=out.dtype).clamp_(min=1).unsqueeze(-1)
            if self.aggr == 'mean':
                m_agg = m_agg / deg
            if self.coords_agg == 'mean':
                pos_agg = pos_agg / deg
        x_out = self.node_mlp(torch.cat([x, m_agg], dim=-1))
        if self.residual:
            x_out = x + x_out
        pos_out = pos + pos_agg if self.update_pos else pos
        return x_out, pos_out

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,
                  dim_size: Optional[int] = None) -> Tensor:
        """One core scatter (sum) of ``[m_ij, dx_ij]``; the means are taken in ``forward``."""
        return scatter(inputs, index, dim_size, 'sum')

    def message(self, a_i: Tensor, b_j: Tensor, pos_i: Tensor, pos_j: Tensor,
                edge_attr: Optional[Tensor]) -> Tensor:
        f = self.in_channels
        diff = pos_i - pos_j
        w = self.edge_mlp[0].weight
        radial = (diff * diff).sum(-1, keepdim=True)
        pre = torch.addcmul(a_i + b_j, radial, w[:, 2 * f])
        if edge_attr is not None:
            pre = pre + edge_attr @ w[:, 2 * f + 1:].T
        m = self.edge_mlp[3](self.edge_mlp[2](self.edge_mlp[1](pre)))
        if self.attention:
            m = m * self.att_mlp(m)
        if not self.update_pos:
            return m
        if self.normalize:
            diff = diff / (radial.sqrt().detach() + self.epsilon)
        return torch.cat([m, diff * self.coord_mlp(m)], dim=-1)

    @classmethod
    def from_reference(cls, layer: Module, **kwargs) -> 'EGNNConv':
        """A copy of the reference ``E_GCL`` layer (https://github.com/vgsatorras/egnn,
        ``models/gcl.py`` / ``egnn_clean.py``) with the same weights and options."""
        edge_in = layer.edge_mlp[0].in_features
        in_channels = layer.node_mlp[0].in_features - layer.edge_mlp[0].out_features
        opts = dict(edge_dim=edge_in - 2 * in_channels - 1,
                    coords_agg=getattr(layer, 'coords_agg', 'mean'),
                    residual=getattr(layer, 'residual', True),
                    attention=getattr(layer, 'attention', False),
                    normalize=getattr(layer, 'normalize', False),
                    tanh=getattr(layer, 'tanh', False))
        opts.update(kwargs)
        out = cls(in_channels, layer.edge_mlp[0].out_features, layer.node_mlp[2].out_features,
                  **opts).to(layer.edge_mlp[0].weight.dtype)
        out.load_state_dict(layer.state_dict(), strict=True)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'hidden={self.hidden_channels}, edge_dim={self.edge_dim}, '
                f'coords_agg={self.coords_agg})')
