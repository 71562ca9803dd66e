"""Link prediction rows: negative sampling, the link-level neighbour loader, a GAE epoch.

- 1M negatives of a 1M-edge graph (100k nodes): ours (exact, uniform) vs PyG's
  ``negative_sampling`` (goal <= 1.0x); the degree-corrected sampler alongside.
- one epoch of :class:`gdl_graphs.loader.LinkNeighborLoader` on the same graph: 50k seed
  edges in batches of 1024, 1:1 exact negatives, fan-out [10, 10]. PyG's
  ``LinkNeighborLoader`` needs pyg-lib or torch-sparse; where neither is installed it cannot
  run and the row gives our absolute time only (baseline = ours).
- a GAE training epoch on Cora-sized data (2708 nodes, 10556 directed edges, 1433 features;
  32-16 GCN encoder, inner product decoder, recon loss with one fresh negative per positive,
  Adam step): ours vs PyG's ``GAE`` with PyG's ``GCNConv`` (``cached=True``, as PyG's
  ``examples/autoencoder.py``), same weights (goal <= 0.6x); with dense features and with the
  same features as a sparse COO tensor (both layers' ``Linear`` take one).
"""
import torch
from bench import Row

from gdl_graphs.link import negative_sampling
from gdl_graphs.loader import LinkNeighborLoader


def _pyg_link_loader_available() -> bool:
    for mod in ('pyg_lib', 'torch_sparse'):
        try:
            __import__(mod)
            return True
        except ImportError:
            pass
    return False


def negative_rows(quick, device):
    from torch_geometric.utils import negative_sampling as pyg_negative_sampling
    n, e = (10_000, 100_000) if quick else (100_000, 1_000_000)
    num = e
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, e), generator=g).to(device)
    gen = torch.Generator(device=device).manual_seed(1)
    size = f'{num // 1000}k negatives, N={n} E={e}'
    return [Row(f'negative sampling {size}', 'pyg negative_sampling',
                {'pyg negative_sampling': lambda: pyg_negative_sampling(ei, n, num),
                 'gdl negative_sampling (exact)': lambda: negative_sampling(
                     ei, n, num, generator=gen),
                 'gdl negative_sampling degree': lambda: negative_sampling(
                     ei, n, num, method='degree', generator=gen)},
                goals={'gdl negative_sampling (exact)': 1.0}, rounds=3)]


def loader_rows(quick, device):
    from torch_geometric.data import Data
    n, e, seeds = (10_000, 100_000, 5_000) if quick else (100_000, 1_000_000, 50_000)
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, e), generator=g)
    data = Data(edge_index=ei, num_nodes=n, x=torch.randn(n, 16, generator=g)).to(device)
    label_index = ei[:, :seeds].to(device)

    def ours():
        loader = LinkNeighborLoader(data, [10, 10], edge_label_index=label_index,
                                    neg_sampling_ratio=1.0, batch_size=1024, shuffle=True,
                                    generator=torch.Generator().manual_seed(0))
        for _ in loader:
            pass
    cands = {'gdl LinkNeighborLoader': ours}
    note = ''
    if _pyg_link_loader_available():
        from torch_geometric.loader import LinkNeighborLoader as PyGLoader

        def theirs():
            loader = PyGLoader(data, [10, 10], edge_label_index=label_index,
                               neg_sampling_ratio=1.0, batch_size=1024, shuffle=True)
            for _ in loader:
                pass
        cands = {'pyg LinkNeighborLoader': theirs, **cands}
        base, goals = 'pyg LinkNeighborLoader', {'gdl LinkNeighborLoader': 1.0}
    else:
        base, goals = 'gdl LinkNeighborLoader', {}
        note = "PyG's LinkNeighborLoader needs pyg-lib or torch-sparse: not installed, not run"
    return [Row(f'link loader epoch: {seeds // 1000}k seed edges + 1:1 negatives, [10, 10], '
                f'batch 1024, N={n} E={e}', base, cands, goals=goals, note=note, rounds=2)]


def gae_rows(quick, device):
    from torch_geometric.nn import GAE as PyGGAE
    from torch_geometric.nn import GCNConv as PyGGCNConv

    from gdl_graphs.models import GAE, GCNEncoder
    n, e, f = 2708, 10556, 1433
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, e // 2), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    ei = torch.cat([ei, ei.flip(0)], 1).to(device)
    x = (torch.rand(n, f, generator=g) < 0.013).float().to(device)

    class PyGEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = PyGGCNConv(f, 32, cached=True)
            self.conv2 = PyGGCNConv(32, 16, cached=True)

        def forward(self, x, edge_index):
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    torch.manual_seed(0)
    theirs = PyGGAE(PyGEncoder()).to(device)
    ours = GAE(GCNEncoder(f, 32, 16)).to(device)
    ours.load_state_dict(theirs.state_dict())
    gen = torch.Generator(device=device).manual_seed(0)

    def epoch(model, feats, **kw):
        opt = torch.optim.Adam(model.parameters(), lr=0.01)

        def step():
            model.train()
            opt.zero_grad()
            z = model.encode(feats, ei)
            loss = model.recon_loss(z, ei, **kw)
            loss.backward()
            opt.step()
        return step
    xs = x.to_sparse_coo().coalesce()
    out = []
    for kind, feats in (('dense x', x), ('sparse COO x, as Kipf\'s code', xs)):
        out.append(Row(f'GAE epoch (Cora-sized: N={n} E={ei.size(1)} F={f}, 32-16 GCN, '
                       f'{kind})', 'pyg GAE + GCNConv',
                       {'pyg GAE + GCNConv': epoch(theirs, feats),
                        'gdl GAE + GCNConv': epoch(ours, feats, generator=gen)},
                       goals={'gdl GAE + GCNConv': 0.6}))
    return out


def rows(quick: bool, device: str):
    return negative_rows(quick, device) + loader_rows(quick, device) + gae_rows(quick, device)
