"""OGB row: a tiny OGB-format folder (built here) read by ogb's own loader, OGB's molecule GIN
layer checked against torch_geometric's GINEConv, and a few epochs of GIN-virtual."""
from __future__ import annotations

import tempfile

import numpy as np
import torch

from . import Row

ORDER = 45


def _molecules(num: int, seed: int = 0):
    """Ring and chain molecules in ogb's atom/bond encoding; the label shows in the atoms."""
    rng = np.random.RandomState(seed)
    graphs = []
    for k in range(num):
        n = rng.randint(4, 9)
        pairs = [(i, i + 1) for i in range(n - 1)] + ([(0, n - 1)] if k % 3 == 0 else [])
        ei = np.array([[a for u, v in pairs for a in (u, v)],
                       [a for u, v in pairs for a in (v, u)]])
        x = np.zeros((n, 9), dtype=np.int64)
        x[:, 0] = 5 + (k % 2) * 2 * (rng.rand(n) < 0.5)  # carbon, some nitrogen if label 1
        x[:, 1] = rng.randint(0, 2, n)
        graphs.append({'edge_index': ei, 'num_nodes': n, 'node_feat': x,
                       'edge_feat': np.repeat(rng.randint(0, 2, (len(pairs), 3)), 2, axis=0)})
    return graphs, np.arange(num) % 2


def run() -> Row:
    try:
        import ogb  # noqa: F401
    except ImportError:
        return Row('graph (OGB)', '-', '-', 'skipped: no ogb', 0.0, 0.0, 'skipped: no ogb')
    import torch_geometric.nn as pyg_nn
    from torch_geometric.loader import DataLoader

    from ..datasets import build_graph_dataset, evaluator_for, load_dataset
    from ..models.ogb import mol_gnn
    from ..nn import MolGINConv

    torch.manual_seed(0)
    graphs, labels = _molecules(64)
    with tempfile.TemporaryDirectory() as root:
        build_graph_dataset(root, 'ogbg-molhiv', graphs, labels, split={
            'train': np.arange(48), 'valid': np.arange(48, 56), 'test': np.arange(56, 64)})
        ds = load_dataset('ogbg-molhiv', root)  # ogb's PygGraphPropPredDataset
        split = ds.split_idx
        ours = MolGINConv(16).double()
        ref = pyg_nn.GINEConv(ours.mlp, train_eps=True).double()
        with torch.no_grad():
            ref.eps.copy_(ours.eps.fill_(0.1))
        batch = next(iter(DataLoader(ds, batch_size=16)))
        x = torch.randn(batch.num_nodes, 16, dtype=torch.float64)
        ours.eval()
        with torch.no_grad():
            err = (ours(x, batch.edge_index, batch.edge_attr) - ref(
                x, batch.edge_index, ours.bond_encoder(batch.edge_attr))).abs().max().item()

        model = mol_gnn('gin-virtual', ds.num_tasks, num_layer=2, emb_dim=32, drop_ratio=0.0)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        train_loader = DataLoader(ds[split['train']], batch_size=16, shuffle=True)
        epochs = 15
        for _ in range(epochs):
            model.train()
            for b in train_loader:
                opt.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    model(b), b.y.float())
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            b = next(iter(DataLoader(ds[split['valid']], batch_size=64)))
            score = evaluator_for(ds).eval({'y_true': b.y, 'y_pred': model(b)})['rocauc']
    return Row('graph (OGB)', f'OGB folder, {len(ds)} molecules', 'MolGINConv, gin-virtual',
               'max |ours - PyG GINEConv|', err, 1e-10,
               f'ogb loader; valid ROC-AUC {score:.2f} ({epochs} ep)')
