"""OGB's example models on the one core.

- :class:`MolGNN`: ``examples/graphproppred/mol`` (``GNN`` over ``GNN_node`` /
  ``GNN_node_Virtualnode``): ogb's ``AtomEncoder`` (as
  :class:`~gdl_graphs.nn.ogb_mol_conv.FeatureEncoder`), ``num_layer`` molecule convolutions
  (:class:`~gdl_graphs.nn.MolGINConv` / :class:`~gdl_graphs.nn.MolGCNConv`) with batch norm,
  ReLU and dropout, optional virtual nodes (:class:`~gdl_graphs.nn.VirtualNode`), jumping
  knowledge, a graph readout and a linear head. ``--gnn gin | gin-virtual | gcn |
  gcn-virtual`` map to :func:`mol_gnn`. The state dict of OGB's model loads with
  :meth:`MolGNN.load_ogb_state_dict` (the only renaming: the virtual-node MLPs sit in a
  ``VirtualNode`` block).
- :class:`NodeGNN`: ``examples/nodeproppred/arxiv/gnn.py`` (GCN / GraphSAGE with batch norm,
  full batch, log-softmax) and PyG's ``ogbn_products_sage.py`` (GraphSAGE without batch norm,
  mini-batches of sampled neighbourhoods, layer-wise full-neighbourhood inference).

ogb is imported when a molecule model is built, never at ``import gdl_graphs``.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor

from ..coarsening.core import global_pool
from ..nn.functional import dropout, relu_dropout
from ..nn.ogb_mol_conv import FeatureEncoder, MolGCNConv, MolGINConv
from .registry import register

MOL_GNNS = ('gin', 'gin-virtual', 'gcn', 'gcn-virtual', 'atom-gin')


def _atom_encoder(emb_dim: int) -> torch.nn.Module:
    """ogb's ``AtomEncoder`` (same parameters), one lookup for all nine columns."""
    return FeatureEncoder(emb_dim, 'atom')


class MolNodeGNN(torch.nn.Module):
    r"""OGB's ``GNN_node`` (``virtual_node=False``) and ``GNN_node_Virtualnode``: node
    embeddings of a batch of molecules.

    Layer :math:`l`: :math:`\mathbf{h}^{l} \mathrel{+}= \mathbf{v}^{l}_{g(i)}` (virtual node),
    :math:`\mathbf{h}^{l+1} = \mathrm{Dropout}(\mathrm{ReLU}(\mathrm{BN}(
    \mathrm{conv}(\mathbf{h}^{l}))))` (no ReLU after the last layer) [+ residual], and the
    virtual node update of :class:`~gdl_graphs.nn.VirtualNode` between layers.

    Args:
        num_layer: number of convolutions (>= 2, as OGB).
        emb_dim: the width.
        drop_ratio: dropout.
        JK: ``'last'`` or ``'sum'`` (jumping knowledge).
        residual: residual connections.
        gnn_type: ``'gin'`` or ``'gcn'``.
        virtual_node: add virtual nodes.
    """

    def __init__(self, num_layer: int = 5, emb_dim: int = 300, drop_ratio: float = 0.5,
                 JK: str = 'last', residual: bool = False, gnn_type: str = 'gin',
                 virtual_node: bool = True):
        super().__init__()
        if num_layer < 2:
            raise ValueError(f'num_layer must be >= 2 (OGB), got {num_layer}')
        if JK not in ('last', 'sum'):
            raise ValueError(f"JK must be 'last' or 'sum', got {JK!r}")
        if gnn_type not in ('gin', 'gcn'):
            raise ValueError(f"gnn_type must be 'gin' or 'gcn', got {gnn_type!r}")
        from ..nn.virtual_node import VirtualNode
        self.num_layer, self.drop_ratio, self.JK = num_layer, drop_ratio, JK
        self.residual, self.virtual_node = residual, virtual_node
        self.atom_encoder = _atom_encoder(emb_dim)
        conv = MolGINConv if gnn_type == 'gin' else MolGCNConv
        self.convs = torch.nn.ModuleList([conv(emb_dim) for _ in range(num_layer)])
        self.batch_norms = torch.nn.ModuleList([torch.nn.BatchNorm1d(emb_dim)
                                                for _ in range(num_layer)])
        if virtual_node:
            self.virtualnode_embedding = torch.nn.Embedding(1, emb_dim)
            torch.nn.init.constant_(self.virtualnode_embedding.weight.data, 0)
            self.mlp_virtualnode_list = torch.nn.ModuleList([
                VirtualNode(emb_dim, dropout=drop_ratio, residual=residual)
                for _ in range(num_layer - 1)])

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                batch: Optional[Tensor] = None, num_graphs: Optional[int] = None) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        h_list = [self.atom_encoder(x)]
        vn = None
        if self.virtual_node:
            if num_graphs is None:
                num_graphs = int(batch.max()) + 1 if batch.numel() else 0
            vn = self.virtualnode_embedding.weight.expand(num_graphs, -1)
        for layer in range(self.num_layer):
            h_in = h_list[layer]
            new_vn = None
            if vn is not None:
                if layer < self.num_layer - 1:
                    h_in, new_vn = self.mlp_virtualnode_list[layer](h_in, batch, vn)
                else:
                    h_in = self.mlp_virtualnode_list[0].broadcast(h_in, vn, batch)
                h_list[layer] = h_in
            h = self.batch_norms[layer](self.convs[layer](h_in, edge_index, edge_attr))
            if layer < self.num_layer - 1:
                h = relu_dropout(h, self.drop_ratio, self.training)
            else:
                h = dropout(h, self.drop_ratio, self.training)
            if self.residual:
                h = h + h_in
            h_list.append(h)
            vn = new_vn
        if self.JK == 'last':
            return h_list[-1]
        return torch.stack(h_list).sum(0)


