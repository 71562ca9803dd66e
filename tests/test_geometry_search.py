"""knn / knn_graph / radius / radius_graph against brute force written here.

Convention checked (documented in gdl_graphs.geometry.search): neighbours of a query
sorted by (squared distance, index) -- ties go to the smaller index --, min(k, n)
neighbours, loop=False excludes the point itself but not its duplicates, radius keeps
distance <= r and the nearest max_num_neighbors."""
import math

import pytest
import torch

from gdl_graphs.coarsening import knn, knn_graph, radius, radius_graph
from gdl_graphs.geometry import search as nb


def brute(x, y, k, bx=None, by=None, r=None, self_excl=False, cosine=False):
    bx = torch.zeros(len(x), dtype=torch.long) if bx is None else bx
    by = torch.zeros(len(y), dtype=torch.long) if by is None else by
    rows, cols = [], []
    for i in range(len(y)):
        if cosine:
            d = 1 - (torch.nn.functional.normalize(x, dim=1)
                     @ torch.nn.functional.normalize(y[i], dim=0))
        else:
            d = ((y[i] - x) ** 2).sum(-1)
        ok = bx == by[i]
        if self_excl:
            ok[i] = False
        if r is not None:
            ok &= d <= r * r
        idx = ok.nonzero().view(-1)  # increasing index: a stable sort breaks ties by index
        o = torch.argsort(d[idx], stable=True)[:k]
        rows += [i] * o.numel()
        cols += idx[o].tolist()
    return torch.tensor([rows, cols], dtype=torch.long).view(2, -1)


def _data(n, m, dim, seed, batches=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, dim, generator=g, dtype=dtype)
    y = torch.rand(m, dim, generator=g, dtype=dtype)
    bx = torch.randint(0, batches, (n,), generator=g)
    by = torch.randint(0, batches, (m,), generator=g)
    return x, y, bx, by


@pytest.mark.parametrize('dim', [1, 2, 3, 5, 12])
def test_knn_equals_brute_force(dim):
    x, y, bx, by = _data(160, 90, dim, dim, batches=3)
    assert torch.equal(knn(x, y, 6, bx, by), brute(x, y, 6, bx, by))
    assert torch.equal(knn(x, y, 4), brute(x, y, 4))


@pytest.mark.parametrize('dim', [2, 3, 9])
def test_knn_graph_equals_brute_force(dim):
    x, _, bx, _ = _data(200, 1, dim, 10 + dim, batches=2)
    ref = brute(x, x, 5, bx, bx, self_excl=True)
    assert torch.equal(knn_graph(x, 5, bx), ref.flip(0))
    assert torch.equal(knn_graph(x, 5, bx, flow='target_to_source'), ref)
    assert torch.equal(knn_graph(x, 5, bx, loop=True), brute(x, x, 5, bx, bx).flip(0))


def test_knn_cosine():
    x, y, _, _ = _data(50, 20, 4, 3)
    x, y = x - 0.5, y - 0.5
    assert torch.equal(knn(x, y, 3, cosine=True), brute(x, y, 3, cosine=True))


