"""Coarsening toolkit rows: graclus (E=1M), fps (N=100k, ratio 0.1), knn_graph (N=100k,
k=16), each vs torch-cluster when it imports (goal <= 2.0x), otherwise vs a plain reference:

- graclus: the sequential greedy matching (numpy sort + Python loop over the edges), the
  same matching as ours given the same edge order;
- fps: the textbook loop (one distance row per step, ``.item()`` per step);
- knn_graph: chunked brute force (``cdist`` + ``topk`` over all points) -- O(N^2) time, so
  without torch-cluster the knn row runs at N=20k (stated in the row name).

Peak memory is reported for every candidate (ours is O(N k) plus a constant: chunks of at
most 2**22 candidates). torch-cluster: ``pip install --no-build-isolation torch-cluster``
(any module importable as ``torch_cluster`` with ``fps``, ``graclus_cluster`` and
``knn_graph`` serves as the peer).

Two differences of definition, both documented in gdl_graphs.coarsening: torch-cluster's
graclus visits nodes in random order (each takes its heaviest free neighbour) while ours
returns the greedy matching of the edges by weight, so the clusters differ; torch-cluster's
knn_graph asks for k + 1 neighbours and drops self-loops, ours excludes the point first
(identical edge sets on distinct points). fps returns the same indices.
"""
import torch

from bench import Row
from gdl_graphs.coarsening import fps, graclus, knn_graph, normalized_cut

try:  # optional peer
    import torch_cluster
except Exception:  # ImportError or a broken binary
    torch_cluster = None


def _greedy_python(edge_index, weight, n):
    import numpy as np
    u, v = edge_index.cpu().numpy()
    w = weight.cpu().numpy()
    order = np.argsort(-w, kind='stable')
    free = np.ones(n, dtype=bool)
    mate = np.arange(n)
    uu, vv = u[order].tolist(), v[order].tolist()
    freel = free.tolist()
    for a, b in zip(uu, vv):
        if a != b and freel[a] and freel[b]:
            freel[a] = freel[b] = False
            mate[a], mate[b] = b, a
    return np.minimum(np.arange(n), mate)


def _fps_loop(pos, m):
    dist = ((pos - pos[0]) ** 2).sum(1)
    out = [0]
    for _ in range(m - 1):
        i = int(dist.argmax())
        out.append(i)
        dist = torch.minimum(dist, ((pos - pos[i]) ** 2).sum(1))
    return out


def _knn_brute(pos, k, chunk=2048):
    rows, cols = [], []
    for s in range(0, pos.size(0), chunk):
        d = torch.cdist(pos[s:s + chunk], pos)
        d[torch.arange(d.size(0)), torch.arange(s, s + d.size(0))] = float('inf')
        idx = d.topk(k, largest=False).indices
        rows.append(idx.reshape(-1))
        cols.append(torch.arange(s, s + d.size(0)).repeat_interleave(k))
    return torch.stack([torch.cat(rows), torch.cat(cols)])


def rows(quick: bool, device: str):
    g = torch.Generator().manual_seed(0)
    out = []  # every lambda binds its inputs: the names are reused below
    peer = torch_cluster is not None

    # graclus -------------------------------------------------------------------------------
    n, e = (10_000, 100_000) if quick else (100_000, 1_000_000)
    half = torch.randint(0, n, (2, e // 2), generator=g)
    ei = torch.cat([half, half.flip(0)], 1).to(device)
    w = torch.rand(e // 2, generator=g)
    w = torch.cat([w, w]).to(device)  # a symmetric weight: ties only by coincidence
    cand = {'gdl graclus (handshake rounds)': lambda ei=ei, w=w, n=n: graclus(ei, w, n)}
    if peer:
        row, col = ei
        cand = {'torch_cluster.graclus_cluster': lambda row=row, col=col, w=w, n=n:
                torch_cluster.graclus_cluster(row, col, w, n), **cand}
        base = 'torch_cluster.graclus_cluster'
        note = 'peer: torch-cluster (its wrapper sorts the edges to CSR, as PyG graclus does)'
    else:
        cand = {'sequential greedy (python loop)':
                lambda ei=ei, w=w, n=n: _greedy_python(ei, w, n), **cand}
        base = 'sequential greedy (python loop)'
        note = 'torch-cluster not installed: vs the sequential greedy loop'
    out.append(Row(f'graclus N={n} E={e} weighted', base, cand,
                   goals={'gdl graclus (handshake rounds)': 2.0}, note=note))
    if peer:
        wn = normalized_cut(ei, None, n)
        out.append(Row(f'graclus N={n} E={e} normalized cut', 'torch_cluster.graclus_cluster',
                       {'torch_cluster.graclus_cluster': lambda row=row, col=col, wn=wn, n=n:
                        torch_cluster.graclus_cluster(row, col, wn, n),
                        'gdl graclus (handshake rounds)': lambda ei=ei, wn=wn, n=n:
                        graclus(ei, wn, n)},
                       goals={'gdl graclus (handshake rounds)': 2.0}))

    # fps -----------------------------------------------------------------------------------
    n = 10_000 if quick else 100_000
    pos = torch.rand(n, 3, generator=g).to(device)
    cand = {'gdl fps': lambda pos=pos: fps(pos, ratio=0.1, random_start=False)}
    if peer:
        cand = {'torch_cluster.fps': lambda pos=pos: torch_cluster.fps(pos, None, 0.1, False),
                **cand}
        base = 'torch_cluster.fps'
    else:
        cand = {'textbook loop (.item() per step)': lambda pos=pos, n=n: _fps_loop(pos, n // 10),
                **cand}
        base = 'textbook loop (.item() per step)'
    out.append(Row(f'fps N={n} ratio=0.1 D=3', base, cand, goals={'gdl fps': 2.0}))

    # knn_graph -----------------------------------------------------------------------------
    n = 10_000 if quick else (100_000 if peer else 20_000)
    pos = torch.rand(n, 3, generator=g).to(device)
    cand = {'gdl knn_graph (grid, exact)': lambda: knn_graph(pos, 16)}
    if peer:
        cand = {'torch_cluster.knn_graph': lambda: torch_cluster.knn_graph(pos, 16), **cand}
        base = 'torch_cluster.knn_graph'
    else:
        cand = {'brute force (cdist + topk)': lambda: _knn_brute(pos, 16), **cand}
        base = 'brute force (cdist + topk)'
    out.append(Row(f'knn_graph N={n} k=16 D=3 uniform', base, cand,
                   goals={'gdl knn_graph (grid, exact)': 2.0}))
    return out