class MolGNN(torch.nn.Module):
    """OGB's ``GNN`` for graph property prediction: :class:`MolNodeGNN`, a readout
    (``'mean'`` as OGB, ``'sum'`` or ``'max'``) and ``Linear(emb_dim, num_tasks)``.

    ``forward(batch)`` takes a PyG ``Batch`` with ``x``, ``edge_index``, ``edge_attr``,
    ``batch``; it returns ``[num_graphs, num_tasks]`` logits."""

    def __init__(self, num_tasks: int, num_layer: int = 5, emb_dim: int = 300,
                 gnn_type: str = 'gin', virtual_node: bool = True, residual: bool = False,
                 drop_ratio: float = 0.5, JK: str = 'last', graph_pooling: str = 'mean'):
        super().__init__()
        if graph_pooling not in ('sum', 'mean', 'max'):
            raise ValueError(f"graph_pooling must be 'sum', 'mean' or 'max', got "
                             f"{graph_pooling!r}")
        self.num_tasks, self.graph_pooling = num_tasks, graph_pooling
        self.gnn_node = MolNodeGNN(num_layer, emb_dim, drop_ratio, JK, residual, gnn_type,
                                   virtual_node)
        self.graph_pred_linear = torch.nn.Linear(emb_dim, num_tasks)

    def forward(self, data) -> Tensor:
        num_graphs = int(data.num_graphs) if hasattr(data, 'num_graphs') else None
        h = self.gnn_node(data.x, data.edge_index, data.edge_attr, data.batch, num_graphs)
        return self.graph_pred_linear(global_pool(h, data.batch, self.graph_pooling,
                                                  num_graphs=num_graphs))

    def load_ogb_state_dict(self, state: Dict[str, Tensor]) -> None:
        """Load the state dict of OGB's example ``GNN`` (same hyper-parameters)."""
        out = {}
        for k, v in state.items():
            parts = k.split('.')
            if len(parts) > 3 and parts[1] == 'mlp_virtualnode_list':
                k = '.'.join(parts[:3] + ['mlp'] + parts[3:])
            out[k] = v
        self.load_state_dict(out, strict=True)


class AtomGIN(torch.nn.Module):
    r"""A small GIN on atom features only, with an MLP after the sum readout: the model of
    W. Bruns' CPU-trained ogbg-molhiv leaderboard entry (2 layers and width 64 give 32,385
    parameters for one task).

    :math:`\mathbf{h}^0 = \mathrm{AtomEncoder}(\mathbf{x})`; layer :math:`l`:
    :math:`\mathbf{h}^{l+1} = \mathrm{GIN}_{\epsilon=0}(\mathbf{h}^l)` with the MLP
    Linear-BatchNorm-ReLU-Linear, followed (but for the last layer) by BatchNorm, ReLU and
    dropout; then :math:`\mathrm{Linear}(\mathrm{Dropout}(\mathrm{ReLU}(\mathrm{Linear}(
    \mathrm{Dropout}(\sum_i \mathbf{h}^L_i)))))`. Bond features are not used.

    Args:
        num_tasks: outputs per graph.
        num_layer: GIN layers (>= 1).
        emb_dim: the width.
        drop_ratio: dropout.

    ``forward(batch)`` takes a PyG ``Batch`` (``x``, ``edge_index``, ``batch``) and returns
    ``[num_graphs, num_tasks]`` logits.
    """

    def __init__(self, num_tasks: int, num_layer: int = 2, emb_dim: int = 64,
                 drop_ratio: float = 0.5, **unused):
        super().__init__()
        if num_layer < 1:
            raise ValueError(f'num_layer must be >= 1, got {num_layer}')
        from ..nn import GINConv
        self.num_tasks, self.drop_ratio = num_tasks, drop_ratio
        self.atom_encoder = _atom_encoder(emb_dim)
        self.convs = torch.nn.ModuleList([GINConv(torch.nn.Sequential(
            torch.nn.Linear(emb_dim, emb_dim), torch.nn.BatchNorm1d(emb_dim), torch.nn.ReLU(),
            torch.nn.Linear(emb_dim, emb_dim))) for _ in range(num_layer)])
        self.norms = torch.nn.ModuleList([torch.nn.BatchNorm1d(emb_dim)
                                          for _ in range(num_layer - 1)])
        self.hidden = torch.nn.Linear(emb_dim, emb_dim)
        self.out = torch.nn.Linear(emb_dim, num_tasks)

    def forward(self, data) -> Tensor:
        num_graphs = int(data.num_graphs) if hasattr(data, 'num_graphs') else None
        h = self.atom_encoder(data.x)
        for i, conv in enumerate(self.convs):
            h = conv(h, data.edge_index)
            if i < len(self.norms):
                h = relu_dropout(self.norms[i](h), self.drop_ratio, self.training)
        g = global_pool(h, data.batch, 'sum', num_graphs=num_graphs)
        g = relu_dropout(self.hidden(dropout(g, self.drop_ratio, self.training)),
                         self.drop_ratio, self.training)
        return self.out(g)


