"""K folds of GIN's protocol trained as one model: the fast path of ``scripts/tu.py``.

The ten folds of a cross-validation train ten independent copies of one small network on
small batches, so a step costs the overhead of a hundred tiny operators, not arithmetic.
:class:`FoldBatchedGIN` holds the ``K`` copies as one module whose parameters are stacked along
a leading fold axis (one flat ``[K, P]`` tensor): a step runs every fold's batch at once (a
batched matrix product per linear layer, batch norm with per-fold statistics, one sparse
aggregation over the disjoint union of the folds' graphs), and :class:`FoldAdam` updates all
folds in a handful of operations.

The folds stay independent: fold ``k``'s loss depends on its parameters only, so the gradient
of the summed loss is each fold's own gradient; batch norm keeps separate statistics; Adam is
elementwise, with a step count per fold (a fold that has no batch left in a step is not
updated). Each copy starts from the initialisation the one-fold trainer gives it (seeded by its
fold), each fold draws its own batches from its own generator, as the one-fold trainer does;
only the dropout masks come from one shared stream. Given the same batches and no dropout it
computes the one-fold trainer's numbers (tested in float64).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

BN_EPS, BN_MOMENTUM = 1e-5, 0.1


class FoldBatchedGIN(torch.nn.Module):
    """``K`` copies of :class:`gdl_graphs.experiments.tu.GIN` (same shapes) as one module.

    Args:
        models: the copies, one per fold (their parameters and batch-norm statistics are
            copied; the copies are not modified).

    Shapes: :meth:`forward` takes a :class:`FoldBatch` and returns ``[K, G, classes]`` scores
    (``G``: the largest number of graphs of a fold in the batch).
    """

    def __init__(self, models: Sequence[torch.nn.Module]):
        super().__init__()
        from ..nn import GINConv
        first = models[0]
        self.num_folds = len(models)
        self.dropout = first.dropout
        self.num_convs = len(first.convs)
        self.train_eps = isinstance(first.convs[0].eps, torch.nn.Parameter)
        names = [n for n, _ in first.named_parameters()]
        params = [dict(m.named_parameters()) for m in models]
        self.layout: Dict[str, Tuple[int, int, torch.Size]] = {}
        flat, start = [], 0
        for n in names:
            shape = params[0][n].shape
            size = params[0][n].numel()
            self.layout[n] = (start, start + size, shape)
            flat.append(torch.stack([p[n].detach().reshape(-1) for p in params]))
            start += size
        self.flat = torch.nn.Parameter(torch.cat(flat, 1).clone())
        for i in range(self.num_convs):
            for key, bn in ((f'inner{i}', models[0].convs[i].nn[1]),
                            (f'outer{i}', models[0].norms[i])):
                mods = [m.convs[i].nn[1] if key.startswith('inner') else m.norms[i]
                        for m in models]
                self.register_buffer(f'{key}_mean', torch.stack([b.running_mean for b in mods]))
                self.register_buffer(f'{key}_var', torch.stack([b.running_var for b in mods]))
        # the neighbour sum of every GIN layer, on the disjoint union of all folds' graphs
        self.aggregate = GINConv(torch.nn.Identity(), eps=-1.0)
        self.aggregate.reset_parameters()

    def param(self, name: str) -> Tensor:
        a, b, shape = self.layout[name]
        return self.flat[:, a:b].reshape(self.num_folds, *shape)

    def _linear(self, h: Tensor, prefix: str) -> Tensor:
        w, b = self.param(prefix + '.weight'), self.param(prefix + '.bias')
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    def _norm(self, h: Tensor, prefix: str, key: str, mask: Tensor, count: Tensor) -> Tensor:
        w, b = self.param(prefix + '.weight'), self.param(prefix + '.bias')
        rm, rv = getattr(self, key + '_mean'), getattr(self, key + '_var')
        if self.training:
            n = count.clamp(min=1).view(-1, 1)
            mean = (h * mask).sum(1) / n
            var = ((h - mean.unsqueeze(1)) ** 2 * mask).sum(1) / n
            with torch.no_grad():
                live = (count > 1).view(-1, 1)
                unbiased = var * n / (n - 1).clamp(min=1)
                rm.copy_(torch.where(live, (1 - BN_MOMENTUM) * rm + BN_MOMENTUM * mean, rm))
                rv.copy_(torch.where(live, (1 - BN_MOMENTUM) * rv + BN_MOMENTUM * unbiased, rv))
        else:
            mean, var = rm, rv
        scale = w / torch.sqrt(var + BN_EPS)
        return h * scale.unsqueeze(1) + (b - mean * scale).unsqueeze(1)

    def forward(self, fb: 'FoldBatch') -> Tensor:
        from torch_geometric.nn import global_add_pool
        K, N = self.num_folds, fb.num_nodes
        mask = fb.node_mask.unsqueeze(-1)
        h = fb.x
        hs = [h]
        for i in range(self.num_convs):
            z = self.aggregate(h.reshape(K * N, -1), fb.edge_index).view(K, N, -1)
            if self.train_eps:  # (1 + eps) x_i + sum_j x_j, eps per fold
                z = z + (1 + self.param(f'convs.{i}.eps').view(K, 1, 1)) * h
            else:
                z = z + h
            p = f'convs.{i}.nn'
            z = self._linear(z, f'{p}.0')
            z = F.relu(self._norm(z, f'{p}.1', f'inner{i}', mask, fb.node_count))
            z = self._linear(z, f'{p}.3')
            h = F.relu(self._norm(z, f'norms.{i}', f'outer{i}', mask, fb.node_count)) * mask
            hs.append(h)
        out = 0
        for i, h in enumerate(hs):
            pooled = global_add_pool(h.reshape(K * N, -1), fb.graph_slot,
                                     size=K * fb.num_graphs).view(K, fb.num_graphs, -1)
            out = out + F.dropout(self._linear(pooled, f'heads.{i}'), self.dropout,
                                  self.training)
        return out

    def fold_state_dict(self, k: int) -> Dict[str, Tensor]:
        """Fold ``k``'s copy as a state dict of :class:`~gdl_graphs.experiments.tu.GIN`."""
        out = {n: self.param(n)[k].detach().clone() for n in self.layout}
        for i in range(self.num_convs):
            for key, prefix in ((f'inner{i}', f'convs.{i}.nn.1'), (f'outer{i}', f'norms.{i}')):
                out[prefix + '.running_mean'] = getattr(self, key + '_mean')[k].clone()
                out[prefix + '.running_var'] = getattr(self, key + '_var')[k].clone()
        return out


