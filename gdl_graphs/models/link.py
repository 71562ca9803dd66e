"""OGB's link prediction baselines (``examples/linkproppred/*/gnn.py``) on gdl_graphs layers: node
features (or a learned embedding, as ogbl-ddi, which has none) -> a GCN / GraphSAGE stack ->
an MLP on the Hadamard product of the two endpoints' embeddings."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch.nn import Module

from ..nn.functional import relu_dropout
from ..nn.gcn_conv import GCNConv
from ..nn.sage_conv import SAGEConv
from .autoencoder import HadamardMLPDecoder
from .registry import register


class LinkGNN(Module):
    r"""Encoder + link predictor of OGB's link baselines.

    .. math::
        \mathbf{h} = \mathrm{GNN}(\mathbf{x}, \mathcal{E}), \qquad
        s_{ij} = \mathrm{MLP}(\mathbf{h}_i \odot \mathbf{h}_j)

    ``num_layers`` convolutions of width ``hidden_channels`` with ReLU and dropout between them
    (none after the last), then a :class:`~gdl_graphs.models.autoencoder.HadamardMLPDecoder`
    of ``predictor_layers`` layers.

    Equivariance: node embeddings are permutation equivariant; pair scores are invariant under
    a relabelling applied to the nodes and the pairs.

    Args:
        in_channels: node feature width, or ``None`` to learn an embedding of ``num_nodes``
            rows (ogbl-ddi).
        model: ``'gcn'`` or ``'sage'``.
        cached: GCN caches its normalisation (full-batch training on one fixed graph).

    Shapes: ``forward(x [N, F] or None, edge_index [2, E], n_id [N'] = None) -> [N, hidden]``;
    ``score(h, pairs [2, P]) -> [P]`` (logits).
    """

    def __init__(self, in_channels: Optional[int], hidden_channels: int = 256,
                 num_layers: int = 3, dropout: float = 0.0, model: str = 'gcn',
                 num_nodes: Optional[int] = None, predictor_layers: int = 3,
                 cached: bool = False):
        super().__init__()
        if model not in ('gcn', 'sage'):
            raise ValueError(f"unknown model {model!r}: use 'gcn' or 'sage'")
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.emb = None
        if in_channels is None:
            if num_nodes is None:
                raise ValueError('a graph without node features needs num_nodes (one learned '
                                 'embedding per node)')
            self.emb = torch.nn.Embedding(num_nodes, hidden_channels)
            in_channels = hidden_channels
        dims = [in_channels] + [hidden_channels] * num_layers
        if model == 'gcn':
            convs = [GCNConv(a, b, cached=cached) for a, b in zip(dims[:-1], dims[1:])]
        else:
            convs = [SAGEConv(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.convs = torch.nn.ModuleList(convs)
        self.predictor = HadamardMLPDecoder(hidden_channels, hidden_channels, 1,
                                            predictor_layers, dropout)
        self.dropout, self.model = dropout, model
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.emb is not None:
            torch.nn.init.xavier_uniform_(self.emb.weight)
        for conv in self.convs:
            conv.reset_parameters()
        self.predictor.reset_parameters()

    def features(self, x: Optional[Tensor], n_id: Optional[Tensor] = None) -> Tensor:
        if self.emb is None:
            return x
        return self.emb.weight if n_id is None else self.emb(n_id)

    def forward(self, x: Optional[Tensor], edge_index: Tensor,
                n_id: Optional[Tensor] = None) -> Tensor:
        h = self.features(x, n_id)
        for conv in self.convs[:-1]:
            h = relu_dropout(conv(h, edge_index), self.dropout, self.training)
        return self.convs[-1](h, edge_index)

    def score(self, h: Tensor, pairs: Tensor) -> Tensor:
        return self.predictor(h, pairs, sigmoid=False)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.model}, layers={len(self.convs)}, '
                f'hidden={self.predictor.lins[0].in_features}, '
                f'embedding={self.emb is not None})')


register('link-gnn', LinkGNN)
