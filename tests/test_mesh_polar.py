"""GeodesicPolarConv: exact invariance to gauge rotations by multiples of 2 pi / T, a
brute-force reference, permutation equivariance."""
import math

import pytest
import torch

from gdl_graphs.core import use_kernel
from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.nn import GeodesicPolarConv
from gdl_graphs.testing import Permutation, assert_close, assert_equivariant
from gdl_graphs.testing.gauge import GaugeChange


def mesh(seed=0):
    pos, face = torus_mesh(8, 5)
    g = torch.Generator().manual_seed(seed)
    return mesh_to_graph(pos + 0.05 * torch.randn(pos.shape, generator=g, dtype=pos.dtype),
                         face)


def reference(conv, x, data):
    n = x.size(0)
    ei, coords = data.edge_index, data.edge_coords
    out = torch.zeros(n, conv.out_channels, dtype=x.dtype)
    T = conv.num_theta
    for i in range(n):
        inc = (ei[1] == i).nonzero().view(-1)
        r = coords[inc, 0] / coords[inc, 0].mean()
        best = None
        for s in range(T):
            y = conv.lin_root(x[i])
            for k in range(conv.num_rho):
                for t in range(T):
                    d = torch.atan2(torch.sin(coords[inc, 1] - 2 * math.pi * t / T),
                                    torch.cos(coords[inc, 1] - 2 * math.pi * t / T))
                    w = torch.exp(-0.5 * (d / conv.sigma_theta) ** 2) * \
                        torch.exp(-0.5 * ((r - conv.rho[k]) / conv.sigma_rho) ** 2)
                    patch = (w[:, None] * x[ei[0, inc]]).sum(0) / w.sum()
                    y = y + patch @ conv.weight[k, (t - s) % T]
            best = y if best is None else torch.maximum(best, y)
        out[i] = best
    return out


def test_matches_reference_and_generic_kernel():
    torch.manual_seed(0)
    data = mesh()
    conv = GeodesicPolarConv(3, 4, num_rho=2, num_theta=6).double()
    x = torch.randn(data.num_nodes, 3, dtype=torch.float64)
    with torch.no_grad():
        y = conv(x, data.edge_index, data.edge_coords)
        assert_close(y, reference(conv, x, data))
        with use_kernel('generic'):
            assert_close(conv(x, data.edge_index, data.edge_coords), y)


@pytest.mark.parametrize('num_theta', [4, 8])
def test_gauge_invariant_for_multiples_of_the_bin_angle(num_theta):
    torch.manual_seed(1)
    data = mesh(1)
    conv = GeodesicPolarConv(3, 5, num_rho=2, num_theta=num_theta).double()
    x = torch.randn(data.num_nodes, 3, dtype=torch.float64)
    g = GaugeChange.discrete(data.num_nodes, num_theta, seed=2)
    run = lambda x, d: conv(x, d.edge_index, d.edge_coords)  # noqa: E731
    assert_equivariant(run, (x, data), lambda a: (a[0], g.data(a[1])), lambda y: y)
    # other angles: only approximately (the check is not vacuous)
    g = GaugeChange.random(data.num_nodes, seed=3)
    with pytest.raises(AssertionError, match='equivariance'):
        assert_equivariant(run, (x, data), lambda a: (a[0], g.data(a[1])), lambda y: y)


def test_permutation_equivariant_and_errors():
    torch.manual_seed(2)
    data = mesh(2)
    conv = GeodesicPolarConv(2, 3, num_rho=1, num_theta=4).double()
    data.x = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    p = Permutation.random(data.num_nodes, generator=torch.Generator().manual_seed(0))
    assert_equivariant(lambda d: conv(d.x, d.edge_index, d.edge_coords), (data,),
                       lambda a: (p.data(a[0]),), p.nodes)
    with pytest.raises(ValueError, match='mesh_to_graph'):
        conv(data.x, data.edge_index)
    with pytest.raises(ValueError, match='num_rho and num_theta'):
        GeodesicPolarConv(2, 3, num_theta=0)
    assert 'num_theta=4' in repr(conv)
