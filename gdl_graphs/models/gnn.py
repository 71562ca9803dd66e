"""A GNN stack on the one core: depth, width, residual, dropout, batch norm, jumping
knowledge, virtual node, convolution by name; OGB's ``gin-virtual`` and PyG's ``BasicGNN``
are configurations of it."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, Module, ModuleList, ReLU, Sequential

from ..coarsening.core import global_pool
from ..nn import (
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    GraphConv,
    NNConv,
    SAGEConv,
    VirtualNode,
)
from .registry import register


def _gin_mlp(f_in: int, f_out: int) -> Module:
    """OGB's GIN MLP: ``Linear(F, 2C), BatchNorm, ReLU, Linear(2C, C)``."""
    return Sequential(Linear(f_in, 2 * f_out), BatchNorm1d(2 * f_out), ReLU(),
                      Linear(2 * f_out, f_out))


def _nn_conv(f_in, f_out, edge_dim, **kw):
    if edge_dim is None:
        raise ValueError("conv 'nn' (NNConv) needs edge features: pass edge_dim")
    net = Sequential(Linear(edge_dim, 32), ReLU(), Linear(32, f_in * f_out))
    kw.setdefault('aggr', 'mean')
    return NNConv(f_in, f_out, net, **kw)


# name -> (factory(f_in, f_out, edge_dim, **kwargs), takes edge features)
CONVS: Dict[str, tuple] = {
    'gcn': (lambda i, o, e, **kw: GCNConv(i, o, **kw), False),
    'graph': (lambda i, o, e, **kw: GraphConv(i, o, **kw), False),
    'sage': (lambda i, o, e, **kw: SAGEConv(i, o, **kw), False),
    'gin': (lambda i, o, e, **kw: GINConv(_gin_mlp(i, o), **{'train_eps': True, **kw}), False),
    'gine': (lambda i, o, e, **kw: GINEConv(_gin_mlp(i, o), edge_dim=e,
                                            **{'train_eps': True, **kw}), True),
    'gat': (lambda i, o, e, **kw: GATConv(i, o, edge_dim=e, **kw), True),
    'gatv2': (lambda i, o, e, **kw: GATv2Conv(i, o, edge_dim=e, **kw), True),
    'nn': (_nn_conv, True),
}
JK_MODES = ('last', 'sum', 'cat', 'max')
READOUTS = ('sum', 'mean', 'max')


def make_conv(name: str, in_channels: int, out_channels: int,
              edge_dim: Optional[int] = None, **kwargs) -> Module:
    """A convolution by name (one of :data:`CONVS`)."""
    if name not in CONVS:
        raise ValueError(f'unknown conv {name!r}: use one of {", ".join(sorted(CONVS))}')
    if name in ('gat', 'gatv2') and kwargs.get('concat', True) and kwargs.get('heads', 1) > 1:
        heads = kwargs['heads']
        if out_channels % heads:
            raise ValueError(f'{name} with {heads} concatenated heads needs a width divisible '
                             f'by heads, got {out_channels}')
        out_channels //= heads
    return CONVS[name][0](in_channels, out_channels, edge_dim, **kwargs)


