"""Sets as graphs: a set is a graph without edges.

Zaheer et al., "Deep Sets" (NeurIPS 2017, https://arxiv.org/abs/1703.06114): a function of a
set is a function of its elements that ignores their order. As a graph, a set of ``n``
elements is ``n`` nodes and no edges; the only interaction of the permutation-equivariant
layer (:class:`gdl_graphs.nn.DeepSetsConv`) is the pooled summary of the whole set, computed as
a segment reduction over the batch, never over edges.

:func:`set_to_graph` accepts a list of sets ``[n_b, F]``, a dense batch ``[B, L, F]``, or
stacked elements ``[N, F]`` with a sorted ``batch`` vector. The empty ``edge_index`` is tagged
``'edgeless'`` (with ``ptr``). Point sets (PointNet) carry ``pos``.

Symmetry: permuting the elements within each set (``gdl_graphs.testing.Permutation.random(N,
batch)``) is the symmetry of every set model.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from ..core import annotate, check_finite
from ..core.dense import batch_to_ptr

__all__ = ['set_to_graph', 'ToSet', 'edgeless_index']

SetInput = Union[Tensor, Sequence[Tensor]]


def edgeless_index(ptr: Tensor) -> Tensor:
    """An empty ``[2, 0]`` ``edge_index`` tagged ``'edgeless'`` with the set boundaries."""
    return annotate(torch.empty(2, 0, dtype=torch.long, device=ptr.device), 'edgeless',
                    ptr=ptr)


def _as_list(value: SetInput, name: str) -> list:
    if isinstance(value, Tensor):
        if value.dim() < 2:
            raise ValueError(f'{name} must be a list of [n_b, F] tensors, a dense batch '
                             f'[B, L, F] or stacked elements [N, F] with batch; got shape '
                             f'{list(value.shape)}')
        return list(value.unbind(0))
    out = list(value)
    for b, t in enumerate(out):
        if not isinstance(t, Tensor):
            raise ValueError(f'{name}[{b}] must be a torch.Tensor, got {type(t).__name__}')
    return out


def _check_sets(sets: list, name: str) -> None:
    if not sets:
        raise ValueError(f'{name} is an empty list: give at least one set')
    ref = sets[0]
    for b, t in enumerate(sets):
        if t.dim() != 2:
            raise ValueError(f'{name}[{b}] must have shape [n_b, F], got {list(t.shape)}; '
                             f'use x.unsqueeze(-1) for scalar elements')
        if t.size(1) != ref.size(1):
            raise ValueError(f'dimension mismatch: {name}[{b}] has {t.size(1)} features per '
                             f'element but {name}[0] has {ref.size(1)}; every element of '
                             f'every set needs the same number of features')
        if t.dtype != ref.dtype or t.device != ref.device:
            raise ValueError(f'{name}[{b}] is {t.dtype} on {t.device} but {name}[0] is '
                             f'{ref.dtype} on {ref.device}')


def set_to_graph(features: SetInput, batch: Optional[Tensor] = None,
                 pos: Optional[SetInput] = None) -> Data:
    """Sets -> an edgeless ``Data`` (one set) or ``Batch`` (several sets).

    Args:
        features: one set ``[n, F]`` (with ``batch``: stacked sets ``[N, F]``), a dense batch
            ``[B, L, F]`` of equal-size sets, or a list of sets ``[n_b, F]`` (ragged; empty sets
            allowed).
        batch: the sorted set index of every row of a stacked ``[N, F]`` tensor.
        pos: element positions in the same layout as ``features`` (point sets).

    Returns:
        ``x`` ``[N, F]``, ``edge_index`` ``[2, 0]`` (tagged ``'edgeless'``), ``pos``; a
        ``Batch`` with ``batch`` and ``ptr`` unless ``features`` is a single ``[n, F]`` set.

    Raises:
        ValueError: sets of different feature dimension, an unsorted ``batch``, a ``pos`` that
            does not match ``features``, NaN/inf features.
    """
    if isinstance(features, Tensor) and features.dim() == 2:
        n = features.size(0)
        if pos is not None and (not isinstance(pos, Tensor) or pos.dim() != 2
                                or pos.size(0) != n):
            shape = list(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
            raise ValueError(f'pos must have shape [{n}, D] like features, got {shape}')
        check_finite(features, 'features')
        if batch is None:
            ptr = torch.tensor([0, n], device=features.device)
            data = Data(x=features, edge_index=edgeless_index(ptr), num_nodes=n)
            if pos is not None:
                data.pos = pos
            return data
        ptr = batch_to_ptr(batch, n)
        sizes = (ptr[1:] - ptr[:-1]).tolist()
        sets = list(features.split(sizes))
        pos_list = None if pos is None else list(pos.split(sizes))
    else:
        if batch is not None:
            raise ValueError('batch is only for stacked elements [N, F]; a list of sets or a '
                             'dense batch [B, L, F] already says which set each element is in')
        sets = _as_list(features, 'features')
        pos_list = None if pos is None else _as_list(pos, 'pos')
    _check_sets(sets, 'features')
    for b, t in enumerate(sets):
        check_finite(t, f'features[{b}]')
    if pos_list is not None:
        if len(pos_list) != len(sets):
            raise ValueError(f'pos has {len(pos_list)} sets but features has {len(sets)}')
        _check_sets(pos_list, 'pos')
        for b, (p, t) in enumerate(zip(pos_list, sets)):
            if p.size(0) != t.size(0):
                raise ValueError(f'pos[{b}] has {p.size(0)} rows but features[{b}] has '
                                 f'{t.size(0)} elements')
    empty = torch.empty(2, 0, dtype=torch.long, device=sets[0].device)
    data_list = []
    for b, t in enumerate(sets):
        d = Data(x=t, edge_index=empty, num_nodes=t.size(0))
        if pos_list is not None:
            d.pos = pos_list[b]
        data_list.append(d)
    out = Batch.from_data_list(data_list)
    out.edge_index = edgeless_index(out.ptr)
    return out


class ToSet(BaseTransform):
    """Forget the edges of a ``Data``/``Batch``: its nodes become a set (or sets, per graph).

    ``edge_index`` becomes the tagged empty index; ``edge_attr``/``edge_weight`` are removed."""

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        ptr = data.get('ptr')
        if ptr is None:
            batch = data.get('batch')
            ptr = batch_to_ptr(batch, n) if batch is not None else torch.tensor([0, n])
        dev = data.x.device if data.get('x') is not None else ptr.device
        data.edge_index = edgeless_index(ptr.to(dev))
        for key in ('edge_attr', 'edge_weight'):
            if key in data:
                del data[key]
        return data
