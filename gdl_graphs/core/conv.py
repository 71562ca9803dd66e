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

import inspect
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
import torch_geometric
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import is_sparse, to_edge_index

from . import scatter as _scatter
from .config import check_backend, check_kernel, effective_backend, effective_kernel
from .config import validation_enabled as _validation_enabled
from .sparse import CSR, compiled_spmm, head_spmm, spmm
from .structure import (
    Structure,
    cached,
    has_cached,
    holds_cache,
    mark_derived,
    plain,
    signature,
    structure_of,
)
from .validate import check_edge_index, check_node_features

#: the PyG releases whose MessagePassing internals the fused route uses (setup.cfg says the
#: same; CI tests the oldest and the newest)
PYG_RANGE = ((2, 6), (2, 10))
#: the private members of PyG's MessagePassing that GDLConv.propagate calls
PYG_PRIVATE_CLASS = ('_set_jittable_templates', '_collect', '_check_input')
PYG_PRIVATE_INSTANCE = ('_fused_user_args', '_propagate_forward_pre_hooks',
                        '_propagate_forward_hooks', '_message_forward_pre_hooks',
                        '_message_forward_hooks', '_aggregate_forward_pre_hooks',
                        '_aggregate_forward_hooks', '_message_and_aggregate_forward_pre_hooks',
                        '_message_and_aggregate_forward_hooks', 'inspector')


def _pyg_error(what: str) -> ImportError:
    lo, hi = ('.'.join(map(str, v)) for v in PYG_RANGE)
    return ImportError(f'gdl_graphs needs torch_geometric >={lo},<{hi} ({what}, found '
                       f'{torch_geometric.__version__}): pip install '
                       f'"torch-geometric>={lo},<{hi}"')


def _check_pyg() -> None:
    version = tuple(int(v) for v in re.findall(r'\d+', torch_geometric.__version__)[:2])
    if not PYG_RANGE[0] <= version < PYG_RANGE[1]:
        raise _pyg_error('outside the tested range')
    missing = [m for m in PYG_PRIVATE_CLASS if not hasattr(MessagePassing, m)]
    if missing:
        raise _pyg_error(f'MessagePassing lacks {", ".join(missing)}')


_check_pyg()

FUSED_REDUCTIONS = ('sum', 'add', 'mean')
#: the kernels of a plan that run ``message_and_aggregate`` with sparse products
SPARSE_KERNELS = ('csr', 'compiled_csr', 'scatter')


def _compiling() -> bool:
    return torch.compiler.is_compiling()


@dataclass(frozen=True)
class Plan:
    """The kernel one ``propagate`` call runs, and why.

    ``kernel`` is ``'generic'`` (PyG's gather -> ``message`` -> ``aggregate``), one of the
    sparse products of ``message_and_aggregate`` (``'csr'``: a cached CSR product;
    ``'compiled_csr'``: the same as custom ops under ``torch.compile``; ``'scatter'``: gathered
    and scattered, where no sparse kernel exists, e.g. half precision on CPU), or a dense
    kernel that the layer declares for the graph's structure (e.g. ``'conv'`` on a lattice,
    ``'sdpa'`` on complete graphs). ``backend`` is the scatter backend."""
    kernel: str
    reason: str
    backend: str = 'torch'

    @property
    def fused(self) -> bool:
        """Whether ``message_and_aggregate`` runs (every kernel but ``'generic'``)."""
        return self.kernel != 'generic'

    def __str__(self) -> str:
        return f'{self.kernel}: {self.reason}'


