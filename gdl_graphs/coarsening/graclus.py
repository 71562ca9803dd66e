r"""Graclus: greedy heavy-edge matching (Dhillon, Guan and Kulis, "Weighted Graph Cuts without
Eigenvectors", TPAMI 2007, https://doi.org/10.1109/TPAMI.2007.1115), vectorised.

A drop-in replacement for ``torch_geometric.nn.graclus`` / ``torch_cluster.graclus_cluster``.
Every node ends in a cluster of one or two nodes; a cluster of two is an edge of the graph.

**What is computed, precisely.** Self-loops are ignored and an edge given in both directions
(or several times) counts as one undirected edge whose weight is the largest of its copies.
Edges are ordered by ``(weight, priority)``, the priority being a random permutation of the
edges (from ``generator``) that breaks ties. The result is the *greedy matching* of that
order: scan the edges from the heaviest down and take an edge when both its ends are still
free. Hence

- **valid**: clusters have one or two nodes, and two nodes share a cluster only if an edge
  joins them;
- **maximal**: no edge joins two unmatched nodes;
- **weight-greedy**: every edge :math:`\{u, v\}` left out has an end matched by an edge at
  least as heavy (this also gives half the weight of a maximum-weight matching);
- with distinct weights the matching does not depend on the random priorities.

**How.** The greedy matching equals the one built by locally dominant edges (Preis 1999;
Manne and Bisseling 2007; the GPU handshake of Auer and Bisseling 2012): in every round, each
free node points at its heaviest edge to a free node, mutually pointed edges join the
matching, and edges touching a matched node drop out. Each round is a few vectorised kernels
(a scatter-max over the remaining edges); the number of rounds is the length of the longest
chain of edges of increasing priority, a handful on real graphs.

**Default weight** (``weight=None``): the normalized-cut weight of unit edge weights, as
Graclus uses and as PyG's ``normalized_cut`` computes it,
:math:`w_{ij} = 1/d_i + 1/d_j` with :math:`d` the in-degree (``edge_index[1]``).

The cluster id of a node is the smaller index of its pair (its own index when unmatched), as
torch-cluster returns; :func:`gdl_graphs.coarsening.consecutive` relabels them.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..core import check_edge_index, degree, plain, scatter
from ..core.validate import check_finite

__all__ = ['graclus', 'normalized_cut', 'matching_rounds']

_last_rounds = 0


def normalized_cut(edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                   num_nodes: Optional[int] = None) -> Tensor:
    r"""PyG's ``normalized_cut``: :math:`w_{ij} (1/d_i + 1/d_j)`, :math:`d` the in-degree
    (``edge_attr=None`` means unit weights)."""
    ei = plain(edge_index)
    check_edge_index(ei, num_nodes)
    n = _num_nodes(ei, num_nodes)
    row, col = ei[0], ei[1]
    dtype = (edge_attr.dtype if edge_attr is not None and edge_attr.is_floating_point()
             else torch.get_default_dtype())
    inv = 1.0 / degree(col, n, dtype).clamp_min(1)
    w = inv[row] + inv[col]
    return w if edge_attr is None else edge_attr.view(-1) * w


def _num_nodes(ei: Tensor, num_nodes: Optional[int]) -> int:
    if num_nodes is not None:
        return int(num_nodes)
    return int(ei.max()) + 1 if ei.numel() else 0


def _priority_keys(w: Tensor, generator: Optional[torch.Generator]) -> Tensor:
    """Distinct int64 keys ordered as ``(w, random priority)``.

    Weights exact in float32 are packed with a random permutation of the edges
    (``bits(w) * 2**32 + perm``, the float bits made order-preserving); other float64
    weights are ranked by a stable sort after a random shuffle."""
    m = w.numel()
    w32 = w.float()
    if m < 2 ** 32 and (w.dtype in (torch.float32, torch.float16, torch.bfloat16)
                        or bool((w32.double() == w.double()).all())):
        # a random bijection of [0, 2**32): (a i + b) mod 2**32 with a odd (a Weyl
        # sequence), cheaper than a random permutation and as good for breaking ties
        gdev = generator.device if generator is not None else 'cpu'
        a, b = torch.randint(0, 2 ** 30, (2,), generator=generator, device=gdev).tolist()
        prio = (torch.arange(m, device=w.device) * (2 * a + 1) + b) & 0xFFFFFFFF
        bits = w32.view(torch.int32)
        bits = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: reverse their order
        return bits.long() * (2 ** 32) + prio
    perm = torch.randperm(m, device=w.device, generator=generator)
    order = perm[torch.argsort(w[perm], stable=True)]
    key = torch.empty_like(order)
    key[order] = torch.arange(m, device=w.device)
    return key


def matching_rounds() -> int:
    """The number of handshake rounds of the last :func:`graclus` call (diagnostics)."""
    return _last_rounds


def graclus(edge_index: Tensor, weight: Optional[Tensor] = None,
            num_nodes: Optional[int] = None,
            generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Greedy heavy-edge matching; returns the cluster id of every node.

    Args:
        edge_index: the graph ``[2, E]`` (directed edges count as undirected).
        weight: edge weights ``[E]`` to maximise (default: the normalized-cut weight).
        num_nodes: the number of nodes (default: ``edge_index.max() + 1``).
        generator: random source of the tie-breaking priorities (default: torch's global
            generator of ``edge_index``'s device).

    Returns: ``[N]`` long: ``min(i, partner(i))``, or ``i`` for an unmatched node.
    """
    global _last_rounds
    ei = plain(edge_index)
    check_edge_index(ei, num_nodes)
    n = _num_nodes(ei, num_nodes)
    dev = ei.device
    e = ei.size(1)
    if weight is None:
        w = normalized_cut(ei, None, n)
    else:
        if not isinstance(weight, Tensor) or weight.numel() != e:
            got = list(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f'weight must hold one value per edge ({e}), got {got}')
        w = weight.reshape(-1)
        if not w.is_floating_point():
            w = w.to(torch.get_default_dtype())
        check_finite(w, 'weight')
    cluster = torch.arange(n, device=dev)
    u, v = ei[0], ei[1]
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    _last_rounds = 0
    if u.numel() == 0:
        return cluster
    # a total order on the edges: (weight, random priority), as one int64 key per edge
    key = _priority_keys(w, generator)
    uv = torch.stack([u, v])
    partner = torch.arange(n, device=dev)
    free = torch.ones(n, dtype=torch.bool, device=dev)
    rounds = 0
    while key.numel():
        rounds += 1
        # every free node points at its heaviest remaining edge; mutual pointers match
        # (a node without edges is never read, so its group may keep the identity)
        best = torch.maximum(scatter(key, uv[0], n, 'max', fill_empty=False),
                             scatter(key, uv[1], n, 'max', fill_empty=False))
        win = (best[uv[0]] == key) & (best[uv[1]] == key)
        mu, mv = uv[:, win]
        partner[mu] = mv
        partner[mv] = mu
        free[mu] = False
        free[mv] = False
        alive = (free[uv[0]] & free[uv[1]]).nonzero().view(-1)
        uv, key = uv[:, alive], key[alive]
    _last_rounds = rounds
    return torch.minimum(cluster, partner)
