"""Mesh coarsening: fps + nearest assignment, transport-aware pooling and unpooling."""
import pytest
import torch
from torch_geometric.data import Batch

from gdl_graphs.coarsening import coarsen_mesh, mesh_pool, mesh_unpool
from gdl_graphs.core.mesh import types_dim
from gdl_graphs.domains.mesh import mesh_to_graph, sphere_mesh, torus_mesh
from gdl_graphs.nn import GEMConv
from gdl_graphs.testing import assert_close, assert_equivariant
from gdl_graphs.testing.euclidean import pairwise_distances
from gdl_graphs.testing.gauge import GaugeChange, geometry

TYPES = (2, 2, 1)



def noisy_torus(seed=0):
    pos, face = torus_mesh(12, 7)
    g = torch.Generator().manual_seed(seed)
    return mesh_to_graph(pos + 0.05 * torch.randn(pos.shape, generator=g, dtype=pos.dtype),
                         face)


def test_coarse_level_structure():
    data = noisy_torus()
    level = coarsen_mesh(data, ratio=0.25)
    c = level.data
    assert c.num_nodes == level.index.numel() == -(-data.num_nodes // 4)
    assert torch.equal(level.cluster[level.index], torch.arange(c.num_nodes))
    # nearest assignment (Euclidean): no centre is closer than the assigned one
    d = pairwise_distances(data.pos, data.pos[level.index])  # not cdist: no BLAS path
    assert_close(d.gather(1, level.cluster.view(-1, 1)).view(-1), d.min(1).values, atol=1e-6)
    assert_close(c.pos, data.pos[level.index])
    assert_close(c.frame, data.frame[level.index])
    for k in ('edge_coords', 'connection', 'normal', 'frame'):
        assert bool(torch.isfinite(c[k]).all())
    assert not bool((c.edge_index[0] == c.edge_index[1]).any())
    # the transport of a centre to itself is the identity
    assert_close(level.transport[level.index], torch.zeros(c.num_nodes, dtype=torch.float64),
                 atol=1e-12)


def test_pool_unpool_and_coarse_geometry_are_gauge_equivariant():
    data = noisy_torus(1)
    x = torch.randn(data.num_nodes, types_dim(TYPES), dtype=torch.float64)
    g = GaugeChange.random(data.num_nodes, seed=2)
    index = coarsen_mesh(data, ratio=0.3).index

    def run(x, d):
        level = coarsen_mesh(d, index=index)
        pooled = mesh_pool(x, level, TYPES)
        return pooled, mesh_unpool(pooled, level, TYPES), torch.cos(level.data.connection), \
            torch.cos(level.data.edge_coords[:, 1])

    gc = g.subset(index)
    coarse = coarsen_mesh(data, index=index).data
    moved = gc.data(coarse)
    assert_equivariant(run, (x, data), lambda a: (g.features(a[0], TYPES), g.data(a[1])),
                       lambda out: (gc.features(out[0], TYPES), g.features(out[1], TYPES),
                                    torch.cos(moved.connection),
                                    torch.cos(moved.edge_coords[:, 1])))


def test_pooling_is_not_trivially_equivariant():
    """Without the transport (plain mean pooling of rho_1 features) a gauge change breaks it."""
    from gdl_graphs.coarsening import pool
    data = noisy_torus(2)
    level = coarsen_mesh(data, ratio=0.3)
    x = torch.randn(data.num_nodes, types_dim(TYPES), dtype=torch.float64)
    g = GaugeChange.random(data.num_nodes, seed=3)
    plain = pool(g.features(x, TYPES), level.cluster, level.data.num_nodes, 'mean')
    want = g.subset(level.index).features(pool(x, level.cluster, level.data.num_nodes, 'mean'),
                                          TYPES)
    assert (plain - want).abs().max() > 1e-2


def test_unpool_then_pool_is_identity_on_constant_clusters():
    data = noisy_torus(3)
    level = coarsen_mesh(data, ratio=0.25)
    y = torch.randn(level.data.num_nodes, types_dim(TYPES), dtype=torch.float64)
    assert_close(mesh_pool(mesh_unpool(y, level, TYPES), level, TYPES), y)


def test_multiscale_gem_is_gauge_invariant():
    """conv -> pool -> conv on the coarse level -> unpool -> invariant scalars."""
    torch.manual_seed(0)
    data = noisy_torus(4)
    index = coarsen_mesh(data, ratio=0.3).index
    c1, c2 = GEMConv((1,), TYPES).double(), GEMConv(TYPES, TYPES).double()
    c3 = GEMConv(TYPES, (2,)).double()

    def net(x, d):
        level = coarsen_mesh(d, index=index)
        h = c1(x, *geometry(d))
        h = c2(mesh_pool(h, level, TYPES), *geometry(level.data))
        return c3(mesh_unpool(h, level, TYPES), *geometry(d))

    g = GaugeChange.random(data.num_nodes, seed=5)
    x = torch.randn(data.num_nodes, 1, dtype=torch.float64)
    assert_equivariant(net, (x, data), lambda a: (a[0], g.data(a[1])), lambda y: y)


def test_batched_meshes_are_coarsened_separately():
    a = noisy_torus(5)
    pos, face = sphere_mesh(5, 8)
    b = mesh_to_graph(pos, face)
    batch = Batch.from_data_list([a, b])
    level = coarsen_mesh(batch, ratio=0.25)
    assert torch.equal(batch.batch[level.index], level.data.batch)
    assert torch.equal(batch.batch, level.data.batch[level.cluster])


def test_bad_input():
    data = noisy_torus()
    with pytest.raises(ValueError, match='ratio'):
        coarsen_mesh(data, ratio=0.0)
    with pytest.raises(ValueError, match='twice'):
        coarsen_mesh(data, index=torch.tensor([1, 1]))
    with pytest.raises(ValueError, match='index must hold'):
        coarsen_mesh(data, index=torch.tensor([10 ** 6]))
    bare = data.clone()
    del bare.frame
    with pytest.raises(ValueError, match='mesh_to_graph'):
        coarsen_mesh(bare)
    level = coarsen_mesh(data, ratio=0.5)
    with pytest.raises(ValueError, match='max is not gauge'):
        mesh_pool(torch.zeros(data.num_nodes, 8), level, TYPES, reduce='max')


def test_multiscale_gem_net_is_gauge_invariant_and_batched():
    from gdl_graphs.models import GEMNet
    torch.manual_seed(1)
    a, b = noisy_torus(6), noisy_torus(7)
    data = Batch.from_data_list([a, b])
    index = coarsen_mesh(data, ratio=0.3).index
    net = GEMNet(1, 2, hidden=2, order=2, num_layers=2).double()
    x = torch.randn(data.num_nodes, 1, dtype=torch.float64)

    def run(x, d):
        level = coarsen_mesh(d, index=index)
        return net(x, *geometry(d), d.batch, 2, level=level)

    g = GaugeChange.random(data.num_nodes, seed=9)
    assert_equivariant(run, (x, data), lambda t: (t[0], g.data(t[1])), lambda y: y)
    # each graph of the batch is read out on its own coarse vertices
    single = net(x[:a.num_nodes], *geometry(a), level=coarsen_mesh(a, index=index[
        index < a.num_nodes]))
    assert_close(run(x, data)[:1], single)
    with pytest.raises(ValueError, match='coarsen the same graph'):
        net(x[:5], *geometry(data), level=coarsen_mesh(data, index=index))


def test_pool_unpool_gauge_equivariant_on_icosphere():
    from gdl_graphs.domains.sphere import icosphere
    ico = icosphere(2)
    data = mesh_to_graph(ico.pos, ico.face)
    index = coarsen_mesh(data, ratio=0.25).index
    x = torch.randn(data.num_nodes, types_dim(TYPES), dtype=torch.float64)
    g = GaugeChange.random(data.num_nodes, seed=11)

    def run(x, d):
        level = coarsen_mesh(d, index=index)
        pooled = mesh_pool(x, level, TYPES)
        return pooled, mesh_unpool(pooled, level, TYPES)

    gc = g.subset(index)
    assert_equivariant(run, (x, data), lambda a: (g.features(a[0], TYPES), g.data(a[1])),
                       lambda out: (gc.features(out[0], TYPES), g.features(out[1], TYPES)))
