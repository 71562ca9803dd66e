"""The one message-passing core.

Every layer of gdl_graphs derives from :class:`GDLConv` (a
:class:`torch_geometric.nn.MessagePassing`) and defines message (phi), aggregation and update
(gamma) only. Underneath, the kernel follows the graph's structure:

- generic: gather -> message -> scatter (:mod:`gdl_graphs.core.scatter`), always available;
- fused: a message linear in ``x_j`` (optionally edge-weighted) with sum/mean aggregation runs as
  a cached CSR product (:func:`propagate_linear`);
- typed linear: one weight matrix per edge type, transform then aggregate, never a per-edge
  weight tensor (:func:`propagate_typed`);
- structure dispatch: a tagged ``edge_index`` (lattice, complete, edgeless) lets a layer run a
  dense kernel (:meth:`GDLConv.dense_structure`).

``kernel='generic'`` (globally with :func:`use_kernel`, or per layer) forces the generic path;
tests prove every other path equal to it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence, Tuple

from torch import Tensor
from torch_geometric.nn import MessagePassing

from . import scatter as _scatter
from .sparse import csr_of, spmm, typed_csr_of
from .structure import Structure, plain, structure_of
from .validate import check_edge_index, check_index, check_node_features

KERNELS = ('auto', 'generic', 'fused')
_kernel = 'auto'


def set_kernel(name: str) -> None:
    """``'auto'`` (follow the structure), ``'generic'`` (gather/scatter) or ``'fused'``."""
    global _kernel
    if name not in KERNELS:
        raise ValueError(f'unknown kernel {name!r}: use one of {KERNELS}')
    _kernel = name


def get_kernel() -> str:
    return _kernel


@contextlib.contextmanager
def use_kernel(name: str) -> Iterator[None]:
    old = _kernel
    set_kernel(name)
    try:
        yield
    finally:
        set_kernel(old)


def _sizes(x: Tensor, size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    return (x.size(0), x.size(0)) if size is None else (int(size[0]), int(size[1]))


def _fused(kernel: str, reduce: str) -> bool:
    kernel = _kernel if kernel == 'auto' else kernel
    return kernel != 'generic' and reduce in ('sum', 'add', 'mean')


def _mean_values(csr, value: Optional[Tensor], dtype, device) -> Tensor:
    deg = (csr.rowptr[1:] - csr.rowptr[:-1]).clamp(min=1).to(dtype)
    inv = (1.0 / deg).index_select(0, csr.row)
    return inv if value is None else value * inv


def propagate_linear(edge_index: Tensor, x: Tensor, edge_weight: Optional[Tensor] = None,
                     reduce: str = 'sum', size: Optional[Tuple[int, int]] = None,
                     kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, \mathbf{x}_j`.

    ``edge_index`` is ``[2, E]`` (source, target); ``size = (num_src, num_dst)`` for bipartite
    graphs. Sum and mean run fused unless the generic kernel is forced."""
    num_src, num_dst = _sizes(x, size)
    check_node_features(x, num_src)
    check_edge_index(edge_index, size=(num_src, num_dst))
    if edge_weight is not None and edge_weight.shape != (edge_index.size(1),):
        raise ValueError(f'edge_weight must have shape [E] = [{edge_index.size(1)}], '
                         f'got {list(edge_weight.shape)}')
    ei = plain(edge_index)
    if _fused(kernel, reduce):
        csr = csr_of(edge_index, num_src, num_dst)
        value = None if edge_weight is None else edge_weight.index_select(0, csr.perm)
        if reduce == 'mean':
            value = _mean_values(csr, value, x.dtype, x.device)
        return spmm(csr, x, value)
    msg = x.index_select(0, ei[0])
    if edge_weight is not None:
        msg = msg * edge_weight.view((-1,) + (1,) * (msg.dim() - 1)).to(msg.dtype)
    return _scatter.scatter(msg, ei[1], num_dst, reduce)


