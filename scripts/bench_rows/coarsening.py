"""Coarsening toolkit rows: graclus (E=1M), fps (N=100k, ratio 0.1) (goal <= 2.0x), knn_graph
and radius_graph (N=100k and 1M), each vs torch-cluster when it imports, otherwise vs a plain
reference:

- graclus: the sequential greedy matching (numpy sort + Python loop over the edges), the
  same matching as ours given the same edge order;
- fps: the textbook loop (one distance row per step, ``.item()`` per step);
- knn_graph / radius_graph: with torch-cluster, four distributions (uniform, Gaussian, unit
  sphere, tight clusters) at N = 100k and 1M, k = 16 and a radius with about 16 neighbours,
  time <= 1.0x and peak memory <= 1.5x torch-cluster, memory as the process's
  resident peak (scipy's and torch-cluster's own allocations are invisible to torch's
  allocator); without it one row against chunked brute force at N=20k (O(N^2)).
  Nothing is cached between calls: every timed call builds its tree (or grid) again.

Peak memory is reported for every candidate (ours is O(N k) plus a constant: chunks of at
most 2**22 candidates). torch-cluster: ``pip install --no-build-isolation torch-cluster``
(any module importable as ``torch_cluster`` with ``fps``, ``graclus_cluster`` and
``knn_graph`` serves as the peer).

Two differences of definition, both documented in gdl_graphs.coarsening: torch-cluster's
graclus visits nodes in random order (each takes its heaviest free neighbour) while ours
returns the greedy matching of the edges by weight, so the clusters differ; torch-cluster's
knn_graph asks for k + 1 neighbours and drops self-loops, ours excludes the point first
(identical edge sets on distinct points). fps returns the same indices (on duplicated points
ours never repeats a point).
"""
import torch
from bench import Row

from gdl_graphs.coarsening import fps, graclus, knn_graph, normalized_cut, radius_graph

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

    # knn_graph / radius_graph ----------------------------------------------------------------
    if not peer:  # no torch-cluster: one small row against brute force (O(N^2))
        n = 10_000 if quick else 20_000
        pos = torch.rand(n, 3, generator=g).to(device)
        out.append(Row(f'knn_graph N={n} k=16 D=3 uniform', 'brute force (cdist + topk)',
                       {'brute force (cdist + topk)': lambda pos=pos: _knn_brute(pos, 16),
                        'gdl knn_graph (exact)': lambda pos=pos: knn_graph(pos, 16)},
                       note='torch-cluster not installed: the distribution rows are skipped'))
        return out
    sizes = [10_000] if quick else [100_000, 1_000_000]
    for n in sizes:
        for kind in ('uniform', 'gaussian', 'sphere', 'clusters'):
            pos = cloud(kind, n, g).to(device)
            out.append(Row(f'knn_graph N={n} k=16 D=3 {kind}', 'torch_cluster.knn_graph',
                           {'torch_cluster.knn_graph': lambda pos=pos:
                            torch_cluster.knn_graph(pos, 16),
                            'gdl knn_graph (exact)': lambda pos=pos: knn_graph(pos, 16)},
                           goals={'gdl knn_graph (exact)': 1.0},
                           mem_goals={'gdl knn_graph (exact)': 1.5}, rss=True,
                           note='peak memory: process resident high-water mark'))
            r = radius_for(pos, 16)
            out.append(Row(f'radius_graph N={n} r={r:.3g} (~16 neighbours) D=3 {kind}',
                           'torch_cluster.radius_graph',
                           {'torch_cluster.radius_graph': lambda pos=pos, r=r:
                            torch_cluster.radius_graph(pos, r, max_num_neighbors=32),
                            'gdl radius_graph (exact)': lambda pos=pos, r=r:
                            radius_graph(pos, r, max_num_neighbors=32)},
                           goals={'gdl radius_graph (exact)': 1.0},
                           mem_goals={'gdl radius_graph (exact)': 1.5}, rss=True,
                           note='max_num_neighbors=32 for both'))
    return out


def cloud(kind: str, n: int, g: torch.Generator) -> torch.Tensor:
    """Four point distributions in 3-D: uniform in the unit cube, standard Gaussian, on the
    unit sphere (a scan is a surface), a mixture of 32 tight clusters (sigma 1e-2)."""
    if kind == 'uniform':
        return torch.rand(n, 3, generator=g)
    if kind == 'gaussian':
        return torch.randn(n, 3, generator=g)
    if kind == 'sphere':
        p = torch.randn(n, 3, generator=g)
        return p / p.norm(dim=1, keepdim=True)
    centres = torch.randn(32, 3, generator=g)
    which = torch.randint(0, 32, (n,), generator=g)
    return centres[which] + 1e-2 * torch.randn(n, 3, generator=g)


def radius_for(pos: torch.Tensor, mean: int) -> float:
    """A radius with about ``mean`` neighbours per point on average (from 2,000 points)."""
    from gdl_graphs.coarsening import knn
    sample = pos[torch.randperm(pos.size(0), generator=torch.Generator().manual_seed(1))[:2000]]
    _, col = knn(pos.cpu(), sample.cpu(), 4 * mean + 1)
    d = (pos.cpu()[col].view(sample.size(0), -1, 3) - sample.cpu().unsqueeze(1)).norm(dim=-1)
    lo, hi = 0.0, float(d.max())
    for _ in range(40):  # the mean count (self excluded) is monotone in r: bisect
        r = (lo + hi) / 2
        lo, hi = (r, hi) if float((d <= r).sum(1).float().mean()) - 1 < mean else (lo, r)
    return hi
