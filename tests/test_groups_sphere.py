"""The icosphere mesh and its 60 icosahedral rotations as vertex permutations."""
import pytest
import torch

from gdl_graphs.domains.sphere import icosahedral_rotations, icosphere
from gdl_graphs.testing import Permutation, assert_close


def edge_set(ei):
    return set(map(tuple, ei.t().tolist()))


def face_set(face):  # faces as oriented cycles: rotate each so its smallest vertex is first
    out = set()
    for a, b, c in face.t().tolist():
        k = [a, b, c].index(min(a, b, c))
        out.add(tuple([a, b, c][k:] + [a, b, c][:k]))
    return out


@pytest.mark.parametrize('s', [0, 1, 2, 3])
def test_icosphere_mesh(s):
    d = icosphere(s)
    v, f, m = 10 * 4 ** s + 2, 20 * 4 ** s, 30 * 4 ** s
    assert d.pos.shape == (v, 3) and d.face.shape == (3, f) and d.edge_index.shape == (2, 2 * m)
    assert d.num_nodes == v and d.pos.dtype == torch.float64
    assert v - m + f == 2  # Euler characteristic of the sphere
    assert_close(d.pos.norm(dim=1), torch.ones(v, dtype=torch.float64), atol=1e-12)
    ei = d.edge_index
    assert bool((ei[0] != ei[1]).all())
    es = edge_set(ei)
    assert len(es) == 2 * m and all((b, a) in es for a, b in es)
    # the edges are exactly the sides of the faces, each side shared by two faces, opposite
    sides = {}
    for a, b, c in d.face.t().tolist():
        for p, q in ((a, b), (b, c), (c, a)):
            assert (p, q) not in sides  # consistent orientation: each directed side once
            sides[(p, q)] = True
    assert set(sides) == es
    # outward orientation and no degenerate triangle
    a, b, c = (d.pos[d.face[k]] for k in range(3))
    normal = torch.cross(b - a, c - a, dim=1)
    assert bool(((normal * (a + b + c)).sum(1) > 1e-6).all())
    # near-uniform: edge lengths within a factor 1.3 of each other
    length = (d.pos[ei[0]] - d.pos[ei[1]]).norm(dim=1)
    assert float(length.max() / length.min()) < 1.3
    assert icosphere(s, dtype=torch.float32).pos.dtype == torch.float32


@pytest.mark.parametrize('s', [0, 1])
def test_icosahedral_rotations_are_isometries_of_the_vertex_set(s):
    d = icosphere(s)
    rots, perms = icosahedral_rotations(s)
    assert rots.shape == (60, 3, 3) and perms.shape == (60, d.num_nodes)
    eye = torch.eye(3, dtype=torch.float64)
    assert_close(rots[0], eye, atol=0.0)
    assert torch.equal(perms[0], torch.arange(d.num_nodes))
    assert_close(rots @ rots.transpose(1, 2), eye.expand(60, 3, 3), atol=1e-12)  # BLAS
    assert_close(torch.linalg.det(rots), torch.ones(60, dtype=torch.float64), atol=1e-12)
    dist = (d.pos[:, None] - d.pos[None]).norm(dim=-1)  # no BLAS path
    es, fs = edge_set(d.edge_index), face_set(d.face)
    for g in range(60):
        p = perms[g]
        assert torch.equal(torch.sort(p).values, torch.arange(d.num_nodes))  # a bijection
        moved = d.pos @ rots[g].T
        assert_close(moved, d.pos[p], atol=1e-12)                             # R v_i = v_p(i)
        assert_close(dist[p][:, p], dist, atol=1e-12)                         # an isometry
        relabelled = Permutation(p).data(d)
        assert edge_set(relabelled.edge_index) == es                          # mesh preserved
        assert face_set(relabelled.face) == fs                                # (with orientation)
    # 60 distinct elements forming a group: A5 has 1 + 15 + 20 + 24 elements of order 1, 2, 3, 5
    keys = {tuple(p.tolist()) for p in perms}
    assert len(keys) == 60
    for g in range(0, 60, 7):
        for h in range(0, 60, 11):
            assert tuple(perms[h][perms[g]].tolist()) in keys  # closed under composition
    counts = {}
    for g in range(60):
        k, q = 1, rots[g]
        while not torch.allclose(q, eye, atol=1e-12):
            k, q = k + 1, q @ rots[g]
        counts[k] = counts.get(k, 0) + 1
    assert counts == {1: 1, 2: 15, 3: 20, 5: 24}


def test_signal_rotation_formula():
    d = icosphere(1)
    rots, perms = icosahedral_rotations(1)
    f = lambda p: p[:, 0] + 2 * p[:, 1] ** 2 - p[:, 2] * p[:, 0]  # noqa: E731
    sig = f(d.pos)
    for g in (5, 17, 42):
        # (g f)(v) = f(R^-1 v), sampled at the vertices
        assert_close(sig[perms[g].argsort()], f(d.pos @ rots[g]), atol=1e-12)


@pytest.mark.parametrize('bad', [-1, 1.5, True, 9, '2'])
def test_bad_subdivisions(bad):
    with pytest.raises(ValueError, match='subdivisions'):
        icosphere(bad)
