"""The public validators of gdl_graphs.geometry and the inputs every search accepts: NumPy
integers for k, positions that require grad (the graph is computed on detached positions,
as torch-cluster does), and sparse example ids (2**60 and 2**60 + 1 are two examples).
The old import paths (gdl_graphs.coarsening.neighbors / fps / voxel) still work."""
import numpy as np
import pytest
import torch

from gdl_graphs.domains.pointcloud import to_graph
from gdl_graphs.geometry import (
    check_batch,
    check_k,
    check_points,
    check_r,
    fps,
    knn,
    knn_graph,
    radius,
    radius_graph,
    voxel_grid,
)
from gdl_graphs.geometry import search as nb


def _brute_knn_graph(x, k, batch):
    d = torch.cdist(x.double(), x.double())
    d[batch[:, None] != batch[None, :]] = float('inf')
    d.fill_diagonal_(float('inf'))
    nbr = d.topk(k, largest=False).indices
    return {(int(j), i) for i in range(x.size(0)) for j in nbr[i]}


@pytest.mark.parametrize('method', ['kdtree', 'torch'])
def test_huge_example_ids_stay_apart(monkeypatch, method):
    monkeypatch.setattr(nb, '_CPU_METHOD', method)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([2 ** 60] * 10 + [2 ** 60 + 1] * 10)
    ei = knn_graph(x, 5, batch=batch)
    assert ei.size(1) == 100
    assert {(int(a), int(b)) for a, b in ei.t()} == _brute_knn_graph(x, 5, batch)
    # the same graph as with ids 0 and 1
    assert torch.equal(ei, knn_graph(x, 5, batch=(batch - 2 ** 60)))
    r = radius(x, x, 0.5, batch, batch)
    assert bool((batch[r[0]] == batch[r[1]]).all())
    assert torch.equal(r, radius(x, x, 0.5, batch - 2 ** 60, batch - 2 ** 60))


def test_huge_example_ids_in_pointcloud_to_graph():
    x = torch.rand(8, 3, dtype=torch.float64)
    batch = torch.tensor([2 ** 60] * 4 + [2 ** 60 + 1] * 4)
    ei = to_graph(x, k=2, batch=batch).edge_index
    assert bool((batch[ei[0]] == batch[ei[1]]).all())
    same = x.clone()
    same[4:] = 0.5
    with pytest.raises(ValueError, match=f'example {2 ** 60 + 1}'):
        to_graph(same, k=2, batch=batch)


def test_positions_that_require_grad_are_accepted():
    g = torch.Generator().manual_seed(1)
    base = torch.rand(30, 3, generator=g, dtype=torch.float64)
    x = base.clone().requires_grad_()
    assert torch.equal(knn_graph(x, 4), knn_graph(base, 4))
    assert torch.equal(knn(x, x[:5], 3), knn(base, base[:5], 3))
    assert torch.equal(radius(x, x[:5], 0.4), radius(base, base[:5], 0.4))
    assert torch.equal(radius_graph(x, 0.4), radius_graph(base, 0.4))
    assert torch.equal(fps(x, random_start=False), fps(base, random_start=False))
    assert torch.equal(voxel_grid(x, 0.25), voxel_grid(base, 0.25))
    data = to_graph(x, k=4)
    assert torch.equal(data.edge_index, knn_graph(base, 4))
    # the graph is indices; edge vectors from the original positions keep the gradient
    s, t = data.edge_index
    (data.pos[s] - data.pos[t]).norm(dim=1).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize('k', [np.int64(3), np.int32(3), torch.tensor(3), 3])
def test_k_accepts_any_integer_type(k):
    x = torch.rand(10, 2, dtype=torch.float64)
    assert torch.equal(knn_graph(x, k), knn_graph(x, 3))
    assert check_k(k) == 3 and type(check_k(k)) is int


@pytest.mark.parametrize('k', [0, -1, 2.0, np.float64(2), True, torch.tensor(2.0), 'a'])
def test_bad_k_is_one_value_error(k):
    with pytest.raises(ValueError, match='k must be a positive integer'):
        knn_graph(torch.rand(5, 2), k)


def test_validators():
    x = torch.rand(4, 2, requires_grad=True)
    out = check_points(x, 'x')
    assert not out.requires_grad and out.data_ptr() == x.data_ptr()
    assert check_points(torch.rand(4), 'x').shape == (4, 1)
    for bad, msg in [(torch.zeros(2, 2, dtype=torch.long), 'floating'),
                     (torch.tensor([[float('nan'), 0.0]]), 'x'), ([[0.0]], 'torch.Tensor')]:
        with pytest.raises(ValueError, match=msg):
            check_points(bad, 'x')
    assert torch.equal(check_batch(None, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='one entry per point'):
        check_batch(torch.zeros(2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match='negative'):
        check_batch(torch.tensor([0, -1]), 2)
    assert check_r(np.float32(0.5)) == 0.5
    for bad in (0, -1, float('nan'), float('inf'), 'x', None):
        with pytest.raises(ValueError, match='r must be a positive, finite radius'):
            check_r(bad)


def test_old_import_paths_are_aliases():
    from gdl_graphs import geometry
    from gdl_graphs.coarsening import fps as old_fps
    from gdl_graphs.coarsening import knn_graph as old_knn_graph
    from gdl_graphs.coarsening.neighbors import knn as old_knn
    from gdl_graphs.coarsening.voxel import voxel_grid as old_voxel_grid
    assert old_knn is geometry.knn and old_knn_graph is geometry.knn_graph
    assert old_fps is geometry.fps and old_voxel_grid is geometry.voxel_grid
