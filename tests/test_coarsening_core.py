"""The coarsening core against brute force: merged edges, reduced attributes, averaged pos,
inherited batch, pooled features; global pooling equals per-graph reductions."""
import pytest
import torch
from torch_geometric.data import Data

from gdl_graphs.coarsening import coarsen, coarsen_data, consecutive, global_pool, pool, unpool
from gdl_graphs.testing import assert_close, assert_permutation_equivariant


def test_coarsen_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    n = 12
    edge_index = torch.randint(0, n, (2, 40), generator=g)
    edge_attr = torch.rand(40, 2, dtype=torch.float64, generator=g)
    pos = torch.rand(n, 3, dtype=torch.float64, generator=g)
    cluster = torch.randint(10, 15, (n,), generator=g)  # arbitrary ids, relabelled
    out = coarsen(cluster, edge_index, n, edge_attr, pos)
    ids = sorted(set(cluster.tolist()))
    assert out.num_clusters == len(ids)
    assert out.cluster.tolist() == [ids.index(c) for c in cluster.tolist()]
    expected = {}
    for e in range(40):
        a, b = (ids.index(int(cluster[edge_index[k, e]])) for k in (0, 1))
        if a != b:
            expected[(a, b)] = expected.get((a, b), 0) + edge_attr[e]
    got = {tuple(e): out.edge_attr[k] for k, e in enumerate(out.edge_index.t().tolist())}
    assert set(got) == set(expected)
    for key in got:
        assert_close(got[key], expected[key])
    for c in range(out.num_clusters):
        assert_close(out.pos[c], pos[out.cluster == c].mean(0))


def test_self_loops_kept_on_request():
    edge_index = torch.tensor([[0, 1, 2], [1, 0, 3]])
    out = coarsen(torch.tensor([0, 0, 1, 1]), edge_index, self_loops=True)
    assert sorted(map(tuple, out.edge_index.t().tolist())) == [(0, 0), (1, 1)]
    out = coarsen(torch.tensor([0, 0, 1, 1]), edge_index)
    assert out.edge_index.numel() == 0


@pytest.mark.parametrize('reduce', ['max', 'mean', 'sum'])
def test_pool_and_unpool(reduce):
    x = torch.randn(6, 3, dtype=torch.float64)
    cluster = torch.tensor([0, 1, 0, 2, 2, 2])
    out = pool(x, cluster, 3, reduce)
    for c in range(3):
        ref = {'max': lambda m: m.max(0).values, 'mean': lambda m: m.mean(0),
               'sum': lambda m: m.sum(0)}[reduce](x[cluster == c])
        assert_close(out[c], ref)
    assert_close(unpool(out, cluster), out[cluster])


def test_batch_is_inherited_and_clusters_may_not_span_graphs():
    batch = torch.tensor([0, 0, 0, 1, 1])
    edge_index = torch.tensor([[0, 1, 3], [1, 2, 4]])
    out = coarsen(torch.tensor([0, 0, 1, 2, 2]), edge_index, batch=batch)
    assert out.batch.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match='spans two graphs'):
        coarsen(torch.tensor([0, 0, 1, 1, 2]), edge_index, batch=batch)


def test_cluster_map_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match='cluster has 3 entries but there are 5 nodes'):
        coarsen(torch.tensor([0, 1, 1]), torch.tensor([[0], [1]]), num_nodes=5)
    with pytest.raises(ValueError, match='cluster has 2 entries'):
        pool(torch.randn(4, 2), torch.tensor([0, 1]))


@pytest.mark.parametrize('reduce', ['sum', 'mean', 'max', 'min'])
def test_global_pool_sorted_and_unsorted(reduce):
    x = torch.randn(7, 2, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1, 1, 3, 3])  # graph 2 is empty
    sorted_out = global_pool(x, batch, reduce, num_graphs=4)
    perm = torch.tensor([6, 2, 0, 4, 1, 5, 3])
    unsorted_out = global_pool(x[perm], batch[perm], reduce, num_graphs=4)
    assert_close(sorted_out, unsorted_out, atol=1e-12, rtol=1e-12)
    for b in (0, 1, 3):
        m = x[batch == b]
        ref = {'sum': m.sum(0), 'mean': m.mean(0), 'max': m.max(0).values,
               'min': m.min(0).values}[reduce]
        assert_close(sorted_out[b], ref)
    assert (sorted_out[2] == 0).all()
    assert_close(global_pool(x, None, reduce), global_pool(x, torch.zeros(7, dtype=torch.long),
                                                           reduce))


def test_coarsen_data_is_permutation_invariant_up_to_relabelling():
    g = torch.Generator().manual_seed(3)
    data = Data(x=torch.randn(10, 4, dtype=torch.float64, generator=g),
                edge_index=torch.randint(0, 10, (2, 30), generator=g),
                cluster=torch.randint(0, 4, (10,), generator=g))

    def forward(_, d):  # the pooled features of each cluster id, keyed by the id
        coarse = coarsen_data(d, d.cluster, reduce='max')
        return coarse.x, coarse.edge_index

    assert_permutation_equivariant(None, data, forward)


def test_consecutive():
    c, n = consecutive(torch.tensor([7, 3, 7, 9]))
    assert c.tolist() == [1, 0, 1, 2] and n == 3
