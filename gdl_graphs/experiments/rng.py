"""Seeds and the random state of a process, saved and restored exactly.

A checkpoint keeps every random stream a training step draws from: torch's CPU generator, the
CUDA generators (when CUDA is in use), numpy's and Python's global generators and, optionally,
a loader's own :class:`torch.Generator`. Restoring them makes the resumed run draw the same
numbers as the run that was not interrupted.
"""
from __future__ import annotations

import random
from typing import Any, Dict, Optional

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state(generator: Optional[torch.Generator] = None) -> Dict[str, Any]:
    """The state of every global generator (and of ``generator``), as tensors and plain
    values that ``torch.load(..., weights_only=True)`` reads back."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out: Dict[str, Any] = {
        'torch': torch.get_rng_state(), 'python': random.getstate(),
        'numpy': [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out['cuda'] = torch.cuda.get_rng_state_all()
    if generator is not None:
        out['loader'] = generator.get_state()
    return out


def set_rng_state(state: Dict[str, Any], generator: Optional[torch.Generator] = None) -> None:
    """Restore what :func:`rng_state` returned (``generator`` gets the loader's state)."""
    torch.set_rng_state(state['torch'])
    random.setstate(_tuples(state['python']))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if generator is not None and 'loader' in state:
        generator.set_state(state['loader'])


def _tuples(x):
    # Python's state is a tuple of tuples; a round trip through a checkpoint may give lists
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
