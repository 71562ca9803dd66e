"""Mini-batches of small graphs without collating ``Data`` objects.

:class:`PrecollatedGraphs` stores a data set of graphs once as concatenated tensors and slices
any list of graphs out of it in a few vectorised index operations: the tensors PyG's
``Batch.from_data_list`` gives for the same graphs in the same order, at a fraction of the
time (collation is most of a training step on TU-sized graphs; ``scripts/bench.py --only
graph``, the ``GIN 5x32`` row).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


@dataclass
class GraphBatch:
    """A mini-batch sliced from :class:`PrecollatedGraphs`: what PyG's ``Batch`` of the same
    graphs in the same order holds (``x``, ``edge_index``, ``batch``, ``y``)."""
    x: Tensor
    edge_index: Tensor
    batch: Tensor
    y: Tensor
    num_graphs: int


class PrecollatedGraphs:
    """A data set of graphs stored once as concatenated tensors (node features, per-graph
    local edge indices, labels and the node / edge offsets of every graph).

    :meth:`batch` slices any list of graphs in a few vectorised operations, giving the
    tensors ``Batch.from_data_list`` gives for the same graphs.
    """

    def __init__(self, x: Tensor, edge_index: Tensor, y: Tensor, node_ptr: Tensor,
                 edge_ptr: Tensor):
        self.x, self.edge_index, self.y = x, edge_index, y
        self.node_ptr, self.edge_ptr = node_ptr, edge_ptr

    @classmethod
    def from_dataset(cls, dataset) -> 'PrecollatedGraphs':
        """From a PyG ``InMemoryDataset`` (``TUDataset``): its collated storage, with its
        transform applied once to the whole set (a transform that acts per node, such as
        ``OneHotDegree``, gives the same rows)."""
        data, slices = dataset._data, dataset.slices
        node_ptr = slices['x'] if 'x' in slices and data.x is not None else None
        edge_ptr = slices['edge_index']
        if node_ptr is None:  # no stored features: node counts per graph
            counts = torch.as_tensor([int(n) for n in data._num_nodes]) \
                if getattr(data, '_num_nodes', None) is not None else \
                torch.as_tensor([dataset.get(i).num_nodes for i in range(len(dataset))])
            node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        edge_index = data.edge_index
        if dataset.transform is not None:
            from torch_geometric.data import Data
            offsets = torch.repeat_interleave(node_ptr[:-1], edge_ptr[1:] - edge_ptr[:-1])
            whole = Data(x=data.x, edge_index=edge_index + offsets,
                         num_nodes=int(node_ptr[-1]))
            x = dataset.transform(whole).x
        else:
            x = data.x
        return cls(x.float(), edge_index, data.y.view(-1), node_ptr.long(), edge_ptr.long())

    @classmethod
    def from_data_list(cls, graphs: Sequence) -> 'PrecollatedGraphs':
        """From PyG ``Data`` objects, each with ``x``, ``edge_index`` and one label ``y``."""
        if not graphs:
            raise ValueError('PrecollatedGraphs.from_data_list got no graphs')
        missing = [i for i, g in enumerate(graphs)
                   if g.x is None or g.edge_index is None or g.y is None]
        if missing:
            raise ValueError(f'graph {missing[0]} lacks x, edge_index or y: every graph needs '
                             f'all three')

        def ptr(counts):
            return torch.cat([torch.zeros(1, dtype=torch.long),
                              torch.as_tensor(counts, dtype=torch.long).cumsum(0)])
        return cls(torch.cat([g.x for g in graphs]).float(),
                   torch.cat([g.edge_index for g in graphs], 1),
                   torch.cat([g.y.view(-1) for g in graphs]),
                   ptr([g.num_nodes for g in graphs]), ptr([g.num_edges for g in graphs]))

    def __len__(self) -> int:
        return self.y.numel()

    def batch(self, ids: Tensor) -> GraphBatch:
        """The graphs ``ids`` (in this order) as one disjoint graph."""
        ids = ids.long()
        n0, n1 = self.node_ptr[ids], self.node_ptr[ids + 1]
        e0, e1 = self.edge_ptr[ids], self.edge_ptr[ids + 1]
        nodes, node_count = _ranges(n0, n1 - n0)
        edges, edge_count = _ranges(e0, e1 - e0)
        new_start = torch.cumsum(node_count, 0) - node_count
        shift = torch.repeat_interleave(new_start, edge_count)
        g = torch.arange(ids.numel())
        return GraphBatch(self.x.index_select(0, nodes),
                          self.edge_index.index_select(1, edges) + shift,
                          torch.repeat_interleave(g, node_count), self.y.index_select(0, ids),
                          int(ids.numel()))


def _ranges(start: Tensor, count: Tensor):
    """The concatenation of ``arange(start[i], start[i] + count[i])``, and ``count``."""
    total = int(count.sum())
    first = torch.cumsum(count, 0) - count
    idx = torch.arange(total) - torch.repeat_interleave(first - start, count)
    return idx, count