class FoldBatch:
    """The batches of ``K`` folds as one padded disjoint graph: fold ``k``'s nodes occupy rows
    ``k * N .. k * N + n_k - 1`` of ``x`` (``[K, N, F]``, zero padding), its graphs the slots
    ``k * G .. k * G + g_k - 1``; ``y`` is ``[K, G]`` with ``-100`` (ignored) in the padding."""

    def __init__(self, store, ids: Sequence[Tensor], device: torch.device):
        K = len(ids)
        counts = torch.tensor([int(i.numel()) for i in ids])
        gb = store.batch(torch.cat(list(ids)))
        graph_fold = torch.repeat_interleave(torch.arange(K), counts)
        node_fold = graph_fold.index_select(0, gb.batch)
        node_count = torch.bincount(node_fold, minlength=K)
        N, G = max(int(node_count.max()), 1), max(int(counts.max()), 1)
        node_first = torch.cumsum(node_count, 0) - node_count
        graph_first = torch.cumsum(counts, 0) - counts
        pos = node_fold * N + torch.arange(node_fold.numel()) - \
            node_first.index_select(0, node_fold)
        x = gb.x.new_zeros(K * N, gb.x.size(1))
        x[pos] = gb.x
        mask = torch.zeros(K * N)
        mask[pos] = 1.0
        slot_of_graph = graph_fold * G + torch.arange(graph_fold.numel()) - \
            graph_first.index_select(0, graph_fold)
        slot = torch.full((K * N,), K * G - 1, dtype=torch.long)  # padding rows are zero
        slot[pos] = slot_of_graph.index_select(0, gb.batch)
        y = torch.full((K * G,), -100, dtype=torch.long)
        y[slot_of_graph] = gb.y
        self.num_nodes, self.num_graphs = N, G
        self.x = x.view(K, N, -1).to(device)
        self.node_mask = mask.view(K, N).to(device)
        self.node_count = node_count.to(device)
        self.graph_count = counts.to(device)
        self.edge_index = pos[gb.edge_index].to(device)
        self.graph_slot = slot.to(device)
        self.y = y.view(K, G).to(device)

    def to(self, dtype: torch.dtype) -> 'FoldBatch':
        self.x, self.node_mask = self.x.to(dtype), self.node_mask.to(dtype)
        return self


