"""Lattice actions for the harness: shifts, 90-degree rotations and flips as node permutations.

Each action is a :class:`~gdl_graphs.testing.Permutation` of the nodes of a lattice batch
(raster order ``(b, i_1, ..., i_d)``, as :func:`gdl_graphs.domains.image_to_graph`), acting on
every image of the batch alike, plus its action on convolution kernels (``kernel``) and on the
stencil's edge types (``edge_types``) where the stencil moves with the lattice::

    act = lattice_shift(shape=(B, H, W), shifts=(1, 2))     # circular padding
    assert_equivariant(lambda x: conv(x, ei, et), (x,), lambda i: (act.nodes(i[0]),), act.nodes)

    rot = lattice_rot90((B, H, H))                          # conv with the rotated kernel
    conv_r.weight = rot.kernel(conv.weight)
    assert_close(conv_r(rot.nodes(x), ei, et), rot.nodes(conv(x, ei, et)))

``act.nodes(x)`` is the image of ``x`` under the group element: for a shift by ``s``,
``img'[p] = img[p - s]`` (as ``torch.roll(img, s)``); for ``lattice_rot90(shape, k)``,
``img' = torch.rot90(img, k, dims=(-2, -1))``; for a flip, ``img' = img.flip(dims)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Tuple, Union

import torch
from torch import Tensor

from . import Permutation


@dataclass(frozen=True)
class LatticeAction(Permutation):
    """A lattice symmetry as a node permutation; ``image_op`` applies it to ``[..., *sizes]``
    tensors (images and kernels) and ``shape`` is the lattice ``(B, *sizes)``."""
    shape: Tuple[int, ...] = ()
    image_op: Callable[[Tensor], Tensor] = None

    def image(self, t: Tensor) -> Tensor:
        """The action on an image / any tensor whose last ``d`` axes are the lattice axes."""
        return self.image_op(t)

    def kernel(self, weight: Tensor) -> Tensor:
        """The action on a convolution kernel ``[F_out, F_in, *kernel_size]`` (rotations and
        flips move the taps; a shift leaves the kernel alone)."""
        return self.image_op(weight) if self.moves_kernel else weight

    def edge_types(self, kernel_size: Sequence[int]) -> Tensor:
        """``perm_t``: the edge of type ``t`` of the acted-on graph is the edge of type
        ``perm_t[t]`` of the original (offsets move with the lattice)."""
        t = torch.arange(int(torch.tensor(kernel_size).prod())).view(*kernel_size)
        return self.kernel(t).reshape(-1) if self.moves_kernel else t.reshape(-1)

    moves_kernel: bool = True


def _from_index(shape: Tuple[int, ...], op: Callable[[Tensor], Tensor],
                moves_kernel: bool) -> LatticeAction:
    shape = tuple(int(s) for s in shape)
    idx = torch.arange(int(torch.tensor(shape).prod())).view(shape)
    perm = op(idx).reshape(-1)
    return LatticeAction(perm, shape, op, moves_kernel)


def _check_shape(shape: Sequence[int]) -> Tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f'shape must be (B, *sizes) with 1 to 3 lattice axes, got {shape}')
    return shape


def lattice_shift(shape: Sequence[int], shifts: Union[int, Sequence[int]]) -> LatticeAction:
    """Translate every image by ``shifts`` (one per lattice axis), wrapping around: a symmetry
    of the circular lattice (``padding='circular'``)."""
    shape = _check_shape(shape)
    d = len(shape) - 1
    shifts = (shifts,) * d if isinstance(shifts, int) else tuple(shifts)
    if len(shifts) != d:
        raise ValueError(f'shifts needs {d} entries (one per lattice axis), got {shifts}')
    dims = tuple(range(-d, 0))
    return _from_index(shape, lambda t: torch.roll(t, shifts, dims), moves_kernel=False)


def lattice_rot90(shape: Sequence[int], k: int = 1,
                  dims: Tuple[int, int] = (-2, -1)) -> LatticeAction:
    """Rotate every image by ``k`` quarter turns in the plane of ``dims`` (``torch.rot90``).
    Odd ``k`` needs equal sizes along ``dims`` (the lattice must map onto itself)."""
    shape = _check_shape(shape)
    if len(shape) < 3:
        raise ValueError('a rotation needs at least 2 lattice axes')
    if k % 2 and shape[dims[0]] != shape[dims[1]]:
        raise ValueError(f'a quarter turn maps the {shape[dims[0]]}x{shape[dims[1]]} lattice '
                         f'onto a different one: rotate square lattices, or use k=2')
    return _from_index(shape, lambda t: torch.rot90(t, k, dims), moves_kernel=True)


def lattice_flip(shape: Sequence[int], dims: Union[int, Sequence[int]] = -1) -> LatticeAction:
    """Mirror every image along the lattice axes ``dims`` (negative, counted from the end)."""
    shape = _check_shape(shape)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    d = len(shape) - 1
    if any(not -d <= a < 0 for a in dims):
        raise ValueError(f'dims {dims} must name lattice axes, -{d} .. -1')
    return _from_index(shape, lambda t: t.flip(dims), moves_kernel=True)


__all__ = ['LatticeAction', 'lattice_shift', 'lattice_rot90', 'lattice_flip']
