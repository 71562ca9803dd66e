"""Geodesic patches and distance on messy and extreme meshes: every parameter validated with
one ValueError naming it; power-of-two rescaling (1e-60 .. 1e55 give the same patches up to
the scale); degenerate faces (a collapsed edge, an isolated zero-area face) with zero weight
instead of a singular factorisation; non-manifold meshes accepted; a radius larger than the
bounding box but inside the geodesic extent accepted; potpourri3d's refusals reported as its
own; float32 mesh_to_graph at 1e20 without inf."""
import math

import pytest
import torch

from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.domains.sphere import icosphere
from gdl_graphs.geodesics import geodesic_distance, geodesic_patches

SOLVERS = ['fast', 'heat']


def grid(n, size=1.0):
    xs = torch.linspace(0, size, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(xs, xs, indexing='ij')
    pos = torch.stack([xx, yy, torch.zeros_like(xx)], -1).reshape(-1, 3)
    i = (torch.arange(n - 1).view(-1, 1) * n + torch.arange(n - 1).view(1, -1)).reshape(-1)
    face = torch.cat([torch.stack([i, i + 1, i + n + 1], 1), torch.stack([i, i + n + 1, i + n], 1)])
    return pos, face.t().contiguous()


def wrap(a):
    return torch.atan2(torch.sin(a), torch.cos(a))


def common_rho_error(a, b, n):
    """Mean |rho_a - rho_b| over the edges both patch graphs hold, and their share of b's."""
    ka = a.edge_index[1] * n + a.edge_index[0]
    kb = b.edge_index[1] * n + b.edge_index[0]
    both = torch.isin(kb, ka)
    ia = torch.searchsorted(ka, kb[both])
    err = (a.edge_coords[ia, 0] - b.edge_coords[both, 0]).abs().mean()
    return float(err), float(both.float().mean())


@pytest.mark.parametrize('name,value', [
    ('t_coef', 0.0), ('t_coef', -1.0), ('t_coef', math.nan), ('t_coef', math.inf),
    ('t_coef', 'a'), ('margin', -1.0), ('margin', math.nan), ('margin', math.inf),
    ('radius', math.nan), ('radius', -0.1)])
def test_every_parameter_is_validated(name, value):
    ico = icosphere(1)
    kwargs = {'radius': 0.9, name: value}
    with pytest.raises(ValueError, match=f'^{name} must be a finite'):
        geodesic_patches(ico.pos, ico.face, **kwargs)
    with pytest.raises(ValueError, match='max_chunk must be a positive integer'):
        geodesic_patches(ico.pos, ico.face, 0.9, max_chunk=0)
    if name == 't_coef':
        with pytest.raises(ValueError, match='^t_coef must be a finite'):
            geodesic_distance(ico.pos, ico.face, 0, t_coef=value)


@pytest.mark.parametrize('solver', SOLVERS)
def test_extreme_scales_give_the_same_patches(solver):
    ico = icosphere(2)
    ref = geodesic_patches(ico.pos, ico.face, 0.5, solver=solver)
    assert ref.edge_index.size(1) > 0
    for scale in (2.0 ** -200, 2.0 ** 180):          # about 6e-61 and 1.5e54: exact scalings
        g = geodesic_patches(ico.pos * scale, ico.face, 0.5 * scale, solver=solver)
        assert torch.equal(g.edge_index, ref.edge_index)
        assert torch.equal(g.edge_coords[:, 0], ref.edge_coords[:, 0] * scale)
        assert torch.equal(g.edge_coords[:, 1], ref.edge_coords[:, 1])
        assert torch.equal(g.connection, ref.connection)
    for scale in (1e-60, 1e55):                      # not powers of two: rounding only
        g = geodesic_patches(ico.pos * scale, ico.face, 0.5 * scale, solver=solver)
        assert torch.equal(g.edge_index, ref.edge_index)
        assert torch.allclose(g.edge_coords[:, 0] / scale, ref.edge_coords[:, 0], rtol=1e-9)
    d = geodesic_distance(ico.pos * 1e55, ico.face, 0)
    assert torch.allclose(d / 1e55, geodesic_distance(ico.pos, ico.face, 0), rtol=1e-9)


def test_float32_mesh_to_graph_at_1e20_has_no_inf():
    pos, face = torus_mesh(8, 6, dtype=torch.float32)
    ref = mesh_to_graph(pos, face)
    for scale in (1e20, 1e-20):
        g = mesh_to_graph(pos * scale, face)
        for key in ('edge_coords', 'normal', 'frame', 'connection'):
            assert bool(torch.isfinite(g[key]).all()), key
        assert torch.allclose(g.edge_coords[:, 0] / scale, ref.edge_coords[:, 0], rtol=1e-5)
        assert torch.allclose(g.normal, ref.normal, atol=1e-5)
    # float64 at powers of two: the same numbers exactly
    pos64, face64 = torus_mesh(8, 6)
    a, b = mesh_to_graph(pos64, face64), mesh_to_graph(pos64 * 2.0 ** 300, face64)
    assert torch.equal(b.edge_coords[:, 0], a.edge_coords[:, 0] * 2.0 ** 300)
    assert torch.equal(b.connection, a.connection) and torch.equal(b.frame, a.frame)


@pytest.mark.parametrize('solver', SOLVERS)
def test_a_collapsed_edge_gets_zero_weight(solver):
    pos, face = grid(9)
    ref = geodesic_patches(pos, face, 0.3, solver=solver)
    bad = pos.clone()
    bad[40] = bad[41]                # two adjacent vertices at one point: zero-area faces
    g = geodesic_patches(bad, face, 0.3, solver=solver)
    assert bool(torch.isfinite(g.edge_coords).all() and torch.isfinite(g.connection).all())
    # patches far from the collapse are those of the clean grid
    far = (pos[:, :2] - pos[40, :2]).norm(dim=1) > 0.7

    def rows(d):
        keep = far[d.edge_index[1]]
        return d.edge_index[:, keep], d.edge_coords[keep]
    (ei_a, c_a), (ei_b, c_b) = rows(ref), rows(g)
    if solver == 'fast':
        assert torch.equal(ei_a, ei_b) and torch.allclose(c_a, c_b, atol=1e-12)
    else:       # the heat time follows the mean edge length, which the collapse changes
        err, share = common_rho_error(ref, g, pos.size(0))
        assert err < 0.01 and share > 0.95
    # the collapsed pair, in each other's patch: marching gives distance 0; the heat method,
    # smooth by construction, gives a finite distance (about two grid steps here)
    s, t = g.edge_index
    pair = (s == 41) & (t == 40)
    assert int(pair.sum()) == 1
    assert float(g.edge_coords[pair, 0]) < (1e-12 if solver == 'fast' else 0.3)


@pytest.mark.parametrize('solver', SOLVERS)
def test_an_isolated_zero_area_face_is_harmless(solver):
    pos, face = grid(9)
    n = pos.size(0)
    line = torch.tensor([[2.0, 0, 0], [2.5, 0, 0], [3.0, 0, 0]], dtype=torch.float64)
    pos2 = torch.cat([pos, line])
    face2 = torch.cat([face, torch.tensor([[n], [n + 1], [n + 2]])], 1)
    ref = geodesic_patches(pos, face, 0.3, solver=solver)
    g = geodesic_patches(pos2, face2, 0.3, solver=solver)
    on_grid = g.edge_index[1] < n
    assert bool(torch.isfinite(g.edge_coords).all())
    if solver == 'fast':
        assert torch.equal(g.edge_index[:, on_grid], ref.edge_index)
        assert torch.allclose(g.edge_coords[on_grid], ref.edge_coords, atol=1e-12)
    else:       # the heat time follows the mean edge length, which the face changes
        err, share = common_rho_error(ref, g, n + 3)
        assert err < 0.01 and share > 0.95
    d = geodesic_distance(pos2, face2, 0)
    assert bool(torch.isfinite(d[:n]).all()) and not bool(torch.isnan(d).any())


@pytest.mark.parametrize('solver', SOLVERS)
def test_non_manifold_meshes_are_accepted(solver):
    ico = icosphere(2)
    n = ico.num_nodes
    f0 = ico.face[:, 0]
    # a fin: a third face on one edge, its tip far outside the sphere
    pos = torch.cat([ico.pos, torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64)])
    face = torch.cat([ico.face, torch.tensor([[int(f0[0])], [int(f0[1])], [n]])], 1)
    g = geodesic_patches(pos, face, 0.5, solver=solver)
    ref = geodesic_patches(ico.pos, ico.face, 0.5, solver=solver)
    assert bool(torch.isfinite(g.edge_coords).all())
    on_sphere = (g.edge_index < n).all(0)
    if solver == 'fast':
        # the fin offers no shorter path: the sphere's patches are unchanged
        assert torch.equal(g.edge_index[:, on_sphere], ref.edge_index)
        assert torch.allclose(g.edge_coords[on_sphere, 0], ref.edge_coords[:, 0], atol=1e-12)
    else:       # the fin joins the heat flow (and the mean edge length): close, not equal
        err, share = common_rho_error(ref, g, n + 1)
        assert err < 0.02 and share > 0.9
    d = geodesic_distance(pos, face, 0)
    assert torch.allclose(d[:n], geodesic_distance(ico.pos, ico.face, 0), atol=1e-12)


