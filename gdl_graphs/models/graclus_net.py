r"""The classic "graclus + max pool" GNN (Defferrard et al. 2016, https://arxiv.org/abs/1606.09375;
PyG's ``examples/mnist_graclus.py``) for graph classification, on the one core.

Blueprint: ``[GraphConv -> ReLU -> graclus matching -> max pool] x L -> mean readout -> MLP``.
Each block halves the graph roughly (a matching merges pairs of adjacent nodes) through
:func:`gdl_graphs.coarsening.coarsen`; the readout is invariant, so the network is a
permutation-invariant graph classifier whenever the matching is (it is up to the tie-breaking
priorities; with distinct edge weights it is exactly invariant).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..coarsening import coarsen, global_pool, graclus, pool
from ..nn import GraphConv
from .registry import register

__all__ = ['GraclusNet']


class GraclusNet(torch.nn.Module):
    """``num_layers`` blocks of GraphConv + graclus max pooling, mean readout, 2-layer MLP.

    Args:
        in_channels: node features.
        hidden_channels: width of every block.
        out_channels: classes (logits).
        num_layers: conv + pool blocks.
        generator: tie-breaking randomness of the matchings (default: torch's global one).

    Shapes: x ``[N, F]``, edge_index ``[2, E]``, batch ``[N]`` -> ``[B, out_channels]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 32, out_channels: int = 2,
                 num_layers: int = 2, generator: Optional[torch.Generator] = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be at least 1, got {num_layers}')
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.out_channels, self.num_layers = out_channels, num_layers
        self.generator = generator
        dims = [in_channels] + [hidden_channels] * num_layers
        self.convs = torch.nn.ModuleList(GraphConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.lin1 = torch.nn.Linear(hidden_channels, hidden_channels)
        self.lin2 = torch.nn.Linear(hidden_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
            num_graphs = 1
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        for conv in self.convs:
            x = torch.relu(conv(x, edge_index))
            cluster = graclus(edge_index, num_nodes=x.size(0), generator=self.generator)
            out = coarsen(cluster, edge_index, x.size(0), batch=batch)
            x = pool(x, out.cluster, out.num_clusters, 'max')
            edge_index, batch = out.edge_index, out.batch
        x = global_pool(x, batch, 'mean', num_graphs)
        return self.lin2(torch.relu(self.lin1(x)))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, '
                f'{self.out_channels}, num_layers={self.num_layers})')


register('graclus-net', GraclusNet)
