"""Public validators for point sets: every search of :mod:`gdl_graphs.geometry` (and the
layers and converters that build graphs from positions) checks its inputs with these, so a bad
input gives the same one-line ``ValueError`` everywhere.

- :func:`check_points`: positions ``[N, D]`` (a 1-D tensor is ``[N, 1]``), floating point,
  finite, at least one coordinate. Positions that require grad are accepted: the searches
  return indices, so they read ``x.detach()`` (as torch-cluster does) and the graph carries no
  gradient; compute differentiable edge attributes from the original tensor afterwards.
- :func:`check_batch`: the example index of every point, a 1-D integer tensor (``None``: one
  example), non-negative. Ids need not be consecutive nor small: ``2**60`` and ``2**60 + 1``
  are two examples.
- :func:`check_k`: a positive integer (a Python, NumPy or one-element integer tensor).
- :func:`check_r`: a positive, finite radius.
"""
from __future__ import annotations

import math
import numbers
import operator
from typing import Optional

import torch
from torch import Tensor

from ..core.validate import check_finite

__all__ = ['check_points', 'check_batch', 'check_k', 'check_r']

_INT_DTYPES = (torch.long, torch.int32, torch.int16, torch.uint8, torch.int8)


def check_points(x: Tensor, name: str = 'pos') -> Tensor:
    """``x`` as ``[N, D]`` floating positions, detached from autograd; a ``ValueError``
    naming ``name`` for anything else (not a tensor, wrong rank, integers, no coordinate,
    NaN or inf)."""
    if not isinstance(x, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor of positions [N, D], '
                         f'got {type(x).__name__}')
    x = x.detach()
    if x.dim() == 1:
        x = x.view(-1, 1)
    if x.dim() != 2:
        raise ValueError(f'{name} must have shape [N, D] (one row per point), '
                         f'got {list(x.shape)}')
    if not x.is_floating_point():
        raise ValueError(f'{name} must be a floating point tensor, got {x.dtype}; '
                         f'convert with .float()')
    if x.size(1) == 0:
        raise ValueError(f'{name} has shape {list(x.shape)}: points need at least one '
                         f'coordinate')
    check_finite(x, name)
    return x


def check_batch(batch: Optional[Tensor], n: int, device=None, name: str = 'batch') -> Tensor:
    """The example index of each of ``n`` points as a long tensor (zeros for ``None``)."""
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device)
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != n:
        shape = list(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise ValueError(f'{name} must be a 1-D tensor with one entry per point ({n}), '
                         f'got {shape}')
    if batch.dtype not in _INT_DTYPES:
        raise ValueError(f'{name} must hold integers, got {batch.dtype}')
    batch = batch.long()
    if n and int(batch.min()) < 0:
        raise ValueError(f'{name} holds a negative example index')
    return batch


def check_k(k, name: str = 'k') -> int:
    """``k`` as a positive Python ``int`` (``int``, ``np.int64``, a one-element integer
    tensor)."""
    value = None
    if isinstance(k, Tensor):
        if k.numel() == 1 and not k.is_floating_point() and k.dtype != torch.bool:
            value = int(k)
    elif isinstance(k, numbers.Integral) and not isinstance(k, bool):
        value = operator.index(k)
    if value is None:
        raise ValueError(f'{name} must be a positive integer, got {k!r}')
    if value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value}')
    return value


def check_r(r, name: str = 'r') -> float:
    """``r`` as a positive, finite ``float``."""
    try:
        value = float(r)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a positive, finite radius, got {r!r}') from None
    if not value > 0 or math.isinf(value):  # also catches NaN
        raise ValueError(f'{name} must be a positive, finite radius, got {value}')
    return value
