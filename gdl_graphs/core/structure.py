"""Graph structure tags and caches.

A converter that knows the structure of the graph it builds (a regular lattice, a complete
graph per set, an edgeless set) tags its ``edge_index`` with :func:`annotate`. The tag rides on
the tensor (a :class:`StructuredIndex`) through ``.to(device)``, ``.clone()`` and
``.contiguous()``; every other operation returns a plain tensor, so a tag can never describe a
graph it was not made for. Layers read it with :func:`structure_of` and may run a dense kernel.

:func:`cached` memoises derived structure (CSR, transposes, type orderings) per index tensor:
built once per graph and device, reused across layers and epochs, and dropped when the tensor is
freed or modified in place.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from torch import Tensor

KINDS = ('lattice', 'complete', 'edgeless', 'path', 'general')


@dataclass(frozen=True)
class Structure:
    """What a converter knows about its graph: ``kind`` and kind-specific ``meta``."""
    kind: str
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'unknown structure kind {self.kind!r}: use one of {KINDS}')

    def to(self, device) -> 'Structure':
        meta = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.meta.items()}
        return Structure(self.kind, meta)


class StructuredIndex(Tensor):
    """An ``edge_index`` that carries its :class:`Structure`."""
    structure: Optional[Structure] = None

    @staticmethod
    def __new__(cls, data: Tensor, structure: Structure):
        out = data.as_subclass(cls)
        out.structure = structure
        return out

    _KEEP = ('to', 'cpu', 'cuda', 'clone', 'contiguous', 'detach', 'pin_memory')

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        name = getattr(func, '__name__', '')
        src = args[0] if args else None
        if (name in cls._KEEP and isinstance(src, StructuredIndex) and isinstance(out, Tensor)
                and out.shape == src.shape and not out.is_floating_point()):
            return StructuredIndex(out, src.structure.to(out.device))
        return out

    def __deepcopy__(self, memo):
        out = StructuredIndex(self.as_subclass(Tensor).clone(), self.structure.to(self.device))
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):  # pickles (and torch.save) as a plain tensor
        return self.as_subclass(Tensor).__reduce_ex__(proto)

    def __repr__(self, *, tensor_contents=None):
        return f'StructuredIndex({self.as_subclass(Tensor)!r}, kind={self.structure.kind!r})'


def annotate(edge_index: Tensor, kind: str, **meta: Any) -> StructuredIndex:
    """Tag ``edge_index`` with its structure, e.g. ``annotate(ei, 'lattice', shape=(B, H, W))``."""
    plain = edge_index.as_subclass(Tensor) if isinstance(edge_index, StructuredIndex) \
        else edge_index
    return StructuredIndex(plain, Structure(kind, dict(meta)))


def structure_of(edge_index: Any) -> Optional[Structure]:
    """The structure an ``edge_index`` carries, or ``None`` for a general graph."""
    return edge_index.structure if isinstance(edge_index, StructuredIndex) else None


def plain(t: Tensor) -> Tensor:
    """The tensor without its tag (no copy)."""
    return t.as_subclass(Tensor) if isinstance(t, StructuredIndex) else t


_cache: Dict[tuple, tuple] = {}


def cached(tensors: Sequence[Tensor], extra: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per identity and version of ``tensors`` (and ``extra``)."""
    if torch.compiler.is_compiling():
        return build()
    key = (tuple(id(t) for t in tensors), extra)
    versions = tuple(t._version for t in tensors)
    entry = _cache.get(key)
    if entry is not None:
        refs, vers, value = entry
        if vers == versions and all(r() is t for r, t in zip(refs, tensors)):
            return value
    value = build()
    # the callback holds the dict itself: module globals may be gone at interpreter exit
    refs = tuple(weakref.ref(t, lambda _, k=key, c=_cache: c.pop(k, None)) for t in tensors)
    _cache[key] = (refs, versions, value)
    return value


def clear_cache() -> None:
    _cache.clear()
