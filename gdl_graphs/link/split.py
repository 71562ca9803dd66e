r"""Split a graph's edges into train / valid / test link prediction sets, without leakage.

:class:`RandomLinkSplit` has PyG's ``RandomLinkSplit`` semantics (same arguments, same sizes,
same attribute names) on homogeneous graphs:

- message passing never sees a supervision edge of its own split or a later one: the train
  graph's ``edge_index`` holds the train edges (minus the ``disjoint_train_ratio`` supervision
  part), the valid graph's the train edges, the test graph's train + valid edges;
- ``is_undirected=True`` splits each pair :math:`\{i, j\}` once (the columns with
  :math:`i \le j`) and puts both directions into the message-passing graphs, so the reverse of
  a held-out edge never leaks;
- negatives are distinct pairs that are not edges of the *whole* graph
  (:func:`~gdl_graphs.link.negative_sampling`), shared out valid first, then test, then train;
- ``edge_label_index`` / ``edge_label`` (or ``pos_edge_label_index`` ... with
  ``split_labels``) carry the supervision pairs; an existing integer ``edge_label`` is
  shifted by one so that 0 means "negative", as PyG.

Errors are one line naming the problem: a float ratio outside (0, 1), ratios summing to 1 or
more, no edge left for training, negatives impossible (a complete graph), node ids out of range.
"""
from __future__ import annotations

import copy
import math
import warnings
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..core import check_edge_index
from .negative import _check_method, negative_sampling


def _check_amount(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{name} must be an int (a count) or a float ratio in (0, 1), got '
                         f'{value!r}')
    if isinstance(value, float) and not (0 < value < 1):
        raise ValueError(f'{name}={value} is outside (0, 1): give a ratio of the edges such as '
                         f'0.1, or an int count')
    if isinstance(value, int) and value < 0:
        raise ValueError(f'{name}={value} is negative: give a count >= 0')


