"""Structure tags ride on edge_index through .to/.clone/deepcopy and nowhere else; the structure
cache is built once per graph; the dense-dispatch hook equals the generic path."""
import copy

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.core import (GDLConv, annotate, cached, csr_of, plain, segment, structure_of,
                             use_kernel)
from gdl_graphs.core.structure import Structure, _cache
from gdl_graphs.testing import assert_close


def complete_graph(sizes):
    rows, ptr = [], [0]
    for n in sizes:
        i = torch.arange(ptr[-1], ptr[-1] + n)
        rows.append(torch.cartesian_prod(i, i).t())
        ptr.append(ptr[-1] + n)
    return annotate(torch.cat(rows, 1), 'complete', ptr=torch.tensor(ptr))


def test_tag_survives_device_moves_and_copies_only():
    ei = complete_graph([2, 3])
    data = Data(x=torch.randn(5, 2), edge_index=ei)
    assert structure_of(data.to('cpu').edge_index).kind == 'complete'
    assert structure_of(data.clone().edge_index).kind == 'complete'
    assert structure_of(copy.deepcopy(ei)).kind == 'complete'
    assert structure_of(ei.contiguous()).kind == 'complete'
    # any other operation yields a plain tensor: a tag never describes another graph
    assert structure_of(ei.flip(0)) is None
    assert structure_of(ei[:, :3]) is None
    assert structure_of(torch.cat([ei, ei], 1)) is None
    assert structure_of(Batch.from_data_list([data, data]).edge_index) is None
    assert type(plain(ei)) is torch.Tensor and torch.equal(plain(ei), ei)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match='unknown structure kind'):
        Structure('hypercube')


def test_cache_is_reused_and_invalidated():
    ei = torch.randint(0, 10, (2, 30))
    calls = []

    def build():
        calls.append(1)
        return object()

    a = cached((ei,), ('test',), build)
    assert cached((ei,), ('test',), build) is a and len(calls) == 1
    assert csr_of(ei, 10, 10) is csr_of(ei, 10, 10)
    ei[0, 0] = (int(ei[0, 0]) + 1) % 10  # in-place change bumps the version: rebuild
    assert cached((ei,), ('test',), build) is not a and len(calls) == 2
    key = ((id(ei),), ('test',))
    del ei
    assert key not in _cache  # freed tensors leave the cache


class SumOverSet(GDLConv):
    """x'_i = sum_{j -> i} x_j; on a complete graph with self-loops this is a per-set sum, which
    the dense path computes by a segment reduction."""

    def forward(self, x, edge_index):
        s = self.dense_structure(edge_index, ('complete',))
        if s is not None:
            ptr = s.meta['ptr']
            sums = segment(x, ptr, 'sum')
            return sums.repeat_interleave(ptr[1:] - ptr[:-1], dim=0)
        return self.propagate_linear(edge_index, x)


def test_dense_dispatch_equals_generic():
    ei = complete_graph([3, 1, 4])
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    layer = SumOverSet()
    dense = layer(x, ei)
    g_dense = torch.autograd.grad(dense.pow(2).sum(), x)[0]
    with use_kernel('generic'):
        assert layer.dense_structure(ei, ('complete',)) is None
        generic = layer(x, ei)
    g_generic = torch.autograd.grad(generic.pow(2).sum(), x)[0]
    assert_close(dense, generic, atol=1e-12, rtol=1e-12)
    assert_close(g_dense, g_generic, atol=1e-12, rtol=1e-12)
