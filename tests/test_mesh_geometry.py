"""Mesh graphs: normals, frames, log map, transport, gauge changes, and messy meshes."""
import math

import pytest
import torch
from torch_geometric.data import Batch

from gdl_graphs.core.mesh import (
    rho_rotate,
    smallest_rotation,
    transport_angle,
    types_dim,
    wrap_angle,
)
from gdl_graphs.domains.mesh import (
    ChangeGauge,
    MeshToGraph,
    angle_defect,
    change_gauge,
    mesh_report,
    mesh_to_graph,
    random_gauge,
    sphere_mesh,
    torus_mesh,
    transform_features,
    vertex_normals,
)
from gdl_graphs.testing import assert_close

ATTRS = ('pos', 'normal', 'frame', 'edge_coords', 'connection')



def finite(data):
    return all(bool(torch.isfinite(data[k]).all()) for k in ATTRS)


def check_frames(data):
    n, f = data.normal, data.frame
    assert_close(n.norm(dim=-1), torch.ones_like(n[:, 0]))
    assert_close(f.norm(dim=-1), torch.ones_like(f[..., 0]))
    assert_close((f[:, 0] * f[:, 1]).sum(-1), torch.zeros_like(n[:, 0]), atol=1e-12)
    assert_close((f[:, 0] * n).sum(-1), torch.zeros_like(n[:, 0]), atol=1e-12)
    assert_close(torch.cross(f[:, 0], f[:, 1], dim=-1), n, atol=1e-12)


def grid_patch(nx=5, ny=4, curved=False):
    """An open (boundary) triangulated patch of the plane z = 0, or of a paraboloid."""
    x, y = torch.meshgrid(torch.arange(nx, dtype=torch.float64),
                          torch.arange(ny, dtype=torch.float64), indexing='ij')
    z = 0.1 * (x ** 2 + y ** 2) if curved else torch.zeros_like(x)
    pos = torch.stack([x, y, z], -1).reshape(-1, 3)
    i, j = torch.meshgrid(torch.arange(nx - 1), torch.arange(ny - 1), indexing='ij')
    a, b, c, d = i * ny + j, (i + 1) * ny + j, (i + 1) * ny + j + 1, i * ny + j + 1
    face = torch.cat([torch.stack([a, b, c], -1).reshape(-1, 3),
                      torch.stack([a, c, d], -1).reshape(-1, 3)]).t()
    return pos, face


def test_sphere_normals_frames_and_edges():
    pos, face = sphere_mesh(6, 10)
    data = mesh_to_graph(pos, face)
    rep = mesh_report(pos, face)
    assert rep.closed and not rep.defects()
    # outward normals, close to the radial direction; exact at the poles (symmetric fans)
    assert float((data.normal * pos).sum(-1).min()) > 0.99
    assert_close(data.normal[[0, -1]], pos[[0, -1]], atol=1e-12)
    check_frames(data)
    # both directions of every edge, E = 2 * (3F / 2), sorted by target
    assert data.edge_index.size(1) == 3 * face.size(1)
    ei = data.edge_index
    key = set(map(tuple, ei.t().tolist()))
    assert all((j, i) in key for i, j in key)
    assert bool((ei[1][1:] >= ei[1][:-1]).all())
    assert_close(data.edge_coords[:, 0], (pos[ei[0]] - pos[ei[1]]).norm(dim=-1))
    # Gauss-Bonnet: the angle defects of a sphere sum to 4 pi
    assert abs(float(angle_defect(pos, face).sum()) - 4 * math.pi) < 1e-10


def test_planar_log_map_and_transport_are_exact():
    """On a plane, theta is the angle of p_j - p_i in the frame of i, and the transport maps
    a constant vector field onto itself: angle_j + g_{j->i} = angle_i."""
    pos, face = grid_patch()
    data = mesh_to_graph(pos, face)
    data = change_gauge(data, random_gauge(data.num_nodes, torch.Generator().manual_seed(1)))
    src, dst = data.edge_index
    d = pos[src] - pos[dst]
    f = data.frame[dst]
    theta = torch.atan2((d * f[:, 1]).sum(-1), (d * f[:, 0]).sum(-1))
    assert_close(torch.cos(data.edge_coords[:, 1] - theta), torch.ones_like(theta))
    v = torch.tensor([0.3, -0.8, 0.0], dtype=torch.float64)
    ang = torch.atan2((data.frame[:, 1] * v).sum(-1), (data.frame[:, 0] * v).sum(-1))
    err = wrap_angle(ang[src] + data.connection - ang[dst])
    assert_close(err, torch.zeros_like(err), atol=1e-12)


