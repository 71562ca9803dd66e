"""Group actions of p4 / p4m on images, pixel lattices and lifted lattices.

An element ``h`` of ``C4`` / ``D4`` (ids as :class:`gdl_graphs.domains.group.Group`) acts

- on images ``[..., H, W]`` as :math:`(h f)(p) = f(h^{-1} p)` (``torch.rot90`` / ``torch.flip``);
- on pixel-lattice node features ``[B * H * W, C]`` (raster order of ``image_to_graph``) as the
  node permutation that rotates / flips every image;
- on lifted-lattice node features ``[B * H * W * |G|, C]`` as that permutation *together with a
  shift along the group axis*: :math:`(h F)(p, g) = F(h^{-1} p, h^{-1} g)`.

    >>> act = LatticeAction('C4', 1, shape=(B, H, W))
    >>> assert_equivariant(gconv, (x, ei, et), lambda a: (act.lifted(a[0]), a[1], a[2]),
    ...                    act.lifted)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import torch
from torch import Tensor

from ..domains.group import Group, get_group
from . import Permutation


@dataclass(frozen=True)
class LatticeAction:
    """The element ``element`` of ``group`` acting on lattices of ``shape = (B, H, W)``."""
    group: Union[str, Group]
    element: int
    shape: Tuple[int, int, int]

    def __post_init__(self):
        g = get_group(self.group)
        if not 0 <= int(self.element) < g.order:
            raise ValueError(f'element must be in 0 .. {g.order - 1} for {g.name}, got '
                             f'{self.element}')
        if len(self.shape) != 3:
            raise ValueError(f'shape must be (B, H, W), got {self.shape}')
        b, h, w = self.shape
        if h != w:
            raise ValueError(f'the lattice is {h} x {w}: rotations act on square lattices only')

    @property
    def G(self) -> Group:
        return get_group(self.group)

    def image(self, img: Tensor) -> Tensor:
        """Act on images ``[..., H, W]``."""
        return self.G.act_image(self.element, img)

    def pixel_permutation(self, device=None) -> Permutation:
        """The node permutation of the pixel lattice (new node ``i`` = old node ``perm[i]``)."""
        b, h, w = self.shape
        idx = torch.arange(b * h * w, device=device).view(b, h, w)
        return Permutation(self.image(idx).reshape(-1))

    def lifted_permutation(self, device=None) -> Permutation:
        """The node permutation of the lifted lattice: node ``(p, g)`` takes old node
        ``(h^{-1} p, h^{-1} g)``."""
        g = self.G
        pix = self.pixel_permutation(device).perm
        shift = g.table[int(g.inverse[self.element])].to(pix.device)     # g -> h^-1 g
        return Permutation((pix.unsqueeze(1) * g.order + shift.unsqueeze(0)).reshape(-1))

    def pixels(self, x: Tensor) -> Tensor:
        """Act on pixel node features ``[B H W, ...]``."""
        return self.pixel_permutation(x.device).nodes(x)

    def lifted(self, x: Tensor) -> Tensor:
        """Act on lifted node features ``[B H W |G|, ...]``."""
        return self.lifted_permutation(x.device).nodes(x)

    def __call__(self, x: Tensor) -> Tensor:
        n = self.shape[0] * self.shape[1] * self.shape[2]
        if x.size(0) == n:
            return self.pixels(x)
        if x.size(0) == n * self.G.order:
            return self.lifted(x)
        raise ValueError(f'x has {x.size(0)} rows: expected {n} (pixels) or '
                         f'{n * self.G.order} (lifted nodes)')


def lattice_actions(group: Union[str, Group], shape: Tuple[int, int, int]):
    """Every element of ``group`` as a :class:`LatticeAction` on ``shape``."""
    g = get_group(group)
    return [LatticeAction(g.name, k, tuple(shape)) for k in range(g.order)]


__all__ = ['LatticeAction', 'lattice_actions']
