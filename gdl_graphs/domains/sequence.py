"""Sequences as graphs: a sequence of length T is the directed path ``0 -> 1 -> ... -> T-1``.

The edge ``t-1 -> t`` carries the recurrent state: a gated recurrent network is message passing
along the path (:class:`gdl_graphs.nn.GatedRecurrentConv` equals ``torch.nn.GRU``). The time
step of every node is stored as ``time``; it is also the input of the sinusoidal positional
encoding (:func:`sinusoidal_positions`) that gives a Transformer on the complete graph of a
sequence its order.

Symmetry: a path graph has no non-trivial node permutation that preserves it, so permuting the
nodes *within* a sequence is **not** a symmetry of a recurrent model (time order is the data);
the only permutations are those of whole sequences in a batch. Time *warping* (stretching the
sequence) is the symmetry gating approximates (Tallec and Ollivier 2018).

Layout: sequence ``b`` is the node slice ``ptr[b]:ptr[b+1]`` in time order, and ``edge_index``
is tagged ``annotate(edge_index, 'path', ptr=ptr)``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from ..core import annotate, check_finite
from ..core.dense import batch_to_ptr, layout_of, to_padded

__all__ = ['sequence_to_graph', 'path_graph', 'graph_to_sequence', 'sinusoidal_positions',
           'PathGraph', 'AddSinusoidalPE']


def path_graph(ptr: Tensor) -> Tensor:
    """The directed paths ``t-1 -> t`` of the sequences ``ptr[b]:ptr[b+1]``, tagged
    ``'path'`` (edges ordered by target)."""
    ptr = ptr.long()
    n = int(ptr[-1])
    is_start = torch.zeros(n, dtype=torch.bool, device=ptr.device)
    starts = ptr[:-1][ptr[:-1] < ptr[1:]]
    is_start[starts] = True
    dst = torch.arange(n, device=ptr.device)[~is_start]
    return annotate(torch.stack([dst - 1, dst]), 'path', ptr=ptr)


def _zero_length(b: int) -> ValueError:
    return ValueError(f'sequence {b} has length 0: a path graph needs at least one time step; '
                      f'drop empty sequences first (e.g. keep = lengths > 0; x = x[keep]; '
                      f'lengths = lengths[keep])')


def sequence_to_graph(x: Union[Tensor, Sequence[Tensor]],
                      lengths: Optional[Union[Tensor, Sequence[int]]] = None) -> Data:
    """Sequences -> directed path graphs (``t-1 -> t``) with the time step as ``time``.

    Args:
        x: one sequence ``[T, F]``, a padded batch ``[B, T, F]`` (batch first), or a list of
            sequences ``[T_b, F]``.
        lengths: for a padded batch, the true length of every sequence ``[B]`` (default: all
            ``T``); the padding is dropped.

    Returns:
        ``x`` ``[N, F]`` (time steps of all sequences, sequence by sequence), ``edge_index``
        ``[2, N - B]`` (tagged ``'path'``), ``time`` ``[N]``; a ``Batch`` (``batch``, ``ptr``)
        unless ``x`` is a single ``[T, F]`` sequence.

    Raises:
        ValueError: a zero-length sequence, a length beyond the padded ``T``, sequences of
            different feature dimension, NaN/inf features.
    """
    if isinstance(x, Tensor) and x.dim() == 2:
        if lengths is not None:
            raise ValueError('lengths is for a padded batch [B, T, F]; x has shape '
                             f'{list(x.shape)} (one sequence [T, F])')
        if x.size(0) == 0:
            raise _zero_length(0)
        check_finite(x, 'x')
        ptr = torch.tensor([0, x.size(0)], device=x.device)
        return Data(x=x, edge_index=path_graph(ptr),
                    time=torch.arange(x.size(0), device=x.device), num_nodes=x.size(0))
    if isinstance(x, Tensor):
        if x.dim() != 3:
            raise ValueError(f'x must be [T, F], [B, T, F] or a list of [T_b, F], got shape '
                             f'{list(x.shape)}')
        b, t = x.size(0), x.size(1)
        if lengths is None:
            lens = [t] * b
        else:
            lt = torch.as_tensor(lengths)
            if lt.dim() != 1 or lt.numel() != b:
                raise ValueError(f'lengths must have one entry per sequence ([{b}]), got '
                                 f'shape {list(lt.shape)}')
            lens = [int(v) for v in lt.tolist()]
            for k, v in enumerate(lens):
                if v > t:
                    raise ValueError(f'lengths[{k}] = {v} exceeds the padded length T = {t}')
        seqs = [x[k, :lens[k]] for k in range(b)]
    else:
        if lengths is not None:
            raise ValueError('lengths is for a padded batch [B, T, F]; a list of sequences '
                             'already has its lengths')
        seqs = list(x)
        if not seqs:
            raise ValueError('x is an empty list: give at least one sequence')
    f = None
    for k, s in enumerate(seqs):
        if not isinstance(s, Tensor) or s.dim() != 2:
            shape = list(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise ValueError(f'sequence {k} must be a [T_b, F] tensor, got {shape}')
        if s.size(0) == 0:
            raise _zero_length(k)
        if f is None:
            f = s.size(1)
        elif s.size(1) != f:
            raise ValueError(f'dimension mismatch: sequence {k} has {s.size(1)} features per '
                             f'step but sequence 0 has {f}')
        check_finite(s, f'x[{k}]')
    dev = seqs[0].device
    data_list = [Data(x=s, edge_index=torch.empty(2, 0, dtype=torch.long, device=dev),
                      time=torch.arange(s.size(0), device=dev), num_nodes=s.size(0))
                 for s in seqs]
    out = Batch.from_data_list(data_list)
    out.edge_index = path_graph(out.ptr)
    return out


def graph_to_sequence(x: Tensor, ptr: Tensor,
                      fill_value: float = 0.0) -> Tuple[Tensor, Tensor]:
    """The inverse of :func:`sequence_to_graph`: node features ``[N, ...]`` -> the padded
    batch ``[B, T_max, ...]`` (batch first) and ``lengths`` ``[B]``."""
    out, _ = to_padded(x, ptr, fill_value)
    return out, layout_of(ptr).lengths


def sinusoidal_positions(time: Union[Tensor, int], dim: int,
                         base: float = 10000.0) -> Tensor:
    r"""Sinusoidal positional encoding of Vaswani et al. 2017
    (https://arxiv.org/abs/1706.03762), one row per time step:

    .. math::
        \mathrm{PE}(t, 2k) = \sin(t / b^{2k/d}), \qquad
        \mathrm{PE}(t, 2k+1) = \cos(t / b^{2k/d})

    Args:
        time: time steps ``[N]`` (e.g. ``data.time``) or a length ``T`` (steps ``0..T-1``).
        dim: encoding dimension :math:`d`.
        base: :math:`b`.

    Returns:
        ``[N, dim]`` in the default float dtype (``float64`` if ``time`` is).
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f'dim must be a positive int, got {dim!r}')
    if not (isinstance(base, (int, float)) and math.isfinite(base) and base > 0):
        raise ValueError(f'base must be a positive number, got {base!r}')
    if isinstance(time, int) and not isinstance(time, bool):
        if time < 0:
            raise ValueError(f'time must be a length >= 0 or a tensor of steps, got {time}')
        time = torch.arange(time)
    if not isinstance(time, Tensor):
        raise ValueError(f'time must be a tensor of steps or a length, got '
                         f'{type(time).__name__}')
    if time.is_floating_point() and not bool(torch.isfinite(time).all()):
        raise ValueError('time holds non-finite values (nan or inf)')
    dtype = time.dtype if time.is_floating_point() else torch.get_default_dtype()
    t = time.to(dtype).unsqueeze(-1)
    half = (dim + 1) // 2
    freq = torch.exp(-math.log(base) * torch.arange(0, 2 * half, 2, dtype=dtype,
                                                    device=t.device) / dim)
    angle = t * freq
    out = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)
    return out[..., :dim]


