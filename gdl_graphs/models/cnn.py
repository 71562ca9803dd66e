"""A LeNet-style CNN on lattice graphs, and its ``torch.nn`` twin with the same weights.

The graph model runs ``[LatticeConv -> ReLU -> s x s lattice max pooling] x L -> flatten ->
Linear -> ReLU -> Linear`` on the graph of :func:`gdl_graphs.domains.image_to_graph`; the twin
is the classic ``nn.Sequential`` of ``Conv2d(padding='same') / ReLU / MaxPool2d / Flatten /
Linear``. :meth:`LatticeLeNet.to_torch` and :meth:`LatticeLeNet.from_torch` convert between
them; given the same weights they compute the same logits.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList
from torch_geometric.data import Data

from ..coarsening.lattice import coarsen_lattice, lattice_pool
from ..core import cached
from ..core.lattice import as_tuple, lattice_info
from ..nn.lattice_conv import LatticeConv
from .registry import register


def torch_lenet(in_channels: int = 1, num_classes: int = 10,
                image_size: Sequence[int] = (8, 8), channels: Sequence[int] = (16, 32),
                hidden: int = 64, kernel_size: int = 3, pool: int = 2) -> torch.nn.Sequential:
    """The classic twin: ``[Conv2d(k, padding=k//2) -> ReLU -> MaxPool2d(pool)] x L ->
    Flatten -> Linear(hidden) -> ReLU -> Linear(num_classes)``."""
    layers: List[torch.nn.Module] = []
    c_in = in_channels
    for c in channels:
        layers += [torch.nn.Conv2d(c_in, c, kernel_size, padding=kernel_size // 2),
                   torch.nn.ReLU(), torch.nn.MaxPool2d(pool)]
        c_in = c
    final = _final_size(image_size, pool, len(channels))
    layers += [torch.nn.Flatten(), Linear(c_in * math.prod(final), hidden), torch.nn.ReLU(),
               Linear(hidden, num_classes)]
    return torch.nn.Sequential(*layers)


def _final_size(image_size: Sequence[int], pool: int, depth: int) -> Tuple[int, int]:
    size = as_tuple(image_size, 2, 'image_size')
    for _ in range(depth):
        size = tuple(n // pool for n in size)
    if any(n < 1 for n in size):
        raise ValueError(f'image_size {tuple(image_size)} is too small for {depth} poolings of '
                         f'{pool}: use fewer channels stages or a larger image')
    return size


@register('lattice-lenet')
class LatticeLeNet(torch.nn.Module):
    r"""LeNet (LeCun et al., "Gradient-based learning applied to document recognition", 1998)
    as a graph network on the lattice of an image: the blueprint's equivariant layers
    (:class:`~gdl_graphs.nn.LatticeConv`) -> local pooling by lattice coarsening -> flatten and
    an MLP.

    Args:
        in_channels: image channels.
        num_classes: outputs.
        image_size: ``(H, W)`` of the input lattice (the flatten size depends on it).
        channels: output channels of each conv stage (one ``s x s`` max pooling per stage).
        hidden: width of the hidden linear layer.
        kernel_size: odd conv kernel size (the graph must be built with it).
        pool: pooling size ``s`` (floor mode, as ``nn.MaxPool2d``).

    Shapes: ``data`` from ``image_to_graph(images [B, C, H, W], kernel_size)`` -> logits
    ``[B, num_classes]``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 image_size: Sequence[int] = (8, 8), channels: Sequence[int] = (16, 32),
                 hidden: int = 64, kernel_size: int = 3, pool: int = 2):
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.image_size = as_tuple(image_size, 2, 'image_size')
        self.channels, self.hidden = tuple(channels), hidden
        self.kernel_size, self.pool = kernel_size, pool
        self.final_size = _final_size(self.image_size, pool, len(self.channels))
        dims = (in_channels,) + self.channels
        self.convs = ModuleList(LatticeConv(a, b, kernel_size, dim=2)
                                for a, b in zip(dims[:-1], dims[1:]))
        self.lin1 = Linear(self.channels[-1] * math.prod(self.final_size), hidden)
        self.lin2 = Linear(hidden, num_classes)

    def reset_parameters(self) -> None:
        for m in list(self.convs) + [self.lin1, self.lin2]:
            m.reset_parameters()

    def hierarchy(self, data: Data) -> List[Data]:
        """The coarse lattices after each pooling (built once per graph and cached)."""
        info = lattice_info(data)
        if info.sizes != self.image_size or info.kernel_size != (self.kernel_size,) * 2:
            raise ValueError(f'the model expects {self.image_size} images with a '
                             f'{self.kernel_size}x{self.kernel_size} stencil, the graph has '
                             f'{info.sizes} and {info.kernel_size}: build it with '
                             f'image_to_graph(images, kernel_size={self.kernel_size})')
        if info.pixel is not None:
            raise ValueError('LatticeLeNet flattens the final lattice, so it needs full '
                             'lattices (no mask)')

        def build() -> List[Data]:
            graphs, g = [], data
            for k in range(len(self.convs)):
                last = k == len(self.convs) - 1
                g = coarsen_lattice(g, self.pool, kernel_size=1 if last else None)
                graphs.append(g)
            return graphs
        return cached((data.edge_index,), ('lattice-lenet', self.pool, len(self.convs)), build)

    def forward(self, data: Data) -> Tensor:
        graphs = self.hierarchy(data)
        x, g = data.x, data
        for conv, coarse in zip(self.convs, graphs):
            x = torch.relu(conv(x, g.edge_index, g.edge_type))
            x = lattice_pool(x, coarse, 'max')
            g = coarse
        x = x.reshape(lattice_info(data).batch_size, -1)   # (h, w, c) order
        return self.lin2(torch.relu(self.lin1(x)))

    def to_torch(self) -> torch.nn.Sequential:
        """The ``torch.nn`` twin (:func:`torch_lenet`) with the same weights."""
        seq = torch_lenet(self.in_channels, self.num_classes, self.image_size, self.channels,
                          self.hidden, self.kernel_size, self.pool)
        seq = seq.to(device=self.lin1.weight.device, dtype=self.lin1.weight.dtype)
        convs = [m for m in seq if isinstance(m, torch.nn.Conv2d)]
        lins = [m for m in seq if isinstance(m, Linear)]
        p, c = math.prod(self.final_size), self.channels[-1]
        with torch.no_grad():
            for ours, theirs in zip(self.convs, convs):
                theirs.weight.copy_(ours.weight)
                theirs.bias.copy_(ours.bias)
            w = self.lin1.weight.view(self.hidden, p, c).transpose(1, 2).reshape(self.hidden, -1)
            lins[0].weight.copy_(w)
            lins[0].bias.copy_(self.lin1.bias)
            lins[1].load_state_dict(self.lin2.state_dict())
        return seq

    @classmethod
    def from_torch(cls, seq: torch.nn.Sequential, image_size: Sequence[int]) -> 'LatticeLeNet':
        """The graph model of a :func:`torch_lenet`-shaped ``nn.Sequential`` (same weights)."""
        convs = [m for m in seq if isinstance(m, torch.nn.Conv2d)]
        pools = [m for m in seq if isinstance(m, torch.nn.MaxPool2d)]
        lins = [m for m in seq if isinstance(m, Linear)]
        if not convs or len(pools) != len(convs) or len(lins) != 2:
            raise ValueError('from_torch expects [Conv2d, ReLU, MaxPool2d] x L, Flatten, '
                             'Linear, ReLU, Linear (see torch_lenet)')
        k = convs[0].kernel_size[0]
        s = pools[0].kernel_size
        s = s if isinstance(s, int) else s[0]
        model = cls(convs[0].in_channels, lins[1].out_features, image_size,
                    [c.out_channels for c in convs], lins[0].out_features, k, s)
        model = model.to(device=lins[0].weight.device, dtype=lins[0].weight.dtype)
        p, c = math.prod(model.final_size), model.channels[-1]
        if lins[0].in_features != p * c:
            raise ValueError(f'the first Linear takes {lins[0].in_features} features but '
                             f'{tuple(image_size)} images give {p * c}: check image_size')
        with torch.no_grad():
            for ours, theirs in zip(model.convs, convs):
                ours.weight.copy_(LatticeConv.from_conv(theirs).weight)
                ours.bias.copy_(theirs.bias)
            w = lins[0].weight.view(model.hidden, c, p).transpose(1, 2).reshape(model.hidden, -1)
            model.lin1.weight.copy_(w)
            model.lin1.bias.copy_(lins[0].bias)
            model.lin2.load_state_dict(lins[1].state_dict())
        return model

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.num_classes}, '
                f'image_size={self.image_size}, channels={self.channels})')


__all__ = ['LatticeLeNet', 'torch_lenet']
