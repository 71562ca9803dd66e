"""Fused kernels: a message linear in x_j aggregated by sum or mean is a sparse-dense product.

``out = A @ x`` with ``A[i, j] = sum of w_e over edges e = (j -> i)`` runs as one CSR product;
the transpose needed by the backward pass is built once and cached, so no ``E x F`` tensor
exists in forward or backward. Typed linear messages (one weight matrix per edge type) reuse it
on the transformed features ``Y = x W`` viewed as ``[N * T, F_out]`` with column ``j * T + t``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from .structure import cached, plain


def _ptr(index: Tensor, size: int) -> Tensor:
    ptr = index.new_zeros(size + 1)
    torch.cumsum(torch.bincount(index, minlength=size), 0, out=ptr[1:])
    return ptr


@dataclass
class CSR:
    """Rows = targets, columns = sources; ``perm[k]`` is the edge stored at position ``k``."""
    rowptr: Tensor
    col: Tensor
    perm: Tensor
    row: Tensor          # row of each stored entry (sorted)
    shape: tuple
    _t: Optional['CSR'] = None
    _t_perm: Optional[Tensor] = None  # position in this CSR of each entry of the transpose
    _blocks: Optional[dict] = None    # heads -> (rowptr, col, shape) of head_blocks(heads)

    @staticmethod
    def build(row: Tensor, col: Tensor, shape: tuple) -> 'CSR':
        # sort by (row, col): deterministic, and the column order within a row is ascending
        key = row * max(shape[1], 1) + col
        if key.numel() < 2 or bool((key[1:] >= key[:-1]).all()):
            # already in CSR order (as converters emit it, and as a batch of such graphs
            # stays): no sort, the structure costs one pass and a bincount
            perm = torch.arange(key.numel(), device=key.device)
            return CSR(_ptr(row, shape[0]), col, perm, row, shape)
        perm = torch.argsort(key, stable=True)
        row_s = row[perm]
        return CSR(_ptr(row_s, shape[0]), col[perm], perm, row_s, shape)

    def transpose(self) -> 'CSR':
        if self._t is None:
            t = CSR.build(self.col, self.row, (self.shape[1], self.shape[0]))
            self._t_perm = t.perm
            self._t = CSR(t.rowptr, t.col, torch.arange(0), t.row, t.shape)
        return self._t

    def matrix(self, value: Tensor) -> Tensor:
        return _csr_matrix(self.rowptr, self.col, value, self.shape)

    def head_blocks(self, heads: int) -> tuple:
        """``(rowptr, col, shape)`` of the block-diagonal matrix ``diag(A, ..., A)`` (``heads``
        copies of this one; block ``h`` holds rows ``h * R ..`` and columns ``h * C ..``),
        built once per number of heads. Its stored values are head-major: ``h * nnz + k``."""
        if self._blocks is None:
            self._blocks = {}
        if heads not in self._blocks:
            nnz, (rows, cols) = self.col.numel(), self.shape
            h = torch.arange(heads, device=self.col.device, dtype=self.col.dtype)
            rowptr = torch.cat([(self.rowptr[:-1].unsqueeze(0) + (h * nnz).unsqueeze(1))
                                .reshape(-1), self.rowptr.new_full((1,), heads * nnz)])
            col = (self.col.unsqueeze(0) + (h * cols).unsqueeze(1)).reshape(-1)
            self._blocks[heads] = (rowptr, col, (heads * rows, heads * cols))
        return self._blocks[heads]

    def ones(self, dtype, device) -> Tensor:
        return torch.ones(self.col.numel(), dtype=dtype, device=device)


def _csr_matrix(rowptr: Tensor, col: Tensor, value: Tensor, shape: tuple) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return torch.sparse_csr_tensor(rowptr, col, value, shape, check_invariants=False)


def _heads_first(x: Tensor) -> Tensor:
    """``[N, H, C]`` -> the head-major ``[H * N, C]`` rows of a block-diagonal product."""
    return x.transpose(0, 1).reshape(x.size(0) * x.size(1), x.size(2))


def _head_product(csr: CSR, alpha: Tensor, xh: Tensor) -> Tensor:
    """``out[i, h] = sum_k alpha[k, h] x[col_k, h]`` over the stored entries ``k`` of row
    ``i``: one product of the block-diagonal matrix of ``csr`` with the head-major ``xh``."""
    heads = alpha.size(1)
    rowptr, col, shape = csr.head_blocks(heads)
    out = _csr_matrix(rowptr, col, alpha.t().reshape(-1), shape) @ xh
    return out.view(heads, csr.shape[0], xh.size(1)).transpose(0, 1).contiguous()


class _HeadSpMM(torch.autograd.Function):
    """Multi-head attention aggregation on a cached CSR: ``x`` ``[N_src, H, C]``, ``alpha``
    ``[nnz, H]`` (CSR order) -> ``[N_dst, H, C]``. The ``H`` products share the sparsity and
    run as one product of a block-diagonal matrix; the backward multiplies by the cached
    transpose's blocks for ``x`` and samples ``grad @ x^T`` at the stored entries for
    ``alpha`` (``torch.sparse.sampled_addmm``): no ``E x H x C`` tensor exists."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, csr: CSR) -> Tensor:
        xh = _heads_first(x)
        ctx.csr = csr
        ctx.save_for_backward(xh, alpha)
        return _head_product(csr, alpha, xh)

    @staticmethod
    def backward(ctx, grad: Tensor):
        xh, alpha = ctx.saved_tensors
        csr: CSR = ctx.csr
        heads = alpha.size(1)
        gh = _heads_first(grad)
        grad_x = grad_alpha = None
        if ctx.needs_input_grad[0]:
            t = csr.transpose()
            grad_x = _head_product(t, alpha.index_select(0, csr._t_perm), gh)
        if ctx.needs_input_grad[1]:
            rowptr, col, shape = csr.head_blocks(heads)
            # zeros, not empty: sampled_addmm scales them by beta = 0, and 0 * NaN is NaN
            pattern = _csr_matrix(rowptr, col, gh.new_zeros(col.numel()), shape)
            sampled = torch.sparse.sampled_addmm(pattern, gh, xh.t(), beta=0.0)
            grad_alpha = sampled.values().view(heads, -1).t()
        return grad_x, grad_alpha, None