class PathGraph(BaseTransform):
    """Connect the nodes of every graph of a ``Data``/``Batch`` in node order (``t-1 -> t``)
    and store ``time``: the transform twin of :func:`sequence_to_graph`."""

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        ptr = data.get('ptr')
        if ptr is None:
            batch = data.get('batch')
            ptr = batch_to_ptr(batch, n) if batch is not None else torch.tensor([0, n])
        lay = layout_of(ptr.long(), n)
        if lay.num_graphs and bool((lay.lengths == 0).any()):
            raise _zero_length(int((lay.lengths == 0).nonzero()[0, 0]))
        data.edge_index = path_graph(ptr)
        data.time = lay.position % max(lay.max_len, 1)
        for key in ('edge_attr', 'edge_weight'):
            if key in data:
                del data[key]
        return data


class AddSinusoidalPE(BaseTransform):
    """Add :func:`sinusoidal_positions` of ``data.time`` as ``data[attr_name]`` (or
    concatenate them to ``data.x`` when ``attr_name`` is ``None``), like PyG's
    ``AddRandomWalkPE``."""

    def __init__(self, dim: int, attr_name: Optional[str] = 'sinusoidal_pe',
                 base: float = 10000.0):
        self.dim, self.attr_name, self.base = dim, attr_name, base

    def forward(self, data: Data) -> Data:
        if data.get('time') is None:
            raise ValueError('data has no time attribute: build it with sequence_to_graph or '
                             'the PathGraph transform')
        pe = sinusoidal_positions(data.time, self.dim, self.base)
        if self.attr_name is None:
            x = data.get('x')
            data.x = pe if x is None else torch.cat([x, pe.to(x.dtype)], dim=-1)
        else:
            data[self.attr_name] = pe
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(dim={self.dim})'
