"""Helpers shared by several layers (the one private module of ``gdl_graphs.nn``)."""
from __future__ import annotations

import copy
import math
from typing import Any, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter, init
from torch_geometric.utils import is_sparse

from ..core import (
    Adjacency,
    GDLConv,
    Structure,
    cached,
    plain,
    scatter,
    sparse_to_edge_index,
    typed_matmul,
)
from ..core.lattice import check_stencil, dense_conv
from ..domains.group import Group, dense_group_meta, get_group

PairTensor = Tuple[Tensor, Optional[Tensor]]


def pair(x: Union[Tensor, Tuple[Tensor, Optional[Tensor]]], layer: str) -> PairTensor:
    """``x`` as ``(x_src, x_dst)`` (the same tensor twice for one node set), checked 2-D."""
    if isinstance(x, Tensor):
        x = (x, x)
    if not (isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], Tensor)
            and (x[1] is None or isinstance(x[1], Tensor))):
        raise ValueError(f'{layer}: x must be a tensor [N, F] or a pair (x_src, x_dst) of '
                         f'tensors')
    for t in x:
        if t is not None and t.dim() != 2:
            raise ValueError(f'{layer}: x must be [num_nodes, channels], got shape '
                             f'{list(t.shape)}; reshape a vector with x.view(-1, 1)')
    return x[0], x[1]


def check_features(x: Tensor, channels: int, layer: str, name: str = 'x') -> None:
    """A clear error for a feature width that does not match the layer (``-1``: lazy)."""
    if channels is not None and channels > 0 and x.size(-1) != channels:
        raise ValueError(f'{layer}: {name} has {x.size(-1)} channels but the layer was built '
                         f'for {channels}; build it with in_channels={x.size(-1)} (or -1 to '
                         f'infer it)')


