"""GeodesicPolarConv (Masci et al.'s bins on geodesic disks) and GEMConv on multi-ring
geodesic patches: exact gauge invariance / equivariance in float64, the generic path equal to
the fused one, a brute-force reference, and PyG's message hooks firing."""
import math

import pytest
import torch

pytest.importorskip('potpourri3d')

from gdl_graphs.core import use_kernel  # noqa: E402
from gdl_graphs.domains.mesh import geodesic_patches, torus_mesh  # noqa: E402
from gdl_graphs.domains.sphere import icosphere  # noqa: E402
from gdl_graphs.nn import GEMConv, GeodesicPolarConv  # noqa: E402
from gdl_graphs.testing import assert_close, assert_equivariant  # noqa: E402
from gdl_graphs.testing.gauge import GaugeChange, geometry  # noqa: E402


@pytest.fixture(scope='module')
def patches():
    pos, face = torus_mesh(12, 7)
    g = torch.Generator().manual_seed(0)
    pos = pos + 0.03 * torch.randn(pos.shape, generator=g, dtype=pos.dtype)
    return geodesic_patches(pos, face, 1.0)


def reference(conv, x, data, radius):
    """Masci et al.'s patch operator and angular max pooling, vertex by vertex."""
    n, T, K = x.size(0), conv.num_theta, conv.num_rho
    ei, c = data.edge_index, data.edge_coords
    out = torch.empty(n, conv.out_channels, dtype=x.dtype)
    for i in range(n):
        inc = (ei[1] == i).nonzero().view(-1)
        best = None
        for s in range(T):
            y = conv.lin_root(x[i])
            for k in range(K):
                for t in range(T):
                    d = torch.atan2(torch.sin(c[inc, 1] - 2 * math.pi * t / T),
                                    torch.cos(c[inc, 1] - 2 * math.pi * t / T))
                    w = torch.exp(-0.5 * (d / conv.sigma_theta) ** 2) * \
                        torch.exp(-0.5 * ((c[inc, 0] / radius - (k + 0.5) / K) * 2 * K) ** 2)
                    y = y + ((w[:, None] * x[ei[0, inc]]).sum(0) / w.sum()) @ \
                        conv.weight[k, (t - s) % T]
            best = y if best is None else torch.maximum(best, y)
        out[i] = best
    return out


def test_polar_conv_on_geodesic_disks(patches):
    data = patches
    assert data.edge_index.size(1) > 2 * 6 * data.num_nodes      # beyond the 1-ring (6 each)
    torch.manual_seed(0)
    conv = GeodesicPolarConv(3, 4, num_rho=2, num_theta=6).double()
    x = torch.randn(data.num_nodes, 3, dtype=torch.float64)
    with torch.no_grad():
        y = conv(x, data.edge_index, data.edge_coords, radius=data.radius)
        sub = torch.arange(0, data.num_nodes, 21)
        assert_close(y[sub], reference(conv, x, data, data.radius)[sub])
        with use_kernel('generic'):
            assert_close(conv(x, data.edge_index, data.edge_coords, radius=data.radius), y)
    # exactly gauge invariant for rotations by multiples of 2 pi / T, not for others
    run = lambda x, d: conv(x, d.edge_index, d.edge_coords, radius=d.radius)  # noqa: E731
    g = GaugeChange.discrete(data.num_nodes, 6, seed=1)
    assert_equivariant(run, (x, data), lambda a: (a[0], g.data(a[1])), lambda y: y)
    g = GaugeChange.random(data.num_nodes, seed=2)
    with pytest.raises(AssertionError, match='equivariance'):
        assert_equivariant(run, (x, data), lambda a: (a[0], g.data(a[1])), lambda y: y)
    with pytest.raises(ValueError, match='radius'):
        conv(x, data.edge_index, data.edge_coords, radius=-1.0)


def test_polar_conv_message_hook_fires_and_flow(patches):
    data = patches
    conv = GeodesicPolarConv(2, 3, num_rho=2, num_theta=4).double()
    x = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    fused = conv(x, data.edge_index, data.edge_coords, radius=data.radius)
    seen = []
    conv.register_message_forward_hook(lambda m, inp, out: seen.append(out.shape))
    out = conv(x, data.edge_index, data.edge_coords, radius=data.radius)
    assert seen == [(data.edge_index.size(1), 8 * 2)]           # E x (bins * F)
    assert_close(out, fused)
    # flow='target_to_source' on the reversed edges is the same layer
    rev = GeodesicPolarConv(2, 3, num_rho=2, num_theta=4, flow='target_to_source').double()
    rev.load_state_dict(conv.state_dict())
    assert_close(rev(x, data.edge_index.flip(0), data.edge_coords, radius=data.radius), fused)


@pytest.mark.parametrize('types_in,types_out,num_radial', [((2, 1), (1, 2), 3), ((1, 1, 1),
                                                                                 (2, 1), 1)])
def test_gem_conv_gauge_equivariant_on_geodesic_patches(patches, types_in, types_out,
                                                         num_radial):
    from gdl_graphs.core.mesh import types_dim
    data = patches
    torch.manual_seed(0)
    conv = GEMConv(types_in, types_out, num_radial=num_radial).double()
    gauge = GaugeChange.random(data.num_nodes, seed=1)
    x = torch.randn(data.num_nodes, types_dim(types_in), dtype=torch.float64)
    assert_equivariant(lambda x, d: conv(x, *geometry(d)), (x, data),
                       lambda a: (gauge.features(a[0], types_in), gauge.data(a[1])),
                       lambda y: gauge.features(y, types_out))


def test_gem_conv_rho0_outputs_gauge_invariant_on_sphere_patches():
    """rho_0 outputs on multi-ring geodesic patches of an icosphere do not change when every
    frame rotates by its own random angle."""
    ico = icosphere(2)
    data = geodesic_patches(ico.pos, ico.face, 0.45)
    torch.manual_seed(1)
    conv = GEMConv((2,), (3,), num_radial=2).double()
    x = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    y = conv(x, *geometry(data))
    gauge = GaugeChange.random(data.num_nodes, seed=4)
    assert_close(conv(x, *geometry(gauge.data(data))), y)
