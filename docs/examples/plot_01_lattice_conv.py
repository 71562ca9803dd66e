"""
Images as lattice graphs: LatticeConv is Conv2d
===============================================

An image becomes a lattice graph: one node per pixel, one edge per neighbour in the 3x3
stencil, the edge type naming the offset. :class:`~gdl_graphs.nn.LatticeConv` keeps one
weight matrix per edge type, so on this graph it *is* a :class:`torch.nn.Conv2d` with
``padding='same'``: same weights, same numbers. Local pooling is lattice coarsening
(:func:`~gdl_graphs.coarsening.coarsen_lattice`, :func:`~gdl_graphs.coarsening.lattice_pool`).

We train a small lattice CNN on scikit-learn's 8x8 digits, then compare the feature maps of
its first layer with those of the equal ``Conv2d`` (:meth:`~gdl_graphs.nn.LatticeConv.to_conv`).
"""
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from gdl_graphs.coarsening import coarsen_lattice, lattice_pool
from gdl_graphs.domains import graph_to_image, image_to_graph
from gdl_graphs.nn import LatticeConv

torch.manual_seed(0)
digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # [B, 1, 8, 8]
labels = torch.tensor(digits.target)
train, test = slice(0, 1400), slice(1400, None)

# %%
# The model: two lattice convolutions, a 2x2 max pooling by coarsening, a linear head.
# ``image_to_graph`` turns a batch of images into one graph (``data.x`` is ``[B*64, 1]``).


class LatticeCNN(torch.nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.conv1 = LatticeConv(1, hidden, kernel_size=3)
        self.conv2 = LatticeConv(hidden, hidden, kernel_size=3)
        self.head = torch.nn.Linear(hidden * 16, 10)

    def forward(self, data):
        x = F.relu(self.conv1(data.x, data.edge_index, data.edge_type))
        x = F.relu(self.conv2(x, data.edge_index, data.edge_type))
        x = lattice_pool(x, coarsen_lattice(data, 2), 'max')   # 8x8 -> 4x4 lattice
        return self.head(x.view(-1, 16 * x.size(-1)))


model = LatticeCNN()
g_train, g_test = image_to_graph(images[train]), image_to_graph(images[test])
opt = torch.optim.Adam(model.parameters(), lr=0.02)
for step in range(60):
    opt.zero_grad()
    loss = F.cross_entropy(model(g_train), labels[train])
    loss.backward()
    opt.step()
with torch.no_grad():
    acc = (model(g_test).argmax(-1) == labels[test]).float().mean()
print(f'loss {loss.item():.3f}, test accuracy {acc:.3f}')

# %%
# The first layer as a graph layer and as ``Conv2d``: the feature maps agree to float
# precision. ``graph_to_image`` puts the node features back on the pixel grid.

conv2d = model.conv1.to_conv()
one = images[test][:1]
with torch.no_grad():
    g = image_to_graph(one)
    ours = graph_to_image(model.conv1(g.x, g.edge_index, g.edge_type), g)[0]  # [C, 8, 8]
    theirs = conv2d(one)[0]
print('max |LatticeConv - Conv2d| =', (ours - theirs).abs().max().item())

fig, axes = plt.subplots(2, 5, figsize=(9, 4))
axes[0, 0].imshow(one[0, 0], cmap='gray_r')
axes[0, 0].set_title('input')
axes[1, 0].axis('off')
for c in range(4):
    axes[0, c + 1].imshow(ours[c], cmap='RdBu')
    axes[0, c + 1].set_title(f'LatticeConv ch {c}')
    axes[1, c + 1].imshow(theirs[c], cmap='RdBu')
    axes[1, c + 1].set_title(f'Conv2d ch {c}')
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
