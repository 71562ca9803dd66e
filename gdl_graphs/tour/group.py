"""Group row: a p4 CNN as message passing on lifted lattices vs a plain CNN, on rotated digits.

Both networks are trained briefly on upright 8x8 digits (scikit-learn's copy of the UCI
digits) and tested on the test digits rotated by 0, 90, 180 and 270 degrees. The p4 network
(LiftingConv -> GroupConv -> pooling over the group and the pixels) is invariant, so its
predictions are the same for every rotation; the plain CNN's accuracy drops. The check is the
largest change of the p4 logits under the rotations (float64).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import Row

ORDER = 60


class P4Net(nn.Module):
    """LiftingConv -> ReLU -> GroupConv -> ReLU -> max over C4 -> max over pixels -> Linear."""

    def __init__(self, hidden: int = 16, classes: int = 10):
        super().__init__()
        from ..nn import GroupConv, LiftingConv
        self.lift = LiftingConv(1, hidden, 3, 'C4')
        self.conv = GroupConv(hidden, hidden, 3, 'C4')
        self.out = nn.Linear(hidden, classes)

    def forward(self, images, graphs):
        from ..coarsening import global_pool
        from ..domains.group import group_pool
        data, lifted = graphs(images.size(0))
        x = images.movedim(1, -1).reshape(-1, 1)          # pixel nodes (image_to_graph layout)
        h = F.relu(self.lift(x, lifted.lift_edge_index, lifted.lift_edge_type))
        h = F.relu(self.conv(h, lifted.edge_index, lifted.edge_type))
        h = group_pool(h, 'C4', 'max')                    # invariant over the group axis
        h = global_pool(h, data.batch, 'max', num_graphs=images.size(0))  # and over pixels
        return self.out(h)


class PlainCNN(nn.Module):
    def __init__(self, hidden: int = 16, classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, hidden, 3, padding=1)
        self.c2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.out = nn.Linear(hidden * 16, classes)

    def forward(self, images, graphs=None):
        h = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(images)))), 2)
        return self.out(h.flatten(1))


class _Graphs:
    """Lifted lattices of 8x8 image batches, built once per batch size (structure only)."""

    def __init__(self):
        self.cache = {}

    def __call__(self, b: int):
        if b not in self.cache:
            from ..domains import image_to_graph
            from ..domains.group import lift_lattice
            data = image_to_graph(torch.zeros(b, 1, 8, 8), 3)
            self.cache[b] = (data, lift_lattice(data, 'C4'))
        return self.cache[b]


def load_digits():
    """scikit-learn's 8x8 digits; without scikit-learn (an optional extra), 10 classes of
    noisy random 8x8 templates stand in (the row says so)."""
    g = torch.Generator().manual_seed(0)
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError:
        templates = (torch.rand(10, 1, 8, 8, generator=g) > 0.6).float()
        y = torch.arange(1797) % 10
        x = (templates[y] + 0.3 * torch.randn(1797, 1, 8, 8, generator=g)).clamp(0, 1)
        source = 'synthetic templates (no scikit-learn)'
    else:
        d = _load()
        x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(d.target)
        source = 'test digits'

    perm = torch.randperm(x.size(0), generator=g)
    x, y = x[perm], y[perm]
    return x[:1200], y[:1200], x[1200:], y[1200:], source


def train(model, x, y, graphs, epochs: int, batch: int = 100, lr: float = 0.01) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(x.size(0), generator=g)
        for k in range(0, x.size(0) - batch + 1, batch):
            idx = perm[k:k + batch]
            opt.zero_grad()
            F.cross_entropy(model(x[idx], graphs), y[idx]).backward()
            opt.step()


def run() -> Row:
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te, source = load_digits()
    graphs = _Graphs()
    p4, plain = P4Net(), PlainCNN()
    train(p4, x_tr, y_tr, graphs, epochs=10)
    train(plain, x_tr, y_tr, graphs, epochs=10)
    rots = [torch.rot90(x_te, k, dims=(-2, -1)) for k in range(4)]
    with torch.no_grad():
        acc_p4 = [(p4(r, graphs).argmax(-1) == y_te).float().mean().item() for r in rots]
        acc_cnn = [(plain(r).argmax(-1) == y_te).float().mean().item() for r in rots]
        p4d = p4.double()
        logits = [p4d(r.double(), graphs) for r in rots]
    err = max((lg - logits[0]).abs().max().item() for lg in logits[1:])
    same = all(torch.equal(lg.argmax(-1), logits[0].argmax(-1)) for lg in logits[1:])
    fmt = '/'.join(f'{100 * a:.0f}' for a in acc_p4)
    fmt_cnn = '/'.join(f'{100 * a:.0f}' for a in acc_cnn)
    return Row('group (p4)', 'lifted 8x8 lattice x C4', 'LiftingConv+GroupConv',
               'max |p4(rot x) - p4(x)|', err, 1e-10,
               f'{x_te.size(0)} {source}, acc % at 0/90/180/270 deg: p4 {fmt} '
               f'(same preds: {same}), CNN {fmt_cnn}')