def test_connection_is_antisymmetric_and_theta_consistent():
    pos, face = torus_mesh(10, 6)
    data = mesh_to_graph(pos + 0.03 * torch.randn(pos.shape, generator=torch.Generator()
                                                  .manual_seed(0), dtype=pos.dtype), face)
    ei = data.edge_index
    n = data.num_nodes
    key = ei[0] * n + ei[1]
    rev = torch.argsort(key)[torch.searchsorted(key.sort().values, ei[1] * n + ei[0])]
    assert torch.equal(ei[:, rev], ei.flip(0))
    s = wrap_angle(data.connection + data.connection[rev])
    assert_close(s, torch.zeros_like(s), atol=1e-12)
    check_frames(data)


def test_change_gauge_matches_recomputed_geometry():
    """Rotating the frames and recomputing everything from scratch equals change_gauge."""
    from gdl_graphs.core.mesh import edge_geometry, rotate_frame
    pos, face = torus_mesh(8, 5)
    data = mesh_to_graph(pos, face)
    a = random_gauge(data.num_nodes, torch.Generator().manual_seed(3))
    new = change_gauge(data, a)
    frame = rotate_frame(data.frame, a)
    coords, conn = edge_geometry(data.pos, data.normal, frame, data.edge_index)
    assert_close(new.frame, frame)
    for got, want in ((new.edge_coords[:, 1], coords[:, 1]), (new.connection, conn)):
        assert_close(torch.cos(got), torch.cos(want), atol=1e-12)
        assert_close(torch.sin(got), torch.sin(want), atol=1e-12)
    assert_close(new.edge_coords[:, 0], data.edge_coords[:, 0])
    # a gauge change and its inverse
    back = change_gauge(new, -a)
    assert_close(torch.sin(back.connection - data.connection),
                 torch.zeros_like(conn), atol=1e-12)


def test_feature_transformation_is_a_representation():
    types = (2, 3, 1)
    x = torch.randn(7, types_dim(types), dtype=torch.float64)
    a, b = torch.rand(7, dtype=torch.float64), torch.rand(7, dtype=torch.float64)
    assert_close(transform_features(transform_features(x, a, types), b, types),
                 transform_features(x, a + b, types))
    y = transform_features(x, a, types)
    assert_close(y[:, :2], x[:, :2])                              # rho_0 invariant
    z = x[:, 2:8].view(7, 3, 2)
    want = torch.view_as_real(torch.view_as_complex(z.contiguous()) *
                              torch.exp(-1j * a).view(-1, 1)).reshape(7, 6)
    assert_close(y[:, 2:8], want)                                 # rho_1: exp(-i a) z
    z2 = torch.view_as_complex(x[:, 8:10].contiguous()) * torch.exp(-2j * a)
    assert_close(y[:, 8:10], torch.view_as_real(z2))              # rho_2: exp(-2 i a) z
    with pytest.raises(ValueError, match='channels'):
        transform_features(x[:, :5], a, types)
    with pytest.raises(ValueError, match='multiplicities'):
        transform_features(x, a, (-1, 2))


def test_change_gauge_transform_and_features():
    pos, face = torus_mesh(6, 4)
    data = mesh_to_graph(pos, face)
    data.x = torch.randn(data.num_nodes, 5, dtype=torch.float64)
    out = ChangeGauge(types=(1, 2), seed=4)(data)
    a = random_gauge(data.num_nodes, torch.Generator().manual_seed(4))
    assert_close(out.x, transform_features(data.x, a, (1, 2)))
    with pytest.raises(ValueError, match='one angle per vertex'):
        change_gauge(data, torch.zeros(3))
    bare = data.clone()
    del bare.connection
    with pytest.raises(ValueError, match='mesh_to_graph'):
        change_gauge(bare, a)


def test_open_mesh_with_boundary():
    pos, face = grid_patch(curved=True)
    rep = mesh_report(pos, face)
    assert rep.boundary_edges == 2 * (4 + 3) and not rep.defects()
    data = mesh_to_graph(pos, face, repair=False)   # boundaries are no defect
    assert finite(data)
    check_frames(data)
    assert bool((data.normal[:, 2] > 0).all())      # faces are counter-clockwise from above


def test_non_manifold_edge_is_kept():
    pos = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.0]],
                       dtype=torch.float64)
    face = torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4]]).t()   # three faces on edge 0-1
    rep = mesh_report(pos, face)
    assert rep.non_manifold_edges == 1
    data = mesh_to_graph(pos, face)
    assert finite(data) and data.edge_index.size(1) == 2 * 7
    check_frames(data)
    with pytest.raises(ValueError, match='1 non manifold edges'):
        mesh_to_graph(pos, face, repair=False)