class Adjacency:
    r"""The graph of one ``propagate`` call as a fused kernel sees it: messages flow from
    ``src`` (``num_src`` nodes) to ``dst`` (``num_dst`` nodes) after PyG's ``flow`` is applied,
    edges in the caller's order; ``values`` the stored values of a sparse ``adj_t`` (PyG's
    fused kernels weight by them, so :func:`matmul` does too). ``csr()`` is the target-major
    CSR, cached on the ``edge_index`` tensor; ``structure`` the converter's
    :class:`~gdl_graphs.core.Structure` when the plan runs one of the layer's dense kernels
    (else ``None``); ``plan`` the :class:`Plan` of the call."""

    __slots__ = ('key', 'src', 'dst', 'num_src', 'num_dst', 'structure', 'flow', 'values',
                 'plan', 'sig')

    def __init__(self, key: Tensor, src: Tensor, dst: Tensor, num_src: int, num_dst: int,
                 structure: Optional[Structure] = None, flow: str = 'source_to_target',
                 values: Optional[Tensor] = None, plan: Optional[Plan] = None):
        self.key, self.src, self.dst, self.values = key, src, dst, values
        self.num_src, self.num_dst = num_src, num_dst
        self.structure, self.flow = structure, flow
        self.plan = plan
        self.sig: Optional[tuple] = None  # the key's signature, when computed in this call

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def csr(self) -> CSR:
        """Rows = targets, columns = sources; ``perm`` maps CSR positions to edges."""
        return cached((self.key,), ('csr', self.flow, self.num_src, self.num_dst),
                      lambda: CSR.build(self.dst, self.src, (self.num_dst, self.num_src)),
                      None if self.sig is None else (self.sig,))

    def typed_csr(self, edge_type: Tensor, num_types: int) -> CSR:
        """CSR over the virtual columns ``j * T + t`` of typed edges. A converter's own
        ``edge_type`` is vouched for with its graph (as by the dense kernels): no fingerprint."""
        tag = structure_of(self.key) if isinstance(self.key, Tensor) else None
        own = tag is not None and edge_type is tag.edge_type
        key_sig = self.sig if self.sig is not None else signature(self.key)
        return cached((self.key, edge_type),
                      ('typed', self.flow, num_types, self.num_src, self.num_dst),
                      lambda: CSR.build(self.dst, self.src * num_types + plain(edge_type),
                                        (self.num_dst, self.num_src * num_types)),
                      (key_sig, signature(edge_type, content=not own)))


def sparse_to_edge_index(adj_t: Any) -> Tuple[Tensor, Tensor]:
    """``(edge_index, values)`` of a sparse ``adj_t`` (torch.sparse COO/CSR/CSC or
    ``SparseTensor``; rows = targets): ``edge_index[0]`` the sources, ``[1]`` the targets,
    cached per ``adj_t``."""
    if not is_sparse(adj_t):
        raise ValueError(f'expected a sparse adjacency, got {type(adj_t).__name__}')

    def build():
        (row, col), value = to_edge_index(adj_t)
        ei = torch.stack([col, row])
        mark_derived(ei)  # ours alone: its caches need no fingerprint
        return ei, value
    return cached((adj_t,), ('edge_index',), build) if isinstance(adj_t, Tensor) else build()


#: below this many message entries (E x F) a graph whose CSR is not cached yet is gathered
#: and scattered: building the CSR and its transpose (two sorts) costs more than the product
SMALL_PRODUCT = 1 << 18


def sparse_kernel(x: Optional[Tensor], num_edges: Optional[int] = None,
                  csr_cached: bool = False) -> Tuple[str, str]:
    """The sparse product for features ``x``, and why: ``'compiled_csr'`` while compiling,
    ``'scatter'`` where no sparse kernel exists (half precision on CPU, meta tensors) or for a
    small new graph (``num_edges * F <`` :data:`SMALL_PRODUCT` without a cached CSR), else
    ``'csr'``."""
    if x is None:
        return 'csr', 'a cached CSR product'
    if _compiling():
        if x.dtype in (torch.float32, torch.float64):
            return 'compiled_csr', 'torch.compile: the CSR product as custom ops'
        return 'scatter', f'torch.compile with {x.dtype}: inductor fuses gather/scatter'
    if x.device.type == 'meta':
        return 'scatter', 'meta tensors have no sparse kernel'
    if x.dtype in (torch.float32, torch.float64) or x.device.type == 'cuda' and \
            x.dtype not in (torch.float16, torch.bfloat16):
        if csr_cached:
            return 'csr', 'the cached CSR product of this graph (no E x F messages)'
        width = x.numel() // x.size(0) if x.dim() > 1 and x.size(0) else 1
        if num_edges is not None and num_edges * width < SMALL_PRODUCT:
            return 'scatter', (f'a new graph with E x F = {num_edges * width} < '
                               f'{SMALL_PRODUCT}: one gather/scatter beats building its CSR')
        return 'csr', 'a CSR product, cached on edge_index (no E x F messages)'
    return 'scatter', f'no sparse {x.dtype} kernel on {x.device.type}: gathered and scattered'


def _mean_scale(csr: CSR, dtype) -> Tensor:
    """``1 / deg(row)`` of every stored entry, from the cached row pointers."""
    deg = (csr.rowptr[1:] - csr.rowptr[:-1]).clamp(min=1).to(dtype)
    return (1.0 / deg).index_select(0, csr.row)


