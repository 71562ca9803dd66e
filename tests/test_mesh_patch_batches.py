"""GeodesicPolarConv and GEMConv on mini-batches of geodesic patch graphs: per-graph radii
carried by the data (batch.radius with batch.batch) give, graph by graph, the outputs of the
single graphs with their own radius; the radius as a constructor argument (the README's
GeodesicPolarConv(..., radius=data.radius)) equals passing it to forward."""
import pytest
import torch
from torch_geometric.data import Batch

from gdl_graphs.domains.mesh import torus_mesh
from gdl_graphs.domains.sphere import icosphere
from gdl_graphs.geodesics import geodesic_patches
from gdl_graphs.nn import GEMConv, GeodesicPolarConv


@pytest.fixture(scope='module')
def graphs():
    ico = icosphere(2)
    a = geodesic_patches(ico.pos, ico.face, 0.5)
    pos, face = torus_mesh(16, 8)
    # PyG collates the float data.radius into a float32 tensor: radii exact in float32 keep
    # the comparison below at float64 precision
    b = geodesic_patches(pos, face, 0.625)
    g = torch.Generator().manual_seed(0)
    for d in (a, b):
        d.x = torch.randn(d.num_nodes, 6, generator=g, dtype=torch.float64)
    return a, b


def _layers():
    torch.manual_seed(0)
    return [GeodesicPolarConv(6, 5, num_rho=3, num_theta=4).double(),
            GEMConv((2, 2), (3, 1), num_radial=3).double()]


def _run(layer, d, **kw):
    if isinstance(layer, GEMConv):
        return layer(d.x, d.edge_index, d.edge_coords, d.connection, **kw)
    return layer(d.x, d.edge_index, d.edge_coords, **kw)


@pytest.mark.parametrize('k', [0, 1])
def test_a_batch_with_per_graph_radii_equals_the_graphs_one_by_one(graphs, k):
    layer = _layers()[k]
    batch = Batch.from_data_list(list(graphs))
    assert batch.radius.shape == (2,)
    out = _run(layer, batch, radius=batch.radius, batch=batch.batch)
    ref = torch.cat([_run(layer, d, radius=d.radius) for d in graphs])
    assert float((out - ref).detach().abs().max()) < 1e-12
    # one radius for both graphs would be a different (wrong) result
    wrong = _run(layer, batch, radius=float(graphs[0].radius))
    assert not torch.allclose(wrong, ref, atol=1e-6)


@pytest.mark.parametrize('k', [0, 1])
def test_the_radius_as_a_constructor_argument(graphs, k):
    a = graphs[0]
    layer = _layers()[k]
    torch.manual_seed(0)
    cls = type(layer)
    args = (6, 5) if cls is GeodesicPolarConv else ((2, 2), (3, 1))
    kw = dict(num_rho=3, num_theta=4) if cls is GeodesicPolarConv else dict(num_radial=3)
    built = cls(*args, radius=a.radius, **kw).double()
    built.load_state_dict(layer.state_dict())
    assert torch.equal(_run(built, a), _run(layer, a, radius=a.radius))
    if cls is GeodesicPolarConv:
        assert 'radius=0.5' in repr(built)


def test_bad_radii_are_refused_in_one_line(graphs):
    batch = Batch.from_data_list(list(graphs))
    for layer in _layers():
        with pytest.raises(ValueError, match='pass batch=batch.batch'):
            _run(layer, batch, radius=batch.radius)
        for bad in (0.0, -1.0, float('nan'), torch.tensor([0.5, -1.0]), 'a'):
            with pytest.raises(ValueError, match='radius must be the positive geodesic disk'):
                _run(layer, batch, radius=bad, batch=batch.batch)
    with pytest.raises(ValueError, match='radius must be the positive'):
        GeodesicPolarConv(3, 3, radius=-1.0)
