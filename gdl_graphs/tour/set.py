"""Set row: DeepSets "sum of digits" (Zaheer et al. 2017) on sets of scikit-learn's 8x8 digits.

Each example is a set of 2..5 handwritten digit images; the target is the sum of their
labels. The model is DeepSets (equivariant DeepSetsConv layers, a sum readout, an MLP) on
edgeless graphs; it is trained briefly (1500 steps of 64 sets) on sets drawn from the first
1200 images and evaluated on sets drawn from the other 597, including sets larger than any seen
in training, against guessing (set size x mean digit). The check is the model's
permutation-invariance error in float64.
"""
from __future__ import annotations

import torch

from ..core import scatter
from . import Row

ORDER = 20


def digit_sets(images, labels, num_sets, lo, hi, g):
    sizes = torch.randint(lo, hi + 1, (num_sets,), generator=g)
    idx = torch.randint(0, images.size(0), (int(sizes.sum()),), generator=g)
    batch = torch.repeat_interleave(torch.arange(num_sets), sizes)
    y = scatter(labels[idx].float(), batch, num_sets, 'sum')  # the sum of the digits of each set
    return images[idx], batch, y


def _run(steps: int = 1500) -> Row:
    from sklearn.datasets import load_digits

    from ..models.deepsets import DeepSets
    from ..testing import Permutation

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target)
    train_img, train_lab = images[:1200], labels[:1200]
    test_img, test_lab = images[1200:], labels[1200:]

    model = DeepSets(64, 64, 1, num_layers=2, pool='mean', readout='sum')
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        x, batch, y = digit_sets(train_img, train_lab, 64, 2, 5, g)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, batch).squeeze(-1), y)
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        x, batch, y = digit_sets(test_img, test_lab, 500, 2, 5, g)
        mae = (model(x, batch).squeeze(-1) - y).abs().mean().item()
        mean_sum = train_lab.float().mean().item() * torch.bincount(batch).float()
        mae_const = (mean_sum - y).abs().mean().item()  # guess: size x mean digit
        xb, bb, yb = digit_sets(test_img, test_lab, 200, 8, 10, g)
        mae_big = (model(xb, bb).squeeze(-1) - yb).abs().mean().item()

        # check: invariance to permuting the elements within every set (float64)
        m64 = model.double()
        x64 = x.double()
        p = Permutation.random(x64.size(0), batch, g)
        err = (m64(p.nodes(x64), batch) - m64(x64, batch)).abs().max().item()
    return Row('set', 'edgeless, 2-5 digits per set', 'DeepSetsConv x2 + sum',
               'permutation invariance error', err, 1e-10,
               f'sum MAE {mae:.2f} (guess {mae_const:.2f}; 8-10 digits: {mae_big:.2f})')


def run(steps: int = 1500) -> Row:
    """The row (the tour runs it on one thread); ``steps`` of training."""
    return _run(steps)
