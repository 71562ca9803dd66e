"""Shared by the converters whose graphs keep their structure: ``edge_index`` read back tagged.

A converter stores what it knows as plain attributes (``lattice_*`` rows, ``complete_loops``)
that every PyG tool keeps; a ``Data`` subclass turns them back into the structure tag when
``data.edge_index`` is read after a clone, a device move, ``torch.load`` or collation. The
check that the edges are exactly what the attributes describe runs once per tensor (and
version); edges that are not come back plain.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from ..core import structure_of


class TagMemo:
    """The tagged view of one ``edge_index`` tensor (never saved: a reloaded graph re-tags)."""
    __slots__ = ('raw', 'deps', 'versions', 'tagged')

    def __init__(self, raw, deps, versions, tagged):
        self.raw, self.deps, self.versions, self.tagged = raw, deps, versions, tagged

    def __reduce__(self):
        return (dict, ())


def read_tagged(data, tag: Callable[[Tensor], Tensor], deps: tuple = ()) -> Optional[Tensor]:
    """``data``'s stored ``edge_index``, tagged by ``tag(edge_index)`` (which raises
    ``ValueError`` when the edges are not the structure), memoised per tensor and version of
    ``edge_index`` and of the tensors in ``deps``."""
    ei = data._store.get('edge_index')
    if ei is None or structure_of(ei) is not None:
        return ei
    versions = (ei._version,) + tuple(None if d is None else d._version for d in deps)
    memo = data.__dict__.get('_gdl_tag')
    if isinstance(memo, TagMemo) and memo.raw is ei and memo.versions == versions and \
            all(a is b for a, b in zip(memo.deps, deps)):
        return memo.tagged
    tagged = ei
    if not torch.compiler.is_compiling():
        try:
            tagged = tag(ei)
        except ValueError:
            tagged = ei  # not the structure its attributes describe: a plain graph
    data.__dict__['_gdl_tag'] = TagMemo(ei, deps, versions, tagged)
    return tagged


torch.serialization.add_safe_globals([TagMemo])
