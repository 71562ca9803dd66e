"""GEMConv, RegularNonlinearity, NormGate and GEMNet: gauge equivariance, a brute-force
reference, the 60 rotations of the icosphere, fused == generic."""
import math

import pytest
import torch

from gdl_graphs.core import use_kernel
from gdl_graphs.core.mesh import types_dim
from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.models import GEMNet, NormGate
from gdl_graphs.nn import GEMConv, RegularNonlinearity
from gdl_graphs.testing import Permutation, assert_close, assert_equivariant
from gdl_graphs.testing.gauge import GaugeChange, geometry


def random_mesh(seed=0, n_major=9, n_minor=6):
    g = torch.Generator().manual_seed(seed)
    pos, face = torus_mesh(n_major, n_minor)
    pos = pos + 0.08 * torch.randn(pos.shape, generator=g, dtype=pos.dtype)
    return mesh_to_graph(pos, face)


def gauge_check(module, data, types_in, types_out, gauge, atol=None):
    assert_equivariant(lambda x, d: module(x, *geometry(d)),
                       (torch.randn(data.num_nodes, types_dim(types_in), dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(5)), data),
                       lambda a: (gauge.features(a[0], types_in), gauge.data(a[1])),
                       lambda y: gauge.features(y, types_out), atol=atol)


@pytest.mark.parametrize('types_in,types_out,num_radial,aggr', [
    ((3, 2, 1), (2, 3, 2), 1, 'mean'),
    ((2, 0, 2), (1, 2, 0, 1), 3, 'sum'),
    ((4,), (2, 2), 2, 'mean'),
    ((1, 1), (3,), 1, 'sum'),
])
def test_gem_conv_gauge_equivariant(types_in, types_out, num_radial, aggr):
    torch.manual_seed(0)
    data = random_mesh()
    conv = GEMConv(types_in, types_out, num_radial=num_radial, aggr=aggr).double()
    gauge_check(conv, data, types_in, types_out, GaugeChange.random(data.num_nodes, seed=1))


def test_gauge_check_can_fail():
    """Dropping the parallel transport (connection = 0) breaks gauge equivariance."""
    torch.manual_seed(0)
    data = random_mesh()
    conv = GEMConv((2, 2), (2, 2)).double()

    def no_transport(x, ei, coords, conn):
        return conv(x, ei, coords, torch.zeros_like(conn))
    with pytest.raises(AssertionError, match='equivariance'):
        gauge_check(no_transport, data, (2, 2), (2, 2), GaugeChange.random(data.num_nodes))


def reference_gem(conv, x, edge_index, coords, conn):
    """The paper's form, edge by edge with complex numbers: transport the neighbour's feature,
    apply the kernel K(theta) of every (m, n) block, sum or average, add self-interaction."""
    tin, tout = conv.in_types, conv.out_types

    def split(v, types):
        parts, off = [v[:types[0]].to(torch.complex128)], types[0]
        for c in types[1:]:
            parts.append(torch.view_as_complex(v[off:off + 2 * c].reshape(c, 2).contiguous()))
            off += 2 * c
        return parts

    n = x.size(0)
    r = coords[:, 0]
    mean_r = torch.zeros(n, dtype=r.dtype).index_add(0, edge_index[1], r) / \
        torch.bincount(edge_index[1], minlength=n).clamp(min=1)
    out = [[torch.zeros(c, dtype=torch.complex128) for c in tout] for _ in range(n)]
    deg = torch.bincount(edge_index[1], minlength=n)
    for e in range(edge_index.size(1)):
        j, i = int(edge_index[0, e]), int(edge_index[1, e])
        th, g = float(coords[e, 1]), float(conn[e])
        rel = float(r[e] / mean_r[i])
        R = conv.num_radial
        phi = [1.0] if R == 1 else [math.exp(-0.5 * ((rel - c) * (R - 1)) ** 2)
                                    for c in torch.linspace(0.5, 1.5, R).tolist()]
        z = split(x[j], tin)
        zt = [z[0]] + [z[k] * complex(math.cos(k * g), math.sin(k * g))
                       for k in range(1, len(tin))]
        scale = 1.0 / deg[i].item() if conv.aggr == 'mean' else 1.0
        for key, w in conv.weight.items():
            m, k = (int(t) for t in key.split('_'))
            for rr in range(R):
                wr = w[rr].detach()
                e1 = lambda f: complex(math.cos(f * th), math.sin(f * th))  # noqa: E731
                if m == 0 and k == 0:
                    v = (wr.to(torch.complex128) @ zt[0])
                elif m == 0:
                    G = torch.view_as_complex(wr.contiguous())
                    v = (e1(-k) * (G @ zt[k])).real.to(torch.complex128)
                elif k == 0:
                    A = torch.view_as_complex(wr.contiguous())
                    v = e1(m) * (A @ zt[0])
                else:
                    A = torch.view_as_complex(wr[..., :2].contiguous())
                    B = torch.view_as_complex(wr[..., 2:].contiguous())
                    v = e1(m - k) * (A @ zt[k]) + e1(m + k) * (B @ zt[k].conj())
                out[i][m] = out[i][m] + scale * phi[rr] * v
    rows = []
    for i in range(n):
        z = split(x[i], tin)
        for key, s in conv.self_weight.items():
            m = int(key)
            S = s.detach().to(torch.complex128) if m == 0 else \
                torch.view_as_complex(s.detach().contiguous())
            out[i][m] = out[i][m] + S @ z[m]
        if conv.bias is not None:
            out[i][0] = out[i][0] + conv.bias.detach()
        row = [out[i][0].real] + [torch.view_as_real(out[i][m]).reshape(-1)
                                  for m in range(1, len(tout))]
        rows.append(torch.cat(row))
    return torch.stack(rows)


