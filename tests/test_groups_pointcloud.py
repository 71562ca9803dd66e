"""Point clouds as graphs (k-NN / radius): brute-force equality, E(n) invariance, bad input."""
import pytest
import torch

from gdl_graphs.domains.pointcloud import PointCloudToGraph, to_graph
from gdl_graphs.nn import EGNNConv
from gdl_graphs.testing import Permutation, assert_equivariant
from gdl_graphs.testing.euclidean import (
    EuclideanTransform,
    assert_nearest_neighbours,
    assert_radius_graph,
)


def edges(ei):
    return set(map(tuple, ei.t().tolist()))


@pytest.mark.parametrize('dim', [2, 3, 5])
def test_knn_and_radius_graphs_are_brute_force_and_e_n_invariant(dim):
    g = torch.Generator().manual_seed(dim)
    pos = torch.randn(40, dim, generator=g, dtype=torch.float64)
    feat = torch.randn(40, 4, generator=g, dtype=torch.float64)
    data = to_graph(pos, feat, k=5)
    assert data.x is feat and data.pos is pos and data.edge_index.shape == (2, 200)
    # brute force from coordinate differences (not torch.cdist: its matmul path depends on
    # the CPU), up to the rounding of near-ties
    assert_nearest_neighbours(pos, data.edge_index, 5)
    r = 1.0 if dim < 5 else 2.0
    assert_radius_graph(pos, to_graph(pos, r=r, max_num_neighbors=40).edge_index, r)
    t = EuclideanTransform.random(dim, reflection=True, scale=5.0, generator=g)
    assert edges(to_graph(t.pos(pos), k=5).edge_index) == edges(data.edge_index)
    p = Permutation.random(40, generator=g)
    assert edges(to_graph(p.nodes(pos), k=5).edge_index) == edges(p.edges(data.edge_index))


def test_egnn_on_point_cloud_graph_is_e_n_equivariant():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, generator=g, dtype=torch.float64)
    feat = torch.randn(30, 4, generator=g, dtype=torch.float64)
    batch = torch.arange(2).repeat_interleave(15)
    conv = EGNNConv(4, 8, 4).double()

    def model(feat, pos):
        data = to_graph(pos, feat, k=4, batch=batch)
        return conv(data.x, data.pos, data.edge_index)

    t = EuclideanTransform.random(3, reflection=True, generator=g)
    assert_equivariant(model, (feat, pos), lambda a: (a[0], t.pos(a[1])),
                       lambda out: (out[0], t.pos(out[1])))
    data = PointCloudToGraph(k=4)(to_graph(pos, feat, k=4, batch=batch))
    assert edges(data.edge_index) == edges(to_graph(pos, k=4, batch=batch).edge_index)
    assert repr(PointCloudToGraph(r=0.5)) == 'PointCloudToGraph(r=0.5)'


def test_bad_input():
    pos = torch.randn(10, 3)
    bad = pos.clone()
    bad[4, 2] = float('nan')
    with pytest.raises(ValueError, match='pos holds NaN'):
        to_graph(bad, k=3)
    with pytest.raises(ValueError, match='all 10 points coincide'):
        to_graph(torch.ones(10, 3), k=3)
    batch = torch.tensor([0] * 5 + [1] * 5)
    twin = torch.cat([torch.randn(5, 3), torch.zeros(5, 3)])
    with pytest.raises(ValueError, match='points of example 1 coincide'):
        to_graph(twin, k=2, batch=batch)
    with pytest.raises(ValueError, match='exactly one of k'):
        to_graph(pos)
    with pytest.raises(ValueError, match='exactly one of k'):
        to_graph(pos, k=3, r=0.5)
    with pytest.raises(ValueError, match='one row per point'):
        to_graph(pos, torch.randn(9, 2), k=3)
    with pytest.raises(ValueError, match='floating tensor'):
        to_graph(pos.long(), k=3)
    with pytest.raises(ValueError, match='pos is empty'):
        to_graph(torch.zeros(0, 3), k=3)
    with pytest.raises(ValueError, match='no pos'):
        from torch_geometric.data import Data
        PointCloudToGraph(k=3)(Data(x=torch.zeros(3, 1)))
