r"""Link-level mini-batches: seed edges, exact negatives, their endpoints' sampled
neighbourhoods; as PyG's ``LinkNeighborLoader``, without pyg-lib or torch-sparse.

A batch of seed edges (columns of ``edge_label_index``) becomes one subgraph:

1. with ``neg_sampling_ratio = r``: :math:`\lceil rB \rceil` negatives are drawn for the
   :math:`B` seed edges by a :class:`~gdl_graphs.link.NegativeSampler` built once: distinct
   pairs that are neither an edge of ``data.edge_index`` nor a seed pair of the loader, exactly
   (PyG draws random pairs that may be edges);
2. the endpoints of all pairs, deduplicated and sorted (PyG's order), are the seed nodes of
   :class:`~gdl_graphs.loader.NeighborSampler` (hop by hop, the same code on CPU and CUDA);
3. the batch is a :class:`~torch_geometric.data.Data` with PyG's names: ``n_id``, ``e_id``,
   ``edge_index`` (local), ``edge_label_index`` (local ids of the pairs, positives first),
   ``edge_label`` (the given labels, or 1, then 0 for the negatives; given integer labels that
   contain 0 are shifted by one, as PyG), ``input_id`` (the seed edges' positions),
   ``num_sampled_nodes`` / ``num_sampled_edges``, and every node / edge attribute sliced.

Each batch draws its own seed from the loader's generator in the main process, so a run is
reproducible for any ``num_workers``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..core import check_edge_index
from ..link.negative import NegativeSampler
from .neighbor import (
    NeighborLoader,
    NeighborSampler,
    _Identity,
    _SeededBatches,
    check_fanout,
    check_loader_args,
)


def _ratio(neg_sampling, neg_sampling_ratio) -> Optional[float]:
    if neg_sampling is not None and neg_sampling_ratio is not None:
        raise ValueError('give neg_sampling or neg_sampling_ratio, not both')
    if neg_sampling is None:
        r = neg_sampling_ratio
    elif neg_sampling == 'binary':
        r = 1.0
    elif isinstance(neg_sampling, dict) and neg_sampling.get('mode', 'binary') == 'binary':
        r = float(neg_sampling.get('amount', 1.0))
    else:
        raise ValueError(f"neg_sampling must be 'binary' or {{'mode': 'binary', 'amount': r}} "
                         f"(triplet sampling is not supported), got {neg_sampling!r}")
    if r is None:
        return None
    r = float(r)
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(f'the negative sampling ratio must be a finite number > 0, got {r}')
    return r


class LinkNeighborLoader(torch.utils.data.DataLoader):
    r"""Mini-batches of seed edges with their endpoints' sampled neighbourhoods.

    Args:
        data: the message-passing graph (:class:`~torch_geometric.data.Data`).
        num_neighbors: fan-out per hop, e.g. ``[10, 10]`` (``-1``: all neighbours).
        edge_label_index: the seed pairs ``[2, L]`` (default: ``data.edge_index``).
        edge_label: their labels ``[L, ...]`` (default: ones).
        neg_sampling_ratio: negatives per seed edge (binary negative sampling); or
            ``neg_sampling='binary'`` / ``{'mode': 'binary', 'amount': r}`` as PyG.
        neg_method: ``'uniform'`` or ``'degree'`` (:func:`~gdl_graphs.link.negative_sampling`).
        batch_size, shuffle, drop_last, num_workers, ...: as
            :class:`torch.utils.data.DataLoader` (a batch holds ``batch_size`` seed edges).
        replace: sample neighbours with replacement.
        generator: a CPU :class:`torch.Generator` for the order and the per-batch seeds.
    """

    def __init__(self, data: Data, num_neighbors: Sequence[int],
                 edge_label_index: Optional[Tensor] = None, edge_label: Optional[Tensor] = None,
                 neg_sampling_ratio: Optional[float] = None,
                 neg_sampling: Optional[Union[str, dict]] = None, neg_method: str = 'uniform',
                 batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 replace: bool = False, generator: Optional[torch.Generator] = None, **kwargs):
        check_loader_args(type(self).__name__, data, batch_size, kwargs)
        self.num_neighbors = check_fanout(num_neighbors)
        self.data = data
        n = data.num_nodes
        self.node_sampler = NeighborSampler(data.edge_index, n, replace=replace)
        dev = self.node_sampler.device
        if edge_label_index is None:
            edge_label_index = data.edge_index
        check_edge_index(edge_label_index, n, name='edge_label_index')
        self.edge_label_index = edge_label_index.long().to(dev)
        L = self.edge_label_index.size(1)
        self.ratio = _ratio(neg_sampling, neg_sampling_ratio)
        if edge_label is not None:
            if edge_label.size(0) != L:
                raise ValueError(f'edge_label has {edge_label.size(0)} entries for {L} seed '
                                 f'edges in edge_label_index')
            if self.ratio is not None and not edge_label.is_floating_point() and \
                    edge_label.numel() and int(edge_label.min()) == 0:
                edge_label = edge_label + 1  # 0 now means "negative"
        self.edge_label = edge_label
        self.neg_sampler = None
        if self.ratio is not None:
            forbidden = torch.cat([data.edge_index.long().to(dev), self.edge_label_index], 1)
            self.neg_sampler = NegativeSampler(forbidden, n, method=neg_method)
        if kwargs.get('num_workers', 0) and dev.type != 'cpu':
            raise ValueError('a CUDA graph samples in the main process: use num_workers=0')
        batches = _SeededBatches(L, int(batch_size), shuffle, drop_last, generator)
        super().__init__(_Identity(), batch_sampler=batches, collate_fn=self._collate, **kwargs)

    def _collate(self, items) -> Data:
        (idx, seed), = items
        dev = self.node_sampler.device
        g = torch.Generator(device=dev)
        g.manual_seed(seed)
        idx = idx.to(dev)
        pairs = self.edge_label_index.index_select(1, idx)
        label = None
        if self.edge_label is not None:
            label = self.edge_label.index_select(0, idx.to(self.edge_label.device))
        if self.neg_sampler is not None:
            num_neg = math.ceil(idx.numel() * self.ratio)
            neg = self.neg_sampler.sample(num_neg, generator=g)
            if label is None:
                label = torch.ones(idx.numel(), device=dev)
            label = torch.cat([label, label.new_zeros((num_neg,) + label.shape[1:])])
            pairs = torch.cat([pairs, neg], 1)
        elif label is None:
            label = torch.ones(idx.numel(), device=dev)
        seeds, inverse = torch.unique(pairs.reshape(-1), return_inverse=True)
        out = self.node_sampler.sample(seeds, self.num_neighbors, generator=g)
        batch = NeighborLoader.subgraph(self, out, None)
        for key in ('batch_size', 'input_id'):
            del batch[key]
        batch.edge_label_index = inverse.view(2, -1)
        batch.edge_label = label
        batch.input_id = idx
        return batch
