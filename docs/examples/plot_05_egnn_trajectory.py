"""
Point clouds: an EGNN trajectory, and the same trajectory rotated
==================================================================

:class:`~gdl_graphs.nn.EGNNConv` (Satorras et al. 2021) updates node features from invariant
distances and moves the points along :math:`\\mathbf{x}_i - \\mathbf{x}_j`, so the layer is
equivariant to rotations, reflections and translations of the points (E(n)).

The system: six particles joined by springs of rest length 1, relaxing by gradient descent on
the spring energy. An EGNN on the complete graph
(:func:`~gdl_graphs.domains.complete.complete_graph`) learns one step of it from random
configurations; rolled out from a new start it follows the true trajectory, and rolled out
from a *rotated* start it gives the rotated trajectory, without having seen a rotation.
"""
import matplotlib.pyplot as plt
import torch

from gdl_graphs.domains.complete import complete_graph
from gdl_graphs.nn import EGNNConv
from gdl_graphs.testing.euclidean import EuclideanTransform

torch.manual_seed(0)
N = 6


def step(pos, substeps=5, lr=0.02):
    """The truth: gradient descent on sum_{i<j} (|x_i - x_j| - 1)^2 within each system."""
    pos = pos.view(-1, N, 3)
    for _ in range(substeps):
        diff = pos.unsqueeze(2) - pos.unsqueeze(1)                       # [B, N, N, 3]
        dist = diff.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        pos = pos - lr * 2 * ((dist - 1) * diff / dist).sum(2)
    return pos.reshape(-1, 3)


class EGNN(torch.nn.Module):
    def __init__(self, hidden=32, layers=2):
        super().__init__()
        self.hidden = hidden
        self.convs = torch.nn.ModuleList(EGNNConv(hidden, hidden, hidden) for _ in range(layers))

    def forward(self, pos, edge_index):
        h = pos.new_ones(pos.size(0), self.hidden)      # identical particles: no features
        for conv in self.convs:
            h, pos = conv(h, pos, edge_index)
        return pos


# training pairs: states along true trajectories from random starts, and their next state
starts = 1.5 * torch.randn(64, N, 3).reshape(-1, 3)
states = [starts]
for _ in range(5):
    states.append(step(states[-1]))
x, y = torch.cat(states[:-1]), torch.cat(states[1:])
edge_index = complete_graph(torch.arange(x.size(0) // N).repeat_interleave(N), loops=False)

model = EGNN()
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
for it in range(100):
    opt.zero_grad()
    loss = (model(x, edge_index) - y).pow(2).mean()
    loss.backward()
    opt.step()
print(f'one-step MSE {loss.item():.2e} (the step itself moves points by '
      f'{(y - x).pow(2).mean().item():.2e})')

# %%
# Roll out 12 steps from a new start and from the same start rotated (and reflected and moved)
# by a random Euclidean transform; map the second trajectory back and compare.

single = complete_graph(num_nodes=N, loops=False)
t = EuclideanTransform.random(3, reflection=True, generator=torch.Generator().manual_seed(3))
start = 1.5 * torch.randn(N, 3)
truth, ours, moved = [start], [start], [t.pos(start)]
with torch.no_grad():
    for _ in range(12):
        truth.append(step(truth[-1]))
        ours.append(model(ours[-1], single))
        moved.append(model(moved[-1], single))
truth, ours, moved = torch.stack(truth), torch.stack(ours), torch.stack(moved)
back = (moved - t.translation) @ t.rotation   # undo x -> x R^T + b (R orthogonal)
print('max |EGNN(T start) mapped back - EGNN(start)| =', (back - ours).abs().max().item())
print('max |EGNN rollout - truth| =', (ours - truth).abs().max().item())

fig, ax = plt.subplots(figsize=(5.5, 5))
for i in range(N):
    ax.plot(truth[:, i, 0], truth[:, i, 1], color='0.7', lw=4, label='truth' if i == 0 else None)
    ax.plot(ours[:, i, 0], ours[:, i, 1], 'C0-', label='EGNN' if i == 0 else None)
    ax.plot(back[:, i, 0], back[:, i, 1], 'C1.', ms=5,
            label='EGNN on the rotated start, rotated back' if i == 0 else None)
    ax.plot(*ours[0, i, :2], 'ko', ms=4)
ax.set_aspect('equal')
ax.set_title('Trajectories of 6 particles (x, y), start: black dots')
ax.legend(loc='best', fontsize=8)
fig.tight_layout()
plt.show()
