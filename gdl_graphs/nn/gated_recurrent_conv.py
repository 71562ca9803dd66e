from __future__ import annotations

import math
from typing import List, NamedTuple, Optional

import torch
from torch import Tensor
from torch.nn import Parameter

from ..core import GDLConv, cached, degree, plain, structure_of
from ..core.dense import layout_of


class _Schedule(NamedTuple):
    """Waves of a forest whose edges point away from the roots: wave ``k`` = nodes at depth
    ``k``, in node order; ``parent_pos`` = position of each node's parent in the previous
    wave (wave order)."""
    order: Tensor          # [N]: nodes sorted by (depth, index)
    inverse: Tensor        # [N]: position of every node in ``order``
    sizes: List[int]       # nodes per wave
    parent_pos: Tensor     # [N - sizes[0]]: for waves 1.., the parent's position in its wave


def _schedule_path(ptr: Tensor, n: int) -> _Schedule:
    lay = layout_of(ptr, n)
    depth = lay.position % max(lay.max_len, 1)
    return _schedule(depth, torch.arange(n, device=ptr.device) - 1, n)


def _schedule_edges(edge_index: Tensor, n: int) -> _Schedule:
    ei = plain(edge_index)
    src, dst = ei[0].long(), ei[1].long()
    if src.numel():
        indeg = degree(dst, n)
        if bool((indeg > 1).any()):
            i = int((indeg > 1).nonzero()[0, 0])
            raise ValueError(
                f'node {i} has {int(indeg[i])} incoming edges: a recurrence needs at most one '
                f'predecessor per node (a path t-1 -> t, as sequence_to_graph builds, or a tree '
                f'directed away from its root)')
    parent = torch.full((n,), -1, dtype=torch.long, device=src.device)
    parent[dst] = src
    # list ranking by pointer jumping: depth = number of ancestors
    has = parent >= 0
    depth = has.long()
    jump = torch.where(has, parent, torch.arange(n, device=src.device))
    for _ in range(math.ceil(math.log2(max(n, 2))) + 1):  # roots: depth 0, jump to self
        depth = depth + depth.index_select(0, jump)
        jump = jump.index_select(0, jump)
    if n and bool((parent.index_select(0, jump) >= 0).any()):
        i = int((parent.index_select(0, jump) >= 0).nonzero()[0, 0])
        raise ValueError(f'the graph has a directed cycle (reached from node {i}): a '
                         f'recurrence needs an acyclic graph, e.g. a path t-1 -> t')
    return _schedule(depth, parent, n)


def _schedule(depth: Tensor, parent: Tensor, n: int) -> _Schedule:
    dev = depth.device
    order = torch.argsort(depth, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n, device=dev)
    sizes_t = torch.bincount(depth, minlength=1) if n else depth.new_zeros(0)
    sizes = [int(s) for s in sizes_t.tolist()]
    start = torch.cumsum(sizes_t, 0) - sizes_t
    pos_in_wave = inverse - start.index_select(0, depth) if n else inverse
    rest = order[sizes[0]:] if sizes else order
    parent_pos = pos_in_wave.index_select(0, parent.index_select(0, rest)) if rest.numel() \
        else rest
    return _Schedule(order, inverse, sizes, parent_pos)


_GATES = {'gru': 3, 'lstm': 4, 'rnn': 1}