def mol_gnn(gnn: str, num_tasks: int, **kwargs) -> torch.nn.Module:
    """The model of OGB's ``main_pyg.py --gnn gin|gin-virtual|gcn|gcn-virtual``, or
    :class:`AtomGIN` (``'atom-gin'``)."""
    if gnn not in MOL_GNNS:
        raise ValueError(f'unknown --gnn {gnn!r}: use one of {", ".join(MOL_GNNS)}')
    if gnn == 'atom-gin':
        return AtomGIN(num_tasks, **kwargs)
    return MolGNN(num_tasks, gnn_type=gnn.split('-')[0], virtual_node=gnn.endswith('virtual'),
                  **kwargs)


class NodeGNN(torch.nn.Module):
    """OGB's node-classification GCN / GraphSAGE: ``num_layers`` convolutions, batch norm
    (optional), ReLU and dropout between them, log-softmax at the end.

    Args:
        model: ``'gcn'`` (:class:`~gdl_graphs.nn.GCNConv`, cached normalisation) or
            ``'sage'`` (:class:`~gdl_graphs.nn.SAGEConv`, mean).
        batch_norm: batch norm between layers (OGB's arxiv example: yes; products: no).
        cached: GCN caches its normalisation (one fixed graph, OGB's ``cached=True``).

    ``forward(x, edge_index)`` runs full batch (or on a sampled subgraph: take the first
    ``batch_size`` rows); :meth:`inference` runs layer by layer over all nodes with
    full neighbourhoods from a :class:`~gdl_graphs.loader.NeighborLoader`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int = 3, dropout: float = 0.5, model: str = 'gcn',
                 batch_norm: bool = True, cached: bool = True):
        super().__init__()
        if model not in ('gcn', 'sage'):
            raise ValueError(f"unknown --model {model!r}: use 'gcn' or 'sage'")
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        from ..nn.gcn_conv import GCNConv
        from ..nn.sage_conv import SAGEConv
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        if model == 'gcn':
            self.convs = torch.nn.ModuleList([GCNConv(a, b, cached=cached)
                                              for a, b in zip(dims[:-1], dims[1:])])
        else:
            self.convs = torch.nn.ModuleList([SAGEConv(a, b) for a, b in zip(dims[:-1],
                                                                              dims[1:])])
        self.bns = torch.nn.ModuleList([torch.nn.BatchNorm1d(d) for d in dims[1:-1]]
                                       if batch_norm else [])
        self.dropout, self.model = dropout, model

    def reset_parameters(self) -> None:
        for m in list(self.convs) + list(self.bns):
            m.reset_parameters()
        for conv in self.convs:  # a cached normalisation belongs to one graph
            if hasattr(conv, '_cache'):
                conv._cache = None

    def _between(self, i: int, x: Tensor) -> Tensor:
        if self.bns:
            x = self.bns[i](x)
        return relu_dropout(x, self.dropout, self.training)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs[:-1]):
            x = self._between(i, conv(x, edge_index))
        return self.convs[-1](x, edge_index).log_softmax(dim=-1)

    @torch.no_grad()
    def inference(self, x_all: Tensor, loader, device=None) -> Tensor:
        """Layer-wise inference over all nodes (``loader``: one hop, all neighbours, every
        node as a seed), as PyG's ``ogbn_products_sage.py``. Returns log-probabilities."""
        device = device or x_all.device
        for i, conv in enumerate(self.convs):
            outs: List[Tensor] = []
            for batch in loader:
                n_id = batch.n_id
                x = x_all.index_select(0, n_id.to(x_all.device)).to(device)
                ei = batch.edge_index.to(device)
                if self.model == 'sage':
                    x = conv((x, x[:batch.batch_size]), ei, size=(x.size(0), batch.batch_size))
                else:
                    x = conv(x, ei)[:batch.batch_size]
                if i < len(self.convs) - 1:
                    x = self._between(i, x)
                outs.append(x.to(x_all.device))
            x_all = torch.cat(outs, 0)
        return x_all.log_softmax(dim=-1)


register('ogb-mol-gnn', MolGNN)
register('ogb-node-gnn', NodeGNN)
