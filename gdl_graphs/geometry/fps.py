r"""Farthest-point sampling (Eldar et al. 1997; PointNet++, Qi et al. 2017), pure PyTorch.

A drop-in replacement for ``torch_cluster.fps``. Starting from one point per example, it
repeatedly adds the point farthest from the points chosen so far:

.. math::
    s_{t+1} = \arg\max_i \min_{u \le t} \|p_i - p_{s_u}\|^2 .

All examples of a batch advance together (one padded ``[B, N_max]`` distance table), so the
loop runs ``max_b M_b`` steps of a few vectorised kernels, never a Python loop over points,
and without host synchronisation on CUDA. Squared distances are computed as
:math:`\sum_d (p_d - q_d)^2`; ties in the arg max go to the smaller index (``torch.argmax``).
A chosen point is never chosen again: once every distinct point has been chosen (duplicate
points), the remaining duplicates follow in increasing index, so ``ratio=1`` returns every
point once (torch-cluster instead repeats the smallest index).
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor

from .search import _sort_by_batch
from .validate import check_batch, check_points

__all__ = ['fps']


def fps(src: Tensor, batch: Optional[Tensor] = None, ratio: Union[float, Tensor] = 0.5,
        random_start: bool = True, batch_size: Optional[int] = None,
        ptr: Optional[Tensor] = None) -> Tensor:
    r"""Indices of ``ceil(ratio * N_b)`` farthest points of every example.

    Args:
        src: positions ``[N, D]``.
        batch: example of every point (``None``: one example). Unsorted batches are allowed.
        ratio: the fraction to keep, in ``(0, 1]`` (a float or one value per example).
        random_start: start from a uniformly random point of each example; otherwise from
            its first point (smallest index).
        batch_size: the number of examples, when known.
        ptr: ignored when ``batch`` is given; else the example boundaries (CSR pointer).

    Returns:
        ``[M]`` indices into ``src``, example by example; inside an example in the order
        they were chosen (the first one is the start point).

    Shapes: src ``[N, D]``, batch ``[N]`` -> ``[sum_b ceil(ratio N_b)]``.
    """
    src = check_points(src, 'src')
    n, dev = src.size(0), src.device
    if batch is None and ptr is not None:
        ptr = ptr.to(dev).long()
        batch = torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=dev),
                                        ptr[1:] - ptr[:-1])
    batch = check_batch(batch, n, dev, 'batch')
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=dev)
    num = int(batch.max()) + 1
    if batch_size is not None:
        num = max(num, int(batch_size))
    ratio_t = _ratio(ratio, num, src)
    perm = _sort_by_batch(batch)
    pos, b = (src, batch) if perm is None else (src[perm], batch[perm])
    ptr = torch.searchsorted(b, torch.arange(num + 1, device=dev))
    deg = ptr[1:] - ptr[:-1]
    # the sample size, computed in the positions' dtype as torch-cluster does
    m = torch.ceil(deg.to(src.dtype) * ratio_t).long().clamp_max(deg)
    live = (m > 0).nonzero().view(-1)
    if live.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dev)
    deg_l, m_l, ptr_l = deg[live], m[live], ptr[:-1][live]
    nb, width, steps = live.numel(), int(deg_l.max()), int(m_l.max())

    if nb == 1:  # one example: no padding
        table = pos[int(ptr_l[0]):int(ptr_l[0]) + width].unsqueeze(0)
        valid = None
    else:
        local = torch.arange(width, device=dev).unsqueeze(0)
        valid = local < deg_l.unsqueeze(1)
        gidx = (ptr_l.unsqueeze(1) + local).clamp_max(n - 1)
        table = pos[gidx]                                    # [B, W, D]
    if random_start:
        start = (torch.rand(nb, device=dev) * deg_l).long().clamp_max(deg_l - 1)
    else:
        start = torch.zeros(nb, dtype=torch.long, device=dev)

    rows = torch.arange(nb, device=dev)
    cols = table.permute(2, 0, 1).contiguous()               # [D, B, W]: one row per axis
    buf = torch.empty_like(cols)
    d = torch.empty(nb, width, dtype=src.dtype, device=dev)

    def sq_dist(idx: Tensor, out: Tensor) -> Tensor:
        q = cols[:, rows, idx].unsqueeze(-1)                # [D, B, 1]
        torch.sub(cols, q, out=buf)
        buf.square_()
        torch.sum(buf, 0, out=out)
        return out

    dist = sq_dist(start, torch.empty(nb, width, dtype=src.dtype, device=dev))
    if valid is not None:
        dist.masked_fill_(~valid, -math.inf)
    # chosen points sit at -1, below every distance of a point not chosen yet (>= 0)
    dist[rows, start] = -1
    chosen = [start]
    idx = start
    for _ in range(steps - 1):
        idx = dist.argmax(1)
        chosen.append(idx)
        torch.minimum(dist, sq_dist(idx, d), out=dist)
        dist[rows, idx] = -1
    out = torch.stack(chosen, 1)                              # [B, steps] local indices
    keep = torch.arange(steps, device=dev).unsqueeze(0) < m_l.unsqueeze(1)
    out = (out + ptr_l.unsqueeze(1))[keep]
    return out if perm is None else perm[out]


def _ratio(ratio, num: int, src: Tensor) -> Tensor:
    if isinstance(ratio, Tensor):
        r = ratio.to(device=src.device, dtype=src.dtype).view(-1)
        if r.numel() == 1:
            r = r.expand(num)
        if r.numel() != num:
            raise ValueError(f'ratio holds {r.numel()} values but there are {num} examples; '
                             f'pass one ratio per example or a single float')
    else:
        r = torch.full((num,), float(ratio), dtype=src.dtype, device=src.device)
    if r.numel() and not bool(((r > 0) & (r <= 1)).all()):
        raise ValueError(f'ratio must lie in (0, 1], got {ratio}')
    return r
