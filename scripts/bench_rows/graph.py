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
from bench import Row
from torch_geometric import EdgeIndex

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

    def first_call(layer):
        # a new edge_index tensor every step: our structure cache misses, so building the
        # CSR and its transpose is inside the timed call and its peak memory (both sides
        # pay the same copy)
        def step():
            layer(x, edge_index.clone()).sum().backward()
        return step

    for name, (make_pyg, cls) in layers.items():
        torch.manual_seed(0)
        pyg = make_pyg().to(device)
        ours = cls.from_pyg(pyg)
        out.append(Row(f'{name} fwd+bwd {size} vs edge_index', f'pyg {name}(edge_index)',
                       {f'pyg {name}(edge_index)': run(pyg, edge_index),
                        f'gdl {name} (fused core)': run(ours, edge_index)},
                       goals={f'gdl {name} (fused core)': 0.5}))
        out.append(Row(f'{name} fwd+bwd {size} first call (new edge_index each step)',
                       f'pyg {name}(edge_index)',
                       {f'pyg {name}(edge_index)': first_call(pyg),
                        f'gdl {name} (fused core, CSR built in the call)': first_call(ours)}))
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
    out += compiled_rows(x, edge_index, f, size, device)
    out += minibatch_rows(device)
    out += small_graph_rows(device)
    return out


def minibatch_rows(device):
    """The OGB molecule case: every step brings a new small edge_index (a batch of 32
    molecule-sized graphs, ~900 nodes, ~1900 edges, F=300), so no structure cache is reused:
    20 steps of a GIN layer fwd+bwd, ours vs PyG's."""
    g = torch.Generator().manual_seed(1)
    f, batches = 300, []
    for _ in range(20):
        n = int(torch.randint(850, 950, (1,), generator=g))
        ei = torch.randint(0, n, (2, 2 * n + 100), generator=g).to(device)
        batches.append((torch.randn(n, f, generator=g).to(device).requires_grad_(), ei))
    torch.manual_seed(0)
    pyg = pyg_nn.GINConv(_mlp(f), train_eps=True).to(device)
    ours = GINConv.from_pyg(pyg)

    def run(layer):
        def step():
            for x, ei in batches:  # a copy: every round meets new tensors, as a loader gives
                layer(x, ei.clone()).sum().backward()
        return step
    return [Row('GINConv fwd+bwd mini-batches: 20 new edge_index of ~900 nodes, F=300',
                'pyg GINConv', {'pyg GINConv': run(pyg), 'gdl GINConv': run(ours)},
                goals={'gdl GINConv': 1.0})]


def small_graph_rows(device):
    """GIN (5 layers, hidden 32) on batches of 32 TU-sized graphs (~40 nodes) of an
    ``InMemoryDataset`` (what ``TUDataset`` is), a new batch every step, collation included:
    PyG's GINConv on PyG's ``DataLoader`` (what PyG's TU examples do), ours on the same loader
    and on :class:`~gdl_graphs.loader.PrecollatedGraphs` (the same tensors, sliced from a
    store built once per data set, outside the timing); same weights."""
    from torch_geometric.data import Data, InMemoryDataset
    from torch_geometric.loader import DataLoader

    from gdl_graphs.loader import PrecollatedGraphs
    g = torch.Generator().manual_seed(2)
    graphs = []
    for _ in range(32 * 8):
        n = int(torch.randint(20, 60, (1,), generator=g))
        ei = torch.randint(0, n, (2, 4 * n), generator=g)
        graphs.append(Data(x=torch.randn(n, 8, generator=g), edge_index=ei,
                           y=torch.zeros(1, dtype=torch.long)))

    class Graphs(InMemoryDataset):
        def __init__(self):
            super().__init__(None)
            self.data, self.slices = self.collate(graphs)
    dataset = Graphs()
    loader = DataLoader(dataset, batch_size=32, shuffle=False)
    store = PrecollatedGraphs.from_dataset(dataset)
    ids = [torch.arange(i, i + 32) for i in range(0, len(graphs), 32)]
    torch.manual_seed(0)
    pyg = torch.nn.ModuleList([pyg_nn.GINConv(_mlp2(8 if i == 0 else 32, 32))
                               for i in range(5)]).to(device)
    ours = torch.nn.ModuleList([GINConv.from_pyg(c) for c in pyg])

    def train(model, batches):
        def step():
            for x, edge_index in batches():
                x, edge_index = x.to(device), edge_index.to(device)
                for conv in model:
                    x = conv(x, edge_index).relu()
                x.sum().backward()
        return step

    def pyg_batches():
        return ((b.x, b.edge_index) for b in loader)

    def store_batches():
        return ((b.x, b.edge_index) for b in map(store.batch, ids))
    return [Row('GIN 5x32 fwd+bwd, 8 new batches of 32 graphs (~40 nodes), collation included',
                'pyg GINConv', {'pyg GINConv': train(pyg, pyg_batches),
                                'gdl GINConv': train(ours, pyg_batches),
                                'gdl GINConv + PrecollatedGraphs': train(ours, store_batches)},
                goals={'gdl GINConv + PrecollatedGraphs': 0.8})]


def _mlp2(i, o):
    return torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.ReLU(), torch.nn.Linear(o, o))


def compiled_rows(x, edge_index, f, size, device):
    """2-layer GCN and SAGE models under ``torch.compile`` (inductor), ours vs PyG's compiled,
    fwd+bwd (goal <= 0.7x). Compilation happens in the untimed warm-up."""
    out = []
    for name, make_pyg, cls in [('GCN', lambda: pyg_nn.GCNConv(f, f), GCNConv),
                                ('SAGE', lambda: pyg_nn.SAGEConv(f, f), SAGEConv)]:
        torch.manual_seed(0)
        p1, p2 = make_pyg().to(device), make_pyg().to(device)
        o1, o2 = cls.from_pyg(p1), cls.from_pyg(p2)

        def model(a, b):
            return lambda x, ei: b(a(x, ei).relu(), ei)

        pyg_c = torch.compile(model(p1, p2), fullgraph=True)
        ours_c = torch.compile(model(o1, o2), fullgraph=True)

        def run(fn):
            def step():
                fn(x, edge_index).sum().backward()
            return step
        out.append(Row(f'2-layer {name} fwd+bwd {size} under torch.compile(fullgraph=True)',
                       f'pyg {name} compiled', {f'pyg {name} compiled': run(pyg_c),
                                                f'gdl {name} compiled': run(ours_c),
                                                f'gdl {name} eager': run(model(o1, o2))},
                       goals={f'gdl {name} compiled': 0.7}))
    return out
