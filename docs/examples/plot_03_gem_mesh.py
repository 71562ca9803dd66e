"""
Meshes and gauges: GEMConv segments a torus, in any gauge
=========================================================

A mesh becomes a graph whose edges carry geometry (:func:`~gdl_graphs.domains.mesh_to_graph`):
the log-map coordinates :math:`(r, \\theta)` of each neighbour in the target vertex's tangent
frame and the parallel-transport angle between the two frames. The frame (the *gauge*) at each
vertex is arbitrary; :class:`~gdl_graphs.nn.GEMConv` (de Haan et al. 2021) transforms its
features with the gauge, so its scalar outputs do not depend on that choice at all.

The task: a bumpy torus, vertex inputs a constant and the angle defect (discrete Gaussian
curvature, noisy because of the bumps); label each vertex *outer half* or *inner half*. We
train on a few random tori and colour a test torus by the predicted probability, then change
the gauge at every vertex (:func:`~gdl_graphs.domains.change_gauge`) and colour it again.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from gdl_graphs.domains import change_gauge, mesh_to_graph
from gdl_graphs.domains.mesh import angle_defect, random_gauge, torus_mesh
from gdl_graphs.models.gem import NormGate
from gdl_graphs.nn import GEMConv

torch.manual_seed(0)


def bumpy_torus(seed):
    g = torch.Generator().manual_seed(seed)
    pos, face = torus_mesh(32, 14, 1.0, 0.45)
    radial = pos[:, :2].norm(dim=-1)
    y = (radial > 1.0).long()                      # outer half of the ideal torus
    w, phase = torch.randn(3, 3, generator=g), 2 * math.pi * torch.rand(3, generator=g)
    bump = 1 + 0.04 * torch.sin(3 * pos.float() @ w + phase).sum(-1, keepdim=True)
    pos = pos * bump.double()
    data = mesh_to_graph(pos, face)
    data.x = torch.stack([torch.ones(len(pos)), 10 * angle_defect(pos, face)], -1).double()
    data.y = y
    return data


class GEMSegmenter(torch.nn.Module):
    """GEMConv -> NormGate -> GEMConv -> NormGate -> GEMConv to 2 scalar (rho_0) logits."""

    def __init__(self, types=(4, 4)):                 # 4 rho_0 and 4 rho_1 channels
        super().__init__()
        self.conv1, self.act1 = GEMConv((2,), types), NormGate(types)
        self.conv2, self.act2 = GEMConv(types, types), NormGate(types)
        self.conv3 = GEMConv(types, (2,))

    def forward(self, d):
        geo = (d.edge_index, d.edge_coords, d.connection)
        h = self.act1(self.conv1(d.x, *geo))
        h = self.act2(self.conv2(h, *geo))
        return self.conv3(h, *geo)


train = [bumpy_torus(s) for s in range(4)]
test = bumpy_torus(100)
model = GEMSegmenter().double()
opt = torch.optim.Adam(model.parameters(), lr=0.03)
for step in range(60):
    opt.zero_grad()
    loss = sum(F.cross_entropy(model(d), d.y) for d in train) / len(train)
    loss.backward()
    opt.step()

# %%
# The test torus in its own gauge and after rotating every vertex's frame by a random angle.
# The predictions are the same to float64 precision.

with torch.no_grad():
    p = model(test).softmax(-1)[:, 1]
    moved = change_gauge(test, random_gauge(test.num_nodes, torch.Generator().manual_seed(1)))
    p_moved = model(moved).softmax(-1)[:, 1]
acc = ((p > 0.5).long() == test.y).double().mean()
print(f'loss {loss.item():.3f}, test accuracy {acc:.3f}')
print('max |p(gauge changed) - p| =', (p_moved - p).abs().max().item())

fig = plt.figure(figsize=(9, 4))
tris = test.pos[test.face.T].numpy()
for k, (probs, title) in enumerate([(p, 'GEM predictions'),
                                    (p_moved, 'after a random gauge change')]):
    ax = fig.add_subplot(1, 2, k + 1, projection='3d')
    colour = plt.cm.coolwarm(probs[test.face].mean(0).numpy())
    ax.add_collection3d(Poly3DCollection(tris, facecolors=colour, edgecolor='none'))
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), zlim=(-1.3, 1.3), title=title)
    ax.view_init(elev=50, azim=30)
    ax.set_axis_off()
fig.tight_layout()
plt.show()