def folded_strip(segments=20, per=11, width=0.2, gap=0.05):
    """A strip of length ``segments`` folded like an accordion into x in [0, 1] (U-turns of
    height ``gap``): bounding-box diagonal ~1.43, geodesic extent ~21. Returns the positions,
    faces and the arc length of every vertex along the strip."""
    pts, arc, s = [], [], 0.0
    for k in range(segments):
        xs = torch.linspace(0, 1, per, dtype=torch.float64)
        xs = xs if k % 2 == 0 else xs.flip(0)
        for j, x in enumerate(xs):
            if pts:
                s += math.dist((float(x), k * gap), pts[-1])
            if not pts or j > 0 or True:
                pts.append((float(x), k * gap))
                arc.append(s)
    line = torch.tensor(pts, dtype=torch.float64)
    m = line.size(0)
    pos = torch.cat([torch.stack([line[:, 0], torch.zeros(m, dtype=torch.float64), line[:, 1]], 1),
                     torch.stack([line[:, 0], torch.full((m,), width, dtype=torch.float64),
                                  line[:, 1]], 1)])
    i = torch.arange(m - 1)
    face = torch.cat([torch.stack([i, i + 1, i + m + 1], 1), torch.stack([i, i + m + 1, i + m], 1)])
    return pos, face.t().contiguous(), torch.tensor(arc + arc, dtype=torch.float64)


