"""Set models: DeepSets and PointNet, from the same two pieces.

Blueprint of a set model: permutation-equivariant layers (:class:`DeepSetsConv`), one invariant
readout (:class:`DeepSetsReadout`), then an MLP on the set summary. DeepSets (Zaheer et al.
2017) pools by sum and may mix the set summary into every layer; PointNet (Qi et al. 2017,
https://arxiv.org/abs/1612.00593, without its input/feature transform nets) is the special
case of layers without the set term (a shared per-point MLP) and max pooling.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..nn.deepsets_conv import DeepSetsConv, DeepSetsReadout
from .registry import register

__all__ = ['DeepSets', 'PointNet']


class DeepSets(torch.nn.Module):
    r"""An invariant set model :math:`\rho\big(\bigoplus_{i \in S} \phi(\mathbf{x}_i)\big)`
    (Zaheer et al., "Deep Sets", NeurIPS 2017, https://arxiv.org/abs/1703.06114).

    :math:`\phi` is ``num_layers`` :class:`DeepSetsConv` layers with ReLU (equivariant;
    ``pool=None`` makes them per-element, as in the paper's invariant model), the readout pools
    by ``readout``, :math:`\rho` is a ReLU MLP with ``rho_layers`` linear layers.

    Equivariance: permutation invariant per set (the output of a set ignores the order of its
    elements); ``forward(..., per_element=True)`` returns the equivariant element features.

    Args:
        in_channels: element features.
        hidden_channels: width of :math:`\phi` and :math:`\rho`.
        out_channels: outputs per set.
        num_layers: layers of :math:`\phi`.
        pool: set term of the layers: ``'sum'``, ``'mean'``, ``'max'`` or ``None``.
        readout: ``'sum'`` (default), ``'mean'`` or ``'max'``.
        rho_layers: linear layers of :math:`\rho` (at least 1).

    Shapes:
        x ``[N, in_channels]``, batch ``[N]`` (sorted; default one set) -> ``[B, out_channels]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int = 2, pool: Optional[str] = 'sum', readout: str = 'sum',
                 rho_layers: int = 2):
        super().__init__()
        if num_layers < 1 or rho_layers < 1:
            raise ValueError(f'num_layers ({num_layers}) and rho_layers ({rho_layers}) must be '
                             f'at least 1')
        dims = [in_channels] + [hidden_channels] * num_layers
        self.phi = torch.nn.ModuleList(
            DeepSetsConv(a, b, pool=pool, act='relu') for a, b in zip(dims[:-1], dims[1:]))
        self.readout = DeepSetsReadout(readout)
        rho = []
        for k in range(rho_layers):
            last = k == rho_layers - 1
            rho.append(torch.nn.Linear(hidden_channels, out_channels if last else
                                       hidden_channels))
            if not last:
                rho.append(torch.nn.ReLU())
        self.rho = torch.nn.Sequential(*rho)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, 'reset_parameters'):
                m.reset_parameters()

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                num_sets: Optional[int] = None, per_element: bool = False) -> Tensor:
        for layer in self.phi:
            x = layer(x, batch, num_sets)
        if per_element:
            return x
        return self.rho(self.readout(x, batch, num_sets))


class PointNet(DeepSets):
    r"""PointNet's classification backbone as a DeepSets model (Qi et al., "PointNet",
    CVPR 2017, https://arxiv.org/abs/1612.00593): a shared per-point MLP
    (:class:`DeepSetsConv` with ``pool=None``), max pooling, an MLP head. The input and feature
    alignment networks (T-Nets) are left out.

    Equivariance: permutation invariant per point set.

    Args:
        in_channels: point features (e.g. 3 for ``pos``).
        hidden_channels: width of the shared MLP and the head.
        out_channels: outputs per point set.
        num_layers: layers of the shared MLP.
        rho_layers: linear layers of the head.

    Shapes:
        x ``[N, in_channels]``, batch ``[N]`` -> ``[B, out_channels]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int = 3, rho_layers: int = 2):
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, pool=None,
                         readout='max', rho_layers=rho_layers)


register('deepsets', DeepSets)
register('pointnet', PointNet)
