"""Time-warping row: gated recurrences (LSTM, chrono initialisation) absorb a warping of time
that an ungated recurrence does not (Tallec & Ollivier 2018, "Can recurrent neural networks
warp time?").

Check: ``GatedRecurrentConv.from_torch(nn.LSTM)`` gives ``nn.LSTM``'s output at every time step
of ragged sequences (float64).

Example: a cue (channel 0 or 1) in the first steps, then noise on a third channel; the label is
the cue's channel, invariant to any monotone warping of time. Trained on unwarped sequences
(T = 16), tested on copies warped by a random monotone warp of mean stretch s (every step
repeated 1 .. 2s - 1 times): accuracy for the chrono-initialised LSTM and a plain tanh
recurrence (no gates) of the same width, both read out at the last step.
"""
from __future__ import annotations

import torch

from . import Row

ORDER = 31
LENGTH = 16
STRENGTHS = (1, 2, 4, 8)


def cue_sequences(num: int, g: torch.Generator, length: int = LENGTH, noise: float = 0.2):
    """``num`` sequences ``[length, 3]`` and their labels (the cue's channel)."""
    y = torch.randint(0, 2, (num,), generator=g)
    x = torch.zeros(num, length, 3)
    t0 = torch.randint(0, 3, (num,), generator=g)
    x[torch.arange(num), t0, y] = 1.0
    x[:, :, 2] = noise * torch.randn(num, length, generator=g)
    return x, y


def warp(x: torch.Tensor, strength: int, g: torch.Generator) -> list:
    """A random monotone time warp of mean stretch ``strength``: step t repeated
    ``1 .. 2 strength - 1`` times (the identity for strength 1)."""
    out = []
    for seq in x:
        reps = torch.randint(1, 2 * strength, (seq.size(0),), generator=g)
        out.append(seq.repeat_interleave(reps, 0))
    return out


def _accuracy(conv, head, seqs, y) -> float:
    from ..domains.sequence import sequence_to_graph
    d = sequence_to_graph(seqs)
    h = conv(d.x, d.edge_index)
    last = torch.cumsum(torch.tensor([s.size(0) for s in seqs]), 0) - 1
    return float((head(h[last]).argmax(1) == y).float().mean())


def _train(mode: str, chrono, steps: int, g: torch.Generator):
    from ..nn import GatedRecurrentConv
    torch.manual_seed(0)
    conv = GatedRecurrentConv(3, 16, mode=mode, chrono=chrono)
    head = torch.nn.Linear(16, 2)
    opt = torch.optim.Adam([*conv.parameters(), *head.parameters()], lr=0.02)
    from ..domains.sequence import sequence_to_graph
    for _ in range(steps):
        x, y = cue_sequences(32, g)
        d = sequence_to_graph(list(x))
        h = conv(d.x, d.edge_index)
        logits = head(h.view(32, LENGTH, -1)[:, -1])
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return conv, head


def _run(steps: int = 100) -> Row:
    from ..domains.sequence import sequence_to_graph
    from ..nn import GatedRecurrentConv

    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(t, 3, dtype=torch.float64, generator=g) for t in (5, 1, 9, 3, 7)]
    lstm = torch.nn.LSTM(3, 8, batch_first=True).double()
    data = sequence_to_graph(seqs)
    with torch.no_grad():
        ref = torch.cat([lstm(s.unsqueeze(0))[0].squeeze(0) for s in seqs])
        err = (GatedRecurrentConv.from_torch(lstm)(data.x, data.edge_index) - ref).abs().max()

    models = {'gated': _train('lstm', 4 * LENGTH, steps, torch.Generator().manual_seed(1)),
              'plain': _train('rnn', None, steps, torch.Generator().manual_seed(1))}
    acc = {k: [] for k in models}
    with torch.no_grad():
        for s in STRENGTHS:
            gt = torch.Generator().manual_seed(100 + s)
            x, y = cue_sequences(200, gt)
            warped = warp(x, s, gt)
            for name, (conv, head) in models.items():
                acc[name].append(_accuracy(conv, head, warped, y))
    fmt = ' '.join(f's={s}' for s in STRENGTHS)
    res = '; '.join(f"{k} {'/'.join(f'{a:.2f}' for a in v)}" for k, v in acc.items())
    return Row('time warping', f'paths warped x{STRENGTHS[-1]}', 'GatedRecurrentConv lstm',
               'max |ours - nn.LSTM|', float(err), 1e-10, f'acc at {fmt}: {res}')


def run(steps: int = 100) -> Row:
    """The row (the tour runs it on one thread); ``steps`` of training per model."""
    return _run(steps)