def message_weighted(x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
    """``w_ji * x_j`` (``x_j`` when there are no weights)."""
    return x_j if edge_weight is None else edge_weight.view(-1, 1).to(x_j.dtype) * x_j


def source_of(x: Any) -> Tensor:
    """The features of the message senders: ``x``, or ``x_0`` of a pair ``(x_0, x_1)`` (PyG's
    convention under either flow: ``x_j`` from ``x_0``, ``x_i`` and the root from ``x_1``)."""
    return x if isinstance(x, Tensor) else x[0]


def target_of(x: Any) -> Optional[Tensor]:
    """The features of the message receivers (the root term): ``x`` or ``x_1`` of a pair."""
    return x if isinstance(x, Tensor) else x[1]


def aggr_of(layer: torch.nn.Module) -> Any:
    """The ``aggr`` argument that rebuilds PyG ``layer``'s aggregation: its string, its list,
    or a copy of its :class:`~torch_geometric.nn.aggr.Aggregation` module."""
    aggr = layer.aggr
    if isinstance(aggr, str) and aggr in ('add', 'sum', 'mean', 'max', 'min', 'mul'):
        return 'sum' if aggr == 'add' else aggr
    if isinstance(aggr, list) and all(a in ('sum', 'add', 'mean', 'max', 'min', 'mul', 'std',
                                            'var') for a in aggr):
        return list(aggr)
    return copy.deepcopy(layer.aggr_module)


def load_pyg(out: torch.nn.Module, layer: torch.nn.Module) -> torch.nn.Module:
    """Load ``layer``'s parameters and buffers into ``out``, on ``layer``'s device and in its
    dtype (cast before loading, so float64 weights are copied exactly)."""
    ref = next(iter(layer.parameters()), None)
    if ref is not None:
        out = out.to(device=ref.device, dtype=ref.dtype)
    out.load_state_dict(layer.state_dict(), strict=True)
    return out


def reset_module(module: Any) -> None:
    """Reset every sub-module that can (PyG's ``inits.reset``)."""
    if hasattr(module, 'reset_parameters'):
        module.reset_parameters()
    elif hasattr(module, 'children'):
        for child in module.children():
            reset_module(child)


FillValue = Union[float, Tensor, str]


def glorot_(t: Optional[Tensor]) -> None:
    """PyG's ``glorot``: uniform in :math:`\\pm\\sqrt{6 / (\\mathrm{fan}_{-2} +
    \\mathrm{fan}_{-1})}`."""
    if t is not None:
        a = math.sqrt(6.0 / (t.size(-2) + t.size(-1)))
        with torch.no_grad():
            t.uniform_(-a, a)


def self_loop_graph(edge_index: Tensor, edge_attr: Optional[Tensor], num_nodes: int,
                    fill_value: FillValue = 'mean') -> Tuple[Tensor, Optional[Tensor]]:
    """PyG's ``remove_self_loops`` then ``add_self_loops``: the edges without their
    self-loops, followed by one self-loop per node ``0 .. num_nodes-1``.

    The new ``edge_index`` is cached per input ``edge_index`` (built once per graph, so the
    caches keyed on it survive across calls). The loops' ``edge_attr`` is ``fill_value`` (a
    float or a tensor) or the reduction (``'mean'``, ``'sum'``, ``'max'``, ...) of the node's
    incoming edge attributes."""
    ei = plain(edge_index)

    def build():
        keep = (ei[0] != ei[1]).nonzero().view(-1)
        loop = torch.arange(num_nodes, device=ei.device, dtype=ei.dtype)
        return keep, torch.cat([ei.index_select(1, keep), torch.stack([loop, loop])], 1)

    keep, new = cached((edge_index,), ('self_loop_graph', num_nodes), build)
    if edge_attr is None:
        return new, None
    kept = edge_attr.index_select(0, keep)
    if isinstance(fill_value, str):
        loop_attr = scatter(kept, ei[1].index_select(0, keep), num_nodes, fill_value)
    elif isinstance(fill_value, Tensor):
        loop_attr = fill_value.to(edge_attr.device, edge_attr.dtype)
        if edge_attr.dim() != loop_attr.dim():
            loop_attr = loop_attr.unsqueeze(0)
        loop_attr = loop_attr.expand([num_nodes] + [-1] * (loop_attr.dim() - 1))
    else:
        loop_attr = edge_attr.new_full((num_nodes,) + tuple(edge_attr.shape[1:]),
                                       float(fill_value))
    return new, torch.cat([kept, loop_attr], 0)


def check_edge_attr(edge_attr: Optional[Tensor], num_edges: int) -> Optional[Tensor]:
    if edge_attr is None:
        return None
    if not isinstance(edge_attr, Tensor):
        raise ValueError(f'edge_attr must be a tensor [E, D], got {type(edge_attr).__name__}')
    if edge_attr.dim() == 1:
        edge_attr = edge_attr.view(-1, 1)
    if edge_attr.size(0) != num_edges:
        raise ValueError(f'edge_attr has {edge_attr.size(0)} rows but edge_index has '
                         f'{num_edges} edges: one row per edge')
    return edge_attr


def refuse_edge_options(layer: str, options: dict) -> None:
    """The one-line error for a layer without edges (a plain module) given the options of a
    message-passing layer (``flow``, ``kernel``, ``aggr``, ...)."""
    if options:
        names = ', '.join(sorted(options))
        raise ValueError(f'{layer} has no edges, so it is a plain module without message '
                         f'passing: drop {names} (it reduces over the batch vector)')


def attention_message(layer, x_j: Tensor, score: Tensor, index: Tensor, ptr: Optional[Tensor],
                      size_i: Optional[int]) -> Tensor:
    """The message GATConv and GATv2Conv share: LeakyReLU'd edge scores ``[E, H]`` normalised
    over each target's incoming edges (kept in ``layer._alpha`` for
    ``return_attention_weights``), dropout, times ``x_j`` ``[E, H, C]``."""
    alpha = layer.attention_softmax(score, index, size_i)
    layer._alpha = alpha
    alpha = F.dropout(alpha, p=layer.dropout, training=layer.training)
    return x_j * alpha.unsqueeze(-1)


def attention_output(layer, out: Tensor, res: Optional[Tensor], edge_index: Tensor,
                     return_attention_weights: Optional[bool]):
    """Heads concatenated or averaged, then residual and bias; with
    ``return_attention_weights`` also ``(edge_index, alpha)``."""
    out = out.reshape(-1, layer.heads * layer.out_channels) if layer.concat else out.mean(dim=1)
    if res is not None:
        out = out + res
    if layer.bias is not None:
        out = out + layer.bias
    if return_attention_weights:
        alpha, layer._alpha = layer._alpha, None
        return out, (edge_index, alpha)
    layer._alpha = None
    return out


def attention_inputs(x, edge_index, edge_attr, layer: str):
    """``(x_src, x_dst, bipartite)``, an ``edge_index`` (a sparse ``adj_t`` becomes its edge
    list; its values the ``edge_attr`` when none is given) and ``edge_attr`` checked."""
    if isinstance(x, Tensor):
        x_src, x_dst, bipartite = x, x, False
    elif isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(t, Tensor) for t in x):
        x_src, x_dst, bipartite = x[0], x[1], True
    else:
        raise ValueError(f'{layer}: x must be a tensor [N, F] or a pair (x_src, x_dst) of '
                         f'tensors (a None target is not supported)')
    for t in (x_src, x_dst):
        if t.dim() != 2:
            raise ValueError(f'{layer}: x must be [num_nodes, channels], got shape '
                             f'{list(t.shape)}')
    if is_sparse(edge_index):
        edge_index, values = sparse_to_edge_index(edge_index)
        if edge_attr is None and values is not None and values.dim() > 1:
            edge_attr = values
    edge_attr = check_edge_attr(edge_attr, edge_index.size(-1))
    return x_src, x_dst, bipartite, edge_index, edge_attr