@pytest.mark.parametrize('num_radial,aggr', [(1, 'mean'), (2, 'sum')])
def test_gem_conv_matches_brute_force_reference(num_radial, aggr):
    torch.manual_seed(1)
    data = random_mesh(2, 5, 4)
    conv = GEMConv((2, 1, 1), (1, 2, 1), num_radial=num_radial, aggr=aggr).double()
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(data.num_nodes, types_dim(conv.in_types), dtype=torch.float64)
    with torch.no_grad():
        y = conv(x, *geometry(data))
    assert_close(y, reference_gem(conv, x, data.edge_index, data.edge_coords, data.connection))


def test_gem_conv_fused_equals_generic_outputs_and_gradients():
    torch.manual_seed(2)
    data = random_mesh(3)
    conv = GEMConv((3, 2, 1), (2, 2, 2), num_radial=2).double()
    x = torch.randn(data.num_nodes, types_dim(conv.in_types), dtype=torch.float64,
                    requires_grad=True)
    outs = []
    for kernel in ('fused', 'generic'):
        with use_kernel(kernel):
            y = conv(x, *geometry(data))
            grads = torch.autograd.grad((y * torch.arange(y.numel()).view_as(y).sin()).sum(),
                                        [x] + list(conv.parameters()))
        outs.append((y,) + grads)
    assert_close(outs[0], outs[1])


def test_gem_conv_permutation_equivariant():
    torch.manual_seed(3)
    data = random_mesh(4)
    conv = GEMConv((2, 1), (1, 1)).double()
    data.x = torch.randn(data.num_nodes, 4, dtype=torch.float64)
    p = Permutation.random(data.num_nodes, generator=torch.Generator().manual_seed(0))
    assert_equivariant(lambda d: conv(d.x, *geometry(d)), (data,),
                       lambda a: (p.data(a[0]),), p.nodes)


def test_gem_conv_bad_input():
    data = random_mesh()
    conv = GEMConv((2, 1), (1, 1))
    x = torch.randn(data.num_nodes, 4)
    with pytest.raises(ValueError, match='mesh_to_graph'):
        conv(x, data.edge_index)
    with pytest.raises(ValueError, match='channels'):
        conv(x[:, :3], *geometry(data))
    with pytest.raises(ValueError, match=r'edge_coords must be \[E, 2\]'):
        conv(x, data.edge_index, data.edge_coords[:5], data.connection)
    with pytest.raises(ValueError, match='multiplicities'):
        GEMConv((0, 0), (1,))
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        GEMConv((1,), (1,), aggr='max')
    assert 'in_types=(2, 1)' in repr(conv)


# --------------------------------------------------------------------------- nonlinearities


@pytest.mark.parametrize('order,samples', [(1, None), (2, 12), (3, 20)])
def test_regular_nonlinearity_within_stated_sampling_error(order, samples):
    types = (3,) * (order + 1)
    nl = RegularNonlinearity(types, samples).double()
    data = random_mesh()
    x = torch.randn(data.num_nodes, types_dim(types), dtype=torch.float64,
                    generator=torch.Generator().manual_seed(order))
    # exact for multiples of 2 pi / S
    g = GaugeChange.discrete(data.num_nodes, nl.num_samples, seed=1)
    assert_equivariant(nl, (x,), lambda a: (g.features(a[0], types),),
                       lambda y: g.features(y, types))
    # arbitrary angles: within the stated bound, and the bound is not vacuous
    g = GaugeChange.random(data.num_nodes, seed=2)
    err = (nl(g.features(x, types)) - g.features(nl(x), types)).abs().max().item()
    assert 1e-8 < err <= nl.error_bound(x)
    # the identity is band-limited: exact for any angle, and inverts the sampling
    ident = RegularNonlinearity(types, samples, act=lambda t: t).double()
    assert_close(ident(x), x)


