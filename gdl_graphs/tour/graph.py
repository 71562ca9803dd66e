"""Graph row: a two-layer GraphConv network on Zachary's karate club (ships with networkx)."""
from __future__ import annotations

import torch

from . import Row

ORDER = 40


def karate_club():
    """Karate club as (x = one-hot identity, edge_index both directions, y = faction)."""
    import networkx as nx
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    edges = torch.tensor(list(g.edges()), dtype=torch.long).t()
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    y = torch.tensor([int(g.nodes[i]['club'] != 'Mr. Hi') for i in range(n)])
    return torch.eye(n, dtype=torch.float64), edge_index, y


def run() -> Row:
    import torch_geometric.nn as pyg_nn

    from ..nn import GraphConv

    torch.manual_seed(0)
    x, edge_index, y = karate_club()
    pyg = [pyg_nn.GraphConv(34, 16).double(), pyg_nn.GraphConv(16, 2).double()]
    ours = torch.nn.ModuleList([GraphConv.from_pyg(m) for m in pyg])

    def forward(layers, x):
        return layers[1](torch.relu(layers[0](x, edge_index)), edge_index)

    err = (forward(ours, x) - forward(pyg, x)).abs().max().item()

    train = torch.zeros(x.size(0), dtype=torch.bool)
    train[[0, 33, 1, 32]] = True  # two labelled members per faction
    opt = torch.optim.Adam(ours.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(ours, x)[train], y[train])
        loss.backward()
        opt.step()
    acc = (forward(ours, x).argmax(-1)[~train] == y[~train]).double().mean().item()
    return Row('graph', f'karate club N=34 E={edge_index.size(1)}', 'GraphConv x2',
               'max |ours - PyG GraphConv|', err, 1e-12, f'faction acc {acc:.2f} (4 labels)')