class FoldAdam:
    """``torch.optim.Adam`` (default betas and eps, no weight decay) on a ``[K, P]`` tensor
    whose rows are independent models, with a step count per row: :meth:`step` updates the
    rows in ``active`` only, exactly as ``K`` separate Adam optimizers that each step when
    their fold has a batch."""

    def __init__(self, param: Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = torch.zeros(param.size(0), 1, dtype=param.dtype, device=param.device)

    def zero_grad(self) -> None:
        self.param.grad = None

    @torch.no_grad()
    def step(self, active: Tensor) -> None:
        b1, b2 = self.betas
        act = active.view(-1, 1).to(self.param.dtype)
        g = self.param.grad
        self.t += act
        m = torch.lerp(self.m, g, 1 - b1)
        v = self.v * b2 + (1 - b2) * g * g
        t = self.t.clamp(min=1)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        denom = v.sqrt() / bc2.sqrt() + self.eps
        upd = self.param - (self.lr / bc1) * m / denom
        on = act.bool()
        self.m.copy_(torch.where(on, m, self.m))
        self.v.copy_(torch.where(on, v, self.v))
        self.param.copy_(torch.where(on, upd, self.param))


def epoch_batches(order, iters: Optional[int]) -> List[Tensor]:
    """The batches (positions) one epoch draws from the index loader ``order``: one pass, or
    ``iters`` batches over as many passes as needed (the one-fold trainer's loop)."""
    out: List[Tensor] = []
    while True:
        for pos in order:
            out.append(pos)
            if iters is not None and len(out) >= iters:
                return out
        if iters is None:
            return out


def train_folds(store, splits, folds: Sequence[int], opt: Dict, num_features: int,
                num_classes: int, device: torch.device, progress=None,
                dtype: torch.dtype = torch.float32) -> List[Dict]:
    """Folds ``folds`` of the protocol as one :class:`FoldBatchedGIN`; per fold the held-out
    accuracy and mean training loss of every epoch (as
    :func:`gdl_graphs.experiments.tu.train_fold` returns them)."""
    import time

    from .rng import seed_everything
    from .tu import GIN
    models, orders, train_ids = [], [], []
    for f in folds:
        seed_everything(opt['seed'] + f)
        gen = torch.Generator().manual_seed(opt['seed'] + f)
        ids = torch.from_numpy(splits[f][0])
        train_ids.append(ids)
        orders.append(torch.utils.data.DataLoader(range(len(ids)), opt['batch_size'],
                                                  shuffle=True, generator=gen))
        models.append(GIN(num_features, opt['hidden'], num_classes, opt['num_layers'],
                          opt['dropout'], opt['model'] == 'gin-eps'))
    seed_everything(opt['seed'])
    model = FoldBatchedGIN(models).to(device=device, dtype=dtype)
    K = len(folds)
    adam = FoldAdam(model.flat, opt['lr'])
    test = FoldBatch(store, [torch.from_numpy(splits[f][1]) for f in folds], device).to(dtype)
    test_count = test.graph_count.to(dtype)
    acc = torch.zeros(K, opt['epochs'], dtype=torch.float64)
    losses = torch.zeros(K, opt['epochs'], dtype=torch.float64)
    t0 = time.perf_counter()
    for epoch in range(opt['epochs']):
        adam.lr = opt['lr'] * opt['gamma'] ** (epoch // opt['step_size'])  # StepLR
        model.train()
        plans = [epoch_batches(o, opt['iters_per_epoch']) for o in orders]
        steps = max(len(p) for p in plans)
        total = torch.zeros(K, dtype=torch.float64)
        count = torch.zeros(K, dtype=torch.float64)
        for s in range(steps):
            ids = [train_ids[k].index_select(0, plans[k][s]) if s < len(plans[k])
                   else train_ids[k][:0] for k in range(K)]
            fb = FoldBatch(store, ids, device).to(dtype)
            adam.zero_grad()
            out = model(fb)
            ce = F.cross_entropy(out.reshape(-1, out.size(-1)), fb.y.view(-1), reduction='none',
                                 ignore_index=-100).view(K, -1).sum(1)
            g = fb.graph_count.to(dtype)
            loss_k = ce / g.clamp(min=1)
            loss_k.sum().backward()
            adam.step(fb.graph_count > 0)
            total += (loss_k.detach() * g).double().cpu()
            count += g.double().cpu()
        model.eval()
        with torch.no_grad():
            pred = model(test).argmax(-1)
        right = ((pred == test.y) & (test.y >= 0)).sum(1).double()
        acc[:, epoch] = (right / test_count.double()).cpu()
        losses[:, epoch] = total / count.clamp(min=1)
        if progress is not None:
            progress(epoch, float(losses[:, epoch].mean()), float(acc[:, epoch].mean()))
    seconds = time.perf_counter() - t0
    return [{'fold': f, 'acc': acc[k].tolist(), 'loss': losses[k].tolist(),
             'seconds': seconds / K} for k, f in enumerate(folds)]