def test_regular_nonlinearity_matches_dense_fourier_reference():
    nl = RegularNonlinearity((2, 2, 2), 9).double()
    x = torch.randn(5, 10, dtype=torch.float64)
    phi = torch.arange(9, dtype=torch.float64) * 2 * math.pi / 9
    out = torch.empty_like(x)
    for c in range(2):
        z0, z1, z2 = x[:, c], x[:, 2 + 2 * c:4 + 2 * c], x[:, 6 + 2 * c:8 + 2 * c]
        f = (z0[:, None] + z1[:, :1] * torch.cos(phi) + z1[:, 1:] * torch.sin(phi) +
             z2[:, :1] * torch.cos(2 * phi) + z2[:, 1:] * torch.sin(2 * phi)).relu()
        out[:, c] = f.mean(1)
        out[:, 2 + 2 * c] = 2 * (f * torch.cos(phi)).mean(1)
        out[:, 3 + 2 * c] = 2 * (f * torch.sin(phi)).mean(1)
        out[:, 6 + 2 * c] = 2 * (f * torch.cos(2 * phi)).mean(1)
        out[:, 7 + 2 * c] = 2 * (f * torch.sin(2 * phi)).mean(1)
    assert_close(nl(x), out)
    with pytest.raises(ValueError, match='regular stack'):
        RegularNonlinearity((2, 1))
    with pytest.raises(ValueError, match='must exceed 2M'):
        RegularNonlinearity((1, 1, 1), 4)


def test_norm_gate_is_exactly_gauge_equivariant():
    types = (2, 3, 1)
    gate = NormGate(types).double()
    x = torch.randn(20, types_dim(types), dtype=torch.float64)
    g = GaugeChange.random(20, seed=3)
    assert_equivariant(gate, (x,), lambda a: (g.features(a[0], types),),
                       lambda y: g.features(y, types))


# --------------------------------------------------------------------------- networks


def test_gem_net_invariant_outputs_under_gauge_and_permutation():
    torch.manual_seed(4)
    data = random_mesh(5)
    net = GEMNet(2, 3, hidden=3, order=2, num_radial=2).double()
    x = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    g = GaugeChange.random(data.num_nodes, seed=6)
    assert_equivariant(lambda x, d: net(x, *geometry(d)), (x, data),
                       lambda a: (a[0], g.data(a[1])), lambda y: y)
    data.x = x
    p = Permutation.random(data.num_nodes, generator=torch.Generator().manual_seed(1))
    assert_equivariant(lambda d: net(d.x, *geometry(d)), (data,), lambda a: (p.data(a[0]),),
                       lambda y: y)


def test_icosphere_60_rotations():
    """Rotating a scalar signal on the icosphere by any of the 60 icosahedral rotations
    permutes the invariant outputs of a GEM network (global symmetry from gauge
    equivariance): exactly with NormGate, up to the sampling error with the regular
    nonlinearity."""
    from gdl_graphs.domains.sphere import icosahedral_rotations, icosphere
    ico = icosphere(2)
    data = mesh_to_graph(ico.pos, ico.face)
    _, perms = icosahedral_rotations(2)
    torch.manual_seed(5)
    x = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    # the 60 rotated signals as one batch of 60 copies of the mesh
    from torch_geometric.data import Batch
    batch = Batch.from_data_list([data] * 60)
    invs = [perms[g].argsort() for g in range(60)]             # (g f)(v) = f(g^-1 v)
    x_rot = torch.cat([x[inv] for inv in invs])
    for nonlinearity, tol in (('norm', 1e-6), ('regular', 1e-2)):
        net = GEMNet(2, 3, hidden=3, order=2, num_radial=2, nonlinearity=nonlinearity).double()
        with torch.no_grad():
            h = net.node_features(x, *geometry(data))
            h_rot = net.node_features(x_rot, *geometry(batch)).view(60, data.num_nodes, -1)
        worst = max((h_rot[g] - h[invs[g]]).abs().max().item() for g in range(60))
        assert worst <= tol, (nonlinearity, worst)
        assert h.abs().max() > 1e-3
    # and the check is not vacuous: without transport the rotations are not respected
    net = GEMNet(2, 3, hidden=3, order=2).double()
    no_conn = torch.zeros_like(data.connection)
    with torch.no_grad():
        h = net.node_features(x, data.edge_index, data.edge_coords, no_conn)
        inv = perms[7].argsort()
        h2 = net.node_features(x[inv], data.edge_index, data.edge_coords, no_conn)
    assert (h2 - h[inv]).abs().max() > 1e-4


def test_gem_net_trains_float32():
    torch.manual_seed(6)
    data = random_mesh(6)
    net = GEMNet(1, 2, hidden=2, order=1)
    geo = (data.edge_index, data.edge_coords.float(), data.connection.float())
    x = torch.ones(data.num_nodes, 1)
    loss = torch.nn.functional.cross_entropy(net(x, *geo), torch.tensor([1]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_gem_conv_gauge_equivariant_on_icosphere():
    from gdl_graphs.domains.sphere import icosphere
    ico = icosphere(1)
    data = mesh_to_graph(ico.pos, ico.face)
    torch.manual_seed(7)
    conv = GEMConv((2, 2, 1), (1, 2, 2), num_radial=2).double()
    gauge_check(conv, data, (2, 2, 1), (1, 2, 2), GaugeChange.random(data.num_nodes, seed=8))
