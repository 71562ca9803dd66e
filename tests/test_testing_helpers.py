"""``gdl_graphs.testing``'s comparison helpers fail where they must: NaN or infinities at
different positions, a wrong neighbour, a missing or extra radius edge."""
import pytest
import torch

from gdl_graphs.testing import assert_close
from gdl_graphs.testing.euclidean import (
    assert_nearest_neighbours,
    assert_radius_graph,
    pairwise_distances,
)

NAN, INF = float('nan'), float('inf')


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize('actual, expected, message', [
    (t(1., NAN), t(NAN, 1.), r'NaN at index \(0,\) in the expected value only'),
    (t(1., NAN), t(1., 2.), r'NaN at index \(1,\) in the output only'),
    (t(5.), t(INF), r'at index \(0,\) got 5.0, expected inf'),
    (t(INF), t(-INF), r'got inf, expected -inf'),
    (t(INF, 1.), t(1e308, 1.), r'got inf, expected 1e\+308'),
    (t(1., 2.), t(1., 2.1), r'max error 1.000e-01'),
])
def test_assert_close_refuses_mismatched_non_finite_values(actual, expected, message):
    with pytest.raises(AssertionError, match=message):
        assert_close(actual, expected)
    with pytest.raises(AssertionError):
        assert_close((t(0.), actual), (t(0.), expected))


def test_assert_close_accepts_matching_non_finite_values():
    assert_close(t(1., NAN, INF, -INF), t(1. + 1e-12, NAN, INF, -INF))
    assert_close(torch.tensor([1, 2]), torch.tensor([1, 2]))
    with pytest.raises(AssertionError, match='integer tensors differ'):
        assert_close(torch.tensor([1, 2]), torch.tensor([1, 3]))
    with pytest.raises(AssertionError, match='a Tensor vs an expected float'):
        assert_close(t(1.), 1.0)


def test_pairwise_distances_and_neighbour_checks():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, generator=g, dtype=torch.float64) * 1e3
    d = pairwise_distances(pos)
    i, j = 3, 17
    assert float(d[i, j]) == pytest.approx(float((pos[i] - pos[j]).norm()), rel=1e-14)
    assert torch.equal(d, d.T) and float(d.diagonal().abs().max()) == 0.0
    dd = d.clone().fill_diagonal_(INF)
    nb = dd.topk(4, largest=False).indices  # [N, 4]
    ei = torch.stack([nb.reshape(-1), torch.arange(30).repeat_interleave(4)])
    assert_nearest_neighbours(pos, ei, 4)
    wrong = ei.clone()
    wrong[0, 0] = d[0].argmax()  # node 0 gets its farthest point
    with pytest.raises(AssertionError, match='node 0: a source at distance'):
        assert_nearest_neighbours(pos, wrong, 4)
    with pytest.raises(AssertionError, match='expected 4 distinct other points'):
        assert_nearest_neighbours(pos, ei[:, 1:], 4)
    r = float(d[d > 0].median())
    mask = (d <= r) & ~torch.eye(30, dtype=torch.bool)
    dst, src = mask.nonzero().t()
    ei = torch.stack([src, dst])
    assert_radius_graph(pos, ei, r)
    with pytest.raises(AssertionError, match='missing edge'):
        assert_radius_graph(pos, ei[:, 1:], r)
    with pytest.raises(AssertionError, match='extra edge 0 -> 0'):
        assert_radius_graph(pos, torch.cat([ei, torch.zeros(2, 1, dtype=torch.long)], 1), r)
