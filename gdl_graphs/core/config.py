"""The core's configuration: fixed per layer at construction, with one context-scoped override.

A layer takes ``kernel``, ``backend`` and ``validate`` as constructor arguments (as e3nn fixes
its code path in ``__init__``). For a block of code (a test, a debugging session) one context
variable overrides them: :func:`use_kernel`, :func:`use_backend` and :func:`validation` set its
fields for the current context (thread or task) and restore them on exit; code compiled with
``torch.compile`` follows the constructor's settings. The core keeps no other mutable module
state.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, replace
from typing import Iterator, Optional

import torch

KERNELS = ('auto', 'generic', 'fused')
BACKENDS = ('torch', 'torch_scatter')


@dataclass(frozen=True)
class Override:
    """Fields set by the context managers; ``None`` leaves the layer's own setting."""
    kernel: Optional[str] = None
    backend: Optional[str] = None
    validate: Optional[bool] = None


_OVERRIDE: contextvars.ContextVar[Override] = contextvars.ContextVar(
    'gdl_graphs_override', default=Override())


def override() -> Override:
    """The override in force in this context."""
    return _OVERRIDE.get()


def check_kernel(name: str) -> str:
    if name not in KERNELS:
        raise ValueError(f'unknown kernel {name!r}: use one of {KERNELS}')
    return name


def check_backend(name: str) -> str:
    from .scatter import available_backends  # noqa: PLC0415 (scatter imports this module)
    if name not in BACKENDS:
        raise ValueError(f"unknown scatter backend {name!r}: use 'torch' or 'torch_scatter'")
    if name not in available_backends():
        raise ValueError("backend 'torch_scatter' is not installed: "
                         "pip install --no-build-isolation torch-scatter")
    return name


@contextlib.contextmanager
def _scoped(**fields) -> Iterator[None]:
    token = _OVERRIDE.set(replace(_OVERRIDE.get(), **fields))
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def use_kernel(name: str) -> contextlib.AbstractContextManager:
    """Run every layer with kernel ``name`` (``'auto'``, ``'generic'`` or ``'fused'``) inside
    the ``with`` block, whatever its constructor said."""
    return _scoped(kernel=check_kernel(name))


def use_backend(name: str) -> contextlib.AbstractContextManager:
    """Scatter with ``'torch'`` or ``'torch_scatter'`` inside the ``with`` block."""
    return _scoped(backend=check_backend(name))


def validation(enabled: bool) -> contextlib.AbstractContextManager:
    """Switch the index checks on or off inside the ``with`` block."""
    return _scoped(validate=bool(enabled))


def _current() -> Override:
    # compiled code follows the constructor's settings: a context variable is not traceable,
    # and a value read while tracing would be baked into the graph without a guard
    return Override() if torch.compiler.is_compiling() else _OVERRIDE.get()


def effective_kernel(own: str = 'auto') -> str:
    k = _current().kernel
    return own if k is None else k


def effective_backend(own: Optional[str] = None) -> str:
    b = _current().backend
    return b if b is not None else (own or 'torch')


def validation_enabled(own: bool = True) -> bool:
    v = _current().validate
    return own if v is None else v
