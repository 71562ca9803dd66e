"""fps, voxel_grid and knn_interpolate against references written here."""
import math

import pytest
import torch

from gdl_graphs.coarsening import fps, grid_cluster, knn_interpolate, voxel_grid


def fps_reference(pos, start, m):
    """O(N^2): full squared-distance table, then the greedy farthest-point loop."""
    table = ((pos.unsqueeze(1) - pos.unsqueeze(0)) ** 2).sum(-1)
    out = [start]
    dist = table[start].clone()
    dist[start] = -1  # never chosen twice
    for _ in range(m - 1):
        i = int(torch.argmax(dist))  # first maximum: ties go to the smaller index
        out.append(i)
        dist = torch.minimum(dist, table[i])
        dist[i] = -1
    return out


@pytest.mark.parametrize('dim', [1, 2, 3])
def test_fps_equals_reference_single(dim):
    pos = torch.rand(200, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(dim))
    out = fps(pos, ratio=0.2, random_start=False)
    assert out.tolist() == fps_reference(pos, 0, 40)
    torch.manual_seed(3)
    out = fps(pos, ratio=0.2, random_start=True)
    assert out.tolist() == fps_reference(pos, int(out[0]), 40)


def test_fps_batches_unsorted_and_ratio_per_example():
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(150, 3, dtype=torch.float64, generator=g)
    batch = torch.randint(0, 4, (150,), generator=g)
    batch[batch == 2] = 3  # example 2 is empty
    out = fps(pos, batch, ratio=0.3, random_start=False)
    expected = []
    for b in range(4):
        idx = (batch == b).nonzero().view(-1)
        if idx.numel():
            m = math.ceil(0.3 * idx.numel())
            expected += idx[fps_reference(pos[idx], 0, m)].tolist()
    assert out.tolist() == expected
    ratio = torch.tensor([0.1, 0.5, 0.5, 1.0])
    out = fps(pos, batch, ratio=ratio, random_start=False)
    sizes = [int((batch[out] == b).sum()) for b in range(4)]
    assert sizes == [math.ceil(float(r) * int((batch == b).sum())) for b, r in enumerate(ratio)]


def test_fps_duplicates_and_full_ratio():
    pos = torch.tensor([[0., 0], [1, 1], [0, 0], [1, 1]], dtype=torch.float64)
    out = fps(pos, ratio=1.0, random_start=False)
    assert out.tolist() == fps_reference(pos, 0, 4) == [0, 1, 2, 3]
    assert fps(torch.rand(10, 2), ratio=1.0, random_start=False).unique().numel() == 10
    # duplicated points with ratio=1: every point exactly once (not [0, 2, 1, 0, 0, 0])
    dup = torch.tensor([[0., 0], [0, 0], [5, 5], [0, 0], [5, 5], [0, 0]])
    for b in (None, torch.tensor([0, 0, 0, 1, 1, 1])):
        out = fps(dup, b, ratio=1.0, random_start=False)
        assert sorted(out.tolist()) == list(range(6))
    assert fps(dup, ratio=1.0, random_start=False).tolist() == [0, 2, 1, 3, 4, 5]
    torch.manual_seed(0)
    assert sorted(fps(dup, ratio=1.0).tolist()) == list(range(6))


def test_fps_float32_matches_reference():
    pos = torch.rand(300, 3, generator=torch.Generator().manual_seed(9))
    assert fps(pos, ratio=0.1, random_start=False).tolist() == fps_reference(pos, 0, 30)


def test_fps_empty_and_bad_input():
    assert fps(torch.empty(0, 3)).numel() == 0
    with pytest.raises(ValueError, match=r'ratio must lie in \(0, 1\]'):
        fps(torch.rand(5, 3), ratio=0.0)
    with pytest.raises(ValueError, match=r'ratio must lie in \(0, 1\]'):
        fps(torch.rand(5, 3), ratio=1.5)
    with pytest.raises(ValueError, match='one ratio per example'):
        fps(torch.rand(5, 3), torch.tensor([0, 0, 1, 1, 2]), ratio=torch.tensor([0.5, 0.5]))
    bad = torch.rand(5, 3)
    bad[0, 0] = math.inf
    with pytest.raises(ValueError, match='NaN or infinite'):
        fps(bad)


def voxel_reference(pos, size, batch, start, end):
    """Mixed-radix floor division, first axis fastest, the example slowest."""
    out = []
    n = [int(math.floor((e - s) / z)) + 1 for s, e, z in zip(start, end, size)]
    for p, b in zip(pos.tolist(), batch.tolist()):
        c, stride = 0, 1
        for d in range(len(p)):
            c += int(math.floor((p[d] - start[d]) / size[d])) * stride
            stride *= n[d]
        out.append(c + b * stride)
    return torch.tensor(out)