def _product(adj: Adjacency, x: Tensor, reduce: str) -> Tuple[str, str]:
    """The sparse kernel of ``adj``'s plan (the functional forms plan here)."""
    plan = adj.plan
    if plan is None or plan.kernel not in SPARSE_KERNELS:
        kernel = sparse_kernel(x)[0]
        backend = effective_backend(None if plan is None else plan.backend)
    else:
        kernel, backend = plan.kernel, plan.backend
    if reduce not in ('sum', 'mean') or kernel == 'compiled_csr' and \
            x.dtype not in (torch.float32, torch.float64):
        kernel = 'scatter'
    return kernel, backend


def _weights(adj: Adjacency, edge_weight: Optional[Tensor]) -> Optional[Tensor]:
    edge_weight = adj.values if edge_weight is None else edge_weight
    if edge_weight is not None and edge_weight.shape != (adj.num_edges,):
        raise ValueError(f'edge_weight must have shape [E] = [{adj.num_edges}], '
                         f'got {list(edge_weight.shape)}')
    return edge_weight


def _csr_product(csr: CSR, y: Tensor, edge_weight: Optional[Tensor], reduce: str) -> Tensor:
    value = None if edge_weight is None else edge_weight.index_select(0, csr.perm)
    if reduce == 'mean':
        scale = _mean_scale(csr, y.dtype)
        value = scale if value is None else value * scale
    return spmm(csr, y, value)


def _scatter_product(y: Tensor, index: Tensor, adj: Adjacency, edge_weight: Optional[Tensor],
                     reduce: str, backend: str) -> Tensor:
    return _scatter.gather_scatter(y, index, adj.dst, adj.num_dst, edge_weight, reduce,
                                   backend=backend)


def _sources(x: Any) -> Tensor:
    if isinstance(x, (tuple, list)):
        if len(x) != 2 or not isinstance(x[0], Tensor):
            raise ValueError('x must be a tensor or a bipartite pair (x_src, x_dst) with x_src '
                             'a tensor')
        return x[0]
    return x


