"""
Groups: a p4 CNN reads rotated digits
=====================================

A group convolution (Cohen & Welling 2016) is message passing on a *lifted* lattice: one node
per pixel and rotation, :func:`~gdl_graphs.domains.group.lift_lattice`.
:class:`~gdl_graphs.nn.LiftingConv` takes pixel features to the lifted lattice,
:class:`~gdl_graphs.nn.GroupConv` runs on it, and pooling over the rotations
(:func:`~gdl_graphs.domains.group.group_pool`) then over the pixels
(:func:`~gdl_graphs.coarsening.global_pool`) makes the network invariant to 90-degree
rotations of the input.

Both networks below are trained on upright 8x8 digits only; the test digits are shown at 0, 90,
180 and 270 degrees with each network's prediction.
"""
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from gdl_graphs.coarsening import global_pool
from gdl_graphs.domains import image_to_graph
from gdl_graphs.domains.group import group_pool, lift_lattice
from gdl_graphs.nn import GroupConv, LiftingConv

torch.manual_seed(0)
digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # [B, 1, 8, 8]
labels = torch.tensor(digits.target)
x_train, y_train, x_test, y_test = images[:1200], labels[:1200], images[1200:], labels[1200:]

BATCH = 100
grid = image_to_graph(torch.zeros(BATCH, 1, 8, 8))   # the structure only: built once
lifted = lift_lattice(grid, 'C4')


class P4Net(torch.nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.lift = LiftingConv(1, hidden, 3, 'C4')
        self.conv = GroupConv(hidden, hidden, 3, 'C4')
        self.out = torch.nn.Linear(hidden, 10)

    def forward(self, img):
        x = img.movedim(1, -1).reshape(-1, 1)                  # one row per pixel
        h = F.relu(self.lift(x, lifted.lift_edge_index, lifted.lift_edge_type))
        h = F.relu(self.conv(h, lifted.edge_index, lifted.edge_type))
        h = group_pool(h, 'C4', 'max')                          # max over the 4 rotations
        return self.out(global_pool(h, grid.batch, 'max', num_graphs=BATCH))


cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 12, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(12, 12, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(192, 10))
p4 = P4Net()
for model in (p4, cnn):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(10):
        for k in range(0, 1200, BATCH):
            opt.zero_grad()
            F.cross_entropy(model(x_train[k:k + BATCH]), y_train[k:k + BATCH]).backward()
            opt.step()

# %%
# Accuracy on the rotated test digits: the p4 network's predictions do not change with the
# rotation; the plain CNN only knows upright digits.

with torch.no_grad():
    for name, model in (('p4', p4), ('CNN', cnn)):
        accs = []
        for r in range(4):
            pred = torch.cat([model(torch.rot90(x_test[k:k + BATCH], r, (-2, -1)))
                              for k in range(0, 500, BATCH)]).argmax(-1)
            accs.append((pred == y_test[:500]).float().mean().item())
        print(name, 'accuracy at 0/90/180/270 degrees:', ' '.join(f'{a:.2f}' for a in accs))

    show = x_test[:BATCH]
    rows = [[torch.rot90(show, r, (-2, -1)), None, None] for r in range(4)]
    for row in rows:
        row[1], row[2] = p4(row[0]).argmax(-1), cnn(row[0]).argmax(-1)

fig, axes = plt.subplots(4, 6, figsize=(8, 6))
for r, (img, pred_p4, pred_cnn) in enumerate(rows):
    for c in range(6):
        ax = axes[r, c]
        ax.imshow(img[c, 0], cmap='gray_r')
        ok = 'green' if pred_cnn[c] == y_test[c] else 'red'
        ax.set_title(f'p4: {pred_p4[c]}  CNN: {pred_cnn[c]}', fontsize=9, color=ok)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(f'{90 * r} deg')
fig.suptitle('Predictions on rotated test digits (title red: the CNN is wrong)')
fig.tight_layout()
plt.show()
