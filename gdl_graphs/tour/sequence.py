"""Sequence row: a GRU is gated message passing along a directed path graph.

Check: ragged sequences become path graphs (``sequence_to_graph``);
``GatedRecurrentConv.from_torch(gru)`` must give ``nn.GRU``'s output at every time step of
every sequence (float64).

Example: next-value prediction of sine waves of random frequency and phase (lengths 10-40,
ragged batches), trained briefly, compared with repeating the last value. Permuting the nodes
of a sequence is not a symmetry here: the path fixes the order.
"""
from __future__ import annotations

import torch

from . import Row

ORDER = 30


def waves(num, g, lo=10, hi=40):
    lengths = torch.randint(lo, hi + 1, (num,), generator=g)
    omega = 0.2 + 0.4 * torch.rand(num, generator=g)
    phase = 6.2832 * torch.rand(num, generator=g)
    return [torch.sin(omega[b] * torch.arange(int(lengths[b]) + 1) + phase[b]).unsqueeze(-1)
            for b in range(num)]


def _run(steps: int = 150) -> Row:
    from ..domains.sequence import sequence_to_graph
    from ..nn import GatedRecurrentConv

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(t, 3, dtype=torch.float64, generator=g) for t in (5, 1, 9, 3, 7)]
    gru = torch.nn.GRU(3, 8, batch_first=True).double()
    data = sequence_to_graph(seqs)
    ours = GatedRecurrentConv.from_torch(gru)
    with torch.no_grad():
        ref = torch.cat([gru(s.unsqueeze(0))[0].squeeze(0) for s in seqs])
        err = (ours(data.x, data.edge_index) - ref).abs().max().item()

    conv = GatedRecurrentConv(1, 16)
    head = torch.nn.Linear(16, 1)
    opt = torch.optim.Adam([*conv.parameters(), *head.parameters()], lr=0.01)

    def loss_of(batch_waves):
        d = sequence_to_graph([w[:-1] for w in batch_waves])
        target = torch.cat([w[1:] for w in batch_waves])
        pred = head(conv(d.x, d.edge_index))
        return torch.nn.functional.mse_loss(pred, target), torch.nn.functional.mse_loss(
            d.x, target)

    for _ in range(steps):
        opt.zero_grad()
        loss, _ = loss_of(waves(32, g))
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse, last = loss_of(waves(200, g))
    return Row('sequence', 'directed paths, T=1-40', 'GatedRecurrentConv',
               'max |ours - nn.GRU|', err, 1e-10,
               f'next-value MSE {mse.item():.4f} (repeat last: {last.item():.4f})')


def run(steps: int = 150) -> Row:
    """The row (the tour runs it on one thread); ``steps`` of training."""
    return _run(steps)