def test_voxel_grid_equals_floor_division():
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(100, 3, dtype=torch.float64, generator=g) * 4 - 1
    batch = torch.sort(torch.randint(0, 3, (100,), generator=g)).values
    size = [0.5, 0.7, 1.1]
    start = pos.min(0).values.tolist()
    end = pos.max(0).values.tolist()
    out = voxel_grid(pos, size, batch)
    assert torch.equal(out, voxel_reference(pos, size, batch, start, end))
    out = voxel_grid(pos, 0.5, batch, start=-1.0, end=3.0)
    assert torch.equal(out, voxel_reference(pos, [0.5] * 3, batch, [-1.0] * 3, [3.0] * 3))
    # duplicate points share a voxel; one point per example works
    dup = torch.cat([pos[:5], pos[:5]])
    c = voxel_grid(dup, 0.3)
    assert torch.equal(c[:5], c[5:])
    assert voxel_grid(torch.empty(0, 2), 1.0).numel() == 0


def test_voxel_grid_bad_input():
    pos = torch.rand(10, 2)
    with pytest.raises(ValueError, match='size must be positive'):
        voxel_grid(pos, 0.0)
    with pytest.raises(ValueError, match='outside'):
        voxel_grid(pos, 0.1, start=0.5)
    with pytest.raises(ValueError, match='one value or one per dimension'):
        voxel_grid(pos, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match='64-bit'):
        grid_cluster(pos * 1e6, 1e-12)
    # a voxel size of 1e-20 must not wrap around to ids -9223372036854775808; instead
    p3 = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    for size in (1e-6, 1e-20, 1e-45):
        with pytest.raises(ValueError, match='more than a 64-bit index'):
            voxel_grid(p3, size)
    bad = pos.clone()
    bad[3, 0] = math.nan
    with pytest.raises(ValueError, match='NaN or infinite'):
        voxel_grid(bad, 0.1)


def test_knn_interpolate_equals_reference_and_grads():
    g = torch.Generator().manual_seed(1)
    pos_x = torch.rand(40, 3, dtype=torch.float64, generator=g)
    pos_y = torch.rand(70, 3, dtype=torch.float64, generator=g)
    bx = torch.sort(torch.randint(0, 2, (40,), generator=g)).values
    by = torch.sort(torch.randint(0, 2, (70,), generator=g)).values
    x = torch.randn(40, 5, dtype=torch.float64, generator=g, requires_grad=True)
    out = knn_interpolate(x, pos_x, pos_y, bx, by, k=3)
    rows = []
    for i in range(70):
        d = ((pos_y[i] - pos_x) ** 2).sum(-1).masked_fill(bx != by[i], math.inf)
        idx = torch.argsort(d, stable=True)[:3]
        w = 1 / d[idx].clamp_min(1e-16)
        rows.append((w[:, None] * x[idx]).sum(0) / w.sum())
    ref = torch.stack(rows)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    gout = torch.randn_like(out)
    ga, = torch.autograd.grad(out, x, gout)
    gr, = torch.autograd.grad(ref, x, gout)
    torch.testing.assert_close(ga, gr, rtol=1e-12, atol=1e-12)
    # a coarse point exactly at a fine point: its feature is copied (weight 1e16)
    same = knn_interpolate(x, pos_x, pos_x[:4], k=3)
    torch.testing.assert_close(same, x[:4].detach(), rtol=1e-10, atol=1e-10)


def test_knn_interpolate_extreme_magnitudes():
    """float32 positions at 1e20 (squared distances overflow float32) give the scale-1 result
    (the weights are scale invariant); at 1e-18 every squared distance is below the 1e-16
    clamp, so the weights are equal: the mean of the k nearest."""
    g = torch.Generator().manual_seed(4)
    pos_x, pos_y = torch.rand(30, 3, generator=g), torch.rand(12, 3, generator=g)
    x = torch.randn(30, 2, generator=g)
    ref = knn_interpolate(x.double(), pos_x.double(), pos_y.double(), k=3)
    big = knn_interpolate(x, pos_x * 1e20, pos_y * 1e20, k=3)
    assert torch.allclose(big.double(), ref, rtol=1e-4, atol=1e-5)
    from gdl_graphs.coarsening import knn
    yi, xi = knn(pos_x, pos_y, 3)
    mean = torch.zeros(12, 2, dtype=torch.float64).index_add_(0, yi, x[xi].double()) / 3
    tiny = knn_interpolate(x, pos_x * 1e-18, pos_y * 1e-18, k=3)
    assert torch.allclose(tiny.double(), mean, rtol=1e-5, atol=1e-6)