def head_spmm(csr: CSR, x: Tensor, alpha: Tensor) -> Tensor:
    """``out[i, h] = sum_{k in row i} alpha[k, h] * x[col_k, h]``: ``x`` ``[N_src, H, C]``,
    ``alpha`` ``[nnz, H]`` in CSR order (one weight per stored entry and head); ``nnz > 0``."""
    return _HeadSpMM.apply(x.contiguous(), alpha.to(x.dtype).contiguous(), csr)


def csr_order(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The permutation that sorts edges target-major (by target, then source): the order in
    which converters should emit edges, so that building the CSR needs no sort."""
    ei = plain(edge_index)
    return torch.argsort(ei[1] * max(num_nodes, 1) + ei[0], stable=True)


def csr_of(edge_index: Tensor, num_src: int, num_dst: int) -> CSR:
    """The cached target-major CSR of ``edge_index`` (flow source -> target)."""
    ei = plain(edge_index)
    return cached((edge_index,), ('csr', num_src, num_dst),
                  lambda: CSR.build(ei[1], ei[0], (num_dst, num_src)))


def typed_csr_of(edge_index: Tensor, edge_type: Tensor, num_types: int, num_src: int,
                 num_dst: int) -> CSR:
    """CSR over the virtual columns ``j * T + t`` of typed edges."""
    ei = plain(edge_index)
    return cached((edge_index, edge_type), ('typed', num_types, num_src, num_dst),
                  lambda: CSR.build(ei[1], ei[0] * num_types + plain(edge_type),
                                    (num_dst, num_src * num_types)))


class _SpMM(torch.autograd.Function):
    """``A @ x`` for a cached CSR ``A`` with stored values ``value`` (CSR order)."""

    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, csr: CSR) -> Tensor:
        ctx.csr = csr
        ctx.save_for_backward(x, value)
        if csr.col.numel() == 0:
            return x.new_zeros(csr.shape[0], x.size(1))
        return csr.matrix(value) @ x

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, value = ctx.saved_tensors
        csr: CSR = ctx.csr
        grad_x = grad_value = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[0]:
            if csr.col.numel() == 0:
                grad_x = torch.zeros_like(x)
            else:
                t = csr.transpose()
                grad_x = t.matrix(value[csr._t_perm]) @ grad_out
        if ctx.needs_input_grad[1]:
            grad_value = (grad_out.index_select(0, csr.row) * x.index_select(0, csr.col)).sum(-1)
        return grad_x, grad_value, None


def spmm(csr: CSR, x: Tensor, value: Optional[Tensor] = None) -> Tensor:
    """``A @ x`` with ``A``'s stored values ``value`` (CSR order; ones when ``None``).
    ``x`` may have trailing dimensions; they are flattened and restored."""
    shape = x.shape
    x2 = x.reshape(shape[0], math.prod(shape[1:]))  # -1 is ambiguous for 0 rows
    if value is None:
        value = csr.ones(x.dtype, x.device)
    out = _SpMM.apply(x2, value.to(x.dtype), csr)
    return out.view((csr.shape[0],) + tuple(shape[1:]))


# -- torch.compile: the same CSR product as opaque custom ops ----------------------------------
# Dynamo cannot trace a sparse CSR matmul or the identity-keyed structure cache, so under
# ``torch.compile`` the fused route calls two custom ops: ``csr_structure`` (the cached CSR and
# its transpose, looked up by the edge_index tensor at run time) and ``csr_spmm`` (the product,
# with its backward); their fake implementations give the compiler the shapes.

@torch.library.custom_op('gdl_graphs::csr_structure', mutates_args=())
def csr_structure(edge_index: Tensor, flip: bool, num_src: int,
                  num_dst: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(rowptr, col, perm, row, t_rowptr, t_perm)`` of the CSR of ``edge_index`` (targets
    ``edge_index[1]``, or ``[0]`` with ``flip``) and of its transpose (``t_perm[k]``: the
    position in the CSR of the transpose's ``k``-th entry), cached per tensor."""
    def build():
        src, dst = (edge_index[1], edge_index[0]) if flip else (edge_index[0], edge_index[1])
        csr = CSR.build(dst, src, (num_dst, num_src))
        csr.transpose()
        return csr
    csr = cached((edge_index,), ('csr_op', flip, num_src, num_dst), build)
    t = csr.transpose()
    return (csr.rowptr.clone(), csr.col.clone(), csr.perm.clone(), csr.row.clone(),
            t.rowptr.clone(), csr._t_perm.clone())


@csr_structure.register_fake
def _(edge_index, flip, num_src, num_dst):
    e = edge_index.size(1)
    new = edge_index.new_empty
    return new(num_dst + 1), new(e), new(e), new(e), new(num_src + 1), new(e)


@torch.library.custom_op('gdl_graphs::csr_spmm', mutates_args=())
def csr_spmm(rowptr: Tensor, col: Tensor, value: Tensor, x: Tensor) -> Tensor:
    """``A @ x`` for the CSR ``A`` (``rowptr``, ``col``, ``value``) with ``x.size(0)``
    columns."""
    if col.numel() == 0:
        return x.new_zeros(rowptr.numel() - 1, x.size(1))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        a = torch.sparse_csr_tensor(rowptr, col, value, (rowptr.numel() - 1, x.size(0)),
                                    check_invariants=False)
    return a @ x


@csr_spmm.register_fake
def _(rowptr, col, value, x):
    return x.new_empty(rowptr.numel() - 1, x.size(1))


@torch.library.custom_op('gdl_graphs::csr_spmm_t', mutates_args=())
def csr_spmm_t(t_rowptr: Tensor, row: Tensor, t_perm: Tensor, value: Tensor,
               grad: Tensor, num_src: int) -> Tensor:
    """``A^T @ grad`` from the transpose's row pointers: its columns are ``row[t_perm]``."""
    if row.numel() == 0:
        return grad.new_zeros(num_src, grad.size(1))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        a = torch.sparse_csr_tensor(t_rowptr, row.index_select(0, t_perm),
                                    value.index_select(0, t_perm), (num_src, grad.size(0)),
                                    check_invariants=False)
    return a @ grad


@csr_spmm_t.register_fake
def _(t_rowptr, row, t_perm, value, grad, num_src):
    return grad.new_empty(num_src, grad.size(1))


class _CompiledSpMM(torch.autograd.Function):
    """``A @ x`` with ``A``'s structure from :func:`csr_structure` (traceable)."""

    @staticmethod
    def forward(ctx, x, value, rowptr, col, row, t_rowptr, t_perm):
        ctx.save_for_backward(x, value, col, row, t_rowptr, t_perm)
        return csr_spmm(rowptr, col, value, x)

    @staticmethod
    def backward(ctx, grad):
        x, value, col, row, t_rowptr, t_perm = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_value = None
        if ctx.needs_input_grad[0]:
            grad_x = csr_spmm_t(t_rowptr, row, t_perm, value, grad, x.size(0))
        if ctx.needs_input_grad[1]:
            grad_value = (grad.index_select(0, row) * x.index_select(0, col)).sum(-1)
        return grad_x, grad_value, None, None, None, None, None


def compiled_spmm(edge_index: Tensor, flip: bool, num_src: int, num_dst: int, x: Tensor,
                  edge_value: Optional[Tensor], mean: bool) -> Tensor:
    """The fused product under ``torch.compile``: ``edge_value`` per edge (caller's order)."""
    rowptr, col, perm, row, t_rowptr, t_perm = csr_structure(edge_index, flip, num_src,
                                                             num_dst)
    shape = x.shape
    x2 = x.reshape(shape[0], math.prod(shape[1:]))
    if edge_value is None:
        value = x2.new_ones(col.numel())
    else:
        value = edge_value.index_select(0, perm).to(x2.dtype)
    if mean:
        deg = (rowptr[1:] - rowptr[:-1]).clamp(min=1).to(x2.dtype)
        value = value / deg.index_select(0, row)
    out = _CompiledSpMM.apply(x2, value, rowptr, col, row, t_rowptr, t_perm)
    return out.view((num_dst,) + tuple(shape[1:]))
