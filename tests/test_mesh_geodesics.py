"""Geodesic distance and geodesic polar patches against exact geometry: great circles and
tangent angles on the unit sphere (regular and jittered), Euclidean geometry on a plane; the
three solvers (eikonal marching, its compiled and vectorised paths; the heat / vector heat
methods, checked against potpourri3d); gauge consistency with mesh_to_graph; bad input."""

import pytest
import torch

from gdl_graphs.domains.mesh import change_gauge, mesh_to_graph, random_gauge
from gdl_graphs.domains.sphere import icosphere
from gdl_graphs.geodesics import (
    GeodesicPatches,
    MarchingSolver,
    geodesic_distance,
    geodesic_patches,
)

try:
    import potpourri3d  # noqa: F401
    HAS_PP3D = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_PP3D = False
needs_pp3d = pytest.mark.skipif(not HAS_PP3D, reason='potpourri3d not installed')


def wrap(a):
    return torch.atan2(torch.sin(a), torch.cos(a))


def jittered_icosphere(level, jitter=0.3, seed=0):
    """An icosphere whose vertices moved by up to ``jitter`` mean edge lengths along the
    sphere (then back onto it): irregular triangles, exact great circles still."""
    ico = icosphere(level)
    p = ico.pos
    h = float((p[ico.face[0]] - p[ico.face[1]]).norm(dim=1).mean())
    g = torch.Generator().manual_seed(seed)
    step = (torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1) * jitter * h
    step = step - (step * p).sum(1, keepdim=True) * p
    ico.pos = torch.nn.functional.normalize(p + step, dim=1)
    return ico


def sphere_errors(level, radius, solver='fast', jitter=0.0):
    ico = jittered_icosphere(level, jitter) if jitter else icosphere(level)
    g = geodesic_patches(ico.pos, ico.face, radius, solver=solver)
    p, (s, t) = g.pos, g.edge_index
    great = torch.arccos((p[s] * p[t]).sum(1).clamp(-1, 1))
    # exact log-map direction: p_j projected onto the tangent plane of the unit sphere at p_i,
    # measured in mesh_to_graph's frame; exact transport: the rotation about p_j x p_i
    v = p[s] - (p[s] * p[t]).sum(1, keepdim=True) * p[t]
    fr = g.frame[t]
    theta = torch.atan2((v * fr[:, 1]).sum(1), (v * fr[:, 0]).sum(1))
    return g, great, (g.edge_coords[:, 0] - great).abs(), wrap(g.edge_coords[:, 1] - theta).abs()


@pytest.mark.parametrize('solver', ['fast', 'heat'])
def test_sphere_distance_and_angle_errors_fall_with_refinement(solver):
    radius = 0.5
    rows = []
    for level in (2, 3):
        g, great, d_err, t_err = sphere_errors(level, radius, solver)
        # the patch is the geodesic disk (up to the distance error at its rim)
        assert bool((great <= radius + 2 * d_err.max()).all())
        rows.append((float(d_err.max()), float(d_err.mean()), float(t_err.mean())))
    assert rows[1][0] < rows[0][0] and rows[1][1] < rows[0][1]
    if solver == 'heat':
        assert rows[-1][0] < 0.04
        # angles: about one degree on average (it does not fall at these sizes)
        assert max(r[2] for r in rows) < 0.03
    else:
        # marching is exact on the polyhedron: what remains is the chord-vs-arc error
        assert rows[-1][0] < 0.002 and max(r[2] for r in rows) < 0.003


def test_marching_beats_the_heat_method_on_jittered_spheres():
    for level in (2, 3):
        fast = sphere_errors(level, 0.5, 'fast', jitter=0.3)
        heat = sphere_errors(level, 0.5, 'heat', jitter=0.3)
        for k in (2, 3):                          # distance and theta errors, max and mean
            assert float(fast[k].max()) < 0.5 * float(heat[k].max())
            assert float(fast[k].mean()) < 0.5 * float(heat[k].mean())
        assert float(fast[2].max()) < 0.005


