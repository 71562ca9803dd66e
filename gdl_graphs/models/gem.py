"""A small gauge-equivariant mesh network (GEM-CNN) with an invariant readout."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ..coarsening import global_pool
from ..coarsening.mesh import MeshLevel, mesh_pool
from ..core.mesh import check_types
from ..nn.gem_conv import GEMConv, merge_types, split_types
from ..nn.regular_nonlinearity import RegularNonlinearity


class NormGate(torch.nn.Module):
    r"""An exactly gauge-equivariant nonlinearity: ReLU on rho_0, and every rho_n pair
    (``n >= 1``) scaled by a function of its norm, :math:`z \mapsto z\,
    \mathrm{sigmoid}(|z| - b)` (learned bias ``b`` per channel).

    Equivariance: exactly gauge equivariant (norms are invariant), permutation equivariant.
    """

    def __init__(self, types: Sequence[int]):
        super().__init__()
        self.types = check_types(types)
        self.bias = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(c)) for c in self.types[1:]])

    def forward(self, x: Tensor) -> Tensor:
        parts = split_types(x, self.types)
        out = [torch.relu(parts[0]) if parts[0] is not None else None]
        for m, part in enumerate(parts[1:]):
            if part is None:
                out.append(None)
                continue
            re, im = part
            norm = torch.sqrt(re * re + im * im + 1e-30)
            gate = torch.sigmoid(norm - self.bias[m])
            out.append((re * gate, im * gate))
        return merge_types(out, self.types, x.size(0), x)


class GEMNet(torch.nn.Module):
    r"""A GEM-CNN (de Haan et al. 2021, https://arxiv.org/abs/2003.05425): scalar inputs,
    ``num_layers`` :class:`~gdl_graphs.nn.GEMConv` layers on regular rho_0 .. rho_M stacks,
    each followed by a gauge-equivariant nonlinearity, a last GEMConv to invariant (rho_0)
    vertex features, and an invariant readout (global mean pool + linear).

    Equivariance: with ``nonlinearity='norm'`` (:class:`NormGate`) exactly gauge invariant
    outputs, hence invariant to mesh isometries (e.g. the 60 rotations of an icosphere) and
    to vertex permutations; with ``'regular'`` (:class:`~gdl_graphs.nn.RegularNonlinearity`,
    as in the paper) up to its stated sampling error.

    Args:
        in_channels: scalar input features per vertex.
        out_channels: outputs per graph (e.g. classes).
        hidden: multiplicity ``C`` of each of rho_0 .. rho_M in the hidden stacks.
        order: ``M``.
        num_layers: hidden GEMConv layers.
        num_radial: radial basis of every GEMConv.
        nonlinearity: ``'norm'`` (default, exact) or ``'regular'``.
        num_samples: samples of the regular nonlinearity.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 8, order: int = 2,
                 num_layers: int = 2, num_radial: int = 1, nonlinearity: str = 'norm',
                 num_samples: Optional[int] = None):
        super().__init__()
        if nonlinearity not in ('norm', 'regular'):
            raise ValueError(f"nonlinearity must be 'norm' or 'regular', got {nonlinearity!r}")
        self.types = (hidden,) * (order + 1)
        types_in = (in_channels,)
        self.convs = torch.nn.ModuleList()
        self.acts = torch.nn.ModuleList()
        for _ in range(num_layers):
            self.convs.append(GEMConv(types_in, self.types, num_radial=num_radial))
            self.acts.append(NormGate(self.types) if nonlinearity == 'norm'
                             else RegularNonlinearity(self.types, num_samples))
            types_in = self.types
        self.last = GEMConv(types_in, (hidden,), num_radial=num_radial)
        self.head = torch.nn.Linear(hidden, out_channels)

    def node_features(self, x: Tensor, edge_index: Tensor, edge_coords: Tensor,
                      connection: Tensor) -> Tensor:
        """Invariant vertex features ``[N, hidden]``."""
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, edge_index, edge_coords, connection))
        return torch.relu(self.last(x, edge_index, edge_coords, connection))

    def forward(self, x: Tensor, edge_index: Tensor, edge_coords: Tensor, connection: Tensor,
                batch: Optional[Tensor] = None, num_graphs: Optional[int] = None,
                level: Optional[MeshLevel] = None) -> Tensor:
        """Logits per graph ``[B, out_channels]``. With a coarse ``level``
        (:func:`gdl_graphs.coarsening.coarsen_mesh` of the same graph) the network is
        multiscale: after the first layer the features are pooled with parallel transport
        (:func:`~gdl_graphs.coarsening.mesh_pool`) and the other layers run on the coarse
        mesh; it stays exactly gauge invariant."""
        if level is None:
            h = self.node_features(x, edge_index, edge_coords, connection)
            return self.head(global_pool(h, batch, 'mean', num_graphs))
        if level.cluster.numel() != x.size(0):
            raise ValueError(f'level was built for {level.cluster.numel()} vertices, x has '
                             f'{x.size(0)} rows: coarsen the same graph')
        h = self.acts[0](self.convs[0](x, edge_index, edge_coords, connection))
        h = mesh_pool(h, level, self.types)
        geo = (level.data.edge_index, level.data.edge_coords.to(h.dtype),
               level.data.connection.to(h.dtype))
        for conv, act in zip(self.convs[1:], self.acts[1:]):
            h = act(conv(h, *geo))
        h = torch.relu(self.last(h, *geo))
        return self.head(global_pool(h, level.data.get('batch'), 'mean', num_graphs))


__all__ = ['GEMNet', 'NormGate']
