"""Pooling on the toolkit's cluster maps agrees with the coarsening core and with PyG's
max_pool / avg_pool; hierarchies pool down and unpool up; the graclus + max pool GNN."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.coarsening import (
    avg_pool,
    avg_pool_x,
    build_hierarchy,
    coarsen,
    consecutive,
    graclus,
    hierarchy_of,
    max_pool,
    max_pool_x,
    pool,
    voxel_grid,
)


def _graph(n=30, m=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    x = torch.randn(n, 4, dtype=torch.float64, generator=g)
    pos = torch.rand(n, 2, dtype=torch.float64, generator=g)
    ea = torch.rand(ei.size(1), 3, dtype=torch.float64, generator=g)
    return Data(x=x, edge_index=ei, pos=pos, edge_attr=ea)


def _edges(ei, attr=None):
    key = [tuple(e) for e in ei.t().tolist()]
    o = sorted(range(len(key)), key=key.__getitem__)
    return [key[i] for i in o], None if attr is None else attr[o]


@pytest.mark.parametrize('name', ['max', 'avg'])
def test_pool_equals_pyg(name):
    import torch_geometric.nn.pool as P
    batch = Batch.from_data_list([_graph(seed=1), _graph(seed=2)])
    cluster = graclus(batch.edge_index, num_nodes=batch.num_nodes)
    ours = (max_pool if name == 'max' else avg_pool)(cluster, batch)
    ref = (P.max_pool if name == 'max' else P.avg_pool)(cluster, batch)
    for key in ('x', 'pos', 'batch'):
        torch.testing.assert_close(ours[key], ref[key], rtol=1e-12, atol=1e-12)
    e1, a1 = _edges(ours.edge_index, ours.edge_attr)
    e2, a2 = _edges(ref.edge_index, ref.edge_attr)
    assert e1 == e2
    torch.testing.assert_close(a1, a2, rtol=1e-12, atol=1e-12)
    fx, fb = (max_pool_x if name == 'max' else avg_pool_x)(cluster, batch.x, batch.batch)
    rx, rb = (P.max_pool_x if name == 'max' else P.avg_pool_x)(cluster, batch.x, batch.batch)
    torch.testing.assert_close(fx, rx, rtol=1e-12, atol=1e-12)
    assert torch.equal(fb, rb)


def test_graclus_pooling_agrees_with_core():
    d = _graph()
    cluster = graclus(d.edge_index, num_nodes=d.num_nodes)
    out = coarsen(cluster, d.edge_index, d.num_nodes, pos=d.pos)
    assert out.num_clusters == len(set(cluster.tolist()))
    assert d.num_nodes / 2 <= out.num_clusters < d.num_nodes
    pooled = max_pool(cluster, d)
    torch.testing.assert_close(pooled.x, pool(d.x, out.cluster, out.num_clusters, 'max'))
    assert torch.equal(pooled.edge_index, out.edge_index)


def test_voxel_pooling_agrees_with_core():
    d = _graph(n=50)
    cluster = voxel_grid(d.pos, 0.3)
    c, num = consecutive(cluster)
    pooled = avg_pool(cluster, d)
    ref = torch.stack([d.x[c == i].mean(0) for i in range(num)])
    torch.testing.assert_close(pooled.x, ref, rtol=1e-12, atol=1e-12)
    ref_pos = torch.stack([d.pos[c == i].mean(0) for i in range(num)])
    torch.testing.assert_close(pooled.pos, ref_pos, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('method', ['graclus', 'voxel', 'fps'])
def test_hierarchy_down_and_up(method):
    batch = Batch.from_data_list([_graph(seed=3), _graph(seed=4)])
    kw = {'size': 0.2} if method == 'voxel' else {}
    h = build_hierarchy(batch.edge_index, batch.num_nodes, batch.pos, batch.batch, levels=3,
                        method=method, **kw)
    assert h.depth == 3
    xs = h.down(batch.x, 'max')
    for level in range(3):
        c = h.levels[level]
        ref = coarsen(c.cluster, h.graphs[level].edge_index, h.num_nodes(level),
                      pos=h.graphs[level].pos, batch=h.graphs[level].batch)
        assert torch.equal(ref.edge_index, h.graphs[level + 1].edge_index)
        assert torch.equal(ref.batch, h.graphs[level + 1].batch)
        assert xs[level + 1].size(0) == h.num_nodes(level + 1) <= h.num_nodes(level)
        # unpool(pool) copies every cluster's max back: >= the input, equal at the argmax
        up = h.unpool(xs[level + 1], level)
        assert bool((up >= xs[level]).all())
        # a hierarchy never mixes two graphs of the batch
        assert torch.equal(h.graphs[level + 1].batch[c.cluster], h.graphs[level].batch)
    if method == 'fps':
        up = h.interpolate(xs[1], 0)
        assert up.shape == batch.x.shape and bool(torch.isfinite(up).all())


def test_hierarchy_is_cached_on_the_data():
    d = _graph()
    h1 = hierarchy_of(d, levels=2)
    h2 = hierarchy_of(d, levels=2)
    assert h1 is h2
    assert hierarchy_of(d, levels=1) is not h1


def test_point_cloud_hierarchy_with_knn_graphs():
    pos = torch.rand(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = build_hierarchy(pos=pos, levels=2, method='fps', ratio=0.25, k=6)
    assert [h.num_nodes(i) for i in range(3)] == [200, 50, 13]
    assert h.graphs[1].edge_index.size(1) == 50 * 6


def test_hierarchy_bad_input():
    d = _graph()
    with pytest.raises(ValueError, match='unknown coarsening method'):
        build_hierarchy(d.edge_index, method='metis')
    with pytest.raises(ValueError, match='needs node positions'):
        build_hierarchy(d.edge_index, method='fps')
    with pytest.raises(ValueError, match='positive voxel size'):
        build_hierarchy(d.edge_index, pos=d.pos, method='voxel')
    with pytest.raises(ValueError, match='levels must be'):
        build_hierarchy(d.edge_index, levels=-1)
    h = build_hierarchy(d.edge_index, levels=1)
    with pytest.raises(ValueError, match='out of range'):
        h.pool(d.x, 1)


def test_graclus_net_trains_and_is_batch_consistent():
    from gdl_graphs.models import GraclusNet, create
    torch.manual_seed(0)
    data = [_graph(seed=s) for s in range(4)]
    for i, d in enumerate(data):
        d.y = torch.tensor([i % 2])
    b = Batch.from_data_list(data)
    model = create('graclus-net', in_channels=4, hidden_channels=16, out_channels=2).double()
    assert isinstance(model, GraclusNet) and 'GraclusNet(4, 16, 2' in repr(model)
    out = model(b.x, b.edge_index, b.batch)
    assert out.shape == (4, 2)
    # a single graph without a batch vector; a seeded generator fixes the tie-breaks
    model.generator = torch.Generator().manual_seed(0)
    alone = model(data[0].x, data[0].edge_index)
    assert alone.shape == (1, 2)
    model.generator = torch.Generator().manual_seed(0)
    torch.testing.assert_close(alone, model(data[0].x, data[0].edge_index))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss0 = None
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(b.x, b.edge_index, b.batch), b.y)
        loss.backward()
        opt.step()
        loss0 = loss0 if loss0 is not None else loss.item()
    assert loss.item() < loss0