def test_compiled_and_vectorised_marching_agree():
    pytest.importorskip('numba')
    ico = jittered_icosphere(3)
    a = geodesic_patches(ico.pos, ico.face, 0.5, solver=MarchingSolver(compiled=True))
    b = geodesic_patches(ico.pos, ico.face, 0.5, solver=MarchingSolver(compiled=False))
    assert torch.equal(a.edge_index, b.edge_index)
    assert torch.allclose(a.edge_coords[:, 0], b.edge_coords[:, 0], rtol=0, atol=1e-12)
    assert torch.allclose(a.connection, b.connection, rtol=0, atol=1e-12)
    # theta: the direction of the winning update; candidates that tie to rounding may come
    # from neighbouring faces (their rays differ by the surface's bend)
    assert float(wrap(a.edge_coords[:, 1] - b.edge_coords[:, 1]).abs().mean()) < 1e-3


def test_patches_contain_the_one_ring_with_its_transport():
    ico = icosphere(2)
    ring = mesh_to_graph(ico.pos, ico.face)
    g = geodesic_patches(ico.pos, ico.face, 0.45)
    n = g.num_nodes
    key = g.edge_index[1] * n + g.edge_index[0]
    rkey = ring.edge_index[1] * n + ring.edge_index[0]
    pos_in = torch.searchsorted(key, rkey)
    assert torch.equal(key[pos_in], rkey)                     # every 1-ring edge is in a patch
    assert torch.equal(g.frame, ring.frame)                   # same gauge
    # the marching transport is the 1-ring's smallest rotation itself; the direction is the
    # edge's (projected on the tangent plane at i instead of transported from j)
    assert float(wrap(g.connection[pos_in] - ring.connection).abs().max()) < 1e-12
    assert float(wrap(g.edge_coords[pos_in, 1] - ring.edge_coords[:, 1]).abs().mean()) < 0.01
    assert torch.allclose(g.edge_coords[pos_in, 0], ring.edge_coords[:, 0], rtol=1e-12)
    # the heat method: up to its discretisation error
    h = geodesic_patches(ico.pos, ico.face, 0.45, solver='heat')
    key = h.edge_index[1] * n + h.edge_index[0]
    pos_in = torch.searchsorted(key, rkey)
    assert torch.equal(key[pos_in], rkey)
    assert float(wrap(h.connection[pos_in] - ring.connection).abs().max()) < 0.05