class RandomLinkSplit(BaseTransform):
    r"""Split ``data``'s edges into train / valid / test link prediction graphs.

    Args:
        num_val, num_test: the valid / test share of the edges (a float in (0, 1)) or their
            number (an int); with ``is_undirected``, of the undirected pairs.
        is_undirected: ``edge_index`` holds both directions of every edge; split pairs once.
        key: the label attribute (``edge_label``; its pairs go to ``{key}_index``).
        split_labels: ``pos_{key}`` / ``neg_{key}`` (and ``_index``) instead of one
            concatenated set.
        add_negative_train_samples: add negatives to the train supervision set (turn off when
            the training loop samples its own).
        neg_sampling_ratio: negatives per positive.
        disjoint_train_ratio: share (or count) of train edges used only for supervision, not
            for message passing.
        neg_method: ``'uniform'`` (PyG) or ``'degree'`` (degree-corrected negatives).
        generator: a CPU :class:`torch.Generator` for the permutation and the negatives.

    ``forward(data) -> (train_data, val_data, test_data)``; ``data`` is not modified.
    """

    def __init__(self, num_val: Union[int, float] = 0.1, num_test: Union[int, float] = 0.2,
                 is_undirected: bool = False, key: str = 'edge_label',
                 split_labels: bool = False, add_negative_train_samples: bool = True,
                 neg_sampling_ratio: float = 1.0,
                 disjoint_train_ratio: Union[int, float] = 0.0, neg_method: str = 'uniform',
                 generator: Optional[torch.Generator] = None):
        _check_amount(num_val, 'num_val')
        _check_amount(num_test, 'num_test')
        if isinstance(num_val, float) and isinstance(num_test, float) and \
                num_val + num_test >= 1:
            raise ValueError(f'num_val + num_test = {num_val + num_test:g} leaves no edges for '
                             f'training: make the two ratios sum to less than 1')
        if disjoint_train_ratio != 0.0:
            _check_amount(disjoint_train_ratio, 'disjoint_train_ratio')
        if not (neg_sampling_ratio >= 0 and math.isfinite(neg_sampling_ratio)):
            raise ValueError(f'neg_sampling_ratio must be a finite number >= 0, got '
                             f'{neg_sampling_ratio}')
        self.num_val, self.num_test = num_val, num_test
        self.is_undirected, self.key, self.split_labels = is_undirected, key, split_labels
        self.add_negative_train_samples = add_negative_train_samples
        self.neg_sampling_ratio = neg_sampling_ratio
        self.disjoint_train_ratio = disjoint_train_ratio
        self.neg_method = _check_method(neg_method)
        self.generator = generator

    def forward(self, data: Data) -> Tuple[Data, Data, Data]:
        if not isinstance(data, Data):
            raise ValueError(f'RandomLinkSplit splits a homogeneous torch_geometric Data, got '
                             f'{type(data).__name__} (use PyG\'s RandomLinkSplit with '
                             f'edge_types for HeteroData)')
        edge_index = data.edge_index
        if edge_index is None:
            raise ValueError('data has no edge_index: there are no edges to split')
        n = data.num_nodes
        check_edge_index(edge_index, n)
        g = self.generator
        if self.is_undirected:
            perm = (edge_index[0] <= edge_index[1]).nonzero().view(-1)
            perm = perm[torch.randperm(perm.numel(), generator=g).to(perm.device)]
        else:
            perm = torch.randperm(edge_index.size(1), generator=g).to(edge_index.device)
        num_val = self.num_val if isinstance(self.num_val, int) else \
            int(self.num_val * perm.numel())
        num_test = self.num_test if isinstance(self.num_test, int) else \
            int(self.num_test * perm.numel())
        num_train = perm.numel() - num_val - num_test
        if num_train <= 0:
            raise ValueError(f'no edges left for training: {perm.numel()} edges, {num_val} '
                             f'valid and {num_test} test; lower num_val / num_test')
        train_edges = perm[:num_train]
        val_edges = perm[num_train:num_train + num_val]
        test_edges = perm[num_train + num_val:]
        num_disjoint = self.disjoint_train_ratio
        if isinstance(num_disjoint, float):
            num_disjoint = int(num_disjoint * train_edges.numel())
        if num_train - num_disjoint <= 0:
            raise ValueError(f'no edges left for training message passing: '
                             f'disjoint_train_ratio takes {num_disjoint} of {num_train}')

        train_data, val_data, test_data = copy.copy(data), copy.copy(data), copy.copy(data)
        self._restrict(data, train_data, train_edges[num_disjoint:])
        self._restrict(data, val_data, train_edges)
        self._restrict(data, test_data, perm[:num_train + num_val])

        r = self.neg_sampling_ratio
        num_neg_train = 0
        if self.add_negative_train_samples:
            num_neg_train = int((num_disjoint if num_disjoint > 0 else num_train) * r)
        num_neg_val, num_neg_test = int(num_val * r), int(num_test * r)
        num_neg = num_neg_train + num_neg_val + num_neg_test
        free = self._num_non_edges(edge_index, n)
        if num_neg > free:
            if free == 0:
                raise ValueError(f'no negatives possible: every pair of the {n} nodes is an '
                                 f'edge (a complete graph); use neg_sampling_ratio=0')
            warnings.warn(f'only {free} non-edges for {num_neg} negatives: the negative '
                          f'sampling ratio is scaled by {free / num_neg:.2f}', stacklevel=2)
            num_neg_train = int(num_neg_train / num_neg * free)
            num_neg_val = int(num_neg_val / num_neg * free)
            num_neg_test = free - num_neg_train - num_neg_val
            num_neg = free
        neg = negative_sampling(edge_index, n, num_neg, method=self.neg_method,
                                generator=g if edge_index.device.type == 'cpu' else None)
        if num_disjoint > 0:
            train_edges = train_edges[:num_disjoint]
        self._label(data, train_edges, neg[:, num_neg_val + num_neg_test:], train_data)
        self._label(data, val_edges, neg[:, :num_neg_val], val_data)
        self._label(data, test_edges, neg[:, num_neg_val:num_neg_val + num_neg_test], test_data)
        return train_data, val_data, test_data

    @staticmethod
    def _num_non_edges(edge_index: Tensor, n: int) -> int:
        row, col = edge_index
        keep = row != col
        distinct = torch.unique(row[keep] * n + col[keep]).numel()
        return n * (n - 1) - distinct

    def _restrict(self, data: Data, out: Data, index: Tensor) -> None:
        """``out``'s message-passing edges: the columns ``index`` (both directions when
        undirected), with every edge attribute sliced alike."""
        for key, value in data.items():
            if key == 'edge_index' or key == self.key or not isinstance(value, Tensor):
                continue
            if data.is_edge_attr(key):
                value = value[index]
                out[key] = torch.cat([value, value], 0) if self.is_undirected else value
        ei = data.edge_index[:, index]
        if self.is_undirected:
            ei = torch.cat([ei, ei.flip([0])], 1)
        out.edge_index = ei

    def _label(self, data: Data, index: Tensor, neg: Tensor, out: Data) -> None:
        key = self.key
        pos = data.edge_index[:, index]
        if key in data:
            label = data[key][index]
            if neg.numel():
                if label.dtype != torch.long:
                    raise ValueError(f'{key} must hold integer classes to be shifted by one '
                                     f'for the negatives (0 = negative), got {label.dtype}')
                label = label + 1
            if key in out:
                del out[key]
        else:
            label = torch.ones(index.numel(), device=index.device)
        neg_label = label.new_zeros((neg.size(1),) + label.shape[1:])
        if self.split_labels:
            out[f'pos_{key}'], out[f'pos_{key}_index'] = label, pos
            if neg.numel():
                out[f'neg_{key}'], out[f'neg_{key}_index'] = neg_label, neg
        else:
            if neg.numel():
                label = torch.cat([label, neg_label], 0)
                pos = torch.cat([pos, neg], 1)
            out[key], out[f'{key}_index'] = label, pos

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_val={self.num_val}, num_test={self.num_test}, '
                f'is_undirected={self.is_undirected}, '
                f'neg_sampling_ratio={self.neg_sampling_ratio})')
