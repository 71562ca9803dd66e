"""
Geodesics: a geodesic disk and its polar bins
=============================================

The geodesic CNN of Masci et al. (2015) reads the surface around each vertex in *geodesic
polar coordinates*: :math:`\\rho` the geodesic distance, :math:`\\theta` the direction of the
shortest geodesic in the vertex's tangent frame.
:func:`~gdl_graphs.domains.mesh.geodesic_patches` computes these disks (heat method for
distances, vector heat method for transport) as edges ``j -> i`` with ``edge_coords =
(rho, theta)``; :class:`~gdl_graphs.nn.GeodesicPolarConv` weighs each neighbour into
``num_rho x num_theta`` soft polar bins and takes the max over the rotations of its filter.

The mesh is trimesh's icosphere, made bumpy; the input at each vertex is its angle defect
(discrete Gaussian curvature), the label whether the vertex lies outside the unit sphere.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import trimesh
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from gdl_graphs.domains.mesh import angle_defect, geodesic_patches
from gdl_graphs.nn import GeodesicPolarConv

torch.manual_seed(0)
sphere = trimesh.creation.icosphere(subdivisions=3)           # 642 vertices
pos, face = torch.tensor(sphere.vertices), torch.tensor(sphere.faces).T
pos = pos * (1 + 0.12 * torch.sin(4 * pos[:, :1]) * torch.sin(3 * pos[:, 1:2] + 1))
data = geodesic_patches(pos, face, radius=0.5)                # disks of geodesic radius 0.5
x = 20 * angle_defect(pos, face).unsqueeze(-1).float()
y = (pos.norm(dim=-1) > 1).long()
coords = data.edge_coords.float()

conv1 = GeodesicPolarConv(1, 16, num_rho=3, num_theta=8)
conv2 = GeodesicPolarConv(16, 2, num_rho=3, num_theta=8)
params = [*conv1.parameters(), *conv2.parameters()]


def model(x):
    h = F.relu(conv1(x, data.edge_index, coords, radius=data.radius))
    return conv2(h, data.edge_index, coords, radius=data.radius)


train = torch.rand(len(y)) < 0.5                               # half the vertices labelled
opt = torch.optim.Adam(params, lr=0.02)
for step in range(100):
    opt.zero_grad()
    loss = F.cross_entropy(model(x)[train], y[train])
    loss.backward()
    opt.step()
with torch.no_grad():
    prob = model(x).softmax(-1)[:, 1]
acc = ((prob > 0.5).long() == y)[~train].float().mean()
print(f'loss {loss.item():.3f}, accuracy on the unlabelled vertices {acc:.2f}')

# %%
# One vertex's disk, on the surface and in its own polar coordinates, coloured by the bin
# ``(rho_k, theta_t)`` each neighbour falls in (3 radial x 8 angular bins); right: the
# predicted probability of "outside the unit sphere".

centre = int(pos[:, 2].argmax())
nbr = data.edge_index[1] == centre
src = data.edge_index[0, nbr]
rho, theta = coords[nbr, 0] / data.radius, coords[nbr, 1]
ring = (rho * 3).long().clamp_max(2)
sector = ((theta % (2 * math.pi)) / (2 * math.pi / 8)).long() % 8
bin_colour = plt.cm.hsv(sector.numpy() / 8) * (0.45 + 0.55 * (ring.numpy()[:, None] + 1) / 3)
bin_colour[:, 3] = 1

fig = plt.figure(figsize=(11, 4.4))
tris = pos[face.T].numpy()
ax = fig.add_subplot(1, 3, 1, projection='3d')
ax.add_collection3d(Poly3DCollection(tris, facecolor='0.85', edgecolor='0.6', lw=0.1))
ax.scatter(*pos[src].T.numpy(), c=bin_colour, s=20, depthshade=False)
ax.scatter(*pos[centre].numpy(), c='k', s=30)
ax.set(xlim=(-0.7, 0.7), ylim=(-0.7, 0.7), zlim=(0.3, 1.1), title='geodesic disk of a vertex')
ax.view_init(elev=70, azim=0)
ax.set_axis_off()

ax = fig.add_subplot(1, 3, 2, projection='polar')
ax.scatter(theta, rho, c=bin_colour, s=25)
ax.set_thetagrids(range(0, 360, 45))
ax.set_rgrids([1 / 3, 2 / 3, 1], labels=[])
ax.set_title('(rho / radius, theta): 3 x 8 bins', pad=24)

ax = fig.add_subplot(1, 3, 3, projection='3d')
colour = plt.cm.coolwarm(prob[face].mean(0).numpy())
ax.add_collection3d(Poly3DCollection(tris, facecolors=colour, edgecolor='none'))
ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), title='P(outside the unit sphere)')
ax.set_axis_off()
fig.tight_layout()
plt.show()
