"""The symmetry harness: ``assert_equivariant`` and the group actions of every domain.

``assert_equivariant(f, inputs, act_in, act_out)`` checks ``f(act_in(inputs)) ==
act_out(f(inputs))`` in the inputs' dtype with dtype-aware tolerances: silent on success, a
readable ``AssertionError`` (largest error and where) on failure. Group actions are small value
objects with a ``__call__``; the domain modules add theirs here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 1e-2,
              torch.bfloat16: 1e-2}


def tolerance(dtype: torch.dtype) -> float:
    """Default absolute (and relative) tolerance for ``dtype``."""
    return TOLERANCES.get(dtype, 0.0)


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _index(mask: Tensor) -> tuple:
    flat = int(torch.nonzero(mask.reshape(-1))[0])
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), mask.shape))


def assert_close(actual: Any, expected: Any, atol: Optional[float] = None,
                 rtol: Optional[float] = None, name: str = 'output') -> None:
    """Compare tensors (or tuples of tensors) and report the largest error and where it is.

    Non-finite entries must match exactly: NaN where the expected value is NaN (and nowhere
    else), the same infinity where it is infinite; the finite entries agree within ``atol +
    rtol * |expected|`` (default: :func:`tolerance` of the dtype)."""
    actual, expected = _as_tuple(actual), _as_tuple(expected)
    if len(actual) != len(expected):
        raise AssertionError(f'{name}: {len(actual)} outputs vs {len(expected)} expected')
    for k, (a, e) in enumerate(zip(actual, expected)):
        label = name if len(actual) == 1 else f'{name}[{k}]'
        if not isinstance(a, Tensor) or not isinstance(e, Tensor):
            if isinstance(a, Tensor) or isinstance(e, Tensor):
                raise AssertionError(f'{label}: a {type(a).__name__} vs an expected '
                                     f'{type(e).__name__}')
            if a != e:
                raise AssertionError(f'{label}: {a!r} != {e!r}')
            continue
        if a.shape != e.shape:
            raise AssertionError(f'{label}: shape {list(a.shape)} != expected {list(e.shape)}')
        if not a.is_floating_point() and not e.is_floating_point():
            if not torch.equal(a, e):
                raise AssertionError(f'{label}: integer tensors differ')
            continue
        tol = tolerance(a.dtype if a.is_floating_point() else e.dtype)
        at = tol if atol is None else atol
        rt = tol if rtol is None else rtol
        if a.numel() == 0:
            continue
        nan_a, nan_e = torch.isnan(a), torch.isnan(e)
        if not torch.equal(nan_a, nan_e):
            where = _index(nan_a != nan_e)
            raise AssertionError(f'{label}: NaN at index {where} in the '
                                 f'{"output" if bool(nan_a[where]) else "expected value"} only '
                                 f'(got {float(a[where])}, expected {float(e[where])})')
        inf = torch.isinf(a) | torch.isinf(e)
        bad_inf = inf & (a != e)
        if bool(bad_inf.any()):
            where = _index(bad_inf)
            raise AssertionError(f'{label}: at index {where} got {float(a[where])}, expected '
                                 f'{float(e[where])}')
        finite = ~(nan_a | inf)
        err = torch.where(finite, (a - e).abs(), torch.zeros((), dtype=torch.float64))
        bound = at + rt * torch.where(finite, e.abs(), torch.zeros((), dtype=e.dtype))
        if bool((err > bound).any()):
            flat = int(torch.argmax(err - bound))
            where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape))
            raise AssertionError(
                f'{label}: max error {float(err.max()):.3e} > tolerance (atol={at:.1e}, '
                f'rtol={rt:.1e}); worst at index {where}: got {float(a[where]):.10g}, '
                f'expected {float(e[where]):.10g}')


def assert_equivariant(module: Callable, inputs: Sequence[Any], act_in: Callable,
                       act_out: Callable, atol: Optional[float] = None,
                       rtol: Optional[float] = None) -> None:
    """Assert ``module(*act_in(inputs)) == act_out(module(*inputs))``.

    Args:
        module: any callable (a layer, a model, a lambda around one).
        inputs: the positional arguments of ``module``.
        act_in: the group element acting on the inputs (tuple -> tuple).
        act_out: the same group element acting on the outputs (output -> output). Use
            ``lambda y: y`` to check invariance.
    """
    inputs = _as_tuple(inputs)
    with torch.no_grad():
        expected = act_out(module(*inputs))
        actual = module(*_as_tuple(act_in(inputs)))
    assert_close(actual, expected, atol, rtol, name='equivariance')


# --------------------------------------------------------------------------- permutations


@dataclass(frozen=True)
class Permutation:
    """Node relabelling: new node ``i`` is old node ``perm[i]``.

    Acts on node tensors (``x[perm]``), on ``edge_index`` (old ``j`` -> new ``inv[j]``) and on
    ``Data`` (every node-level attribute, ``edge_index``; edge order is kept)."""
    perm: Tensor

    @property
    def inverse(self) -> Tensor:
        inv = torch.empty_like(self.perm)
        inv[self.perm] = torch.arange(self.perm.numel(), device=self.perm.device)
        return inv

    def nodes(self, t: Tensor) -> Tensor:
        return t.index_select(0, self.perm)

    def edges(self, edge_index: Tensor) -> Tensor:
        return self.inverse[edge_index]

    def data(self, data: Data) -> Data:
        out = data.clone()
        n = data.num_nodes
        for key, value in data.items():
            if key == 'edge_index':
                out.edge_index = self.edges(value)
            elif key in ('face', 'faces') and isinstance(value, Tensor):
                out[key] = self.inverse[value]
            elif isinstance(value, Tensor) and data.is_node_attr(key) and value.size(0) == n:
                out[key] = self.nodes(value)
        return out

    @staticmethod
    def random(num_nodes: int, batch: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> 'Permutation':
        """A random permutation; with ``batch`` it permutes within each graph only, so the
        batch vector stays sorted."""
        if batch is None:
            return Permutation(torch.randperm(num_nodes, generator=generator))
        keys = batch.double() + torch.rand(num_nodes, generator=generator, dtype=torch.double)
        return Permutation(torch.argsort(keys))


def assert_permutation_equivariant(
        module: Callable, data: Data,
        forward: Optional[Callable[[Callable, Data], Any]] = None,
        seed: int = 0, within_graphs: bool = True,
        atol: Optional[float] = None, rtol: Optional[float] = None) -> None:
    """Permute the nodes of ``data`` and check every output: node-level outputs (first
    dimension = number of nodes) must be permuted alike, all others (graph-level readouts,
    scalars) must be invariant.

    ``forward(module, data)`` runs the module (default: ``module(data.x, data.edge_index)``).
    """
    forward = forward or (lambda m, d: m(d.x, d.edge_index))
    g = torch.Generator().manual_seed(seed)
    batch = data.get('batch') if within_graphs else None
    p = Permutation.random(data.num_nodes, batch, g)
    n = data.num_nodes
    if p.perm.numel() > 1 and torch.equal(p.perm, torch.arange(n)):
        p = Permutation(torch.roll(p.perm, 1)) if batch is None else p

    def act_out(out):
        outs = _as_tuple(out)
        res = tuple(p.nodes(o) if isinstance(o, Tensor) and o.dim() > 0 and o.size(0) == n
                    else o for o in outs)
        return res if isinstance(out, (tuple, list)) else res[0]

    assert_equivariant(lambda d: forward(module, d), (data,), lambda ins: (p.data(ins[0]),),
                       act_out, atol, rtol)


__all__ = ['tolerance', 'assert_close', 'assert_equivariant', 'Permutation',
           'assert_permutation_equivariant', 'TOLERANCES']
