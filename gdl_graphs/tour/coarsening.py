"""Coarsening row: the classic "graclus + max pool" GNN classifies small networkx graphs
(cycles, trees, grids) from their node degrees.

Local pooling is coarsening: each block matches nodes with graclus (greedy heavy-edge
matching, vectorised, no pyg-lib) and max-pools every pair through the coarsening core. The
check compares that pooling with PyG's own ``max_pool`` on the same cluster map, in float64.
"""
from __future__ import annotations

import torch

from . import Row

ORDER = 50


def shape_graphs(num_per_class: int, seed: int):
    """Cycles (class 0), random trees (1) and 2-D grids (2) of 8..20 nodes, as PyG ``Data``
    with one-hot degree features (0..4)."""
    import networkx as nx
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(num_per_class):
        n = int(torch.randint(8, 21, (1,), generator=g))
        rows = int(torch.randint(2, 5, (1,), generator=g))
        graphs = [nx.cycle_graph(n), nx.random_labeled_tree(n, seed=seed * 1000 + k),
                  nx.grid_2d_graph(rows, max(2, n // rows))]
        for label, graph in enumerate(graphs):
            graph = nx.convert_node_labels_to_integers(graph)
            e = torch.tensor(list(graph.edges()), dtype=torch.long).t()
            ei = torch.cat([e, e.flip(0)], 1)
            deg = torch.bincount(ei[0], minlength=graph.number_of_nodes()).clamp_max(4)
            x = torch.nn.functional.one_hot(deg, 5).double()
            out.append(Data(x=x, edge_index=ei, y=torch.tensor([label])))
    return out


def run() -> Row:
    import torch_geometric.nn.pool as pyg_pool
    from torch_geometric.data import Batch

    from ..coarsening import graclus, max_pool
    from ..models import GraclusNet

    torch.manual_seed(0)
    train = Batch.from_data_list(shape_graphs(20, 0))
    test = Batch.from_data_list(shape_graphs(10, 1))

    # check: our max pooling on a graclus cluster map == PyG's max_pool on the same map
    cluster = graclus(train.edge_index, num_nodes=train.num_nodes)
    ours, ref = max_pool(cluster, train), pyg_pool.max_pool(cluster, train)
    err = (ours.x - ref.x).abs().max().item()
    same_graph = bool(torch.equal(ours.batch, ref.batch)) and \
        ours.edge_index.size(1) == ref.edge_index.size(1)
    if not same_graph:
        err = float('inf')

    model = GraclusNet(5, 32, 3, num_layers=2).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(80):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            model(train.x, train.edge_index, train.batch), train.y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = model(test.x, test.edge_index, test.batch).argmax(-1)
    acc = (pred == test.y).double().mean().item()
    return Row('coarsening', f'{train.num_graphs} shape graphs (nx)', 'GraclusNet x2',
               'max |max_pool - PyG max_pool|', err, 1e-12,
               f'3-class test acc {acc:.2f} ({test.num_graphs} graphs)')
