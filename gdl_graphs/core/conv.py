"""The one message-passing core.

Every layer of gdl_graphs derives from :class:`GDLConv` (a
:class:`torch_geometric.nn.MessagePassing`) and is written PyG's way: ``forward`` calls
``self.propagate(edge_index, ...)`` and the layer defines ``message`` (phi), optionally
``message_and_aggregate`` (its fused form) and ``update`` (gamma). The core chooses the kernel
inside :meth:`GDLConv.propagate`:

- fused: when the layer implements ``message_and_aggregate``, the aggregation is fusable and
  nothing needs the individual messages (no explainer, no message/aggregate hook, no
  decomposed layers), the layer's ``message_and_aggregate`` receives an :class:`Adjacency`
  (the graph after ``flow``, with its cached CSR and structure tag) and reduces with
  :func:`matmul` (a cached CSR product, no ``E x F`` tensor), :func:`typed_matmul` (one weight
  per edge type) or a dense kernel chosen by the graph's structure (lattice, complete graph);
- generic: PyG's own ``propagate`` (gather -> ``message`` -> ``aggregate`` -> ``update``), so
  flow, hooks, explain masks, ``Aggregation`` modules, sparse ``adj_t`` inputs and decomposed
  layers behave exactly as for any PyG layer.

``kernel='generic'`` (globally with :func:`use_kernel`, or per layer) forces the generic path;
tests prove every other path equal to it.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import is_sparse, to_edge_index

from . import scatter as _scatter
from .sparse import CSR, compiled_spmm, spmm
from .structure import Structure, cached, plain, structure_of
from .validate import check_edge_index, check_node_features, validation_enabled

KERNELS = ('auto', 'generic', 'fused')
FUSED_REDUCTIONS = ('sum', 'add', 'mean')
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


def _compiling() -> bool:
    return torch.compiler.is_compiling()


class Adjacency:
    r"""The graph of one ``propagate`` call as a fused kernel sees it: messages flow from
    ``src`` (``num_src`` nodes) to ``dst`` (``num_dst`` nodes) after PyG's ``flow`` is applied,
    edges in the caller's order; ``values`` the stored values of a sparse ``adj_t`` (PyG's
    fused kernels weight by them, so :func:`matmul` does too). ``csr()`` is the cached target-major
    CSR (built once per
    ``edge_index`` tensor), ``structure`` the tag a converter put on ``edge_index`` (``None``
    when the layer or the global setting asks for no dense kernel)."""

    __slots__ = ('key', 'src', 'dst', 'num_src', 'num_dst', 'structure', 'flow', 'values')

    def __init__(self, key: Tensor, src: Tensor, dst: Tensor, num_src: int, num_dst: int,
                 structure: Optional[Structure] = None, flow: str = 'source_to_target',
                 values: Optional[Tensor] = None):
        self.key, self.src, self.dst, self.values = key, src, dst, values
        self.num_src, self.num_dst = num_src, num_dst
        self.structure, self.flow = structure, flow

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def csr(self) -> CSR:
        """Rows = targets, columns = sources; ``perm`` maps CSR positions to edges."""
        return cached((self.key,), ('csr', self.flow, self.num_src, self.num_dst),
                      lambda: CSR.build(self.dst, self.src, (self.num_dst, self.num_src)))

    def typed_csr(self, edge_type: Tensor, num_types: int) -> CSR:
        """CSR over the virtual columns ``j * T + t`` of typed edges."""
        return cached((self.key, edge_type),
                      ('typed', self.flow, num_types, self.num_src, self.num_dst),
                      lambda: CSR.build(self.dst, self.src * num_types + plain(edge_type),
                                        (self.num_dst, self.num_src * num_types)))


def sparse_to_edge_index(adj_t: Any) -> Tuple[Tensor, Tensor]:
    """``(edge_index, values)`` of a sparse ``adj_t`` (torch.sparse COO/CSR/CSC or
    ``SparseTensor``; rows = targets): ``edge_index[0]`` the sources, ``[1]`` the targets,
    cached per ``adj_t``."""
    if not is_sparse(adj_t):
        raise ValueError(f'expected a sparse adjacency, got {type(adj_t).__name__}')

    def build():
        (row, col), value = to_edge_index(adj_t)
        return torch.stack([col, row]), value
    return cached((adj_t,), ('edge_index',), build) if isinstance(adj_t, Tensor) else build()


def _fused_ok(x: Tensor) -> bool:
    """Whether the CSR product runs for ``x``: not while compiling (inductor fuses the
    gather/scatter form), not for half precision on CPU or meta tensors (no sparse kernel)."""
    if _compiling() or x.device.type == 'meta':
        return False
    return x.dtype in (torch.float32, torch.float64) or x.device.type == 'cuda' and \
        x.dtype is not torch.float16 and x.dtype is not torch.bfloat16


def _mean_scale(csr: CSR, dtype) -> Tensor:
    """``1 / deg(row)`` of every stored entry, from the cached row pointers."""
    deg = (csr.rowptr[1:] - csr.rowptr[:-1]).clamp(min=1).to(dtype)
    return (1.0 / deg).index_select(0, csr.row)


def _use_csr(x: Tensor, reduce: str, kernel: str) -> bool:
    kernel = _kernel if kernel == 'auto' else kernel
    return kernel != 'generic' and reduce in ('sum', 'mean') and _fused_ok(x)


def matmul(adj: Adjacency, x: Tensor, edge_weight: Optional[Tensor] = None,
           reduce: str = 'sum', kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, \mathbf{x}_j`. Sum and mean run
    as a cached CSR product (no ``E x F`` tensor, forward or backward); while compiling, for
    half precision, for the other reductions and with ``kernel='generic'`` the messages are
    gathered and scattered."""
    reduce = _scatter._check_reduce(reduce)
    edge_weight = adj.values if edge_weight is None else edge_weight
    if edge_weight is not None and edge_weight.shape != (adj.num_edges,):
        raise ValueError(f'edge_weight must have shape [E] = [{adj.num_edges}], '
                         f'got {list(edge_weight.shape)}')
    if x.size(0) != adj.num_src:
        raise ValueError(f'x has {x.size(0)} rows but the graph has {adj.num_src} source nodes')
    if _compiling() and reduce in ('sum', 'mean') and x.dtype in (torch.float32, torch.float64) \
            and (_kernel if kernel == 'auto' else kernel) != 'generic':
        key = adj.key
        if isinstance(key, Tensor) and key.dim() == 2 and key.layout == torch.strided \
                and not hasattr(key, 'as_tensor'):
            flip = adj.flow != 'source_to_target'
        else:
            key, flip = torch.stack([adj.src, adj.dst]), False
        return compiled_spmm(plain(key), flip, adj.num_src, adj.num_dst, x, edge_weight,
                             reduce == 'mean')
    if _use_csr(x, reduce, kernel):
        csr = adj.csr()
        value = None if edge_weight is None else edge_weight.index_select(0, csr.perm)
        if reduce == 'mean':
            scale = _mean_scale(csr, x.dtype)
            value = scale if value is None else value * scale
        return spmm(csr, x, value)
    msg = x.index_select(0, adj.src)
    if edge_weight is not None:
        msg = msg * edge_weight.view((-1,) + (1,) * (msg.dim() - 1)).to(msg.dtype)
    return _scatter.scatter(msg, adj.dst, adj.num_dst, reduce)