def test_knn_float32_clustered_points():
    """Non-uniform data (dense blobs far apart) forces the wider rings of the grid search."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0., 0, 0], [10, 0, 0], [0, 30, 0]])
    x = (centres[torch.randint(0, 3, (400,), generator=g)]
         + 0.01 * torch.randn(400, 3, generator=g))
    x = torch.cat([x, torch.tensor([[5., 5, 5]])])  # an isolated point
    y = torch.rand(50, 3, generator=g) * 12
    assert torch.equal(knn(x, y, 8), brute(x, y, 8))
    assert torch.equal(knn_graph(x, 8), brute(x, x, 8, self_excl=True).flip(0))


def test_knn_dense_blob_and_far_points_fall_back_exactly():
    """A blob with far outliers: the outliers' rings grow past the block limit and they are
    compared with their whole example (the brute-force fallback)."""
    g = torch.Generator().manual_seed(2)
    x = torch.cat([torch.rand(500, 3, generator=g) * 0.01,
                   torch.rand(12, 3, generator=g) * 100]).double()
    assert torch.equal(knn_graph(x, 5), brute(x, x, 5, self_excl=True).flip(0))


def test_knn_ties_and_duplicates():
    # integer lattice: many equal distances; duplicates at distance 0
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 4, (120, 2), generator=g).double()
    y = torch.randint(0, 4, (30, 2), generator=g).double()
    assert torch.equal(knn(x, y, 7), brute(x, y, 7))
    ei = knn_graph(x, 7)
    assert torch.equal(ei, brute(x, x, 7, self_excl=True).flip(0))
    # a duplicate is a neighbour (distance 0), the point itself is not
    assert not bool((ei[0] == ei[1]).any())
    # all points equal: the k smallest other indices
    same = torch.zeros(6, 3)
    ei = knn_graph(same, 2)
    assert ei[0].view(6, 2).tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1], [0, 1]]


def test_k_larger_than_example_and_empty_example():
    x = torch.rand(5, 3, dtype=torch.float64)
    bx = torch.tensor([0, 0, 0, 2, 2])
    y = torch.rand(4, 3, dtype=torch.float64)
    by = torch.tensor([0, 1, 2, 2])
    out = knn(x, y, 10, bx, by)  # min(k, n) neighbours; example 1 has no points
    assert torch.equal(out, brute(x, y, 10, bx, by))
    assert (out[0] == 0).sum() == 3 and (out[0] == 1).sum() == 0 and (out[0] == 3).sum() == 2
    g = knn_graph(x, 10, bx)
    assert g.size(1) == 3 * 2 + 2 * 1


def test_unsorted_batch():
    x, y, bx, by = _data(120, 40, 3, 5, batches=4)
    assert not bool((bx[1:] >= bx[:-1]).all())
    assert torch.equal(knn(x, y, 5, bx, by), brute(x, y, 5, bx, by))
    assert torch.equal(radius(x, y, 0.3, bx, by, 7), brute(x, y, 7, bx, by, r=0.3))


@pytest.mark.parametrize('dim', [2, 3, 6])
def test_radius_equals_brute_force(dim):
    x, y, bx, by = _data(150, 60, dim, 20 + dim, batches=2)
    r = 0.35
    assert torch.equal(radius(x, y, r, bx, by, 1000), brute(x, y, 1000, bx, by, r=r))
    # max_num_neighbors keeps the nearest ones
    assert torch.equal(radius(x, y, r, bx, by, 4), brute(x, y, 4, bx, by, r=r))
    ref = brute(x, x, 5, bx, bx, r=r, self_excl=True)
    assert torch.equal(radius_graph(x, r, bx, max_num_neighbors=5), ref.flip(0))
    ref = brute(x, x, 5, bx, bx, r=r)
    assert torch.equal(radius_graph(x, r, bx, loop=True, max_num_neighbors=5), ref.flip(0))


def test_radius_boundary_is_inclusive():
    x = torch.tensor([[0.], [1.], [2.], [3.5]], dtype=torch.float64)
    ei = radius_graph(x, 1.0)
    assert sorted(zip(ei[0].tolist(), ei[1].tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_chunking_does_not_change_results(monkeypatch):
    x, y, bx, by = _data(300, 200, 3, 7, batches=3)
    full = knn(x, y, 9, bx, by), radius(x, y, 0.2, bx, by, 50)
    bf = knn(torch.cat([x, x.new_zeros(len(x), 6)], 1), torch.cat([y, y.new_zeros(len(y), 6)],
                                                                     1), 9, bx, by)
    monkeypatch.setattr(nb, 'BUDGET', 64)
    assert torch.equal(knn(x, y, 9, bx, by), full[0])
    assert torch.equal(radius(x, y, 0.2, bx, by, 50), full[1])
    assert torch.equal(full[0], bf)  # the grid and the brute-force path agree


def test_empty_inputs():
    e = torch.empty(0, 3)
    x = torch.rand(4, 3)
    for out in (knn(e, x, 2), knn(x, e, 2), knn_graph(e, 3), radius(e, x, 1.0),
                radius_graph(e, 0.5)):
        assert out.shape == (2, 0) and out.dtype == torch.long
    assert knn_graph(torch.rand(1, 2), 3).shape == (2, 0)  # a single point has no neighbour


def test_bad_input():
    x = torch.rand(5, 3)
    with pytest.raises(ValueError, match='k must be a positive integer'):
        knn_graph(x, 0)
    with pytest.raises(ValueError, match='k must be a positive integer'):
        knn(x, x, 2.5)
    with pytest.raises(ValueError, match='r must be a positive'):
        radius_graph(x, 0.0)
    with pytest.raises(ValueError, match='r must be a positive'):
        radius(x, x, -1.0)
    with pytest.raises(ValueError, match='r must be a positive'):
        radius_graph(x, math.nan)
    bad = x.clone()
    bad[2, 1] = math.nan
    with pytest.raises(ValueError, match='NaN or infinite'):
        knn_graph(bad, 2)
    with pytest.raises(ValueError, match='NaN or infinite'):
        radius(x, bad, 0.5)
    with pytest.raises(ValueError, match='same number of dimensions'):
        knn(x, torch.rand(3, 2), 2)
    with pytest.raises(ValueError, match='one entry per point'):
        knn_graph(x, 2, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='floating point'):
        knn_graph(torch.ones(5, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match='max_num_neighbors'):
        radius_graph(x, 0.5, max_num_neighbors=0)
    with pytest.raises(ValueError, match='flow'):
        knn_graph(x, 2, flow='up')


def test_permutation_equivariance():
    x, _, _, _ = _data(80, 1, 3, 9)
    perm = torch.randperm(80, generator=torch.Generator().manual_seed(0))
    ei = knn_graph(x, 4)
    ei_p = knn_graph(x[perm], 4)
    # node j of the permuted cloud is node perm[j]: relabelled, the same edge set
    back = perm[ei_p]
    assert sorted(map(tuple, back.t().tolist())) == sorted(map(tuple, ei.t().tolist()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_cuda_matches_cpu():
    x, y, bx, by = _data(500, 300, 3, 4, batches=3)
    assert torch.equal(knn(x.cuda(), y.cuda(), 6, bx.cuda(), by.cuda()).cpu(),
                       knn(x, y, 6, bx, by))
    assert torch.equal(radius_graph(x.cuda(), 0.2, bx.cuda()).cpu(), radius_graph(x, 0.2, bx))
