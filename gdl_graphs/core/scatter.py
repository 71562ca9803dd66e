"""Scatter, segment and softmax kernels: the only place that reduces over edges.

Two backends compute the same numbers:

- ``'torch'``: ``index_add`` / ``scatter_reduce`` / ``segment_reduce`` (CPU and CUDA),
- ``'torch_scatter'``: the ``torch_scatter`` extension, when it is installed.

The backend is ``'torch'`` unless asked for: per call (``backend=``), per layer
(``GDLConv(backend=...)``) or for a ``with`` block (:func:`~gdl_graphs.core.use_backend`).
Empty groups reduce to ``0`` for every reduction (PyG's convention).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .config import effective_backend

REDUCTIONS = ('sum', 'add', 'mean', 'max', 'min', 'mul')
_TORCH_REDUCE = {'max': 'amax', 'min': 'amin', 'mul': 'prod'}

try:  # pragma: no cover - depends on the environment
    import torch_scatter as _torch_scatter
except Exception:  # ImportError or a broken binary
    _torch_scatter = None

def available_backends() -> tuple[str, ...]:
    return ('torch', 'torch_scatter') if _torch_scatter is not None else ('torch',)


def _check_reduce(reduce: str) -> str:
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}: use one of {', '.join(REDUCTIONS)}")
    return 'sum' if reduce == 'add' else reduce


def _broadcast(index: Tensor, src: Tensor, dim: int) -> Tensor:
    shape = [1] * src.dim()
    shape[dim] = -1
    return index.view(shape).expand_as(src)


def scatter(src: Tensor, index: Tensor, dim_size: int, reduce: str = 'sum',
            dim: int = 0, fill_empty: bool = True, backend: Optional[str] = None) -> Tensor:
    r"""Reduce the slices of ``src`` along ``dim`` into ``dim_size`` groups given by ``index``.

    :math:`\mathrm{out}_i = \bigoplus_{e : \mathrm{index}_e = i} \mathrm{src}_e`, with
    :math:`\bigoplus` in {sum, mean, max, min, mul}; empty groups give 0. With
    ``fill_empty=False``, max and min leave empty groups at the reduction's identity (the
    dtype's lowest or highest value, ``-inf``/``inf`` for floats), which is faster: for callers
    that never read an empty group.
    """
    reduce = _check_reduce(reduce)
    dim = dim % src.dim() if src.dim() > 0 else 0
    if index.dtype != torch.long:  # torch <= 2.6 scatters with int64 indices only
        index = index.long()
    if effective_backend(backend) == 'torch_scatter':
        if reduce in ('max', 'min'):
            out = getattr(_torch_scatter, f'scatter_{reduce}')(src, index, dim=dim,
                                                               dim_size=dim_size)[0]
            return out
        out = _torch_scatter.scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)
        if reduce == 'mul':  # torch_scatter leaves empty groups at 1; the convention is 0
            shape = [1] * src.dim()
            shape[dim] = -1
            empty = (torch.bincount(index, minlength=dim_size) == 0).view(shape)
            out = torch.where(empty, torch.zeros((), dtype=out.dtype, device=out.device), out)
        return out

    size = list(src.shape)
    size[dim] = dim_size
    if reduce == 'sum':
        return src.new_zeros(size).index_add_(dim, index, src)
    if reduce == 'mean':
        out = src.new_zeros(size).index_add_(dim, index, src)
        if index.device.type == 'meta':  # no bincount kernel on the meta device
            count = src.new_zeros(dim_size).index_add_(0, index, src.new_ones(index.numel()))
        else:
            count = torch.bincount(index, minlength=dim_size)
        count = count.clamp_(min=1).to(src.dtype)
        shape = [1] * src.dim()
        shape[dim] = -1
        if not src.is_floating_point():  # integer mean rounds down (as torch_scatter)
            return torch.div(out, count.view(shape), rounding_mode='floor')
        return out / count.view(shape)
    if not fill_empty and reduce in ('max', 'min'):
        if src.is_floating_point():
            ident = float('-inf') if reduce == 'max' else float('inf')
        else:
            info = torch.iinfo(src.dtype)
            ident = info.min if reduce == 'max' else info.max
        return src.new_full(size, ident).scatter_reduce_(
            dim, _broadcast(index, src, dim), src, _TORCH_REDUCE[reduce], include_self=True)
    return src.new_zeros(size).scatter_reduce_(dim, _broadcast(index, src, dim), src,
                                               _TORCH_REDUCE[reduce], include_self=False)


class _GatherScatter(torch.autograd.Function):
    """``out[d] += w_e * y[s]`` over the edges ``e = (s, d)``, keeping no ``E x F`` message
    for the backward (``index_add``'s own autograd saves its source, every message, until
    the backward runs): the backward gathers the gradient at the targets and scatters it to
    the sources. Written with differentiable ops, so double backward works."""

    @staticmethod
    def forward(ctx, y: Tensor, src: Tensor, dst: Tensor, num_dst: int,
                weight: Optional[Tensor]) -> Tensor:
        msg = _gather(y, src, weight)
        ctx.save_for_backward(src, dst, weight,
                              y if weight is not None and weight.requires_grad else None)
        ctx.num_src = y.size(0)
        return msg.new_zeros((num_dst,) + tuple(y.shape[1:])).index_add_(0, dst, msg)

    @staticmethod
    def backward(ctx, grad: Tensor):
        src, dst, weight, y = ctx.saved_tensors
        g = grad.index_select(0, dst)
        grad_y = grad_w = None
        if ctx.needs_input_grad[0]:
            gw = g if weight is None else g * _column(weight, g)
            grad_y = gw.new_zeros((ctx.num_src,) + tuple(grad.shape[1:])).index_add_(0, src, gw)
        if ctx.needs_input_grad[4]:
            grad_w = g * y.index_select(0, src)
            if grad_w.dim() > 1:
                grad_w = grad_w.flatten(1).sum(1)
        return grad_y, None, None, None, grad_w


def _column(weight: Tensor, like: Tensor) -> Tensor:
    return weight.view((-1,) + (1,) * (like.dim() - 1))


def _gather(y: Tensor, src: Tensor, weight: Optional[Tensor]) -> Tensor:
    """The messages ``w_e * y[src_e]`` ``[E, ...]``."""
    msg = y.index_select(0, src)
    return msg if weight is None else msg * _column(weight, msg)


def gather_scatter(y: Tensor, src: Tensor, dst: Tensor, num_dst: int,
                   weight: Optional[Tensor] = None, reduce: str = 'sum',
                   backend: Optional[str] = None) -> Tensor:
    r""":math:`\mathrm{out}_d = \bigoplus_{e = (s, d)} w_e\, y_s`: gather the sources'
    rows along the edges and reduce them at the targets. Sum and mean on the ``'torch'``
    backend run as one autograd node that keeps no ``E x F`` messages for the backward (the
    same numbers, less memory in training); the rest is :func:`scatter` of the gathered
    messages."""
    reduce = _check_reduce(reduce)
    weight = None if weight is None else weight.to(y.dtype)
    if reduce in ('sum', 'mean') and effective_backend(backend) == 'torch' and \
            y.is_floating_point() and y.dim() >= 1 and torch.is_grad_enabled() and \
            (y.requires_grad or weight is not None and weight.requires_grad) and \
            not torch.compiler.is_compiling():
        out = _GatherScatter.apply(y, src, dst, num_dst, weight)
        if reduce == 'sum':
            return out
        count = torch.bincount(dst, minlength=num_dst).clamp_(min=1).to(out.dtype)
        return out / _column(count, out)
    return scatter(_gather(y, src, weight), dst, num_dst, reduce, backend=backend)


def segment(src: Tensor, ptr: Tensor, reduce: str = 'sum',
            backend: Optional[str] = None) -> Tensor:
    """Reduce consecutive slices ``src[ptr[i]:ptr[i+1]]`` (a sorted ``index``); empty gives 0."""
    reduce = _check_reduce(reduce)
    # torch_scatter has no segment product
    if effective_backend(backend) == 'torch_scatter' and reduce != 'mul':
        if reduce in ('max', 'min'):
            return getattr(_torch_scatter, f'segment_{reduce}_csr')(src, ptr)[0]
        return _torch_scatter.segment_csr(src, ptr, reduce=reduce)
    lengths = ptr[1:] - ptr[:-1]
    if reduce == 'mul' or not src.is_floating_point():  # segment_reduce is float-only
        index = torch.repeat_interleave(torch.arange(lengths.numel(), device=src.device), lengths)
        return scatter(src, index, lengths.numel(), reduce)
    out = torch.segment_reduce(src, reduce, lengths=lengths, axis=0, unsafe=True)
    empty = (lengths == 0).view((-1,) + (1,) * (src.dim() - 1))
    return torch.where(empty, torch.zeros((), dtype=src.dtype, device=src.device), out)


def softmax(src: Tensor, index: Tensor, num_nodes: int, dim: int = 0) -> Tensor:
    r"""Softmax of ``src`` over the groups of ``index``:
    :math:`\alpha_e = \exp(s_e - m_i) / \sum_{e' \to i} \exp(s_{e'} - m_i)` with the group
    maximum :math:`m_i` subtracted for stability (the maximum is not differentiated)."""
    src_max = scatter(src.detach(), index, num_nodes, 'max', dim=dim)
    out = (src - src_max.index_select(dim, index)).exp()
    denom = scatter(out, index, num_nodes, 'sum', dim=dim)
    return out / denom.index_select(dim, index)


def degree(index: Tensor, num_nodes: int, dtype: Optional[torch.dtype] = None) -> Tensor:
    """Number of entries of ``index`` equal to each of ``0 .. num_nodes-1``."""
    out = torch.bincount(index, minlength=num_nodes)
    return out if dtype is None else out.to(dtype)
