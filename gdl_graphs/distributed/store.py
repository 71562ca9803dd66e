"""A rank's part behind PyG's remote-backend interfaces, so PyG code can read it.

:class:`DistFeatureStore` is a :class:`torch_geometric.data.FeatureStore`: ``store['x', None]``
or ``store.get_tensor(attr_name='x', index=ids)`` returns rows of **global** node ids, its own
rows locally and the others from their owners (a collective when ``index`` is given: every rank
calls it together). ``attr_name`` is ``'x'`` or ``'y'``; ``group_name`` is ignored (one node
type). :class:`DistGraphStore` is a :class:`torch_geometric.data.GraphStore` holding the part's
edges into its own nodes, with global ids, as ``'coo'`` (``[2, e_p]``: source, target) or
``'csc'`` (``colptr`` over the part's nodes in local order, ``row`` = global source). Both are
read-only: the partition on disk is the truth.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import FeatureStore, GraphStore
from torch_geometric.data.feature_store import TensorAttr
from torch_geometric.data.graph_store import EdgeAttr, EdgeLayout

from .graph import DistGraph

_EDGE_TYPE = ('node', 'to', 'node')


def _read_only(what: str):
    raise ValueError(f'the partitioned {what} is read-only: write a new partition with '
                     f'scripts/partition.py')


class DistFeatureStore(FeatureStore):
    """Node features and labels of a partitioned graph, by global node id."""

    def __init__(self, graph: DistGraph):
        super().__init__()
        self.__dict__['graph'] = graph

    def _table(self, attr: TensorAttr) -> Tensor:
        name = attr.attr_name
        if name not in ('x', 'y'):
            raise KeyError(f"the partitioned store holds 'x' and 'y', not {name!r}")
        return self.graph.part.x if name == 'x' else self.graph.part.y

    def _get_tensor(self, attr: TensorAttr) -> Optional[Tensor]:
        table = self._table(attr)
        index = attr.index
        if index is None or isinstance(index, slice):
            if index is None or index == slice(None):
                raise ValueError('a partitioned feature store serves rows by global node id: '
                                 'pass index=ids (the whole table exists on no rank)')
            index = torch.arange(self.graph.num_nodes)[index]
        index = torch.as_tensor(index, dtype=torch.long).view(-1)
        if attr.attr_name == 'x':
            return self.graph.features(index)
        return self.graph.rows(table, index, 'the label request')

    def _get_tensor_size(self, attr: TensorAttr) -> Optional[Tuple[int, ...]]:
        return (self.graph.num_nodes,) + tuple(self._table(attr).shape[1:])

    def get_all_tensor_attrs(self) -> List[TensorAttr]:
        return [TensorAttr(None, 'x'), TensorAttr(None, 'y')]

    def _put_tensor(self, tensor, attr) -> bool:
        _read_only('feature store')

    def _remove_tensor(self, attr) -> bool:
        _read_only('feature store')


class DistGraphStore(GraphStore):
    """The edges into a rank's own nodes (global ids)."""

    def __init__(self, graph: DistGraph):
        super().__init__()
        self.__dict__['graph'] = graph

    def _get_edge_index(self, edge_attr: EdgeAttr) -> Optional[Tuple[Tensor, Tensor]]:
        part = self.graph.part
        layout = EdgeLayout(edge_attr.layout)
        if layout == EdgeLayout.CSC:
            return part.rowptr, part.col
        if layout == EdgeLayout.COO:
            dst = torch.repeat_interleave(part.nodes, part.rowptr[1:] - part.rowptr[:-1])
            return part.col, dst
        raise ValueError("the partitioned graph store holds 'coo' and 'csc' (edges by "
                         "target), not 'csr'")

    def get_all_edge_attrs(self) -> List[EdgeAttr]:
        n = self.graph.num_nodes
        return [EdgeAttr(_EDGE_TYPE, EdgeLayout.COO, False, (n, n)),
                EdgeAttr(_EDGE_TYPE, EdgeLayout.CSC, True, (n, self.graph.part.num_nodes))]

    def _put_edge_index(self, edge_index, edge_attr) -> bool:
        _read_only('graph store')

    def _remove_edge_index(self, edge_attr) -> bool:
        _read_only('graph store')
