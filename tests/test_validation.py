"""Bad input gets a ValueError that names the problem, never a crash or silent garbage."""
import pytest
import torch

from gdl_graphs.core import (
    check_finite,
    propagate_linear,
    propagate_typed,
    validation,
)
from gdl_graphs.nn import GraphConv

X = torch.randn(4, 3)


@pytest.mark.parametrize('edge_index,match', [
    (torch.tensor([[0, 1, 2]]), r'shape \[2, E\]'),
    (torch.tensor([[0, 1], [1, 2], [2, 0]]), r'shape \[2, E\], got \[3, 2\]'),
    (torch.tensor([[0.0, 1.0], [1.0, 2.0]]), 'integers'),
    (torch.tensor([[0, -1], [1, 2]]), 'negative node index'),
    (torch.tensor([[0, 7], [1, 2]]), 'node 7.*only 4'),
    ([[0, 1], [1, 2]], 'torch.Tensor'),
])
def test_bad_edge_index(edge_index, match):
    with pytest.raises(ValueError, match=match):
        propagate_linear(edge_index, X)
    with pytest.raises(ValueError, match=match):
        GraphConv(3, 2)(X, edge_index)


def test_x_with_wrong_rows_or_channels():
    edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match='channels but the layer expects 5'):
        propagate_typed(edge_index, torch.tensor([0, 0]), X, torch.randn(1, 5, 2))
    with pytest.raises(ValueError, match='refers to target node 2'):
        propagate_linear(edge_index, X, size=(4, 2))
    with pytest.raises(ValueError, match=r'edge_weight must have shape \[E\]'):
        propagate_linear(edge_index, X, torch.ones(3))
    with pytest.raises(ValueError, match='edge_type holds 3, out of range for 2 edge types'):
        propagate_typed(edge_index, torch.tensor([0, 3]), X, torch.randn(2, 3, 2))


def test_nan_positions_are_named():
    pos = torch.randn(5, 3)
    pos[3, 1] = float('nan')
    with pytest.raises(ValueError, match='pos holds NaN.*row 3'):
        check_finite(pos, 'pos')


def test_validation_can_be_switched_off():
    bad = torch.tensor([[0, -1], [1, 2]])
    with validation(False):
        check_finite(torch.tensor([float('nan')]), 'pos')  # no check when off
        with pytest.raises((IndexError, RuntimeError)):  # torch's own error, not ours
            propagate_linear(bad, X, reduce='max')
    with pytest.raises(ValueError):  # on again after the block
        propagate_linear(bad, X)


def test_unknown_aggregation():
    with pytest.raises(ValueError, match='unknown aggregation'):
        GraphConv(3, 2, aggr='nonsense')  # 'median' is one of PyG's
