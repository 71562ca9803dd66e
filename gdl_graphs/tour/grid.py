"""Grid row: a LeNet-style CNN as a lattice graph network on scikit-learn's 8x8 digits.

The graph model (LatticeConv + lattice max pooling, :class:`gdl_graphs.models.LatticeLeNet`) is
trained briefly; its ``torch.nn`` twin (``Conv2d`` / ``MaxPool2d`` / ``Linear``) with the same
weights must give the same logits in float64. The digits ship with scikit-learn (no download).
"""
from __future__ import annotations

import torch

from . import Row

ORDER = 10


def digits(seed: int = 0):
    """(train images, train labels, test images, test labels): a fixed 75/25 split of the 1797
    8x8 digits, scaled to [0, 1], float64 ``[B, 1, 8, 8]``."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float64).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    perm = torch.randperm(x.size(0), generator=torch.Generator().manual_seed(seed))
    n_train = int(0.75 * x.size(0))
    tr, te = perm[:n_train], perm[n_train:]
    return x[tr], y[tr], x[te], y[te]


def train(model, graph, y, steps: int = 60, lr: float = 0.02) -> float:
    """Full-batch Adam on one lattice batch (a few seconds on one core)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(graph), y)
        loss.backward()
        opt.step()
    return float(loss.detach())


def run() -> Row:
    from ..domains import image_to_graph
    from ..models import LatticeLeNet

    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = digits()
    g_tr, g_te = image_to_graph(x_tr.float()), image_to_graph(x_te)
    model = LatticeLeNet(1, 10, (8, 8), channels=(16, 32), hidden=64)
    train(model, g_tr, y_tr)             # float32: the fast kernels
    model = model.double().eval()        # the check: float64
    twin = model.to_torch().eval()
    from ..core import use_kernel
    with torch.no_grad():
        logits = model(g_te)             # the dense kernel (conv2d on the lattice)
        with use_kernel('generic'):      # the check: messages gathered and scattered per edge
            edges = model(g_te)
        err = (edges - twin(x_te)).abs().max().item()
    acc = (logits.argmax(-1) == y_te).double().mean().item()
    return Row('grid', f'8x8 lattice, 3x3 stencil, B={x_te.size(0)}', 'LatticeConv x2 + pool',
               'max |ours (per-edge messages) - torch LeNet| logits', err, 1e-10,
               f'digits test acc {acc:.3f}')