def test_duplicate_and_degenerate_faces_are_removed():
    pos, face = torus_mesh(6, 4)
    f = face.t()
    extra = torch.stack([f[0], f[1].flip(0), torch.tensor([2, 2, 5]),
                         torch.tensor([3, 7, 3])])
    messy = torch.cat([f, extra]).t()
    rep = mesh_report(pos, messy)
    assert (rep.duplicate_faces, rep.degenerate_faces) == (2, 2)
    clean = mesh_to_graph(pos, face)
    data = mesh_to_graph(pos, messy)
    assert torch.equal(data.face, clean.face) and torch.equal(data.edge_index, clean.edge_index)
    assert_close(data.connection, clean.connection)
    with pytest.raises(ValueError, match='2 duplicate faces, 2 degenerate faces'):
        mesh_to_graph(pos, messy, repair=False)


def test_zero_area_faces_and_coincident_vertices_stay_finite():
    pos = torch.tensor([[0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 1, 0], [1, 1, 0]],
                       dtype=torch.float64)
    face = torch.tensor([[0, 1, 2], [0, 1, 3], [1, 2, 4], [3, 4, 1]]).t()  # collinear, twins
    rep = mesh_report(pos, face)
    assert rep.zero_area_faces == 2
    data = mesh_to_graph(pos, face)
    assert finite(data)
    check_frames(data)
    with pytest.raises(ValueError, match='zero area faces'):
        mesh_to_graph(pos, face, repair=False)
    # float32 gives the same normals (a zero-area face adds nothing, it does not poison them)
    q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(0)))[0]
    q = q * torch.linalg.det(q)                     # a rotation: the plane is tilted
    tilted = mesh_to_graph(pos @ q.T, face)
    single = mesh_to_graph((pos @ q.T).float(), face)
    assert finite(single)
    assert_close(tilted.normal[:5], q[:, 2].expand(5, 3), atol=1e-12)
    assert_close(single.normal.double(), tilted.normal, atol=1e-5, rtol=1e-5)


def test_unreferenced_vertices_kept_or_removed():
    pos, face = torus_mesh(6, 4)
    pos = torch.cat([pos[:5], torch.tensor([[9.0, 9, 9]], dtype=pos.dtype), pos[5:]])
    face = torch.where(face >= 5, face + 1, face)
    assert mesh_report(pos, face).unreferenced_vertices == 1
    data = mesh_to_graph(pos, face)
    assert finite(data) and data.num_nodes == pos.size(0)
    assert_close(data.normal[5], torch.tensor([0, 0, 1.0], dtype=pos.dtype))
    assert not bool((data.edge_index == 5).any())
    small = mesh_to_graph(pos, face, remove_unreferenced=True)
    assert small.num_nodes == pos.size(0) - 1
    assert torch.equal(small.vertex_id, torch.cat([torch.arange(5), torch.arange(6, 25)]))
    assert_close(small.pos, pos[small.vertex_id])
    with pytest.raises(ValueError, match='1 unreferenced vertices'):
        mesh_to_graph(pos, face, repair=False)


def test_cancelling_normals_and_antipodal_transport_are_finite():
    # two coplanar triangles with opposite orientations: the normals of vertex 0, 1 cancel
    pos = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=torch.float64)
    face = torch.tensor([[0, 1, 2], [0, 1, 3]]).t()
    data = mesh_to_graph(pos, face)
    assert finite(data)
    check_frames(data)
    n = torch.tensor([[0, 0, 1.0]], dtype=torch.float64)
    fr = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]], dtype=torch.float64)
    g = transport_angle(n, fr, -n, torch.stack([fr[:, 0], -fr[:, 1]], 1))
    assert bool(torch.isfinite(g).all())
    v = torch.tensor([[0.2, 0.7, 0.0]], dtype=torch.float64)
    out = smallest_rotation(v, n, -n, fr[:, 0])
    assert_close((out * -n).sum(-1), torch.zeros(1, dtype=torch.float64))   # tangent at dst


def test_bad_input_is_reported():
    pos, face = torus_mesh(4, 3)
    with pytest.raises(ValueError, match='face index out of range.*refers to vertex 12'):
        mesh_to_graph(pos, torch.cat([face, torch.tensor([[0], [1], [12]])], 1))
    with pytest.raises(ValueError, match='negative vertex index'):
        mesh_to_graph(pos, torch.cat([face, torch.tensor([[0], [1], [-1]])], 1))
    with pytest.raises(ValueError, match='not triangles'):
        mesh_to_graph(pos, torch.zeros(4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match='integer'):
        mesh_to_graph(pos, face.double())
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        mesh_to_graph(pos[:, :2], face)
    bad = pos.clone()
    bad[3, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        mesh_to_graph(bad, face)
    # one layout, PyG's [3, F]: [F, 3] is refused with the fix, never guessed
    with pytest.raises(ValueError, match=r'\[3, F\].*face\.t\(\)'):
        mesh_to_graph(pos, face.t())


def test_three_faces_are_read_in_pyg_layout_only():
    # F = 3: a [3, 3] tensor is ambiguous, so it is always [3, F] (column f = face f)
    pos = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
                       dtype=torch.float64)
    rows = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 1]])          # [F, 3]
    data = mesh_to_graph(pos, rows.t())
    assert sorted(map(sorted, data.face.t().tolist())) == sorted(map(sorted, rows.tolist()))
    # read as [3, F]: the columns (0,0,0), (1,2,3), (2,3,1) are the faces: one degenerate, one
    # duplicate of (1,2,3)
    assert mesh_report(pos, rows).degenerate_faces == 1
    assert mesh_to_graph(pos, rows).face.t().tolist() == [[1, 2, 3]]