def typed_message(x_j: Tensor, edge_type: Optional[Tensor], weight: Tensor,
                  source: str) -> Tensor:
    """``W_{t(j,i)}^T x_j`` per edge (the generic form of a typed linear message), ``weight``
    ``[T, F_in, F_out]``; a clear error naming ``source`` when ``edge_type`` is missing."""
    if edge_type is None:
        raise ValueError(f'edge_type is required off the dense path (generic kernel, untagged, '
                         f'reloaded or sparsely masked lattices): pass {source}')
    return torch.bmm(x_j.unsqueeze(1), weight.index_select(0, edge_type.long())).squeeze(1)


class GroupStencilConv(GDLConv):
    """Shared by :class:`LiftingConv` and :class:`~gdl_graphs.nn.GroupConv`: a square odd
    stencil on a lifted lattice of ``group``, one ``weight`` of shape
    ``[F_out, F_in, (|G|,) k, k]`` and one bias per output channel (shared by the group
    elements), initialised as ``torch.nn.Conv2d`` / ``Conv3d`` (fan-in ``weight[0].numel()``).
    On a lifted lattice of its group it runs one ``conv2d`` of the filter bank (plan kernel
    ``'group_conv'``)."""

    dense_kernels = {'lattice': 'group_conv'}

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 group: Union[str, Group], dilation: int, bias: bool, group_axis: bool,
                 **kwargs):
        super().__init__(aggr=self.fixed_aggr(kwargs, type(self).__name__, 'sum',
                                              'as a group CNN, it sums over the stencil'),
                         **kwargs)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f'channels must be positive, got {in_channels} -> {out_channels}')
        if not isinstance(kernel_size, int) or not isinstance(dilation, int):
            raise ValueError(f'kernel_size and dilation must be ints (a square stencil), got '
                             f'{kernel_size!r}, {dilation!r}')
        check_stencil((kernel_size,) * 2, (dilation,) * 2)
        self.group = get_group(group)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = kernel_size
        self.dilation = dilation
        axis = (self.group.order,) if group_axis else ()
        self.weight = Parameter(torch.empty(out_channels, in_channels, *axis, kernel_size,
                                            kernel_size))
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        # lifting: pixels -> (pixel, g) rows; group conv: (pixel, g) rows -> (pixel, g) rows
        self.role, self.rows_per_pixel = ('group', self.group.order) if group_axis \
            else ('lift', 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            init.uniform_(self.bias, -bound, bound)

    def message(self, x_j: Tensor, edge_type: Optional[Tensor]) -> Tensor:
        source = 'lifted.edge_type' if self.role == 'group' else 'lifted.lift_edge_type'
        return typed_message(x_j, edge_type, self.typed_weight(), f'{source} from lift_lattice')

    def dense_check(self, structure: Structure, x: Tensor, edge_type: Optional[Tensor] = None,
                    **kwargs) -> Optional[str]:
        if structure.meta.get('group') is None:
            return 'a lattice that is not lifted'
        dense_group_meta(structure, self.role, self.group, self.kernel_size, self.dilation,
                         x.size(0), self.rows_per_pixel)  # raises for a graph that does not fit
        if edge_type is not None and edge_type is not structure.edge_type:
            return "edge_type is not the converter's"
        return None

    def message_and_aggregate(self, adj: Adjacency, x: Tensor,
                              edge_type: Optional[Tensor]) -> Tensor:
        if adj.plan.kernel == 'group_conv':
            out = dense_conv(x.reshape(-1, self.rows_per_pixel * self.in_channels),
                             self.filter_bank(), None, adj.structure.meta, (1, 1))
            return out.reshape(-1, self.out_channels)
        if edge_type is None:
            self.message(x, None)  # raises the clear error
        return typed_matmul(adj, x, edge_type, self.typed_weight())

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'kernel_size={self.kernel_size}, group={self.group.name})')


