"""EGNN row: an E(n)-invariant target (the radius of gyration) on random 3-D point clouds.

Point clouds (Gaussian blobs of random size and shape) become k-NN graphs
(:func:`gdl_graphs.domains.pointcloud.to_graph`); three :class:`~gdl_graphs.nn.EGNNConv` layers
and a mean readout regress :math:`R_g = \\sqrt{\\tfrac1N \\sum_i \\|x_i - \\bar x\\|^2}`. The check
is the largest change of the predictions under a random rotation with reflection, a
translation and a relabelling of the points (float64).
"""
from __future__ import annotations

import torch
from torch import nn

from . import Row

ORDER = 65


class EGNNRegressor(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 3):
        super().__init__()
        from ..nn import EGNNConv
        self.embed = nn.Linear(1, hidden)
        self.convs = nn.ModuleList([EGNNConv(hidden, hidden, hidden) for _ in range(layers)])
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, pos, edge_index, batch, num_graphs):
        from ..coarsening import global_pool
        h = self.embed(pos.new_ones(pos.size(0), 1))
        for conv in self.convs:
            h, pos = conv(h, pos, edge_index)
        return self.head(global_pool(h, batch, 'mean', num_graphs)).squeeze(-1)


def clouds(num: int, points: int, generator: torch.Generator):
    scale = 0.5 + 1.5 * torch.rand(num, 1, 3, generator=generator)   # anisotropic blobs
    pos = torch.randn(num, points, 3, generator=generator) * scale
    rg = (pos - pos.mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt()
    batch = torch.arange(num).repeat_interleave(points)
    return pos.reshape(-1, 3), batch, rg


def run() -> Row:
    from ..domains.pointcloud import to_graph
    from ..testing import Permutation
    from ..testing.euclidean import EuclideanTransform
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n_tr, n_te, pts = 160, 100, 16
    pos_tr, b_tr, y_tr = clouds(n_tr, pts, g)
    pos_te, b_te, y_te = clouds(n_te, pts, g)
    ei_tr = to_graph(pos_tr, k=8, batch=b_tr).edge_index
    ei_te = to_graph(pos_te, k=8, batch=b_te).edge_index
    model = EGNNRegressor()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        opt.zero_grad()
        loss = (model(pos_tr, ei_tr, b_tr, n_tr) - y_tr).pow(2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mae = (model(pos_te, ei_te, b_te, n_te) - y_te).abs().mean().item()
        base = (y_te - y_tr.mean()).abs().mean().item()
        m64 = model.double()
        p64 = pos_te.double()
        t = EuclideanTransform.random(3, reflection=True, scale=3.0, generator=g)
        perm = Permutation.random(p64.size(0), b_te, g)
        ref = m64(p64, ei_te, b_te, n_te)
        q = perm.nodes(t.pos(p64))        # the graph is rebuilt from the moved points
        moved = m64(q, to_graph(q, k=8, batch=b_te).edge_index, b_te, n_te)
    err = (moved - ref).abs().max().item()
    return Row('group (E(3))', f'k-NN clouds {n_te} x {pts} pts', 'EGNNConv x3',
               'max |f(Qx+t, perm) - f(x)|', err, 1e-10,
               f'R_g test MAE {mae:.3f} (predict-mean {base:.3f})')
