"""Dense kernels for graphs made of whole blocks: padding, unpadding, complete-graph attention.

A batch of sets (or sequences) is a node tensor ``[N, ...]`` whose graphs are contiguous slices
``ptr[b] : ptr[b + 1]``. On such a batch

- :func:`batch_to_ptr` turns a sorted ``batch`` vector into ``ptr`` (refusing an unsorted one),
- :func:`to_padded` / :func:`from_padded` move between ``[N, ...]`` and the padded dense
  ``[B, L_max, ...]`` (with its mask), differentiably and in one gather each way,
- :func:`complete_attention` runs attention over the complete graph of every set
  (``complete`` structure tag) as one ``F.scaled_dot_product_attention`` call on the padded
  batch: the dense twin of the sparse path (softmax over incoming edges), equal to it.

Derived index tensors (positions in the padded batch, masks) are cached per ``ptr`` tensor, so a
batch that is reused across layers and epochs pays for them once.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .scatter import segment
from .structure import cached
from .validate import check_index

__all__ = ['BlockLayout', 'batch_to_ptr', 'layout_of', 'to_padded', 'from_padded',
           'expand_segments', 'complete_attention']


def batch_to_ptr(batch: Tensor, num_nodes: Optional[int] = None,
                 num_graphs: Optional[int] = None, name: str = 'batch') -> Tensor:
    """``ptr`` (``[B + 1]``) of a sorted ``batch`` vector: graph ``b`` is ``ptr[b]:ptr[b+1]``.

    Raises ``ValueError`` when ``batch`` is not sorted (the nodes of a graph must be
    contiguous, as :class:`torch_geometric.data.Batch` makes them). Cached per tensor."""
    n = batch.numel() if isinstance(batch, Tensor) and num_nodes is None else num_nodes
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != n:
        check_index(batch, n, num_graphs, name=name)  # raises the shape error

    def build() -> Tensor:
        check_index(batch, n, num_graphs, name=name)  # values: once per batch tensor
        if batch.numel() > 1:
            down = batch[1:] < batch[:-1]
            if bool(down.any()):
                k = int(down.nonzero()[0, 0])
                raise ValueError(
                    f'{name} is not sorted: node {k} belongs to graph {int(batch[k])} but node '
                    f'{k + 1} to graph {int(batch[k + 1])}; the nodes of each graph must be '
                    f'contiguous (as torch_geometric.data.Batch makes them): sort them with '
                    f'perm = {name}.argsort(stable=True); x = x[perm]; {name} = {name}[perm]')
        b = num_graphs if num_graphs is not None else \
            (int(batch[-1]) + 1 if batch.numel() else 0)
        bounds = torch.arange(b + 1, device=batch.device, dtype=batch.dtype)
        return torch.searchsorted(batch, bounds).long()

    return cached((batch,), ('ptr', n, num_graphs), build)


class BlockLayout(NamedTuple):
    """Python-side facts about ``ptr`` and the index tensors of its padded batch."""
    num_graphs: int
    max_len: int
    uniform: bool          # every graph has max_len nodes (padding is a reshape)
    lengths: Tensor        # [B]
    position: Tensor       # [N]: row of every node in the flattened padded batch [B * L]
    mask: Tensor           # [B, L]: True at real nodes
    num_nodes: int         # ptr[-1]
    graph: Tensor          # [N]: graph of every node (the batch vector)


def layout_of(ptr: Tensor, num_nodes: Optional[int] = None) -> BlockLayout:
    """The (cached) :class:`BlockLayout` of ``ptr``."""
    if ptr.dim() != 1 or ptr.numel() < 1:
        raise ValueError(f'ptr must be a 1-D tensor [B + 1] starting at 0, got shape '
                         f'{list(ptr.shape)}')

    def build() -> BlockLayout:
        if int(ptr[0]) != 0:
            raise ValueError(f'ptr must start at 0, got {int(ptr[0])}')
        lengths = ptr[1:] - ptr[:-1]
        if lengths.numel() and bool((lengths < 0).any()):
            raise ValueError('ptr must be non-decreasing')
        b = lengths.numel()
        L = int(lengths.max()) if b else 0
        uniform = b == 0 or bool((lengths == L).all())
        n = int(ptr[-1])
        graph = torch.repeat_interleave(torch.arange(b, device=ptr.device), lengths,
                                        output_size=n)
        local = torch.arange(n, device=ptr.device) - ptr[:-1].index_select(0, graph)
        position = graph * L + local
        mask = torch.arange(L, device=ptr.device).unsqueeze(0) < lengths.unsqueeze(1)
        return BlockLayout(b, L, uniform, lengths, position, mask, n, graph)

    lay = cached((ptr,), ('layout',), build)
    if num_nodes is not None and lay.num_nodes != num_nodes:
        raise ValueError(f'ptr describes {lay.num_nodes} nodes but x has {num_nodes} rows: the '
                         f'structure tag belongs to another graph; rebuild the edge_index for '
                         f'this batch')
    return lay


def to_padded(x: Tensor, ptr: Tensor, fill_value: float = 0.0) -> Tuple[Tensor, Tensor]:
    """``[N, ...] -> ([B, L_max, ...], mask [B, L_max])``; padded rows hold ``fill_value``."""
    lay = layout_of(ptr, x.size(0))
    tail = tuple(x.shape[1:])
    if lay.uniform:
        return x.reshape((lay.num_graphs, lay.max_len) + tail), lay.mask
    out = x.new_full((lay.num_graphs * lay.max_len,) + tail, fill_value)
    out = out.index_copy(0, lay.position, x)
    return out.view((lay.num_graphs, lay.max_len) + tail), lay.mask


def from_padded(x: Tensor, ptr: Tensor) -> Tensor:
    """``[B, L_max, ...] -> [N, ...]``: the real rows of a padded batch, in node order."""
    lay = layout_of(ptr)
    if x.dim() < 2 or x.size(0) != lay.num_graphs or x.size(1) != lay.max_len:
        raise ValueError(f'padded tensor must have shape [B, L_max, ...] = '
                         f'[{lay.num_graphs}, {lay.max_len}, ...], got {list(x.shape)}')
    flat = x.reshape((-1,) + tuple(x.shape[2:]))
    if lay.uniform:
        return flat
    return flat.index_select(0, lay.position)


class _ExpandSegments(torch.autograd.Function):
    """``out[i] = src[graph(i)]``; its gradient is the segment sum (no scatter)."""

    @staticmethod
    def forward(ctx, src: Tensor, ptr: Tensor, graph: Tensor) -> Tensor:
        ctx.save_for_backward(ptr)
        return src.index_select(0, graph)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (ptr,) = ctx.saved_tensors
        return segment(grad.contiguous(), ptr, 'sum'), None, None


def expand_segments(src: Tensor, ptr: Tensor) -> Tensor:
    """Broadcast one row per graph to its nodes: ``[B, ...] -> [N, ...]``, ``out[i] =
    src[b(i)]``. The inverse of a segment reduction's shape; its backward is a segment sum."""
    lay = layout_of(ptr)
    if src.size(0) != lay.num_graphs:
        raise ValueError(f'src has {src.size(0)} rows but ptr describes {lay.num_graphs} graphs')
    return _ExpandSegments.apply(src, ptr, lay.graph)