class GNN(Module):
    r"""A stack of ``num_layers`` graph convolutions (Gilmer et al. 2017,
    https://arxiv.org/abs/1704.01212; the OGB baselines, Hu et al. 2020,
    https://arxiv.org/abs/2005.00687).

    Layer :math:`l` (OGB's order):

    .. math::
        \mathbf{h}^{(l+1)} = [\mathbf{h}^{(l)} +] \mathrm{Dropout}\big(\sigma(\mathrm{BN}(
        \mathrm{Conv}(\mathbf{h}^{(l)} + \mathbf{v}^{(l)}_{g(\cdot)},\ \mathcal{E}))\big)\big)

    (no :math:`\sigma` after the last layer; :math:`\mathbf{v}` only with ``virtual_node``),
    then jumping knowledge over the layer outputs, then optionally a graph readout and a
    linear head. Three shapes of output:

    - ``out_channels=None``: node embeddings (``[N, hidden]``, or ``[N, hidden * (L+1)]`` for
      ``jk='cat'``), as OGB's ``GNN_node`` / ``GNN_node_Virtualnode``;
    - ``out_channels`` with ``readout``: graph predictions, readout then ``Linear``, as OGB's
      graph-property model (``readout='mean'``);
    - ``out_channels`` without ``readout``: node predictions; with ``jk='last'`` the last
      convolution maps to ``out_channels`` and has no norm, activation or dropout (OGB's
      ogbn-arxiv GCN/SAGE, PyG's ``BasicGNN``), otherwise a ``Linear`` after the JK.

    Equivariance: permutation equivariant (node outputs) or invariant (with ``readout``).

    Args:
        in_channels: input node features (ignored with ``node_encoder``).
        hidden_channels: width of every hidden layer.
        num_layers: number of convolutions (>= 1).
        out_channels: output width (see above) or ``None``.
        conv: a name in :data:`CONVS` (``'gcn'``, ``'sage'``, ``'gin'``, ``'gine'``,
            ``'gat'``, ``'gatv2'``, ``'graph'``, ``'nn'``).
        dropout: dropout after each layer (and on the virtual-node update).
        residual: add each layer's input to its output (where widths agree).
        batch_norm: ``BatchNorm1d`` after each convolution.
        jk: jumping knowledge, ``'last'``, ``'sum'``, ``'cat'`` or ``'max'``; with a
            ``node_encoder`` the encoder's output takes part (OGB), else only layer outputs.
        virtual_node: add OGB's virtual node (one :class:`VirtualNode` block per transition).
        edge_dim: edge feature width for edge-aware convolutions (``None`` with an
            ``edge_encoder`` whose output already has the hidden width).
        node_encoder: a module mapping the raw node features to ``hidden_channels``
            (e.g. OGB's ``AtomEncoder``).
        edge_encoder: a factory ``() -> Module`` called once per layer (OGB: one
            ``BondEncoder`` per layer), applied to ``edge_attr`` before the convolution.
        readout: ``'sum'``, ``'mean'`` or ``'max'`` graph pooling (needs ``out_channels``).
        conv_kwargs: extra keyword arguments of every convolution (e.g. ``heads``, ``aggr``).

    Shapes:
        x ``[N, F]``, edge_index ``[2, E]``, edge_attr ``[E, D]`` (optional), batch ``[N]``
        (optional) -> ``[N, C]`` or ``[B, C]``.
    """

    def __init__(self, in_channels: Optional[int], hidden_channels: int, num_layers: int,
                 out_channels: Optional[int] = None, conv: str = 'gin', dropout: float = 0.0,
                 residual: bool = False, batch_norm: bool = True, jk: str = 'last',
                 virtual_node: bool = False, edge_dim: Optional[int] = None,
                 node_encoder: Optional[Module] = None,
                 edge_encoder: Optional[Callable[[], Module]] = None,
                 readout: Optional[str] = None, conv_kwargs: Optional[dict] = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        if conv not in CONVS:
            raise ValueError(f'unknown conv {conv!r}: use one of {", ".join(sorted(CONVS))}')
        if jk not in JK_MODES:
            raise ValueError(f'unknown jk {jk!r}: use one of {JK_MODES}')
        if readout is not None and readout not in READOUTS:
            raise ValueError(f'unknown readout {readout!r}: use one of {READOUTS} or None')
        if readout is not None and out_channels is None:
            raise ValueError('readout needs out_channels (the width of the graph head)')
        if node_encoder is None and in_channels is None:
            raise ValueError('pass in_channels (or a node_encoder)')
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f'dropout must be in [0, 1), got {dropout}')
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.out_channels = out_channels
        self.conv_name = conv
        self.dropout = dropout
        self.residual = residual
        self.jk = jk
        self.readout = readout
        self.node_encoder = node_encoder
        self.with_input = node_encoder is not None
        f_in = hidden_channels if node_encoder is not None else in_channels
        # the last conv maps to out_channels (no norm/act/dropout): node head with jk='last'
        self.conv_head = out_channels is not None and readout is None and jk == 'last'
        self.edge_aware = CONVS[conv][1]
        self.edge_encoders = ModuleList([edge_encoder() for _ in range(num_layers)]) \
            if edge_encoder is not None else None
        self.convs, self.norms = ModuleList(), ModuleList()
        kw = dict(conv_kwargs or {})
        for layer in range(num_layers):
            last = layer == num_layers - 1
            f_out = out_channels if (last and self.conv_head) else hidden_channels
            e_dim = edge_dim if self.edge_aware else None
            self.convs.append(make_conv(conv, f_in if layer == 0 else hidden_channels, f_out,
                                        e_dim, **kw))
            if batch_norm and not (last and self.conv_head):
                self.norms.append(BatchNorm1d(f_out))
            else:
                self.norms.append(torch.nn.Identity())
        self.vn_embedding = None
        self.vn_blocks = ModuleList()
        if virtual_node:
            self.vn_embedding = torch.nn.Parameter(torch.zeros(1, hidden_channels))
            if f_in != hidden_channels:
                raise ValueError('virtual_node needs inputs of the hidden width: pass a '
                                 'node_encoder or in_channels == hidden_channels')
            self.vn_blocks = ModuleList(VirtualNode(hidden_channels, dropout, residual)
                                        for _ in range(num_layers - 1))
        n_jk = num_layers + (1 if self.with_input else 0)
        jk_width = hidden_channels * n_jk if jk == 'cat' else hidden_channels
        self.head = Linear(jk_width, out_channels) \
            if out_channels is not None and not self.conv_head else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, 'reset_parameters') and not isinstance(m, GNN):
                m.reset_parameters()
        if self.vn_embedding is not None:
            torch.nn.init.zeros_(self.vn_embedding)

    def _conv(self, layer: int, h: Tensor, edge_index: Tensor,
              edge_attr: Optional[Tensor]) -> Tensor:
        conv = self.convs[layer]
        if self.edge_aware and edge_attr is not None:
            if self.edge_encoders is not None:
                edge_attr = self.edge_encoders[layer](edge_attr)
            return conv(h, edge_index, edge_attr)
        if self.edge_aware and self.conv_name in ('gine', 'nn'):
            raise ValueError(f"conv {self.conv_name!r} needs edge_attr: pass edge features or "
                             f"choose conv='gin'")
        return conv(h, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                batch: Optional[Tensor] = None) -> Tensor:
        h = self.node_encoder(x) if self.node_encoder is not None else x
        hs: List[Tensor] = [h] if self.with_input else []
        vn = None
        if self.vn_embedding is not None:
            num_graphs = int(batch.max()) + 1 if batch is not None and batch.numel() else 1
            vn = self.vn_embedding.expand(num_graphs, -1)
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            if vn is not None:
                if last:
                    h = VirtualNode.broadcast(h, vn, batch)
                else:
                    h, vn = self.vn_blocks[layer](h, batch, vn)
                k = layer if self.with_input else layer - 1
                if k >= 0:  # as OGB: the JK sees each layer's input with its virtual node
                    hs[k] = h
            out = self._conv(layer, h, edge_index, edge_attr)
            if last and self.conv_head:
                hs.append(out)
                break
            out = self.norms[layer](out)
            if not last:
                out = F.relu(out)
            out = F.dropout(out, self.dropout, training=self.training)
            if self.residual and out.shape == h.shape:
                out = out + h
            hs.append(out)
            h = out
        if self.jk == 'last':
            node = hs[-1]
        elif self.jk == 'sum':
            node = torch.stack(hs).sum(0)
        elif self.jk == 'max':
            node = torch.stack(hs).amax(0)
        else:
            node = torch.cat(hs, dim=-1)
        if self.readout is not None:
            num_graphs = int(batch.max()) + 1 if batch is not None and batch.numel() else 1
            node = global_pool(node, batch, self.readout, num_graphs=num_graphs)
        return self.head(node) if self.head is not None else node

    def __repr__(self) -> str:
        vn = ', virtual_node' if self.vn_embedding is not None else ''
        return (f'{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, '
                f'num_layers={self.num_layers}, out={self.out_channels}, conv={self.conv_name!r}'
                f', jk={self.jk!r}{vn})')


register('gnn', GNN)


def _named(conv: str, virtual: bool):
    def factory(**kwargs) -> GNN:
        kwargs.setdefault('conv', conv)
        kwargs.setdefault('virtual_node', virtual)
        if kwargs['conv'] != conv or kwargs['virtual_node'] != virtual:
            raise ValueError(f'this registered model fixes conv={conv!r} and '
                             f"virtual_node={virtual}: use create('gnn', ...) to choose")
        return GNN(**kwargs)
    factory.__name__ = f'{conv}{"_virtual" if virtual else ""}'
    factory.__doc__ = f'A :class:`GNN` with ``conv={conv!r}``' + \
        (' and a virtual node.' if virtual else '.')
    return factory


for _conv in CONVS:
    register(_conv, _named(_conv, False))
    register(f'{_conv}-virtual', _named(_conv, True))

__all__ = ['GNN', 'CONVS', 'make_conv']
