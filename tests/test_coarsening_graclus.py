"""graclus: valid, maximal, weight-greedy, and equal to the sequential greedy matching.

Guarantee tested (documented in gdl_graphs.coarsening.graclus): edges are undirected (self-loops
ignored, copies merged with their largest weight); the result is the greedy matching that scans
edges by decreasing (weight, random priority). Consequences checked on every graph:
valid (clusters of 1 or 2 adjacent nodes), maximal (no edge between two unmatched nodes),
weight-greedy (every left-out edge has an end matched by an edge at least as heavy); with
distinct weights it equals the greedy matching computed by a plain loop below."""
import networkx as nx
import pytest
import torch

from gdl_graphs.coarsening import graclus, normalized_cut
from gdl_graphs.coarsening.graclus import matching_rounds


def undirected(ei, w):
    """{(u, v): max weight} over both directions, self-loops dropped."""
    out = {}
    for (a, b), x in zip(ei.t().tolist(), w.tolist()):
        if a != b:
            key = (min(a, b), max(a, b))
            out[key] = max(out.get(key, -float('inf')), x)
    return out


def greedy_reference(n, edges):
    """Sequential greedy matching over edges sorted by decreasing weight (distinct)."""
    mate = list(range(n))
    free = [True] * n
    for (u, v), _ in sorted(edges.items(), key=lambda kv: -kv[1]):
        if free[u] and free[v]:
            mate[u], mate[v] = v, u
            free[u] = free[v] = False
    return torch.tensor([min(i, mate[i]) for i in range(n)])


def check_matching(cluster, n, edges):
    assert cluster.shape == (n,) and cluster.dtype == torch.long
    mate = {}
    for i, c in enumerate(cluster.tolist()):
        assert 0 <= c <= i  # id = the smaller index of the pair
        if c != i:
            assert cluster[c] == c, 'a pair is named by its smaller node'
            assert c not in mate, 'a cluster has more than two nodes'
            mate[c], mate[i] = i, c
            assert (c, i) in edges, 'matched nodes must be adjacent'
    wm = {i: edges[(min(i, j), max(i, j))] for i, j in mate.items()}
    for (u, v), w in edges.items():
        assert u in mate or v in mate, f'not maximal: edge {(u, v)} joins two unmatched nodes'
        best = max(wm.get(u, -float('inf')), wm.get(v, -float('inf')))
        assert best >= w, f'not greedy: edge {(u, v)} ({w}) beats both matched edges'


def random_graph(n, m, seed, symmetric=True):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    if symmetric:
        ei = torch.cat([ei, ei.flip(0)], 1)
    return ei


@pytest.mark.parametrize('seed', range(4))
def test_distinct_weights_equal_greedy(seed):
    n = 60
    ei = random_graph(n, 150, seed, symmetric=seed % 2 == 0)
    g = torch.Generator().manual_seed(100 + seed)
    # float64 weights take the sort path, float32 (and negative) weights the packed keys
    dtype = torch.float64 if seed < 2 else torch.float32
    w = torch.rand(ei.size(1), generator=g, dtype=dtype) - (0.5 if seed == 3 else 0.0)
    edges = undirected(ei, w)
    out = graclus(ei, w, n)
    check_matching(out, n, edges)
    assert torch.equal(out, greedy_reference(n, edges))
    # independent of the tie-breaking randomness
    assert torch.equal(graclus(ei, w, n, generator=torch.Generator().manual_seed(5)), out)


@pytest.mark.parametrize('seed', range(3))
def test_default_normalized_cut_is_valid_maximal_greedy(seed):
    n = 80
    ei = random_graph(n, 120, seed)
    out = graclus(ei, num_nodes=n, generator=torch.Generator().manual_seed(seed))
    check_matching(out, n, undirected(ei, normalized_cut(ei, num_nodes=n)))


def test_normalized_cut_matches_pyg():
    from torch_geometric.utils import normalized_cut as pyg_cut
    ei = random_graph(30, 60, 0)
    w = torch.rand(ei.size(1), dtype=torch.float64)
    torch.testing.assert_close(normalized_cut(ei, w, 30), pyg_cut(ei, w, 30),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('graph', ['grid', 'cycle', 'star', 'complete', 'path'])
def test_ties_on_regular_graphs(graph):
    g = {'grid': nx.grid_2d_graph(7, 6), 'cycle': nx.cycle_graph(31), 'star': nx.star_graph(9),
         'complete': nx.complete_graph(8), 'path': nx.path_graph(40)}[graph]
    g = nx.convert_node_labels_to_integers(g)
    e = torch.tensor(list(g.edges()), dtype=torch.long).t()
    ei = torch.cat([e, e.flip(0)], 1)
    n = g.number_of_nodes()
    w = torch.ones(ei.size(1))
    out = graclus(ei, w, n, generator=torch.Generator().manual_seed(0))
    check_matching(out, n, undirected(ei, w))
    if graph == 'path':  # random priorities: few handshake rounds, not one per edge
        assert matching_rounds() < 20


def test_monotone_path_needs_many_rounds_but_is_exact():
    n = 30  # increasing weights along a path: the documented worst case for rounds
    ei = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    w = torch.arange(n - 1, dtype=torch.float64)
    out = graclus(ei, w, n)
    assert torch.equal(out, greedy_reference(n, undirected(ei, w)))


def test_self_loops_duplicates_isolated_and_empty():
    ei = torch.tensor([[0, 0, 1, 1, 2, 3], [0, 1, 0, 1, 3, 2]])
    w = torch.tensor([9., 1., 2., 9., 5., 1.])
    out = graclus(ei, w, 6)  # node 4, 5 isolated; self-loops ignored
    assert out.tolist() == [0, 0, 2, 2, 4, 5]
    assert graclus(torch.empty(2, 0, dtype=torch.long), num_nodes=3).tolist() == [0, 1, 2]
    assert graclus(torch.empty(2, 0, dtype=torch.long)).numel() == 0


def test_batch_of_graphs_stays_inside_graphs():
    from gdl_graphs.coarsening import coarsen
    ei = torch.cat([random_graph(20, 40, 1), random_graph(20, 40, 2) + 20], 1)
    batch = torch.arange(40) // 20
    out = graclus(ei, num_nodes=40)
    assert bool((batch[out] == batch).all())
    coarse = coarsen(out, ei, 40, batch=batch)  # raises if a cluster spans two graphs
    assert coarse.batch.tolist() == sorted(coarse.batch.tolist())


def test_bad_input():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match='one value per edge'):
        graclus(ei, torch.ones(3))
    with pytest.raises(ValueError, match='NaN or infinite'):
        graclus(ei, torch.tensor([1.0, float('nan')]))
    with pytest.raises(ValueError, match=r'shape \[2, E\]'):
        graclus(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='only 2 nodes'):
        graclus(torch.tensor([[0, 5], [5, 0]]), num_nodes=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_cuda_matches_cpu():
    ei = random_graph(100, 300, 3)
    w = torch.rand(ei.size(1), dtype=torch.float64)
    assert torch.equal(graclus(ei.cuda(), w.cuda(), 100).cpu(), graclus(ei, w, 100))