def grid(n, size=1.0):
    xs = torch.linspace(0, size, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(xs, xs, indexing='ij')
    pos = torch.stack([xx, yy, torch.zeros_like(xx)], -1).reshape(-1, 3)
    i = torch.arange(n - 1).view(-1, 1) * n + torch.arange(n - 1).view(1, -1)
    i = i.reshape(-1)
    face = torch.cat([torch.stack([i, i + 1, i + n + 1], 1), torch.stack([i, i + n + 1, i + n], 1)])
    return pos, face.t().contiguous()


@pytest.mark.parametrize('solver', ['fast', 'heat'])
def test_plane_is_euclidean(solver):
    errs = []
    for n in (9, 17):
        pos, face = grid(n)
        g = geodesic_patches(pos, face, 0.3, solver=solver)
        s, t = g.edge_index
        d = pos[s] - pos[t]
        inner = ((pos[t, :2] > 0.3) & (pos[t, :2] < 0.7)).all(1)   # disks away from the rim
        d_err = (g.edge_coords[:, 0] - d.norm(dim=1))[inner].abs()
        fr = g.frame[t]
        theta = torch.atan2((d * fr[:, 1]).sum(1), (d * fr[:, 0]).sum(1))
        t_err = wrap(g.edge_coords[:, 1] - theta)[inner].abs()
        # a flat plane: transport is the identity (all frames are equal here); away from the
        # boundary, where the vector heat method is accurate
        assert float(wrap(g.connection)[inner].abs().max()) < 0.02
        errs.append((float(d_err.mean()), float(t_err.mean())))
        if solver == 'fast':    # straight rays through the triangles: exact, rim included
            assert float((g.edge_coords[:, 0] - d.norm(dim=1)).abs().max()) < 1e-12
            assert float(wrap(g.edge_coords[:, 1] - theta).abs().max()) < 1e-9
            assert float(wrap(g.connection).abs().max()) == 0
    if solver == 'fast':
        return
    # both errors fall with refinement (this right-triangle grid is anisotropic: the heat
    # method's distance gradient, hence theta, is off by about 4.5 degrees on average)
    assert errs[1][0] < errs[0][0] and errs[1][0] < 0.01
    assert errs[1][1] < errs[0][1] and errs[1][1] < 0.1


def test_change_gauge_applies_unchanged():
    ico = icosphere(1)
    g = geodesic_patches(ico.pos, ico.face, 0.9)
    a = random_gauge(g.num_nodes, torch.Generator().manual_seed(0))
    h = change_gauge(g, a)
    # the same patches computed in the rotated frames: theta and transport move as the gauge
    s, t = g.edge_index
    assert torch.allclose(wrap(h.edge_coords[:, 1] - g.edge_coords[:, 1] + a[t]),
                          torch.zeros_like(a[t]), atol=1e-12)
    assert torch.allclose(wrap(h.connection - g.connection - a[s] + a[t]),
                          torch.zeros_like(a[t]), atol=1e-12)
    # geometry: theta is the angle of the log map in the frame, so the 3-D log-map vector
    # rho (cos theta e1 + sin theta e2) is the same in every gauge
    def logvec(d):
        fr = d.frame[d.edge_index[1]]
        c = d.edge_coords
        return c[:, :1] * (torch.cos(c[:, 1:]) * fr[:, 0] + torch.sin(c[:, 1:]) * fr[:, 1])
    assert torch.allclose(logvec(g), logvec(h), atol=1e-12)


@pytest.mark.parametrize('solver', ['fast', pytest.param('potpourri3d', marks=needs_pp3d)])
def test_geodesic_distance_matches_great_circles_and_handles_components(solver):
    ico = icosphere(3)
    d = geodesic_distance(ico.pos, ico.face, 0, solver=solver)
    exact = torch.arccos((ico.pos @ ico.pos[0]).clamp(-1, 1))
    # whole-sphere distances (to the antipode): marching is first order there, the heat
    # method smooths; mean errors 0.013 (marching) and 0.023 (heat)
    tol = 0.06 if solver == 'potpourri3d' else 0.08
    assert d[0] == 0 and float((d - exact).abs().max()) < tol
    assert float((d - exact).abs().mean()) < (0.03 if solver == 'potpourri3d' else 0.015)
    # two sources: the minimum (the heat method smooths the kink where the two fronts meet)
    d2 = geodesic_distance(ico.pos, ico.face, [0, 5], solver=solver)
    exact2 = torch.minimum(exact, torch.arccos((ico.pos @ ico.pos[5]).clamp(-1, 1)))
    assert float((d2 - exact2).abs().max()) < 0.12
    assert float((d2 - exact2).abs().mean()) < 0.03
    # a second, disconnected sphere is unreachable: inf, never NaN
    pos = torch.cat([ico.pos, ico.pos + 3])
    face = torch.cat([ico.face, ico.face + ico.num_nodes], 1)
    d3 = geodesic_distance(pos, face, torch.tensor([0]), solver=solver)
    assert torch.allclose(d3[:ico.num_nodes], d, atol=1e-9)
    assert bool(torch.isinf(d3[ico.num_nodes:]).all())


def test_bad_input_is_refused():
    ico = icosphere(1)
    for r in (0.0, -1.0, float('nan'), float('inf'), 'a', None):
        with pytest.raises(ValueError, match='radius must be a finite, positive number'):
            geodesic_patches(ico.pos, ico.face, r)
    with pytest.raises(ValueError, match='larger than the mesh'):
        geodesic_patches(ico.pos, ico.face, 10.0)
    with pytest.raises(ValueError, match='out of range'):
        geodesic_distance(ico.pos, ico.face, ico.num_nodes)
    with pytest.raises(ValueError, match='out of range'):
        geodesic_distance(ico.pos, ico.face, -1)
    with pytest.raises(ValueError, match=r'face\.t\(\)'):
        geodesic_patches(ico.pos, ico.face.t(), 0.5)


def test_transform_twin_keeps_attributes():
    from torch_geometric.data import Data
    ico = icosphere(1)
    x = torch.randn(ico.num_nodes, 3)
    out = GeodesicPatches(0.9)(Data(pos=ico.pos, face=ico.face, x=x))
    ref = geodesic_patches(ico.pos, ico.face, 0.9)
    assert torch.equal(out.x, x) and torch.equal(out.edge_index, ref.edge_index)
    assert torch.equal(out.edge_coords, ref.edge_coords)


@needs_pp3d
def test_patch_distances_are_the_library_heat_method_on_the_crop():
    # with a margin that makes every crop the whole sphere, each patch's distances are
    # potpourri3d's heat method from its centre (same cotan operators, same heat time; the
    # library's default intrinsic-Delaunay 'robust' Laplacian, which also mollifies edge
    # lengths by 1e-5, is off), to solver precision
    import numpy as np
    import potpourri3d as pp3d
    ico = icosphere(2)
    g = geodesic_patches(ico.pos, ico.face, 0.9, margin=10.0, solver='heat')
    solver = pp3d.MeshHeatMethodDistanceSolver(ico.pos.numpy(), ico.face.t().numpy(), 1.0,
                                               use_robust=False)
    ref = torch.from_numpy(np.stack([solver.compute_distance(i) for i in range(ico.num_nodes)]))
    s, t = g.edge_index
    assert torch.allclose(g.edge_coords[:, 0], ref[t, s] - ref[t, t], rtol=0, atol=1e-8)
    # and the patch is exactly the vertices within the radius (the centre excluded)
    inside = (ref - ref.diagonal().unsqueeze(1) <= 0.9)
    inside.fill_diagonal_(False)
    assert g.edge_index.size(1) == int(inside.sum()) and bool(inside[t, s].all())


@pytest.mark.parametrize('solver', ['fast', 'heat'])
def test_a_sheet_inside_the_ball_but_not_connected_is_not_in_the_patch(solver):
    # two parallel planes 0.05 apart: the Euclidean ball of every crop holds both, the patches
    # only the centre's own sheet, with the distances of the sheet alone
    pos, face = grid(9)
    n = pos.size(0)
    two = torch.cat([pos, pos + torch.tensor([0.0, 0.0, 0.05], dtype=pos.dtype)])
    g2 = geodesic_patches(two, torch.cat([face, face + n], 1), 0.3, solver=solver)
    g1 = geodesic_patches(pos, face, 0.3, solver=solver)
    s, t = g2.edge_index
    assert bool(((s < n) == (t < n)).all())
    low = t < n
    assert torch.equal(g2.edge_index[:, low], g1.edge_index)
    assert torch.allclose(g2.edge_coords[low], g1.edge_coords, atol=1e-7)
    assert torch.allclose(g2.edge_coords[~low], g1.edge_coords, atol=1e-7)


def test_conjugate_gradients_fall_back_to_lu_when_not_positive_definite():
    import numpy as np
    import scipy.sparse as sp

    from gdl_graphs.geodesics.operators import pcg as _pcg
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 30)) + 1j * rng.standard_normal((30, 30))
    b = rng.standard_normal(30) + 1j * rng.standard_normal(30)
    spd = a @ a.conj().T + 30 * np.eye(30)
    indefinite = spd - 60 * np.eye(30)
    for m in (spd, indefinite):
        x = _pcg(sp.csr_matrix(m), b)
        assert np.allclose(m @ x, b, rtol=0, atol=1e-8 * np.abs(b).max())
    assert np.linalg.eigvalsh(indefinite).min() < 0 < np.linalg.eigvalsh(indefinite).max()


@needs_pp3d
def test_the_heat_solver_agrees_with_potpourri3d_on_a_regular_mesh():
    # solver='potpourri3d' runs the library's own solvers (intrinsic Delaunay Laplacian, its
    # intrinsic connection) on the same crops: on a Delaunay mesh the same distances, and angles
    # within the discretisation difference of the two connections
    ico = icosphere(2)
    a = geodesic_patches(ico.pos, ico.face, 0.5, solver='heat')
    b = geodesic_patches(ico.pos, ico.face, 0.5, solver='potpourri3d')
    assert torch.equal(a.edge_index, b.edge_index)
    assert float((a.edge_coords[:, 0] - b.edge_coords[:, 0]).abs().max()) < 1e-5
    assert float(wrap(a.edge_coords[:, 1] - b.edge_coords[:, 1]).abs().max()) < 0.01
    assert float(wrap(a.connection - b.connection).abs().max()) < 0.01
    with pytest.raises(ValueError, match="solver must be one of"):
        geodesic_patches(ico.pos, ico.face, 0.5, solver='exact')
