"""Graph structure tags and caches.

A converter that knows the structure of the graph it builds (a regular lattice, a complete
graph per set, an edgeless set) tags its ``edge_index`` with :func:`annotate`. The tag is a
plain attribute of that tensor (not a tensor subclass, so ``torch.compile(fullgraph=True)``
traces it and PyG sees an ordinary ``edge_index``). It survives what returns the same tensor
(``.to()`` onto the device it is on, ``.contiguous()``); every operation that makes a new tensor
(``clone``, ``copy.deepcopy``, ``torch.save``, a device move, slicing, ``Batch``) drops it, so a tag
can never
describe a graph it was not made for (restore it with the domain's ``tag_*`` helper, e.g.
:func:`gdl_graphs.domains.tag_lattice`). The core reads it inside ``propagate`` and may run a
dense kernel.

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
    #: the converter's own ``edge_type`` (identity marks it; other edge types are honoured)
    edge_type: Optional[Tensor] = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'unknown structure kind {self.kind!r}: use one of {KINDS}')

    def __reduce__(self):
        # a saved graph is an untagged graph (torch.load(weights_only=True) reads it)
        return (dict, ())

    def to(self, device) -> 'Structure':
        meta = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.meta.items()}
        et = None if self.edge_type is None else self.edge_type.to(device)
        return Structure(self.kind, meta, et)


_ATTR = 'gdl_structure'


def annotate(edge_index: Tensor, kind: str, **meta: Any) -> Tensor:
    """Tag ``edge_index`` with its structure, e.g. ``annotate(ei, 'lattice', shape=(B, H, W))``.

    Returns a view of ``edge_index`` (same storage, the input is left untagged) that carries
    the :class:`Structure` as a plain attribute: ``torch.compile`` traces it (fullgraph), and
    any operation that makes a new tensor drops it."""
    out = edge_index.view(edge_index.shape)
    meta = dict(meta)
    edge_type = meta.pop('edge_type', None)
    setattr(out, _ATTR, Structure(kind, meta, edge_type))
    return out


def structure_of(edge_index: Any) -> Optional[Structure]:
    """The structure an ``edge_index`` carries, or ``None`` for a general graph."""
    tag = getattr(edge_index, _ATTR, None) if isinstance(edge_index, Tensor) else None
    return tag if isinstance(tag, Structure) else None


def plain(t: Tensor) -> Tensor:
    """The tensor without its tag (a view; no copy)."""
    return t.view(t.shape) if structure_of(t) is not None else t


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