def matmul(adj: Adjacency, x: Tensor, edge_weight: Optional[Tensor] = None,
           reduce: str = 'sum', kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, \mathbf{x}_j` with the sparse
    kernel of ``adj.plan``: sum and mean as a cached CSR product (no ``E x F`` tensor, forward
    or backward), as custom ops while compiling; other reductions, half precision on CPU and
    ``kernel='generic'`` gather and scatter. ``x`` may be a bipartite pair ``(x_src, x_dst)``
    as ``propagate`` received it: the messages come from ``x_src``."""
    reduce = _scatter._check_reduce(reduce)
    x = _sources(x)
    edge_weight = _weights(adj, edge_weight)
    if x.size(0) != adj.num_src:
        raise ValueError(f'x has {x.size(0)} rows but the graph has {adj.num_src} source nodes')
    product, backend = _product(adj, x, reduce)
    if check_kernel(kernel) == 'generic':
        product = 'scatter'
    if product == 'compiled_csr':
        key = adj.key
        if isinstance(key, Tensor) and key.dim() == 2 and key.layout == torch.strided \
                and not hasattr(key, 'as_tensor'):
            flip = adj.flow != 'source_to_target'
        else:
            key, flip = torch.stack([adj.src, adj.dst]), False
        return compiled_spmm(plain(key), flip, adj.num_src, adj.num_dst, x, edge_weight,
                             reduce == 'mean')
    if product == 'csr':
        return _csr_product(adj.csr(), x, edge_weight, reduce)
    return _scatter_product(x, adj.src, adj, edge_weight, reduce, backend)


def typed_matmul(adj: Adjacency, x: Tensor, edge_type: Tensor, weight: Tensor,
                 edge_weight: Optional[Tensor] = None, reduce: str = 'sum',
                 kernel: str = 'auto') -> Tensor:
    r""":math:`\mathbf{x}'_i = \bigoplus_{j \to i} w_{ji}\, W_{t(j,i)}^\top \mathbf{x}_j`
    with ``weight`` of shape ``[T, F_in, F_out]`` and ``edge_type`` in ``0 .. T-1``.

    The features are transformed once (``Y = x W``, ``[N, T, F_out]``), then aggregated over
    the virtual sources ``j * T + t``: as one cached CSR product, or gathered and scattered."""
    reduce = _scatter._check_reduce(reduce)
    x = _sources(x)
    num_types, f_in, f_out = weight.shape
    if x.dim() != 2 or x.size(-1) != f_in:
        got = x.size(-1) if x.dim() == 2 else f'shape {list(x.shape)}'
        raise ValueError(f'x has {got} channels but the layer expects {f_in}: pass x as '
                         f'[num_nodes, {f_in}]')
    edge_weight = _weights(adj, edge_weight)
    check_edge_type(edge_type, adj.num_edges, num_types)
    y = (x @ weight.permute(1, 0, 2).reshape(f_in, num_types * f_out))
    y = y.view(adj.num_src * num_types, f_out)
    product, backend = _product(adj, x, reduce)
    if check_kernel(kernel) == 'generic' or product == 'compiled_csr':
        product = 'scatter'
    if product == 'csr':
        return _csr_product(adj.typed_csr(edge_type, num_types), y, edge_weight, reduce)
    return _scatter_product(y, adj.src * num_types + plain(edge_type), adj, edge_weight,
                            reduce, backend)


def attention_matmul(adj: Adjacency, x: Tensor, score: Tensor, dropout: float = 0.0,
                     training: bool = False, reduce: str = 'sum') -> Tuple[Tensor, Tensor]:
    r"""Multi-head attention over the incoming edges of every target:

    .. math::
        \alpha_{e,h} = \operatorname{softmax}_{e' \to i}(s_{e',h})_e, \qquad
        \mathbf{x}'_{i,h} = \bigoplus_{e = (j \to i)} \operatorname{dropout}(\alpha)_{e,h}\,
        \mathbf{x}_{j,h}

    for ``x`` ``[N_src, H, C]`` (or a pair as ``propagate`` received it: the messages come from
    its first) and edge scores ``score`` ``[E, H]`` in the caller's edge order; ``reduce`` sum
    or mean. Returns ``(out [N_dst, H, C], alpha [E, H])``, ``alpha`` in the caller's order
    before dropout. The dropout mask is ``F.dropout`` of ``[E, H]`` in the caller's order, so a
    seeded call draws the generic path's mask.

    On the ``'csr'`` plan the scores are put in the cached CSR's order once, normalised by
    segment reductions over its rows and aggregated by one product of the block-diagonal
    matrix of the ``H`` heads (:func:`~gdl_graphs.core.sparse.head_spmm`): no ``E x H x C``
    message exists, forward or backward. Other plans gather, weight and scatter (the generic
    path's operations)."""
    reduce = _scatter._check_reduce(reduce)
    x = _sources(x)
    if x.dim() != 3 or score.dim() != 2 or score.size(0) != adj.num_edges or \
            score.size(1) != x.size(1):
        raise ValueError(f'attention_matmul: x must be [N_src, H, C] and score [E, H] = '
                         f'[{adj.num_edges}, H], got {list(x.shape)} and {list(score.shape)}')
    if x.size(0) != adj.num_src:
        raise ValueError(f'x has {x.size(0)} rows but the graph has {adj.num_src} source nodes')
    product, backend = _product(adj, x, reduce)
    p = dropout if training else 0.0
    if product != 'csr' or adj.num_edges == 0:
        alpha = _scatter.softmax(score, adj.dst, adj.num_dst)
        msg = x.index_select(0, adj.src) * F.dropout(alpha, p, p > 0).unsqueeze(-1)
        return _scatter.scatter(msg, adj.dst, adj.num_dst, reduce, backend=backend), alpha
    csr = adj.csr()
    lengths = csr.rowptr[1:] - csr.rowptr[:-1]
    s = score.index_select(0, csr.perm)
    top = torch.segment_reduce(s.detach(), 'max', lengths=lengths, axis=0, unsafe=True)
    e = (s - top.index_select(0, csr.row)).exp()
    denom = torch.segment_reduce(e, 'sum', lengths=lengths, axis=0, unsafe=True)
    alpha = e / denom.index_select(0, csr.row)
    weight = alpha
    if p > 0:  # the mask F.dropout(alpha) draws, in the caller's order
        weight = alpha * F.dropout(score.new_ones(score.shape), p).index_select(0, csr.perm)
    if reduce == 'mean':
        weight = weight * _mean_scale(csr, weight.dtype).unsqueeze(-1)
    out = head_spmm(csr, x, weight)
    return out, alpha.new_empty(alpha.shape).index_copy(0, csr.perm, alpha)


def _functional_adjacency(edge_index: Tensor, x: Tensor, size: Optional[Tuple[int, int]],
                          kernel: str) -> Adjacency:
    num_src, num_dst = (x.size(0), x.size(0)) if size is None else (int(size[0]), int(size[1]))
    check_node_features(x, num_src)
    check_edge_index(edge_index, size=(num_src, num_dst))
    ei = plain(edge_index)
    kernel = effective_kernel(check_kernel(kernel))
    plan = Plan('scatter', "kernel='generic'", effective_backend()) if kernel == 'generic' \
        else Plan(*sparse_kernel(x), effective_backend())
    return Adjacency(edge_index, ei[0], ei[1], num_src, num_dst, plan=plan)


def propagate_linear(edge_index: Tensor, x: Tensor, edge_weight: Optional[Tensor] = None,
                     reduce: str = 'sum', size: Optional[Tuple[int, int]] = None,
                     kernel: str = 'auto') -> Tensor:
    """The functional form of :func:`matmul` on an ``edge_index`` ``[2, E]`` (source ->
    target; ``size = (num_src, num_dst)`` for bipartite graphs), validated."""
    return matmul(_functional_adjacency(edge_index, x, size, kernel), x, edge_weight, reduce)


def propagate_typed(edge_index: Tensor, edge_type: Tensor, x: Tensor, weight: Tensor,
                    edge_weight: Optional[Tensor] = None, reduce: str = 'sum',
                    size: Optional[Tuple[int, int]] = None, kernel: str = 'auto') -> Tensor:
    """The functional form of :func:`typed_matmul` on an ``edge_index`` ``[2, E]``."""
    adj = _functional_adjacency(edge_index, x, size, kernel)
    return typed_matmul(adj, x, edge_type, weight, edge_weight, reduce)


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
    if _validation_enabled() and not _compiling() and edge_type.numel() and \
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
    :meth:`propagate` plans the kernel of each call (:meth:`plan`) and runs it.

    A subclass is written as for PyG: ``forward`` calls ``self.propagate(edge_index, ...)``;
    ``message`` defines the per-edge message (it always exists: the explainer, hooks and
    ``kernel='generic'`` use it); ``message_and_aggregate(adj, ...)``, when defined, computes
    the same aggregation fused, from an :class:`Adjacency`, with the core's :func:`matmul`,
    :func:`typed_matmul` or a dense kernel. A layer with dense kernels declares them per
    structure kind in :attr:`dense_kernels` (e.g. ``{'lattice': 'conv'}``) and says in
    :meth:`dense_check` when one does not apply; a layer whose fused form exists only as a dense
    kernel sets :attr:`sparse_fused` to ``False``.

    Args:
        aggr (str or list or Aggregation, optional): anything PyG accepts: ``'sum'``,
            ``'mean'``, ``'max'``, ..., a list of them or an
            :class:`~torch_geometric.nn.aggr.Aggregation` module. Sum and mean run fused.
            (default: ``'sum'``)
        kernel (str, optional): ``'auto'`` (the structure's dense kernel where the layer has
            one, else the fused sparse product), ``'fused'`` (the sparse product, no dense
            kernels) or ``'generic'`` (PyG's gather/message/scatter). (default: ``'auto'``)
        backend (str, optional): the scatter backend, ``'torch'`` or ``'torch_scatter'``.
            (default: ``'torch'``)
        validate (bool, optional): check index ranges (one pass per new ``edge_index``,
            cached on the tensor). (default: ``True``)
        **kwargs: ``flow``, ``node_dim``, ``aggr_kwargs``, ``decomposed_layers`` as in PyG.

    :func:`~gdl_graphs.core.use_kernel`, :func:`~gdl_graphs.core.use_backend` and
    :func:`~gdl_graphs.core.validation` override the three for a ``with`` block.
    """

    #: dense kernels by structure kind, e.g. ``{'lattice': 'conv'}``
    dense_kernels: Dict[str, str] = {}
    #: whether ``message_and_aggregate`` also runs on graphs without a dense kernel
    sparse_fused: bool = True
    #: layers that read every edge's endpoints or geometry (coordinates, recurrences, mesh
    #: frames): a sparse ``adj_t`` is refused. Elsewhere per-edge inputs given with an
    #: ``adj_t`` follow its stored (target-major) order, as in PyG
    edge_list_only: bool = False

    def __init__(self, aggr: Any = 'sum', kernel: str = 'auto', backend: str = 'torch',
                 validate: bool = True, **kwargs):
        check_kernel(kernel)
        check_backend(backend)
        flow = kwargs.get('flow', 'source_to_target')
        if flow not in ('source_to_target', 'target_to_source'):
            raise ValueError(f"{type(self).__name__}: flow must be 'source_to_target' or "
                             f"'target_to_source', got {flow!r}")
        try:
            super().__init__(aggr=aggr, **kwargs)
        except (ValueError, KeyError) as e:
            raise ValueError(f'unknown aggregation {aggr!r}: use a PyG aggregation name '
                             f"('sum', 'mean', 'max', 'min', 'mul', 'std', 'var', 'softmax', "
                             f"'median', ...), a list of them or an Aggregation module") from e
        self.kernel = kernel
        self.backend = backend
        self.validate = bool(validate)
        #: the :class:`Plan` of the last eager ``propagate`` call
        self.last_plan: Optional[Plan] = None
        # PyG fuses only for sparse inputs; the core plans for every input in propagate
        self._implements_fused = self.inspector.implements('message_and_aggregate')
        self.fuse = False
        self._forward_names = tuple(inspect.signature(self.forward).parameters)
        self.register_forward_pre_hook(_check_call, with_kwargs=True)
        missing = [m for m in PYG_PRIVATE_INSTANCE if not hasattr(self, m)]
        if missing:
            raise _pyg_error(f'MessagePassing instances lack {", ".join(missing)}')

    @staticmethod
    def fixed_aggr(kwargs: Dict[str, Any], layer: str, aggr: str, why: str) -> str:
        """For layers whose aggregation is part of their definition: ``aggr`` (popped from
        ``kwargs`` when the user passed the same one), or a clear error."""
        given = kwargs.pop('aggr', aggr)
        if given != aggr and not (aggr == 'sum' and given == 'add'):
            raise ValueError(f"{layer} aggregates with {aggr!r} ({why}); drop aggr={given!r}")
        return aggr

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

    def __prepare_scriptable__(self):
        raise RuntimeError(f'{type(self).__name__} does not support TorchScript '
                           f'(torch.jit.script is deprecated): use torch.compile(model)')

    # -- aggregation -------------------------------------------------------------------------
    def aggregate(self, inputs: Tensor, index: Tensor, ptr: Optional[Tensor] = None,
                  dim_size: Optional[int] = None) -> Tensor:
        if isinstance(self.aggr, str) and self.aggr in _scatter.REDUCTIONS:
            return _scatter.scatter(inputs, index, dim_size, self.aggr, dim=self.node_dim,
                                    backend=effective_backend(self.backend))
        return self.aggr_module(inputs, index, ptr=ptr, dim_size=dim_size, dim=self.node_dim)

    def attention_softmax(self, score: Tensor, index: Tensor, num_nodes: int) -> Tensor:
        """Normalise edge scores over the incoming edges of each target node."""
        return _scatter.softmax(score, index, num_nodes)

    @property
    def fused_aggr(self) -> bool:
        """Whether ``aggr`` reduces by sum or mean (the fusable reductions)."""
        return isinstance(self.aggr, str) and self.aggr in FUSED_REDUCTIONS

    # -- the plan ----------------------------------------------------------------------------
    def dense_check(self, structure: Structure, **kwargs: Any) -> Optional[str]:
        """Why the dense kernel of ``structure`` does not apply to this call (``None``: it
        applies). Raise for a graph that contradicts the layer (a clear error)."""
        return None

    def plan(self, edge_index: Any, size: Optional[Tuple[int, int]] = None,
             _sig: Optional[list] = None, **kwargs: Any) -> Plan:
        """The kernel that ``propagate(edge_index, size, **kwargs)`` runs, and why. Ask a layer
        with the arguments its ``forward`` passes to ``propagate``; after a call,
        :attr:`last_plan` holds the plan that ran."""
        backend = effective_backend(self.backend)
        kernel = effective_kernel(self.kernel)
        forced = ' (use_kernel)' if kernel != self.kernel else ''
        name = type(self).__name__
        if kernel == 'generic':
            return Plan('generic', f"kernel='generic'{forced}", backend)
        if not self._implements_fused:
            return Plan('generic', f'{name} defines no message_and_aggregate', backend)
        if self.explain:
            return Plan('generic', 'an explainer needs the individual messages', backend)
        if self.decomposed_layers > 1:
            return Plan('generic', 'decomposed_layers > 1', backend)
        if not self.fused_aggr:
            return Plan('generic', f'aggr={self.aggr!r} is not fusable (sum or mean)', backend)
        if (self._message_forward_pre_hooks or self._message_forward_hooks
                or self._aggregate_forward_pre_hooks or self._aggregate_forward_hooks):
            return Plan('generic', 'message or aggregate hooks are registered', backend)
        sparse = is_sparse(edge_index)
        if not sparse and not isinstance(edge_index, Tensor):
            return Plan('generic', f'edge_index is a {type(edge_index).__name__}', backend)
        why_not = None
        structure = None if sparse else structure_of(edge_index)
        if structure is not None and structure.kind in self.dense_kernels:
            if kernel == 'fused':
                why_not = f"kernel='fused'{forced} runs no dense kernel"
            elif self.flow != 'source_to_target':
                why_not = (f"flow='{self.flow}': the {structure.kind} structure describes "
                           f"the source -> target graph")
            else:
                why_not = self.dense_check(structure, **kwargs)
                if why_not is None:
                    return Plan(self.dense_kernels[structure.kind],
                                f'the graph is a {structure.kind} (converter structure)',
                                backend)
        elif self.dense_kernels:
            kinds = ', '.join(self.dense_kernels)
            why_not = 'a sparse adj_t' if sparse else \
                f'the graph carries no {kinds} structure'
        if not self.sparse_fused:
            return Plan('generic', f'{name} fuses only as a dense kernel ({why_not})',
                        backend)
        num_edges = edge_index.size(1) if not sparse and edge_index.dim() == 2 else None
        csr_cached = False
        if num_edges is not None and not _compiling() and edge_index.device.type != 'meta' \
                and holds_cache(edge_index):
            box = _sig if _sig is not None else [None]  # propagate's: filled once a call
            if box[0] is None:
                box[0] = signature(edge_index)
            csr_cached = has_cached(edge_index, ('csr', 'typed'), box[0])
        product, reason = sparse_kernel(_first_features(kwargs), num_edges, csr_cached)
        if why_not is not None:
            reason = f'{reason}; no dense kernel: {why_not}'
        return Plan(product, reason, backend)

    # -- propagate ---------------------------------------------------------------------------
    def propagate(self, edge_index: Any, size: Optional[Tuple[int, int]] = None,
                  **kwargs: Any) -> Any:
        """PyG's ``propagate``, on the kernel of :meth:`plan`: the generic route is PyG's own;
        the fused route runs ``message_and_aggregate`` on an :class:`Adjacency` with PyG's
        propagate and message-and-aggregate hooks."""
        # the content signature of edge_index, computed at most once per call and only where a
        # cache lookup needs it (never for a converter-made graph on its dense kernel)
        sig = [None]
        if isinstance(edge_index, Tensor) and not is_sparse(edge_index):
            if not _compiling() and edge_index.device.type != 'meta' and \
                    holds_cache(edge_index) and structure_of(edge_index) is None:
                sig[0] = signature(edge_index)
            self._validate(edge_index, size, kwargs, sig[0])
        elif not is_sparse(edge_index):
            raise ValueError(f'{type(self).__name__}: edge_index must be a torch.Tensor of shape '
                             f'[2, E] (or a sparse adj_t), got {type(edge_index).__name__}; '
                             f'convert with torch.as_tensor(edge_index)')
        compiling = _compiling()
        plan = self.plan(edge_index, size, sig, **kwargs)
        if not compiling:
            self.last_plan = plan
        if not plan.fused:
            if structure_of(edge_index) is not None and not is_sparse(edge_index):
                edge_index = plain(edge_index)
            if self.explain or self.decomposed_layers > 1:  # as PyG: its original propagate
                return MessagePassing.propagate(self, edge_index, size, **kwargs)
            return self._pyg_propagate(edge_index, size=size, **kwargs)
        if not compiling:
            for hook in self._propagate_forward_pre_hooks.values():
                res = hook(self, (edge_index, size, kwargs))
                if res is not None:
                    edge_index, size, kwargs = res
        mutable_size = self._check_input(edge_index, size)
        adj = self.adjacency(edge_index, mutable_size, kwargs, plan)
        adj.sig = sig[0] if adj.key is edge_index else None
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

    def adjacency(self, edge_index: Any, size: list, kwargs: Dict[str, Any],
                  plan: Optional[Plan] = None) -> Adjacency:
        """The :class:`Adjacency` of ``edge_index`` (a ``[2, E]`` tensor, PyG ``EdgeIndex``,
        torch.sparse ``adj_t`` or ``SparseTensor``) under this layer's ``flow``; it carries
        ``plan`` and, when the plan is a dense kernel, the graph's structure."""
        plan = self.plan(edge_index, tuple(size), **kwargs) if plan is None else plan
        if is_sparse(edge_index):  # adj_t: rows = targets, columns = sources
            ei, values = sparse_to_edge_index(edge_index)
            num_dst, num_src = edge_index.size(0), edge_index.size(1)
            if values is not None and values.dim() != 1:
                values = None
            return Adjacency(ei, ei[0], ei[1], num_src, num_dst, None, values=values,
                             plan=plan)
        structure = structure_of(edge_index) if plan.kernel not in SPARSE_KERNELS else None
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
            return Adjacency(edge_index, ei[0], ei[1], n0, n1, structure, self.flow, plan=plan)
        return Adjacency(edge_index, ei[1], ei[0], n1, n0, structure, self.flow, plan=plan)

    def _validate(self, edge_index: Tensor, size, kwargs: Dict[str, Any],
                  sig: Optional[tuple] = None) -> None:
        """The clear errors for a bad ``edge_index``: one range pass, remembered on a tensor the
        core already keeps structure for (keyed by its content), never on a converter-made
        graph. A new tensor is checked without a fingerprint: one pass, nothing stored."""
        if _compiling() or edge_index.device.type == 'meta':
            return
        if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.is_floating_point():
            check_edge_index(edge_index)  # raises the clear error
        if structure_of(edge_index) is not None or not _validation_enabled(self.validate):
            return  # the converter vouches for its edges
        sizes = tuple(size) if size is not None else _pair_size(kwargs.get('x'),
                                                                 self.node_dim)
        if sizes is None or None in sizes:
            sizes = None

        def check() -> bool:
            check_edge_index(edge_index, size=sizes) if sizes is not None \
                else check_edge_index(edge_index)
            return True
        if sig is None:
            check()
        else:
            cached((edge_index,), ('valid', sizes), check, (sig,))

    def check_edges(self, edge_index: Tensor, size: Tuple[int, int]) -> None:
        """The clear range error for ``edge_index`` ``[2, E]`` against ``size`` (for layers
        that rebuild the edge list before ``propagate``)."""
        if not _compiling() and edge_index.device.type != 'meta':
            check_edge_index(edge_index, size=tuple(size))

    def check(self, x: Tensor, edge_index: Tensor, channels: Optional[int] = None) -> None:
        """Validate node features ``x`` against the layer's input width and dtype."""
        check_node_features(x, channels=channels)
        check_dtype(self, x)


def _check_call(module: 'GDLConv', args: tuple, kwargs: Dict[str, Any]) -> None:
    """Before ``forward``: the clear errors for the wrong dtype and for a sparse ``adj_t``
    where a layer needs the edge list."""
    if _compiling():
        return None
    x = args[0] if args else kwargs.get('x')
    if isinstance(x, (tuple, list)) and x:
        x = x[0]
    if isinstance(x, Tensor):
        check_dtype(module, x)
    bound = dict(zip(module._forward_names, args))
    bound.update(kwargs)
    adj = bound.get('edge_index')
    if adj is None or not is_sparse(adj):
        return None
    name = type(module).__name__
    if module.flow != 'source_to_target':
        raise ValueError(f"{name}: flow='{module.flow}' with a sparse adj_t (rows are the "
                         f"targets, as in PyG): pass the edge list edge_index [2, E] instead")
    if module.edge_list_only:
        raise ValueError(f'{name} reads the endpoints or geometry of every edge: pass the '
                         f'edge list edge_index [2, E], not a sparse adj_t')
    return None


def _first_features(kwargs: Dict[str, Any]) -> Optional[Tensor]:
    """The first floating tensor among the inputs (or pairs of them): it decides the kernel."""
    for value in kwargs.values():
        for t in (value if isinstance(value, (tuple, list)) else (value,)):
            if isinstance(t, Tensor) and t.is_floating_point():
                return t
    return None


def check_dtype(module: torch.nn.Module, x: Tensor) -> None:
    """``x`` must have the dtype of the module's weights (one clear line instead of torch's
    "mat1 and mat2 must have the same dtype"). Masks that PyG's explainer registers (names
    starting with ``_``) are not weights. Stops at the first weight of ``x``'s dtype."""
    if not x.is_floating_point():
        return
    seen = module.__dict__.get('_gdl_weight_seen')  # the weight that matched last time
    if seen is not None and seen.dtype == x.dtype:
        return
    want = None
    for name, p in module.named_parameters():
        if not p.is_floating_point() or name.rsplit('.', 1)[-1].startswith('_'):
            continue
        if p.dtype == x.dtype:
            module.__dict__['_gdl_weight_seen'] = p  # not registered: no state, no parameter
            return
        want = p.dtype if want is None else want
    if want is not None:
        raise ValueError(f"{type(module).__name__}: x is {x.dtype} but the layer's weights are "
                         f"{want}: convert one, e.g. layer.to({x.dtype}) or x.to({want})")
