"""Pointwise functions shared by the models (no message passing here)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f'dropout probability must be in [0, 1], got {p}')
    return float(p)


def _keep_scaled(x: Tensor, p: float, positive_only: bool) -> Tensor:
    keep = torch.rand_like(x) >= p
    if positive_only:
        keep &= x > 0
    return keep.to(x.dtype).mul_(1.0 / (1.0 - p))


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    r"""Inverted dropout, the law of :func:`torch.nn.functional.dropout`: every entry is kept
    with probability :math:`1 - p` and scaled by :math:`1 / (1 - p)`, else zeroed.

    On the CPU the mask comes from uniform numbers (``rand >= p``), about three times cheaper
    than torch's CPU Bernoulli kernel; on other devices this is ``F.dropout`` (a fused kernel).
    The random stream differs from ``F.dropout``'s, the distribution does not."""
    p = _check_p(p)
    if not training or p == 0.0:
        return x
    if p == 1.0 or x.device.type != 'cpu' or not x.is_floating_point():
        return F.dropout(x, p, training=True)
    return x * _keep_scaled(x, p, positive_only=False)


def relu_dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """``dropout(relu(x))`` in one pass over ``x`` (forward and backward): one mask holds both
    the ReLU's and the dropout's zeros. Equal to ``dropout(F.relu(x))`` drawn from the same
    random state."""
    p = _check_p(p)
    if not training or p == 0.0 or p == 1.0 or x.device.type != 'cpu' \
            or not x.is_floating_point():
        return dropout(F.relu(x), p, training)
    return x * _keep_scaled(x, p, positive_only=True)
