"""A planted-partition node-classification graph (stochastic block model with Gaussian
features), for the distributed checks and benchmarks: labels are the blocks, so a GNN that
averages neighbours beats one that reads a node's own noisy features."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


def planted_partition(num_nodes: int, blocks: int = 4, degree: int = 8, p_in: float = 0.85,
                      num_features: int = 16, noise: float = 1.0, seed: int = 0
                      ) -> Tuple[Tensor, Tensor, Tensor]:
    """``(edge_index, x, y)``: ``num_nodes * degree / 2`` random edges, each inside the source's
    block with probability ``p_in`` (else to any node), both directions, no self-loops or
    duplicates, in random column order; ``y`` = block; ``x = 2 * onehot(y) + noise * N(0, 1)``
    (``num_features >= blocks``)."""
    if num_features < blocks:
        raise ValueError(f'num_features ({num_features}) must be >= blocks ({blocks})')
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, blocks, (num_nodes,), generator=g)
    m = num_nodes * degree // 2
    src = torch.randint(0, num_nodes, (m,), generator=g)
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=blocks)
    start = torch.cumsum(counts, 0) - counts
    same = order[start[y[src]] + (torch.rand(m, generator=g) * counts[y[src]]).long()]
    dst = torch.where(torch.rand(m, generator=g) < p_in, same,
                      torch.randint(0, num_nodes, (m,), generator=g))
    keep = src != dst
    ei = torch.unique(torch.cat([torch.stack([src[keep], dst[keep]]),
                                 torch.stack([dst[keep], src[keep]])], 1), dim=1)
    ei = ei[:, torch.randperm(ei.size(1), generator=g)]
    x = torch.randn(num_nodes, num_features, generator=g) * noise + \
        torch.nn.functional.one_hot(y, num_features).float() * 2
    return ei, x, y