def _attention_mask(ptr: Tensor, loops: bool) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Boolean ``[B, 1, L, L]`` mask (True = attend) for the padded batch, and a ``[N]`` mask of
    the nodes that have at least one neighbour (``None`` when all have).

    Rows that would be fully masked (padding of an empty set, or the node of a one-element set
    without self-loops) attend to everything instead, so no NaN ever appears; their outputs
    are discarded (padding) or zeroed (isolated nodes), as the sparse path gives 0 there."""
    lay = layout_of(ptr)

    def build():
        L = lay.max_len
        key_ok = lay.mask.unsqueeze(1).expand(lay.num_graphs, L, L)   # [B, Lq, Lk]
        if loops:
            if lay.uniform:
                return None, None
            allowed = key_ok
        else:
            allowed = key_ok & ~torch.eye(L, dtype=torch.bool, device=ptr.device)
        dead = ~allowed.any(-1, keepdim=True)                          # [B, Lq, 1]
        allowed = allowed | dead
        alive = None
        if not loops:
            alive = (lay.lengths > 1).repeat_interleave(lay.lengths, output_size=lay.num_nodes)
        return allowed.unsqueeze(1), alive

    return cached((ptr,), ('attn_mask', loops), build)


def complete_attention(q: Tensor, k: Tensor, v: Tensor, ptr: Tensor, loops: bool = True,
                       dropout_p: float = 0.0, scale: Optional[float] = None) -> Tensor:
    r"""Multi-head attention over the complete graph of every set, as one dense call.

    .. math::
        \mathbf{o}_i = \sum_{j \in S(i)} \operatorname{softmax}_j
        \left(\frac{\langle \mathbf{q}_i, \mathbf{k}_j\rangle}{\sqrt{d}}\right) \mathbf{v}_j

    with :math:`S(i)` the set of node :math:`i` (without :math:`i` itself when ``loops`` is
    False); a node with no neighbour gets 0, as on the sparse path.

    Args:
        q, k, v: ``[N, H, d]`` (``v`` may have its own last dimension).
        ptr: ``[B + 1]`` set boundaries (the ``complete`` tag's ``ptr``).
        loops: whether every node attends to itself.
        dropout_p: attention dropout probability.
        scale: score scale (default :math:`1/\sqrt{d}`).

    Returns:
        ``[N, H, d_v]``.
    """
    n, h, d = q.shape
    layout_of(ptr, n)  # checks that ptr describes the n nodes
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    qp, kp, vp = (to_padded(t, ptr)[0].transpose(1, 2) for t in (q, k, v))  # [B, H, L, d]
    mask, alive = _attention_mask(ptr, loops)
    out = F.scaled_dot_product_attention(qp, kp, vp, attn_mask=mask, dropout_p=dropout_p,
                                         scale=scale)
    out = from_padded(out.transpose(1, 2), ptr)                              # [N, H, d_v]
    if alive is not None:
        out = out * alive.view(-1, 1, 1).to(out.dtype)
    return out
