"""
Scale separation: a coarsening hierarchy classifies point clouds
================================================================

In the blueprint, local pooling is graph coarsening: nodes are grouped into clusters, features
are pooled per cluster, and the clusters become the nodes of a coarser graph.
:func:`~gdl_graphs.coarsening.build_hierarchy` does it level after level (here by graclus
matching on k-NN graphs, :func:`~gdl_graphs.coarsening.graclus`); :meth:`Hierarchy.pool
<gdl_graphs.coarsening.Hierarchy.pool>` moves features one level down.

The task: tell noisy 2-D point clouds of circles, squares and crosses apart. The network is
:class:`~gdl_graphs.nn.GraphConv` on each of three levels with max pooling in between and a
mean readout (:func:`~gdl_graphs.coarsening.global_pool`). The picture is the hierarchy of one
test cloud, each level coloured by the cluster its nodes merge into.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.collections import LineCollection

from gdl_graphs.coarsening import build_hierarchy, global_pool
from gdl_graphs.nn import GraphConv

torch.manual_seed(0)


def shape(label, n=64):
    t = torch.rand(n) * 2 * math.pi
    if label == 0:                                      # circle
        p = torch.stack([t.cos(), t.sin()], -1)
    elif label == 1:                                    # square outline
        s = torch.rand(n) * 2 - 1
        side = torch.randint(0, 4, (n,))
        p = torch.stack([torch.where(side < 2, s, (side * 2 - 5).float()),
                         torch.where(side < 2, (side * 2 - 1).float(), s)], -1)
    else:                                               # cross
        s = torch.rand(n) * 2 - 1
        p = torch.where(torch.rand(n, 1) < 0.5, torch.stack([s, 0 * s], -1),
                        torch.stack([0 * s, s], -1))
    a = torch.rand(()) * 2 * math.pi
    rot = torch.tensor([[a.cos(), -a.sin()], [a.sin(), a.cos()]])
    return (p + 0.05 * torch.randn_like(p)) @ rot.T


def batch_of(num):
    labels = torch.arange(num) % 3
    pos = torch.cat([shape(int(c)) for c in labels])
    batch = torch.arange(num).repeat_interleave(64)
    return pos, batch, labels, build_hierarchy(pos=pos, batch=batch, levels=2, k=6)


class PyramidNet(torch.nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.convs = torch.nn.ModuleList([GraphConv(1, hidden), GraphConv(hidden, hidden),
                                          GraphConv(hidden, hidden)])
        self.head = torch.nn.Linear(hidden, 3)

    def forward(self, pos, hierarchy, num_graphs):
        h = pos.norm(dim=-1, keepdim=True)              # distance to the centre: invariant
        for level, conv in enumerate(self.convs):
            h = F.relu(conv(h, hierarchy.graphs[level].edge_index))
            if level < hierarchy.depth:
                h = hierarchy.pool(h, level, 'max')     # to the coarser level
        return self.head(global_pool(h, hierarchy.graphs[-1].batch, 'mean', num_graphs))


train, test = batch_of(150), batch_of(60)
model = PyramidNet()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(100):
    opt.zero_grad()
    loss = F.cross_entropy(model(train[0], train[3], 150), train[2])
    loss.backward()
    opt.step()
with torch.no_grad():
    acc = (model(test[0], test[3], 60).argmax(-1) == test[2]).float().mean()
print(f'loss {loss.item():.3f}, test accuracy {acc:.2f}')

# %%
# The hierarchy of the first test cloud (a circle): 64 points, then about 32, then about 16.

pos, batch, labels, hierarchy = test
fig, axes = plt.subplots(1, 3, figsize=(10, 4))
for level, ax in enumerate(axes):
    g = hierarchy.graphs[level]
    keep = g.batch == 0
    p = g.pos[keep]
    ids = keep.nonzero().view(-1)
    e = g.edge_index[:, keep[g.edge_index[0]]]
    ax.add_collection(LineCollection(g.pos[e.T].numpy(), color='0.8', lw=0.6, zorder=0))
    colour = (hierarchy.levels[level].cluster[ids] if level < hierarchy.depth
              else torch.arange(len(ids)))
    ax.scatter(p[:, 0], p[:, 1], c=colour % 20, cmap='tab20', s=30)
    ax.set_title(f'level {level}: {int(keep.sum())} nodes')
    ax.set_aspect('equal')
    ax.axis('off')
fig.tight_layout()
plt.show()
