"""Structure tags ride on edge_index through .to/.clone/deepcopy and nowhere else; the structure
cache is built once per graph; the dense-dispatch hook equals the generic path."""
import copy
import io

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.core import (
    Adjacency,
    GDLConv,
    annotate,
    cached,
    matmul,
    plain,
    segment,
    structure_of,
    use_kernel,
)
from gdl_graphs.core.sparse import csr_of
from gdl_graphs.core.structure import Structure
from gdl_graphs.testing import assert_close


def complete_graph(sizes):
    rows, ptr = [], [0]
    for n in sizes:
        i = torch.arange(ptr[-1], ptr[-1] + n)
        rows.append(torch.cartesian_prod(i, i).t())
        ptr.append(ptr[-1] + n)
    return annotate(torch.cat(rows, 1), 'complete', ptr=torch.tensor(ptr))


def test_tag_rides_on_the_tensor_and_on_nothing_else():
    ei = complete_graph([2, 3])
    data = Data(x=torch.randn(5, 2), edge_index=ei)
    assert structure_of(data.to('cpu').edge_index).kind == 'complete'   # the same tensor
    assert structure_of(ei.contiguous()).kind == 'complete'
    assert type(ei) is torch.Tensor                                       # no subclass
    # any operation that makes a new tensor drops it: a tag never describes another graph
    assert structure_of(data.clone().edge_index) is None
    assert structure_of(copy.deepcopy(ei)) is None
    assert structure_of(ei.flip(0)) is None
    assert structure_of(ei[:, :3]) is None
    assert structure_of(torch.cat([ei, ei], 1)) is None
    assert structure_of(Batch.from_data_list([data, data]).edge_index) is None
    assert structure_of(plain(ei)) is None and torch.equal(plain(ei), ei)
    buffer = io.BytesIO()
    torch.save(ei, buffer)
    buffer.seek(0)
    assert structure_of(torch.load(buffer, weights_only=True)) is None  # saved untagged


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
    assert ei._gdl_cache  # the cache lives on the tensor, and dies with it


def test_cache_sees_memory_refilled_behind_torchs_back():
    # numpy writes do not bump torch's version counter: the content fingerprint catches them
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    calls = []

    def build():
        calls.append(1)
        return len(calls)

    assert cached((ei,), ('t',), build) == 1
    version = ei._version
    ei.numpy()[0, :] = [3, 2, 1, 0]
    assert ei._version == version
    assert cached((ei,), ('t',), build) == 2
    assert cached((ei,), ('t',), build) == 2


class SumOverSet(GDLConv):
    """x'_i = sum_{j -> i} x_j; on a complete graph with self-loops this is a per-set sum, which
    the fused route computes by a segment reduction when the graph is tagged."""

    dense_kernels = {'complete': 'segment'}

    def forward(self, x, edge_index):
        return self.propagate(edge_index, x=x)

    def message(self, x_j):
        return x_j

    def message_and_aggregate(self, adj: Adjacency, x):
        self.seen.append(adj.structure)
        s = adj.structure
        if adj.plan.kernel == 'segment':
            ptr = s.meta['ptr']
            return segment(x, ptr, 'sum').repeat_interleave(ptr[1:] - ptr[:-1], dim=0)
        return matmul(adj, x)


@pytest.mark.parametrize('kernel', ['fused', 'generic'])
def test_dense_dispatch_equals_the_other_kernels(kernel):
    ei = complete_graph([3, 1, 4])
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    layer = SumOverSet()
    layer.seen = seen = []
    dense = layer(x, ei)
    assert seen[-1] is not None and seen[-1].kind == 'complete'
    assert layer.last_plan.kernel == 'segment'
    g_dense = torch.autograd.grad(dense.pow(2).sum(), x)[0]
    with use_kernel(kernel):
        other = layer(x, ei)
    assert layer.last_plan.kernel == ('scatter' if kernel == 'fused' else 'generic')  # small
    if kernel == 'fused':
        assert seen[-1] is None   # the CSR product, not the structure kernel
    g_other = torch.autograd.grad(other.pow(2).sum(), x)[0]
    assert_close(dense, other, atol=1e-12, rtol=1e-12)
    assert_close(g_dense, g_other, atol=1e-12, rtol=1e-12)
