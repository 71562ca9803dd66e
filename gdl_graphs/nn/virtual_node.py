from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential

from ..coarsening.core import global_pool
from ..core.validate import check_index, check_node_features
from ._common import refuse_edge_options
from .functional import dropout


class VirtualNode(torch.nn.Module):
    r"""A virtual-node block, as in OGB's ``gin-virtual`` (Gilmer et al., "Neural Message
    Passing for Quantum Chemistry", ICML 2017, https://arxiv.org/abs/1704.01212; Hu et al.,
    "Open Graph Benchmark", NeurIPS 2020, https://arxiv.org/abs/2005.00687).

    One extra node per graph, linked to every node of its graph. With :math:`\mathbf{v}_g`
    the virtual node of graph :math:`g` and :math:`g(i)` the graph of node :math:`i`:

    .. math::
        \mathbf{h}_i = \mathbf{x}_i + \mathbf{v}_{g(i)}, \qquad
        \mathbf{v}'_g = [\mathbf{v}_g +] \mathrm{Dropout}\Big( \mathrm{MLP} \big(
        \textstyle\sum_{i \in g} \mathbf{h}_i + \mathbf{v}_g \big) \Big)

    ``forward`` returns both :math:`\mathbf{h}` (the broadcast, fed to the next convolution)
    and :math:`\mathbf{v}'` (the pooled and transformed virtual node for the next layer);
    the MLP is OGB's ``Linear(C, 2C), BatchNorm, ReLU, Linear(2C, C), BatchNorm, ReLU``.

    Why no ``propagate``: the block reads no ``edge_index``; its "edges" are the star of each
    graph, which the ``batch`` vector already is, so the readout is one segment reduction and
    the broadcast one gather (building star edges would only add ``N`` edges to sort). PyG's
    edge conventions (flow, message hooks, explain masks) have nothing to act on here, so this
    is a plain ``torch.nn.Module`` that refuses message-passing options.

    Equivariance: permutation equivariant in the nodes (:math:`\mathbf{h}`) and invariant
    (:math:`\mathbf{v}'`): the readout is a sum within each graph.

    Args:
        channels (int): The width :math:`C` of nodes and virtual nodes.
        dropout (float, optional): Dropout on the MLP's output (training only). (default:
            :obj:`0.0`)
        residual (bool, optional): Add :math:`\mathbf{v}_g` to the update (OGB's ``residual``).
            (default: :obj:`False`)
        reduce (str, optional): The readout, ``'sum'`` (OGB) or ``'mean'``/``'max'``. (default:
            :obj:`"sum"`)

    Shapes:
        - **input:** node features :math:`(N, C)`, graph index ``batch`` :math:`(N)` *(optional)*,
          virtual node features ``vn`` :math:`(B, C)` *(optional, default zeros)*
        - **output:** the pair (node features :math:`(N, C)`, virtual node features :math:`(B, C)`)
    """

    def __init__(self, channels: int, dropout: float = 0.0, residual: bool = False,
                 reduce: str = 'sum', **kwargs):
        refuse_edge_options('VirtualNode', kwargs)
        super().__init__()
        if reduce not in ('sum', 'add', 'mean', 'max'):
            raise ValueError(f"VirtualNode reduce must be 'sum', 'mean' or 'max', "
                             f"got {reduce!r}")
        self.channels = channels
        self.dropout = dropout
        self.residual = residual
        self.reduce = reduce
        self.mlp = Sequential(Linear(channels, 2 * channels), BatchNorm1d(2 * channels), ReLU(),
                              Linear(2 * channels, channels), BatchNorm1d(channels), ReLU())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if hasattr(m, 'reset_parameters'):
                m.reset_parameters()

    @staticmethod
    def broadcast(x: Tensor, vn: Tensor, batch: Optional[Tensor]) -> Tensor:
        """:math:`\\mathbf{x}_i + \\mathbf{v}_{g(i)}`."""
        return x + (vn.expand(x.size(0), -1) if batch is None else vn.index_select(0, batch))

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                vn: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        check_node_features(x, channels=self.channels)
        num_graphs = 1
        if batch is not None:
            check_index(batch, x.size(0), name='batch')
            num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        if vn is None:
            vn = x.new_zeros(num_graphs, self.channels)
        elif vn.dim() != 2 or vn.size(-1) != self.channels:
            raise ValueError(f'vn must have shape [num_graphs, {self.channels}], '
                             f'got {list(vn.shape)}')
        h = self.broadcast(x, vn, batch)
        pooled = global_pool(h, batch, self.reduce, num_graphs=vn.size(0))
        new = dropout(self.mlp(pooled + vn), self.dropout, self.training)
        return h, (vn + new) if self.residual else new

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.channels}, residual={self.residual})'