def propagate_typed(edge_index: Tensor, edge_type: Tensor, x: Tensor, weight: Tensor,
                    edge_weight: Optional[Tensor] = None, reduce: str = 'sum',
                    size: Optional[Tuple[int, int]] = None, kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, W_{t(j,i)}^\top \mathbf{x}_j`
    with ``weight`` of shape ``[T, F_in, F_out]`` and ``edge_type`` in ``0 .. T-1``.

    The features are transformed once (``Y = x W``, ``[N, T, F_out]``), then aggregated over
    the virtual sources ``j * T + t``: fused as one CSR product, or gathered and scattered."""
    num_src, num_dst = _sizes(x, size)
    num_types, f_in, f_out = weight.shape
    check_node_features(x, num_src, channels=f_in)
    check_edge_index(edge_index, size=(num_src, num_dst))
    check_index(plain(edge_type), edge_index.size(1), num_types, name='edge_type')
    ei = plain(edge_index)
    y = (x @ weight.permute(1, 0, 2).reshape(f_in, num_types * f_out))
    y = y.view(num_src * num_types, f_out)
    if _fused(kernel, reduce):
        csr = typed_csr_of(edge_index, edge_type, num_types, num_src, num_dst)
        value = None if edge_weight is None else edge_weight.index_select(0, csr.perm)
        if reduce == 'mean':
            value = _mean_values(csr, value, x.dtype, x.device)
        return spmm(csr, y, value)
    msg = y.index_select(0, ei[0] * num_types + plain(edge_type))
    if edge_weight is not None:
        msg = msg * edge_weight.view(-1, 1).to(msg.dtype)
    return _scatter.scatter(msg, ei[1], num_dst, reduce)


class GDLConv(MessagePassing):
    r"""Base class of every gdl_graphs layer (a PyG :class:`MessagePassing`).

    A subclass defines ``message`` / ``update`` as in PyG and reduces with ``aggr`` in
    {``'sum'``, ``'mean'``, ``'max'``, ``'min'``, ``'mul'``}; attention layers normalise their
    scores with :meth:`attention_softmax` and sum. Linear messages call
    :meth:`propagate_linear` / :meth:`propagate_typed`, which the core runs fused.

    Args:
        aggr: the aggregation.
        kernel: ``'auto'`` (default: follow the global setting and the graph's structure),
            ``'generic'`` or ``'fused'``.
    """

    def __init__(self, aggr: str = 'sum', kernel: str = 'auto', **kwargs):
        if aggr not in _scatter.REDUCTIONS:
            raise ValueError(f'unknown aggregation {aggr!r}: use one of {_scatter.REDUCTIONS}')
        if kernel not in KERNELS:
            raise ValueError(f'unknown kernel {kernel!r}: use one of {KERNELS}')
        super().__init__(aggr=aggr, **kwargs)
        self.kernel = kernel

    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,
                  dim_size: Optional[int] = None) -> Tensor:
        return _scatter.scatter(inputs, index, dim_size, self.aggr, dim=self.node_dim)

    def attention_softmax(self, score: Tensor, index: Tensor, num_nodes: int) -> Tensor:
        """Normalise edge scores over the incoming edges of each target node."""
        return _scatter.softmax(score, index, num_nodes)

    def propagate_linear(self, edge_index: Tensor, x: Tensor,
                         edge_weight: Optional[Tensor] = None, reduce: Optional[str] = None,
                         size: Optional[Tuple[int, int]] = None) -> Tensor:
        return propagate_linear(edge_index, x, edge_weight, reduce or self.aggr, size,
                                self.kernel)

    def propagate_typed(self, edge_index: Tensor, edge_type: Tensor, x: Tensor, weight: Tensor,
                        edge_weight: Optional[Tensor] = None, reduce: Optional[str] = None,
                        size: Optional[Tuple[int, int]] = None) -> Tensor:
        return propagate_typed(edge_index, edge_type, x, weight, edge_weight,
                               reduce or self.aggr, size, self.kernel)

    def dense_structure(self, edge_index: Tensor,
                        kinds: Sequence[str]) -> Optional[Structure]:
        """The structure-dispatch hook: the tag of ``edge_index`` when it is one of ``kinds``
        and the dense path is allowed (kernel ``'auto'``), else ``None``."""
        if self.kernel != 'auto' or _kernel != 'auto':
            return None
        s = structure_of(edge_index)
        return s if s is not None and s.kind in kinds else None

    def check(self, x: Tensor, edge_index: Tensor, channels: Optional[int] = None) -> None:
        """Validate a ``(x, edge_index)`` pair with clear messages."""
        check_node_features(x, channels=channels)
        check_edge_index(edge_index, x.size(0))