def check_patch_radius(radius: Any, layer: str) -> Any:
    """A patch radius as the layers accept it: ``None`` (no disk: edge lengths relative to the
    mean incoming edge length), a positive finite number (``data.radius`` of one patch
    graph), or a tensor of them: one per graph of a mini-batch (``batch.radius``, ``[B]``,
    with ``batch``), one per node ``[N]``, or a single value."""
    if radius is None:
        return None
    if isinstance(radius, Tensor):
        if radius.is_floating_point() or radius.dtype in (torch.long, torch.int32):
            r = radius.detach()
            if r.numel() and bool(torch.isfinite(r).all()) and bool((r > 0).all()):
                return radius if radius.numel() > 1 else float(radius.reshape(-1)[0])
    elif isinstance(radius, (int, float)) and not isinstance(radius, bool) \
            and math.isfinite(radius) and radius > 0:
        return float(radius)
    got = list(radius.shape) if isinstance(radius, Tensor) else repr(radius)
    raise ValueError(f'{layer}: radius must be the positive geodesic disk radius (data.radius '
                     f'of geodesic_patches; for a mini-batch batch.radius with one value per '
                     f'graph and batch=batch.batch), got {got}')


def relative_radius(r: Tensor, target: Tensor, num_nodes: int, radius: Any = None,
                    batch: Optional[Tensor] = None, layer: str = 'layer') -> Tensor:
    """Edge lengths ``r [E]`` relative to the patch of their target ``i``: ``r / radius`` of
    ``i``'s graph (``radius`` checked by :func:`check_patch_radius`; a ``[B]`` tensor needs
    ``batch``, the graph of every node), or, without a radius, ``r`` over the mean incoming
    edge length at ``i`` (the 1-ring's scale)."""
    radius = check_patch_radius(radius, layer)
    if radius is None:
        mean = scatter(r, target, num_nodes, 'mean').index_select(0, target)
        return r / mean.clamp(min=torch.finfo(r.dtype).tiny)
    if not isinstance(radius, Tensor):
        return r / radius
    radius = radius.to(r.dtype).reshape(-1)
    if batch is not None:
        if not isinstance(batch, Tensor) or batch.shape != (num_nodes,):
            raise ValueError(f'{layer}: batch must hold the graph of every node, shape '
                             f'[{num_nodes}], got {getattr(batch, "shape", batch)}')
        if int(batch.max()) >= radius.numel():
            raise ValueError(f'{layer}: batch refers to graph {int(batch.max())} but radius '
                             f'holds {radius.numel()} values (one per graph)')
        per_node = radius.index_select(0, batch)
    elif radius.numel() == num_nodes:
        per_node = radius
    else:
        raise ValueError(f'{layer}: radius holds {radius.numel()} values for {num_nodes} '
                         f'nodes: pass batch=batch.batch with one radius per graph '
                         f'(batch.radius), or one radius per node')
    return r / per_node.index_select(0, target)
