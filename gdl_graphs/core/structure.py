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

:func:`cached` memoises derived structure (CSR, transposes, type orderings) on the index tensor
itself: built once per graph and device, reused across layers and epochs, freed with the tensor,
and rebuilt whenever the tensor's content changes, in place or behind torch's back.
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


# -- caches ------------------------------------------------------------------------------------
# A derived structure (CSR, transpose, type ordering, a validation pass) is kept in a dict on
# the tensor object it was derived from, so it lives and dies with that tensor: no global table,
# no identity that a new tensor could reuse. An entry is returned only while every tensor it
# was built from still has the same storage address, version counter, shape, strides and
# content fingerprint (a 64-bit position-mixing hash, one pass over the indices): memory that
# was refilled behind torch's back (numpy, DLPack, shared memory) gets a new build.

_CACHE_ATTR = '_gdl_cache'


class _Cache(dict):
    """The per-tensor cache: never saved or copied with its tensor (it describes that
    tensor's memory only); a pickled tensor carries an empty plain dict in its place."""

    def __reduce__(self):
        return (dict, ())

    def __copy__(self):
        return _Cache()

    def __deepcopy__(self, memo):
        return _Cache()


_K1, _K2, _K3 = -7046029254386353131, -4658895280553007687, -7723592293110705685


def fingerprint(t: Tensor) -> int:
    """A 64-bit hash of ``t``'s values and their positions (integer or bool tensors; floats
    are hashed by their bits). Differs, up to a 2**-64 chance, for any change of content."""
    v = t.detach().reshape(-1)
    if v.is_floating_point():
        v = v.view({8: torch.int64, 4: torch.int32, 2: torch.int16}[v.element_size()])
    v = v.to(torch.int64)
    x = torch.arange(v.numel(), dtype=torch.int64, device=v.device).mul_(_K1).add_(v).mul_(_K2)
    x = x.bitwise_xor_(x >> 31).mul_(_K3)
    return int(x.sum())


def signature(t: Tensor, content: bool = True) -> tuple:
    """What a cache entry built from ``t`` is checked against: storage, version, shape,
    strides and the content fingerprint (one pass over ``t``). A converter-made graph (a
    tagged ``edge_index``) is vouched for by its converter, as its dense kernels are: no
    fingerprint; nor with ``content=False``."""
    return _signature(t, content and structure_of(t) is None and
                      not t.__dict__.get(_DERIVED_ATTR))


_DERIVED_ATTR = '_gdl_derived'


def mark_derived(t: Tensor) -> Tensor:
    """Mark a tensor the core derived itself and never hands out for writing (e.g. the edge list
    of a sparse ``adj_t``): what is cached on it needs no fingerprint (its source has one)."""
    t.__dict__[_DERIVED_ATTR] = True
    return t


def _parts(t: Tensor) -> tuple:
    if t.layout == torch.sparse_coo:
        return (t._indices(), t._values())
    if t.layout in (torch.sparse_csr, torch.sparse_bsr):
        return (t.crow_indices(), t.col_indices(), t.values())
    if t.layout in (torch.sparse_csc, torch.sparse_bsc):
        return (t.ccol_indices(), t.row_indices(), t.values())
    return (t,)


def _signature(t: Tensor, content: bool = True) -> tuple:
    head = (t.layout, tuple(t.shape), t.dtype, t.device, t._version)
    return head + tuple((p.data_ptr(), p._version, p.stride(),
                         fingerprint(p) if content else None) for p in _parts(t))


def cached(tensors: Sequence[Tensor], extra: tuple, build: Callable[[], Any],
           sig: Optional[tuple] = None) -> Any:
    """``build()`` once per content of ``tensors`` (and the hashable ``extra``); the value is
    kept on ``tensors[0]``. ``sig``: the tensors' :func:`signature` when the caller computed
    them in this call (one fingerprint pass per call, not one per lookup). Nothing is kept
    while compiling or for meta tensors."""
    owner = tensors[0]
    if torch.compiler.is_compiling() or owner.device.type == 'meta':
        return build()
    if sig is None:
        sig = tuple(signature(t) for t in tensors)
    store = owner.__dict__.get(_CACHE_ATTR)
    if not isinstance(store, _Cache):
        store = _Cache()
        owner.__dict__[_CACHE_ATTR] = store
    entry = store.get(extra)
    if entry is not None and entry[0] == sig and all(
            r() is t for r, t in zip(entry[1], tensors[1:])):
        return entry[2]
    value = build()
    store[extra] = (sig, tuple(weakref.ref(t) for t in tensors[1:]), value)
    return value


def holds_cache(t: Tensor) -> bool:
    """Whether the core keeps anything derived from ``t`` (no fingerprint is needed otherwise)."""
    return bool(t.__dict__.get(_CACHE_ATTR))


def has_cached(t: Tensor, kinds: Sequence[str], sig: tuple) -> bool:
    """Whether ``t`` holds a valid entry whose key starts with one of ``kinds``."""
    store = t.__dict__.get(_CACHE_ATTR)
    return isinstance(store, _Cache) and any(
        key and key[0] in kinds and entry[0][0] == sig for key, entry in store.items())


def clear_cache(t: Tensor) -> None:
    """Drop what the core derived from ``t``."""
    t.__dict__.pop(_CACHE_ATTR, None)
