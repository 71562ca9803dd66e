"""Graph rows: GCNConv, SAGEConv (mean), GINConv forward + backward on the one core vs the
same torch_geometric.nn layer, given ``edge_index`` (goal <= 0.5x) and given a cached CSR
``adj_t`` (goal <= 1.1x).

PyG 2.8 fuses message and aggregation (``message_and_aggregate``, one sparse product) when
it gets a sparse adjacency: a ``torch.sparse_csr_tensor`` ``adj_t`` (rows = targets) works
without torch-sparse; a column-sorted ``torch_geometric.EdgeIndex`` is fused only by layers
with ``SUPPORTS_FUSED_EDGE_INDEX`` (GraphConv), the others gather and scatter. The adj_t
baseline is therefore the CSR tensor, built once outside the timed call; the EdgeIndex runs
alongside for information. GCN is compared with ``cached=True`` on both sides in the adj_t
row (PyG then skips its per-call normalisation of the sparse tensor). Our layers always take
``edge_index``: its CSR and transpose are built once by the core's structure cache.
"""
import warnings

import torch
import torch_geometric.nn as pyg_nn
from torch_geometric import EdgeIndex

from bench import Row
from gdl_graphs.nn import GCNConv, GINConv, SAGEConv


def _mlp(f):
    return torch.nn.Sequential(torch.nn.Linear(f, f), torch.nn.ReLU(), torch.nn.Linear(f, f))


def rows(quick: bool, device: str):
    n, e, f = (10_000, 100_000, 64) if quick else (100_000, 1_000_000, 64)
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, e), generator=g).to(device)
    x = torch.randn(n, f, generator=g).to(device).requires_grad_()
    # the cached transposed adjacency PyG fuses on: rows = targets, columns = sources
    order = torch.argsort(edge_index[1] * n + edge_index[0])
    dst, src = edge_index[1][order], edge_index[0][order]
    rowptr = torch.zeros(n + 1, dtype=torch.long, device=device)
    rowptr[1:] = torch.cumsum(torch.bincount(dst, minlength=n), 0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        adj_t = torch.sparse_csr_tensor(rowptr, src, torch.ones(e, device=device), (n, n))
    edge_index_sorted = EdgeIndex(torch.stack([src, dst]), sparse_size=(n, n),
                                  sort_order='col')

    def run(layer, adj):
        def step():
            layer(x, adj).sum().backward()
        return step

    layers = {
        'GCNConv': (lambda **kw: pyg_nn.GCNConv(f, f, **kw), GCNConv),
        'SAGEConv': (lambda **kw: pyg_nn.SAGEConv(f, f, aggr='mean', **kw), SAGEConv),
        'GINConv': (lambda **kw: pyg_nn.GINConv(_mlp(f), train_eps=True, **kw), GINConv),
    }
    out = []
    size = f'N={n} E={e} F={f}'
    for name, (make_pyg, cls) in layers.items():
        torch.manual_seed(0)
        pyg = make_pyg().to(device)
        ours = cls.from_pyg(pyg)
        out.append(Row(f'{name} fwd+bwd {size} vs edge_index', f'pyg {name}(edge_index)',
                       {f'pyg {name}(edge_index)': run(pyg, edge_index),
                        f'gdl {name} (fused core)': run(ours, edge_index)},
                       goals={f'gdl {name} (fused core)': 0.5}))
        kw = {'cached': True} if name == 'GCNConv' else {}
        pyg_c = make_pyg(**kw).to(device)
        ours_c = cls.from_pyg(pyg_c)
        cands = {f'pyg {name}(adj_t CSR)': run(pyg_c, adj_t),
                 f'gdl {name} (fused core)': run(ours_c, edge_index)}
        if not device.startswith('cuda'):
            cands[f'pyg {name}(EdgeIndex col-sorted)'] = run(pyg_c, edge_index_sorted)
        out.append(Row(f'{name} fwd+bwd {size} vs cached adj_t' +
                       (' (cached=True)' if kw else ''), f'pyg {name}(adj_t CSR)', cands,
                       goals={f'gdl {name} (fused core)': 1.1}))
    return out