def test_repair_false_refuses_duplicate_vertices_and_flipped_faces():
    pos = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=torch.float64)
    good = torch.tensor([[0, 1, 2], [1, 3, 2]]).t()
    assert mesh_to_graph(pos, good, repair=False).num_nodes == 4
    flipped = torch.tensor([[0, 1, 2], [1, 2, 3]]).t()               # edge 1->2 used twice
    rep = mesh_report(pos, flipped)
    assert rep.flipped_faces == 1 and mesh_report(pos, good).flipped_faces == 0
    with pytest.raises(ValueError, match='1 flipped faces'):
        mesh_to_graph(pos, flipped, repair=False)
    dup = torch.cat([pos, pos[:1]])
    face = torch.tensor([[0, 1, 2], [1, 3, 2], [4, 1, 3]]).t()
    assert mesh_report(dup, face).duplicate_vertices == 1
    with pytest.raises(ValueError, match='1 duplicate vertices'):
        mesh_to_graph(dup, face, repair=False)
    assert mesh_to_graph(dup, face).num_nodes == 5                     # repair=True keeps them


def test_transform_twin_and_batching():
    from torch_geometric.data import Data
    pos, face = sphere_mesh(4, 6)
    d = MeshToGraph()(Data(pos=pos, face=face, y=torch.tensor([1])))
    assert d.y.item() == 1 and d.connection.numel() == d.edge_index.size(1)
    b = Batch.from_data_list([d, d])
    assert b.frame.shape == (2 * d.num_nodes, 2, 3)
    assert b.edge_coords.shape == (2 * d.edge_index.size(1), 2)
    assert_close(vertex_normals(pos, face), d.normal)


def test_rho_rotate_scalar_angle_and_float32():
    x = torch.randn(4, 5)
    y = rho_rotate(x, torch.tensor(0.3), (1, 2))
    assert y.dtype == torch.float32 and torch.equal(y[:, 0], x[:, 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_mesh_to_graph_cuda_matches_cpu():
    pos, face = torus_mesh(12, 8)
    cpu = mesh_to_graph(pos, face)
    gpu = mesh_to_graph(pos.cuda(), face.cuda())
    assert torch.equal(gpu.edge_index.cpu(), cpu.edge_index)
    for k in ATTRS:
        assert_close(gpu[k].cpu(), cpu[k], atol=1e-12)


def face_holonomy(data):
    """Transport around every face (a -> b -> c -> a), wrapped to (-pi, pi]."""
    n, ei = data.num_nodes, data.edge_index
    key = ei[0] * n + ei[1]
    order = torch.argsort(key)
    sk = key[order]

    def g(a, b):
        return data.connection[order[torch.searchsorted(sk, a * n + b)]]
    a, b, c = data.face
    return wrap_angle(g(a, b) + g(b, c) + g(c, a))


def test_holonomy_is_curvature_discrete_gauss_bonnet():
    """The connection is Levi-Civita: around each face of the unit sphere it rotates vectors
    counter-clockwise by about the enclosed area (Gaussian curvature 1), and the holonomies
    of all faces sum to 2 pi chi (4 pi for the sphere, 0 for the torus)."""
    from gdl_graphs.domains.sphere import icosphere
    ico = icosphere(3)
    data = mesh_to_graph(ico.pos, ico.face)
    hol = face_holonomy(data)
    p, (a, b, c) = data.pos, data.face
    area = 0.5 * torch.cross(p[b] - p[a], p[c] - p[a], dim=-1).norm(dim=-1)
    ratio = hol / area
    assert 0.9 < float(ratio.min()) and float(ratio.max()) < 1.1
    assert abs(float(hol.sum()) - 4 * math.pi) < 1e-10
    pos, face = torus_mesh(16, 8)
    pos = pos + 0.02 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(2),
                                   dtype=pos.dtype)
    assert abs(float(face_holonomy(mesh_to_graph(pos, face)).sum())) < 1e-10
