"""
Sequences: a GRU is gated message passing along a path
======================================================

A sequence becomes a directed path graph, one node per time step
(:func:`~gdl_graphs.domains.sequence.sequence_to_graph`; ragged batches are one graph).
:class:`~gdl_graphs.nn.GatedRecurrentConv` passes the hidden state along the path with a GRU's
gates, so with the same weights it computes :class:`torch.nn.GRU`'s outputs at every step
(:meth:`~gdl_graphs.nn.GatedRecurrentConv.from_torch`).

The task: sine waves of random frequency, phase and length; from the values so far, predict
the next one. The picture: three test waves, the truth and the one-step predictions.
"""
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from gdl_graphs.domains.sequence import sequence_to_graph
from gdl_graphs.nn import GatedRecurrentConv

torch.manual_seed(0)


def waves(num, lo=10, hi=40):
    out = []
    for _ in range(num):
        t = torch.arange(int(torch.randint(lo, hi + 1, ())) + 1)
        out.append(torch.sin((0.2 + 0.4 * torch.rand(())) * t + 6.28 * torch.rand(())))
    return out


def batch(seqs):
    data = sequence_to_graph([s[:-1].unsqueeze(-1) for s in seqs])  # inputs: all but the last
    data.y = torch.cat([s[1:] for s in seqs])                        # targets: the next value
    return data


gru = GatedRecurrentConv(1, 32)
head = torch.nn.Linear(32, 1)
opt = torch.optim.Adam([*gru.parameters(), *head.parameters()], lr=0.01)
for step in range(150):
    data = batch(waves(32))
    opt.zero_grad()
    loss = F.mse_loss(head(gru(data.x, data.edge_index)).squeeze(-1), data.y)
    loss.backward()
    opt.step()

test = waves(3, 30, 40)
data = batch(test)
with torch.no_grad():
    pred = head(gru(data.x, data.edge_index)).squeeze(-1)
repeat = (data.x.squeeze(-1) - data.y).pow(2).mean()
print(f'test MSE {F.mse_loss(pred, data.y):.4f} (repeating the last value: {repeat:.4f})')

# %%
# The same layer as ``torch.nn.GRU``: copy a GRU's weights in and compare every output.

reference = torch.nn.GRU(1, 32, batch_first=True)
twin = GatedRecurrentConv.from_torch(reference)
with torch.no_grad():
    ours = twin(data.x, data.edge_index)
    theirs = torch.cat([reference(s[:-1].view(1, -1, 1))[0][0] for s in test])
print('max |GatedRecurrentConv - nn.GRU| =', (ours - theirs).abs().max().item())

fig, axes = plt.subplots(3, 1, figsize=(7, 5), sharex=True)
start = 0
for ax, s in zip(axes, test):
    n = len(s) - 1
    ax.plot(range(len(s)), s, 'k-', lw=1, label='wave')
    ax.plot(range(1, n + 1), pred[start:start + n], 'C1o', ms=3, label='GatedRecurrentConv')
    start += n
axes[0].legend(loc='upper right', fontsize=8)
axes[-1].set_xlabel('time step')
fig.suptitle('One-step predictions on test waves')
fig.tight_layout()
plt.show()
