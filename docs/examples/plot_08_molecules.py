"""
Molecules: OGB's molecule layers learn polar surface area (training curves)
===========================================================================

A molecule is a graph of atoms and bonds with OGB's integer features
(:func:`ogb.utils.smiles2graph`, the featurisation of ``ogbg-molhiv`` and friends).
:class:`~gdl_graphs.nn.MolGINConv` and :class:`~gdl_graphs.nn.MolGCNConv` are OGB's
example layers (they embed the bond features themselves) on gdl_graphs' core; the state dicts of
OGB's layers load into them unchanged.

The data ship with rdkit: 5000 SMILES strings with their topological polar surface area
(TPSA), a property that sums contributions of polar atoms and their bonds, so a few rounds of
message passing can learn it. We train a GIN and a GCN of the same size, OGB-style (atom
encoder, three residual layers, mean readout), and plot their training curves.
"""
import os

import matplotlib.pyplot as plt
import rdkit
import torch
import torch.nn.functional as F
from ogb.graphproppred.mol_encoder import AtomEncoder
from ogb.utils import smiles2graph
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from gdl_graphs.coarsening import global_pool
from gdl_graphs.nn import MolGCNConv, MolGINConv

torch.manual_seed(0)
path = os.path.join(os.path.dirname(rdkit.__file__), 'Data', 'NCI', 'first_5k.tpsa.csv')
molecules = []
for line in open(path).read().splitlines()[1:1201]:
    smiles, tpsa = line.rsplit(',', 1)
    g = smiles2graph(smiles)
    molecules.append(Data(x=torch.from_numpy(g['node_feat']), num_nodes=int(g['num_nodes']),
                          edge_index=torch.from_numpy(g['edge_index']),
                          edge_attr=torch.from_numpy(g['edge_feat']),
                          y=torch.tensor([float(tpsa) / 100])))    # in units of 100 A^2
train, val = molecules[:1000], molecules[1000:]


class MolNet(torch.nn.Module):
    def __init__(self, conv, dim=64, layers=3):
        super().__init__()
        self.atoms = AtomEncoder(dim)
        self.convs = torch.nn.ModuleList(conv(dim) for _ in range(layers))
        self.head = torch.nn.Linear(dim, 1)

    def forward(self, b):
        h = self.atoms(b.x)
        for conv in self.convs:
            h = h + F.relu(conv(h, b.edge_index, b.edge_attr))
        return self.head(global_pool(h, b.batch, 'mean', b.num_graphs)).squeeze(-1)


def mae(model, data):
    model.eval()
    with torch.no_grad():
        b = next(iter(DataLoader(data, batch_size=len(data))))
        return 100 * (model(b) - b.y).abs().mean().item()


curves = {}
for name, conv in (('MolGINConv', MolGINConv), ('MolGCNConv', MolGCNConv)):
    model = MolNet(conv)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    curves[name] = []
    for epoch in range(12):
        model.train()
        for b in DataLoader(train, batch_size=50, shuffle=True):
            opt.zero_grad()
            F.l1_loss(model(b), b.y).backward()
            opt.step()
        sched.step()
        curves[name].append((mae(model, train), mae(model, val)))
    print(f'{name}: validation MAE {curves[name][-1][1]:.1f} A^2')
spread = 100 * (torch.cat([m.y for m in val]) - torch.cat([m.y for m in train]).mean())
print(f'predicting the mean: MAE {spread.abs().mean():.1f} A^2')

# %%
# Mean absolute error per epoch, on the training molecules (dashed) and on 200 held-out ones.

fig, ax = plt.subplots(figsize=(6, 4))
for k, (name, curve) in enumerate(curves.items()):
    tr, va = zip(*curve)
    ax.plot(range(1, len(tr) + 1), tr, f'C{k}--', label=f'{name} train')
    ax.plot(range(1, len(va) + 1), va, f'C{k}-', label=f'{name} validation')
ax.axhline(spread.abs().mean(), color='0.5', lw=1, label='predict the mean')
ax.set(xlabel='epoch', ylabel='TPSA mean absolute error (A^2)', ylim=(0, None))
ax.legend(loc='lower left')
fig.tight_layout()
plt.show()
