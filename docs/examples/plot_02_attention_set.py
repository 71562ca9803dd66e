"""
Sets and attention: what AttentionConv looks at
===============================================

A set is a graph; attention is message passing on the complete graph of each set
(:func:`~gdl_graphs.domains.complete.complete_graph`). :class:`~gdl_graphs.nn.AttentionConv`
scores every edge :math:`j \\to i` with :math:`\\langle W_Q x_i, W_K x_j\\rangle / \\sqrt d`,
normalises the scores over the incoming edges of :math:`i` and sums the values; on a tagged
complete graph the core runs it as one ``scaled_dot_product_attention`` call.

The task: every element of a set of numbers must output the set's largest number. One
attention layer learns to look at the maximum, whichever position it holds; the picture is
the attention matrix of a test set.
"""
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from gdl_graphs.domains.complete import complete_graph
from gdl_graphs.domains.set import set_to_graph
from gdl_graphs.nn import AttentionConv

torch.manual_seed(0)


def random_sets(num, lo=4, hi=12):
    sets = [torch.rand(int(torch.randint(lo, hi + 1, ())), 1) for _ in range(num)]
    data = set_to_graph(sets)                       # one graph, data.batch names the set
    data.edge_index = complete_graph(data.batch, ptr=data.ptr)
    data.y = torch.cat([s.max().expand(len(s)) for s in sets])
    return data


class MaxNet(torch.nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.embed = torch.nn.Linear(1, dim)
        self.attn = AttentionConv(dim, num_heads=1)
        self.head = torch.nn.Linear(dim, 1)

    def forward(self, x, edge_index):
        return self.head(self.attn(self.embed(x), edge_index)).squeeze(-1)


model = MaxNet()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(300):
    data = random_sets(32)
    opt.zero_grad()
    loss = F.mse_loss(model(data.x, data.edge_index), data.y)
    loss.backward()
    opt.step()
print(f'training loss {loss.item():.5f}')

# %%
# The attention weights of one test set, recomputed from the layer's parameters
# (``in_proj_weight`` holds :math:`W_Q, W_K, W_V` as in :class:`torch.nn.MultiheadAttention`).

test = random_sets(1, 10, 10)
with torch.no_grad():
    pred = model(test.x, test.edge_index)
    h = model.embed(test.x)
    q, k, _ = F.linear(h, model.attn.in_proj_weight, model.attn.in_proj_bias).chunk(3, -1)
    attention = torch.softmax(q @ k.T / math.sqrt(k.size(-1)), dim=-1)   # rows: i, cols: j
print(f'set max {test.y[0]:.3f}, predictions {pred.min():.3f} .. {pred.max():.3f}')

values = test.x.squeeze(-1)
fig, ax = plt.subplots(figsize=(5.5, 4.5))
im = ax.imshow(attention, cmap='viridis', vmin=0, vmax=1)
ax.set_xticks(range(len(values)), [f'{v:.2f}' for v in values], rotation=90)
ax.set_yticks(range(len(values)), [f'{v:.2f}' for v in values])
ax.set_xlabel('attends to element j (its value)')
ax.set_ylabel('element i (its value)')
ax.set_title('AttentionConv weights: every element looks at the max')
fig.colorbar(im, ax=ax)
fig.tight_layout()
plt.show()
