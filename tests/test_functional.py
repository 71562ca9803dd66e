"""The CPU dropout has F.dropout's law; relu_dropout is dropout(relu(x)) in one pass."""
import pytest
import torch
import torch.nn.functional as F

from gdl_graphs.nn.functional import dropout, relu_dropout


@pytest.mark.parametrize('p', [0.1, 0.5, 0.9])
def test_dropout_law_and_gradient(p):
    torch.manual_seed(0)
    x = torch.ones(200_000, dtype=torch.float64, requires_grad=True)
    out = dropout(x, p)
    kept = out != 0
    # the kept fraction is Binomial(n, 1 - p): within 6 standard deviations
    n = x.numel()
    assert abs(kept.double().mean().item() - (1 - p)) < 6 * ((p * (1 - p) / n) ** 0.5)
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # d out / d x is the scaled mask


def test_relu_dropout_equals_dropout_of_relu_from_the_same_state():
    x = torch.randn(500, 30, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(3)
    a = relu_dropout(x, 0.3)
    ga = torch.autograd.grad(a.pow(2).sum(), x)[0]
    torch.manual_seed(3)
    b = dropout(F.relu(x), 0.3)
    gb = torch.autograd.grad(b.pow(2).sum(), x)[0]
    assert torch.equal(a, b) and torch.equal(ga, gb)


def test_eval_and_edge_probabilities():
    x = torch.randn(10, 3)
    assert dropout(x, 0.5, training=False) is x
    assert torch.equal(relu_dropout(x, 0.5, training=False), F.relu(x))
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r'dropout probability must be in \[0, 1\]'):
        dropout(x, 1.5)
