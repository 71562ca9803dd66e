"""Models by name: ``create('gin-virtual', hidden_channels=300, ...)``.

A model module registers its factories with :func:`register` when it is imported;
:func:`get` imports :mod:`gdl_graphs.models` first, so every packaged model is known.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch

Factory = Callable[..., torch.nn.Module]
_REGISTRY: Dict[str, Factory] = {}


def register(name: str, factory: Optional[Factory] = None):
    """Register ``factory`` (a class or function returning a module) as ``name``; usable as a
    decorator (``@register('gin')``). A name can be registered once."""
    def add(f: Factory) -> Factory:
        if not isinstance(name, str) or not name:
            raise ValueError(f'a model name must be a non-empty string, got {name!r}')
        if name in _REGISTRY and _REGISTRY[name] is not f:
            raise ValueError(f'model name {name!r} is already registered: pick another name')
        _REGISTRY[name] = f
        return f
    return add if factory is None else add(factory)


def _load_packaged() -> None:
    import gdl_graphs.models  # noqa: F401  (registers the packaged models)


def available() -> List[str]:
    """The registered model names, sorted."""
    _load_packaged()
    return sorted(_REGISTRY)


def get(name: str) -> Factory:
    """The factory registered as ``name``."""
    _load_packaged()
    if name not in _REGISTRY:
        raise ValueError(f'unknown model {name!r}: use one of {", ".join(sorted(_REGISTRY))}')
    return _REGISTRY[name]


def create(name: str, **kwargs) -> torch.nn.Module:
    """Build the model registered as ``name`` with ``kwargs``."""
    return get(name)(**kwargs)


__all__ = ['register', 'available', 'get', 'create']