def typed_matmul(adj: Adjacency, x: Tensor, edge_type: Tensor, weight: Tensor,
                 edge_weight: Optional[Tensor] = None, reduce: str = 'sum',
                 kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, W_{t(j,i)}^\top \mathbf{x}_j`
    with ``weight`` of shape ``[T, F_in, F_out]`` and ``edge_type`` in ``0 .. T-1``.

    The features are transformed once (``Y = x W``, ``[N, T, F_out]``), then aggregated over
    the virtual sources ``j * T + t``: as one cached CSR product, or gathered and scattered."""
    reduce = _scatter._check_reduce(reduce)
    num_types, f_in, f_out = weight.shape
    if x.dim() != 2 or x.size(-1) != f_in:
        got = x.size(-1) if x.dim() == 2 else f'shape {list(x.shape)}'
        raise ValueError(f'x has {got} channels but the layer expects {f_in}: pass x as '
                         f'[num_nodes, {f_in}]')
    if edge_weight is not None and edge_weight.shape != (adj.num_edges,):
        raise ValueError(f'edge_weight must have shape [E] = [{adj.num_edges}], '
                         f'got {list(edge_weight.shape)}')
    check_edge_type(edge_type, adj.num_edges, num_types)
    y = (x @ weight.permute(1, 0, 2).reshape(f_in, num_types * f_out))
    y = y.view(adj.num_src * num_types, f_out)
    if _use_csr(x, reduce, kernel):
        csr = adj.typed_csr(edge_type, num_types)
        value = None if edge_weight is None else edge_weight.index_select(0, csr.perm)
        if reduce == 'mean':
            scale = _mean_scale(csr, x.dtype)
            value = scale if value is None else value * scale
        return spmm(csr, y, value)
    msg = y.index_select(0, adj.src * num_types + plain(edge_type))
    if edge_weight is not None:
        msg = msg * edge_weight.view(-1, 1).to(msg.dtype)
    return _scatter.scatter(msg, adj.dst, adj.num_dst, reduce)


def _functional_adjacency(edge_index: Tensor, x: Tensor,
                          size: Optional[Tuple[int, int]]) -> Adjacency:
    num_src, num_dst = (x.size(0), x.size(0)) if size is None else (int(size[0]), int(size[1]))
    check_node_features(x, num_src)
    check_edge_index(edge_index, size=(num_src, num_dst))
    ei = plain(edge_index)
    return Adjacency(edge_index, ei[0], ei[1], num_src, num_dst)


def propagate_linear(edge_index: Tensor, x: Tensor, edge_weight: Optional[Tensor] = None,
                     reduce: str = 'sum', size: Optional[Tuple[int, int]] = None,
                     kernel: str = 'auto') -> Tensor:
    """The functional form of :func:`matmul` on an ``edge_index`` ``[2, E]`` (source ->
    target; ``size = (num_src, num_dst)`` for bipartite graphs), validated."""
    return matmul(_functional_adjacency(edge_index, x, size), x, edge_weight, reduce, kernel)


def propagate_typed(edge_index: Tensor, edge_type: Tensor, x: Tensor, weight: Tensor,
                    edge_weight: Optional[Tensor] = None, reduce: str = 'sum',
                    size: Optional[Tuple[int, int]] = None, kernel: str = 'auto') -> Tensor:
    """The functional form of :func:`typed_matmul` on an ``edge_index`` ``[2, E]``."""
    adj = _functional_adjacency(edge_index, x, size)
    return typed_matmul(adj, x, edge_type, weight, edge_weight, reduce, kernel)


def check_edge_type(edge_type: Tensor, num_edges: int, num_types: int) -> None:
    """``edge_type`` must be a 1-D integer tensor with one entry per edge, in ``0 .. T-1``."""
    if not isinstance(edge_type, Tensor) or edge_type.dim() != 1:
        got = list(edge_type.shape) if isinstance(edge_type, Tensor) else type(edge_type)
        raise ValueError(f'edge_type must be a 1-D integer tensor [E], got {got}')
    if edge_type.dtype not in (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f'edge_type must hold integers (torch.long), got {edge_type.dtype}; '
                         f'pass data.edge_type from the converter')
    if edge_type.numel() != num_edges:
        raise ValueError(f'edge_type has {edge_type.numel()} entries but there are {num_edges} '
                         f'edges; it needs one entry per edge')
    if validation_enabled() and not _compiling() and edge_type.numel() and \
            edge_type.device.type != 'meta':
        def check() -> bool:  # once per edge_type tensor (and version)
            lo, hi = (int(v) for v in torch.aminmax(edge_type))
            if lo < 0 or hi >= num_types:
                raise ValueError(f'edge_type holds {lo if lo < 0 else hi}, out of range for '
                                 f'{num_types} edge types (0 .. {num_types - 1})')
            return True
        cached((edge_type,), ('edge_type_range', num_types), check)


def _pair_size(value: Any, node_dim: int) -> Optional[Tuple[int, int]]:
    if isinstance(value, Tensor) and value.dim() > 0:
        n = value.size(node_dim)
        return n, n
    if isinstance(value, (tuple, list)) and len(value) == 2:
        a, b = value
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return a.size(node_dim), b.size(node_dim)
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            t = a if isinstance(a, Tensor) else b
            return t.size(node_dim), t.size(node_dim)
    return None


class GDLConv(MessagePassing):
    r"""Base class of every gdl_graphs layer: a PyG :class:`MessagePassing` whose
    :meth:`propagate` chooses the kernel (see the module docstring).

    A subclass is written as for PyG: ``forward`` calls ``self.propagate(edge_index, ...)``;
    ``message`` defines the per-edge message (it always exists: the explainer, hooks and
    ``kernel='generic'`` use it); ``message_and_aggregate(adj, ...)``, when defined, computes
    the same aggregation fused, from an :class:`Adjacency`, with the core's :func:`matmul`,
    :func:`typed_matmul` or a dense kernel.

    Args:
        aggr: anything PyG accepts: ``'sum'``, ``'mean'``, ``'max'``, ``'min'``, ``'mul'``,
            ``'std'``, ..., a list of them (multi-aggregation) or an
            :class:`~torch_geometric.nn.aggr.Aggregation` module. Sum and mean run fused.
        kernel: ``'auto'`` (default: follow the global setting and the graph's structure),
            ``'generic'`` (always PyG's gather/message/scatter) or ``'fused'`` (no dense
            structure kernels).
        **kwargs: ``flow``, ``node_dim``, ``aggr_kwargs``, ``decomposed_layers`` as in PyG.
    """

    def __init__(self, aggr: Any = 'sum', kernel: str = 'auto', **kwargs):
        if kernel not in KERNELS:
            raise ValueError(f'unknown kernel {kernel!r}: use one of {KERNELS}')
        try:
            super().__init__(aggr=aggr, **kwargs)
        except (ValueError, KeyError) as e:
            if 'flow' in str(e):
                raise
            raise ValueError(f'unknown aggregation {aggr!r}: use a PyG aggregation name '
                             f"('sum', 'mean', 'max', 'min', 'mul', 'std', 'var', 'softmax', "
                             f"'median', ...), a list of them or an Aggregation module") from e
        self.kernel = kernel
        # PyG fuses only for sparse inputs; the core decides for every input in propagate
        self._implements_fused = self.inspector.implements('message_and_aggregate')
        self.fuse = False

    def _set_jittable_templates(self, raise_on_error: bool = False) -> None:
        # PyG generates a propagate per class (its collect reads a pair ``(x_0, x_1)`` as
        # ``x_j = x_0``, ``x_i = x_1`` under either flow): the generic route calls it; this
        # class's propagate stays in front (the explainer and decomposed layers switch
        # between ``_orig_propagate`` and ``_jinja_propagate``: both are ours).
        cls = self.__class__
        if '_pyg_propagate' not in cls.__dict__:
            mine = cls.propagate
            super()._set_jittable_templates(raise_on_error)
            generated = cls.__dict__.get('_jinja_propagate')
            cls._pyg_propagate = generated if generated is not None and \
                generated is not mine else MessagePassing.propagate
            cls.propagate = mine
        cls._orig_propagate = cls._jinja_propagate = cls.propagate

    # -- aggregation -------------------------------------------------------------------------
    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,
                  dim_size: Optional[int] = None) -> Tensor:
        if isinstance(self.aggr, str) and self.aggr in _scatter.REDUCTIONS:
            return _scatter.scatter(inputs, index, dim_size, self.aggr, dim=self.node_dim)
        return self.aggr_module(inputs, index, ptr=ptr, dim_size=dim_size, dim=self.node_dim)

    def attention_softmax(self, score: Tensor, index: Tensor, num_nodes: int) -> Tensor:
        """Normalise edge scores over the incoming edges of each target node."""
        return _scatter.softmax(score, index, num_nodes)

    @property
    def fused_aggr(self) -> bool:
        """Whether ``aggr`` reduces by sum or mean (the fusable reductions)."""
        return isinstance(self.aggr, str) and self.aggr in FUSED_REDUCTIONS

    # -- propagate ---------------------------------------------------------------------------
    def _route_fused(self, edge_index: Any) -> bool:
        if not self._implements_fused or self.explain or self.decomposed_layers > 1:
            return False
        if self.kernel == 'generic' or _kernel == 'generic' or not self.fused_aggr:
            return False
        if (self._message_forward_pre_hooks or self._message_forward_hooks
                or self._aggregate_forward_pre_hooks or self._aggregate_forward_hooks):
            return False  # a PyG user expects them to fire
        if not (isinstance(edge_index, Tensor) or is_sparse(edge_index)):
            return False
        return self.fuses(edge_index)

    def fuses(self, edge_index: Any) -> bool:
        """Whether ``message_and_aggregate`` handles this graph (default: every graph). A layer
        whose fused form exists only for some structures (e.g. dense attention on complete
        graphs) narrows it; the others run the generic path."""
        return True

    def propagate(self, edge_index: Any, size: Optional[Tuple[int, int]] = None,
                  **kwargs: Any) -> Any:
        """PyG's ``propagate``; the fused route runs ``message_and_aggregate`` on an
        :class:`Adjacency` with PyG's propagate and message-and-aggregate hooks."""
        if isinstance(edge_index, Tensor) and not is_sparse(edge_index):
            self._validate(edge_index, size, kwargs)
        elif not is_sparse(edge_index):
            raise ValueError(f'{type(self).__name__}: edge_index must be a torch.Tensor of shape '
                             f'[2, E] (or a sparse adj_t), got {type(edge_index).__name__}; '
                             f'convert with torch.as_tensor(edge_index)')
        if not self._route_fused(edge_index):
            if structure_of(edge_index) is not None and not is_sparse(edge_index):
                edge_index = plain(edge_index)
            if self.explain or self.decomposed_layers > 1:  # as PyG: its original propagate
                return MessagePassing.propagate(self, edge_index, size, **kwargs)
            return self._pyg_propagate(edge_index, size=size, **kwargs)
        compiling = _compiling()
        if not compiling:
            for hook in self._propagate_forward_pre_hooks.values():
                res = hook(self, (edge_index, size, kwargs))
                if res is not None:
                    edge_index, size, kwargs = res
        mutable_size = self._check_input(edge_index, size)
        adj = self.adjacency(edge_index, mutable_size, kwargs)
        coll = self._collect(self._fused_user_args, edge_index if is_sparse(edge_index)
                             else plain(edge_index), mutable_size, kwargs)
        mag_kwargs = self.inspector.collect_param_data('message_and_aggregate', coll)
        if not compiling:
            for hook in self._message_and_aggregate_forward_pre_hooks.values():
                res = hook(self, (edge_index, mag_kwargs))
                if res is not None:
                    edge_index, mag_kwargs = res
        out = self.message_and_aggregate(adj, **mag_kwargs)
        if not compiling:
            for hook in self._message_and_aggregate_forward_hooks.values():
                res = hook(self, (edge_index, mag_kwargs), out)
                if res is not None:
                    out = res
        out = self.update(out, **self.inspector.collect_param_data('update', coll))
        if not compiling:
            for hook in self._propagate_forward_hooks.values():
                res = hook(self, (edge_index, mutable_size, kwargs), out)
                if res is not None:
                    out = res
        return out

    def adjacency(self, edge_index: Any, size: list, kwargs: Dict[str, Any]) -> Adjacency:
        """The :class:`Adjacency` of ``edge_index`` (a ``[2, E]`` tensor, PyG ``EdgeIndex``,
        torch.sparse ``adj_t`` or ``SparseTensor``) under this layer's ``flow``."""
        structure = None
        if self.kernel == 'auto' and _kernel == 'auto' and self.flow == 'source_to_target':
            structure = structure_of(edge_index)  # tags describe the source -> target graph
        if is_sparse(edge_index):  # adj_t: rows = targets, columns = sources
            ei, values = sparse_to_edge_index(edge_index)
            num_dst, num_src = edge_index.size(0), edge_index.size(1)
            if values is not None and values.dim() != 1:
                values = None
            return Adjacency(ei, ei[0], ei[1], num_src, num_dst, None, values=values)
        n0, n1 = size
        if n0 is None or n1 is None:
            guess = _pair_size(kwargs.get('x'), self.node_dim)
            for value in kwargs.values():
                if guess is not None:
                    break
                guess = _pair_size(value, self.node_dim)
            if guess is None:
                raise ValueError(f'{type(self).__name__}: cannot infer the number of nodes: '
                                 f'pass size=(num_src, num_dst) to propagate')
            n0 = guess[0] if n0 is None else n0
            n1 = guess[1] if n1 is None else n1
        ei = plain(edge_index)
        if hasattr(ei, 'as_tensor'):  # PyG's EdgeIndex
            ei = ei.as_tensor()
        if self.flow == 'source_to_target':
            return Adjacency(edge_index, ei[0], ei[1], n0, n1, structure, self.flow)
        return Adjacency(edge_index, ei[1], ei[0], n1, n0, structure, self.flow)

    def _validate(self, edge_index: Tensor, size, kwargs: Dict[str, Any]) -> None:
        """The clear errors for a bad ``edge_index``; the range pass runs once per tensor
        (cached with its structure), and not at all for a converter-tagged graph."""
        if _compiling() or edge_index.device.type == 'meta':
            return
        if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.is_floating_point():
            check_edge_index(edge_index)  # raises the clear error
        if structure_of(edge_index) is not None or not validation_enabled():
            return  # the converter vouches for its edges
        sizes = tuple(size) if size is not None else _pair_size(kwargs.get('x'),
                                                                 self.node_dim)
        if sizes is None or None in sizes:
            sizes = None

        def check() -> bool:
            check_edge_index(edge_index, size=sizes) if sizes is not None \
                else check_edge_index(edge_index)
            return True
        cached((edge_index,), ('valid', sizes), check)

    def check_edges(self, edge_index: Tensor, size: Tuple[int, int]) -> None:
        """The clear range error for ``edge_index`` ``[2, E]`` against ``size`` (for layers
        that rebuild the edge list before ``propagate``)."""
        if not _compiling() and edge_index.device.type != 'meta':
            check_edge_index(edge_index, size=tuple(size))

    def check(self, x: Tensor, edge_index: Tensor, channels: Optional[int] = None) -> None:
        """Validate node features ``x`` against the layer's input width."""
        check_node_features(x, channels=channels)