def test_radius_is_checked_against_the_geodesic_extent_not_the_bounding_box():
    pos, face, arc = folded_strip()
    diag = float((pos.max(0).values - pos.min(0).values).norm())
    assert diag < 1.5 and float(arc.max()) > 20
    g = geodesic_patches(pos, face, 1.7)                 # larger than the bounding box
    s, t = g.edge_index
    same_side = (pos[s, 1] == pos[t, 1])
    # the strip is developable: along one side, the geodesic is the arc length
    assert torch.allclose(g.edge_coords[same_side, 0], (arc[s] - arc[t]).abs()[same_side],
                          atol=1e-9)
    assert float(g.edge_coords[:, 0].max()) <= 1.7
    with pytest.raises(ValueError, match='geodesic extent'):
        geodesic_patches(pos, face, 100.0)


def test_potpourri3d_refusal_is_reported_as_the_library_s():
    pytest.importorskip('potpourri3d')
    pos, face = grid(5)
    face = face.clone()
    face[[1, 2], 5] = face[[2, 1], 5]                  # one flipped face, a manifold mesh
    with pytest.raises(ValueError) as err:
        geodesic_patches(pos, face, 0.5, solver='potpourri3d')
    msg = str(err.value)
    assert 'potpourri3d refused the mesh' in msg and "solver='fast'" in msg
    assert 'non-manifold' not in msg.split('(')[0]
    # the other solvers accept it
    assert geodesic_patches(pos, face, 0.5).edge_index.size(1) > 0


def test_heat_with_the_intrinsic_delaunay_laplacian():
    pytest.importorskip('robust_laplacian')
    from gdl_graphs.geodesics import HeatSolver
    ico = icosphere(2)
    # a Delaunay mesh: the intrinsic-Delaunay Laplacian is the cotan one (up to the 1e-5
    # mollification of robust-laplacian)
    a = geodesic_patches(ico.pos, ico.face, 0.5, solver=HeatSolver('cotan'))
    b = geodesic_patches(ico.pos, ico.face, 0.5, solver=HeatSolver('intrinsic'))
    assert torch.equal(a.edge_index, b.edge_index)
    assert torch.allclose(a.edge_coords[:, 0], b.edge_coords[:, 0], atol=1e-4)
    assert float(wrap(a.edge_coords[:, 1] - b.edge_coords[:, 1]).abs().max()) < 1e-3
    # and a non-manifold fin
    n = ico.num_nodes
    f0 = ico.face[:, 0]
    pos = torch.cat([ico.pos, torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64)])
    face = torch.cat([ico.face, torch.tensor([[int(f0[0])], [int(f0[1])], [n]])], 1)
    g = geodesic_patches(pos, face, 0.5, solver=HeatSolver('intrinsic'))
    assert bool(torch.isfinite(g.edge_coords).all()) and g.edge_index.size(1) > 0
    with pytest.raises(ValueError, match="laplacian must be 'cotan' or 'intrinsic'"):
        HeatSolver('robust')