class GatedRecurrentConv(GDLConv):
    r"""Gated recurrence as message passing along a path (Cho et al. 2014,
    https://arxiv.org/abs/1406.1078; Hochreiter & Schmidhuber 1997): the state of node
    :math:`t` is a recurrent cell update of its input with the state sent along the edge
    :math:`t-1 \to t`.

    .. math::
        \mathbf{m}_t = \sum_{s \to t} \mathbf{h}_s \ (\mathbf{0} \text{ or } h_0 \text{ at a
        root}), \qquad \mathbf{h}_t = \mathrm{Cell}(\mathbf{x}_t, \mathbf{m}_t)

    with ``mode='gru'`` (default, ``torch.nn.GRU``'s cell):

    .. math::
        \mathbf{r} = \sigma(W_{ir}\mathbf{x}_t + b_{ir} + W_{hr}\mathbf{m}_t + b_{hr}),\
        \mathbf{z} = \sigma(W_{iz}\mathbf{x}_t + b_{iz} + W_{hz}\mathbf{m}_t + b_{hz})

        \mathbf{n} = \tanh(W_{in}\mathbf{x}_t + b_{in} + \mathbf{r} \odot (W_{hn}\mathbf{m}_t
        + b_{hn})),\ \mathbf{h}_t = (1 - \mathbf{z}) \odot \mathbf{n} + \mathbf{z} \odot
        \mathbf{m}_t

    ``mode='lstm'`` (``torch.nn.LSTM``'s cell; the message carries the pair
    :math:`(\mathbf{h}, \mathbf{c})`, the output is :math:`\mathbf{h}`):

    .. math::
        (\mathbf{i}, \mathbf{f}, \mathbf{g}, \mathbf{o}) = (\sigma, \sigma, \tanh, \sigma)
        (W_i \mathbf{x}_t + b_i + W_h \mathbf{m}^h_t + b_h), \quad
        \mathbf{c}_t = \mathbf{f} \odot \mathbf{m}^c_t + \mathbf{i} \odot \mathbf{g}, \quad
        \mathbf{h}_t = \mathbf{o} \odot \tanh(\mathbf{c}_t)

    and ``mode='rnn'``, the ungated baseline (``torch.nn.RNN`` with tanh):
    :math:`\mathbf{h}_t = \tanh(W_i\mathbf{x}_t + b_i + W_h\mathbf{m}_t + b_h)`.

    The input projections of all nodes are one matrix product; the recurrence then runs wave
    by wave (all nodes at depth :math:`k` of all sequences at once), each wave gathering its
    messages from the previous one. On the path graphs of
    :func:`gdl_graphs.domains.sequence.sequence_to_graph` (tagged ``'path'``) the node outputs
    equal ``torch.nn.GRU`` / ``LSTM`` / ``RNN``'s outputs at every time step of every sequence
    (:meth:`from_torch`). Any graph in which every node has at most one predecessor (paths,
    trees directed away from their root) is accepted; the schedule is cached per
    ``edge_index``.

    Why not one ``propagate`` call: a recurrence is sequential, the message into :math:`t` is
    the *output* at :math:`t-1`, so the messages of a wave exist only after the previous wave
    was updated; one propagate computes all messages from the inputs at once. The sweep is
    therefore a loop of waves, each a gather from the previous wave. PyG's propagate hooks
    (``register_propagate_forward_pre_hook`` / ``register_propagate_forward_hook``) are still
    called once around the whole sweep with ``(edge_index, size, {'x': x, 'h0': h0})``, and
    ``flow='target_to_source'`` runs the recurrence along the reversed edges.

    Why gates: Tallec and Ollivier, "Can recurrent neural networks warp time?" (ICLR 2018,
    https://arxiv.org/abs/1804.11188) show that asking a recurrent model to be invariant to
    time warping :math:`t \mapsto c(t)` (the same signal, played slower or faster) forces the
    update :math:`\mathbf{h}_{t} = \alpha\, \mathbf{n}_t + (1 - \alpha)\, \mathbf{h}_{t-1}`
    with :math:`\alpha = c'(t)`: a leaky, interpolating update. A learned gate
    (:math:`1 - \mathbf{z}`, or the LSTM's forget gate) plays :math:`c'(t)`, so a gated
    network can absorb unknown, input-dependent warpings; a plain RNN (:math:`\alpha = 1`)
    cannot. Their *chrono initialisation* (``chrono=T_max``) draws the forget-gate bias
    :math:`b_f = \log(u)`, :math:`u \sim U(1, T_{max} - 1)` and sets the input-gate bias to
    :math:`-b_f` (LSTM), or the update-gate bias :math:`b_z = \log(u)` (GRU, where
    :math:`\mathbf{z}` keeps the state), so that memories initially last up to
    :math:`T_{max}` steps. Gating is the (approximate) symmetry of this layer: time warping,
    not node permutation (the tour's ``time_warp`` row measures it).

    Equivariance: none under permutations of the nodes within a sequence (a path graph has no
    non-trivial automorphism; time order is the data). Equivariant to relabelling whole
    sequences of a batch and, approximately through its gates, to time warping.

    Args:
        input_size (int): Node input features.
        hidden_size (int): State and output features.
        bias (bool, optional): Use ``b_ih`` and ``b_hh``. (default: :obj:`True`)
        mode (str, optional): ``'gru'``, ``'lstm'`` or ``'rnn'`` (tanh, ungated).
            (default: :obj:`"gru"`)
        chrono (float, optional): ``None`` or ``T_max > 2``: chrono initialisation of the gate
            biases (gated modes with ``bias=True``). (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, edge indices :math:`(2, E)` (at most one
          incoming edge per node), initial state ``h0`` :math:`(R, F_{hidden})` *(optional)*: one
          state per root in node order, i.e. per sequence; a pair ``(h0, c0)`` for ``'lstm'``
        - **output:** node states :math:`(N, F_{hidden})`
    """

    edge_list_only = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 mode: str = 'gru', chrono: Optional[float] = None, **kwargs):
        super().__init__(aggr=self.fixed_aggr(kwargs, 'GatedRecurrentConv', 'sum',
                                              'the recurrence reads one predecessor'), **kwargs)
        if mode not in _GATES:
            raise ValueError(f"mode must be 'gru', 'lstm' or 'rnn', got {mode!r}")
        if chrono is not None and (mode == 'rnn' or not bias or not chrono > 2):
            raise ValueError(f'chrono initialisation needs a gated mode, bias=True and '
                             f'T_max > 2, got mode={mode!r}, bias={bias}, chrono={chrono}')
        self.input_size, self.hidden_size, self.mode, self.chrono = (input_size, hidden_size,
                                                                     mode, chrono)
        k = _GATES[mode]
        self.weight_ih = Parameter(torch.empty(k * hidden_size, input_size))
        self.weight_hh = Parameter(torch.empty(k * hidden_size, hidden_size))
        self.bias_ih = Parameter(torch.empty(k * hidden_size)) if bias else None
        self.bias_hh = Parameter(torch.empty(k * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            torch.nn.init.uniform_(p, -bound, bound)
        if self.chrono is not None:
            hs = self.hidden_size
            with torch.no_grad():
                b = torch.log(torch.empty(hs).uniform_(1, self.chrono - 1)).to(self.bias_hh)
                self.bias_hh.zero_()
                self.bias_ih.zero_()
                if self.mode == 'lstm':        # gates i, f, g, o
                    self.bias_ih[hs:2 * hs] = b
                    self.bias_ih[:hs] = -b
                else:                          # gates r, z, n; z keeps the state
                    self.bias_ih[hs:2 * hs] = b

    def schedule(self, edge_index: Tensor, num_nodes: int) -> _Schedule:
        """The (cached) wave schedule of ``edge_index``."""
        s = structure_of(edge_index)
        if s is not None and s.kind == 'path' and 'ptr' in s.meta:
            ptr = s.meta['ptr']
            return cached((edge_index,), ('gru_path', num_nodes),
                          lambda: _schedule_path(ptr, num_nodes))
        return cached((edge_index,), ('gru_forest', num_nodes),
                      lambda: _schedule_edges(edge_index, num_nodes))

    def _initial(self, h0, roots: int, x: Tensor) -> Tensor:
        hs = self.hidden_size
        if h0 is None:
            return x.new_zeros(roots, hs)
        h = h0.reshape(-1, hs) if h0.dim() == 3 and h0.size(0) == 1 else h0
        if h.shape != (roots, hs):
            raise ValueError(f'h0 must have shape [{roots}, {hs}] (one state per sequence, '
                             f'i.e. per root), got {list(h0.shape)}')
        return h

    def forward(self, x: Tensor, edge_index: Tensor, h0=None) -> Tensor:
        self.check(x, edge_index, channels=self.input_size)
        if x.size(0) == 0:
            raise ValueError('x has no rows: a sequence needs at least one time step')
        if self.mode == 'lstm' and h0 is not None and not (isinstance(h0, (tuple, list))
                                                           and len(h0) == 2):
            raise ValueError("mode='lstm' takes h0 as a pair (h0, c0), like torch.nn.LSTM")
        inputs = (edge_index, None, {'x': x, 'h0': h0})
        for hook in self._propagate_forward_pre_hooks.values():
            res = hook(self, inputs)
            if res is not None:
                inputs = res
        edge_index, _, kw = inputs
        out = self._sweep(kw['x'], edge_index, kw['h0'])
        for hook in self._propagate_forward_hooks.values():
            res = hook(self, inputs, out)
            if res is not None:
                out = res
        return out

    def _sweep(self, x: Tensor, edge_index: Tensor, h0) -> Tensor:
        n = x.size(0)
        if self.flow == 'target_to_source':
            edge_index = plain(edge_index).flip(0)
        sch = self.schedule(edge_index, n)
        gi = torch.nn.functional.linear(x, self.weight_ih, self.bias_ih).index_select(
            0, sch.order)
        roots = sch.sizes[0]
        if self.mode == 'lstm':
            h = (self._initial(None if h0 is None else h0[0], roots, x),
                 self._initial(None if h0 is None else h0[1], roots, x))
        else:
            h = self._initial(h0, roots, x)
        outs = []
        start = 0
        pstart = 0
        for k, size in enumerate(sch.sizes):
            if k > 0:  # message along t-1 -> t: the parent's state, from the previous wave
                idx = sch.parent_pos[pstart:pstart + size]
                h = tuple(t.index_select(0, idx) for t in h) if isinstance(h, tuple) \
                    else h.index_select(0, idx)
                pstart += size
            h = self._cell(gi[start:start + size], h)
            outs.append(h[0] if isinstance(h, tuple) else h)
            start += size
        return torch.cat(outs, 0).index_select(0, sch.inverse)

    def _cell(self, gi: Tensor, h):
        if self.mode == 'lstm':
            h, c = h
            gates = gi + torch.nn.functional.linear(h, self.weight_hh, self.bias_hh)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        gh = torch.nn.functional.linear(h, self.weight_hh, self.bias_hh)
        if self.mode == 'rnn':
            return torch.tanh(gi + gh)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        cand = torch.tanh(i_n + r * h_n)
        return (1 - z) * cand + z * h

    @classmethod
    def from_torch(cls, rnn: torch.nn.Module) -> 'GatedRecurrentConv':
        """A copy of a one-layer, unidirectional ``torch.nn.GRU`` / ``LSTM`` / ``RNN`` (tanh)
        or of a ``GRUCell`` / ``LSTMCell`` / ``RNNCell``."""
        kinds = ((torch.nn.GRU, torch.nn.GRUCell, 'gru'), (torch.nn.LSTM, torch.nn.LSTMCell,
                 'lstm'), (torch.nn.RNN, torch.nn.RNNCell, 'rnn'))
        mode = None
        for full, cell, name in kinds:
            if isinstance(rnn, cell):
                mode, names = name, ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')
            elif isinstance(rnn, full) and type(rnn) is full:
                if rnn.num_layers != 1 or rnn.bidirectional:
                    raise ValueError(f'from_torch needs a one-layer unidirectional '
                                     f'{full.__name__}, got num_layers={rnn.num_layers}, '
                                     f'bidirectional={rnn.bidirectional}; stack '
                                     f'GatedRecurrentConv layers instead')
                if name == 'lstm' and rnn.proj_size:
                    raise ValueError('from_torch does not support LSTM proj_size > 0')
                mode, names = name, ('weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0')
        if mode is None:
            raise ValueError(f'from_torch expects torch.nn.GRU, LSTM or RNN (or their cells), '
                             f'got {type(rnn).__name__}')
        if mode == 'rnn' and getattr(rnn, 'nonlinearity', 'tanh') != 'tanh':
            raise ValueError(f"from_torch supports RNN(nonlinearity='tanh') only, got "
                             f"{rnn.nonlinearity!r}")
        w = getattr(rnn, names[0])
        out = cls(rnn.input_size, rnn.hidden_size, bias=rnn.bias, mode=mode).to(
            device=w.device, dtype=w.dtype)
        with torch.no_grad():
            for mine, theirs in zip(('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'), names):
                if getattr(out, mine) is not None:
                    getattr(out, mine).copy_(getattr(rnn, theirs))
        return out

    def __repr__(self) -> str:
        mode = '' if self.mode == 'gru' else f', mode={self.mode!r}'
        return f'{self.__class__.__name__}({self.input_size}, {self.hidden_size}{mode})'
