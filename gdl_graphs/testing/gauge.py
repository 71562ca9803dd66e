"""Gauge actions for the harness: rotate every tangent frame of a mesh graph by its own angle.

A gauge change acts on the geometry of a mesh graph (frames, log-map angles, transport
angles; :func:`gdl_graphs.domains.mesh.change_gauge`) and on rho_0 .. rho_M feature stacks
(rho_n pairs rotate by ``-n * angle``). A gauge-equivariant layer satisfies
``layer(g.features(x), *g.geometry(data)) == g.features(layer(x, *geometry(data)), out_types)``:

    >>> g = GaugeChange.random(data.num_nodes, seed=0)
    >>> assert_equivariant(lambda x, d: conv(x, *geometry(d)), (x, data),
    ...                    lambda a: (g.features(a[0], in_types), g.data(a[1])),
    ...                    lambda y: g.features(y, out_types))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..domains.mesh import change_gauge, random_gauge, transform_features


def geometry(data: Data) -> Tuple[Tensor, Tensor, Tensor]:
    """``(edge_index, edge_coords, connection)`` of a mesh graph, as GEMConv takes them."""
    return data.edge_index, data.edge_coords, data.connection


@dataclass(frozen=True)
class GaugeChange:
    """Rotate the frame of vertex ``i`` by ``angle[i]`` (radians)."""
    angle: Tensor

    def data(self, data: Data, types: Optional[Sequence[int]] = None) -> Data:
        """The mesh graph in the new gauge (and its ``x`` when ``types`` is given)."""
        return change_gauge(data, self.angle, types)

    def features(self, x: Tensor, types: Sequence[int]) -> Tensor:
        """rho_0 .. rho_M features in the new gauge."""
        return transform_features(x, self.angle.to(x.dtype), types)

    def subset(self, index: Tensor) -> 'GaugeChange':
        """The induced gauge change on a subset of vertices (e.g. a coarse level whose vertex
        ``c`` is fine vertex ``index[c]``)."""
        return GaugeChange(self.angle.index_select(0, index))

    @staticmethod
    def random(num_nodes: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> 'GaugeChange':
        return GaugeChange(random_gauge(num_nodes, torch.Generator().manual_seed(seed), dtype))

    @staticmethod
    def discrete(num_nodes: int, order: int, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> 'GaugeChange':
        """Random multiples of ``2 pi / order`` (the exact symmetries of sampled or binned
        angular operations such as RegularNonlinearity and GeodesicPolarConv)."""
        g = torch.Generator().manual_seed(seed)
        q = torch.randint(0, order, (num_nodes,), generator=g)
        return GaugeChange(q.to(dtype) * (2 * math.pi / order))


__all__ = ['GaugeChange', 'geometry']
