"""Every kernel path of the core equals the generic gather/scatter path (float64, 1e-12),
forward and backward, on the awkward graphs: empty, isolated nodes, self-loops, multi-edges and
a batch of graphs of different sizes."""
import pytest
import torch

from gdl_graphs import core
from gdl_graphs.core import (
    propagate_linear,
    propagate_typed,
    scatter,
    segment,
    softmax,
    use_backend,
    use_kernel,
)
from gdl_graphs.nn import GraphConv
from gdl_graphs.testing import assert_close

REDUCTIONS = ['sum', 'mean', 'max', 'min', 'mul']


def graphs():
    g = torch.Generator().manual_seed(0)
    yield 'empty', 5, torch.empty(2, 0, dtype=torch.long)
    yield 'isolated', 6, torch.tensor([[0, 1, 2], [1, 2, 0]])  # nodes 3..5 receive nothing
    yield 'self_loops', 4, torch.tensor([[0, 1, 1, 2, 3], [0, 1, 2, 3, 3]])
    yield 'multi_edges', 4, torch.tensor([[0, 0, 0, 1, 2, 2], [1, 1, 1, 0, 3, 3]])
    # a batch of three graphs of sizes 3, 7, 1 (the last one isolated)
    parts, off = [], 0
    for n in (3, 7, 1):
        if n > 1:
            parts.append(torch.randint(0, n, (2, 3 * n), generator=g) + off)
        off += n
    yield 'batch', off, torch.cat(parts, dim=1)
    yield 'random', 30, torch.randint(0, 30, (2, 120), generator=g)


GRAPHS = list(graphs())
IDS = [name for name, _, _ in GRAPHS]


def reference(x, edge_index, reduce, weight=None):
    """Brute force: a Python loop over target nodes."""
    out = torch.zeros((x.size(0),) + x.shape[1:], dtype=x.dtype)
    for i in range(x.size(0)):
        mask = edge_index[1] == i
        if not mask.any():
            continue
        msg = x[edge_index[0, mask]]
        if weight is not None:
            msg = msg * weight[mask].view(-1, *[1] * (x.dim() - 1))
        out[i] = {'sum': lambda m: m.sum(0), 'mean': lambda m: m.mean(0),
                  'max': lambda m: m.max(0).values, 'min': lambda m: m.min(0).values,
                  'mul': lambda m: m.prod(0)}[reduce](msg)
    return out


@pytest.mark.parametrize('name,n,edge_index', GRAPHS, ids=IDS)
@pytest.mark.parametrize('reduce', REDUCTIONS)
def test_generic_scatter_equals_brute_force(name, n, edge_index, reduce):
    x = torch.randn(n, 3, dtype=torch.float64)
    with use_kernel('generic'):
        out = propagate_linear(edge_index, x, reduce=reduce)
    assert_close(out, reference(x, edge_index, reduce), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize('name,n,edge_index', GRAPHS, ids=IDS)
@pytest.mark.parametrize('reduce', ['sum', 'mean'])
@pytest.mark.parametrize('weighted', [False, True])
def test_fused_equals_generic_forward_backward(name, n, edge_index, reduce, weighted):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(edge_index.size(1), dtype=torch.float64, generator=g,
                   requires_grad=True) if weighted else None
    outs, grads = [], []
    for kernel in ('generic', 'fused'):
        with use_kernel(kernel):
            out = propagate_linear(edge_index, x, w, reduce=reduce)
        seed = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        inputs = (x, w) if weighted else (x,)
        grads.append(torch.autograd.grad((out * seed).sum(), inputs, allow_unused=True))
        outs.append(out)
    assert_close(outs[1], outs[0], atol=1e-12, rtol=1e-12)
    for a, b in zip(grads[1], grads[0]):
        assert_close(a, b, atol=1e-12, rtol=1e-12, name='gradient')


@pytest.mark.parametrize('weighted', [False, True])
def test_fused_gradcheck(weighted):
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3, 0], [1, 0, 2, 2, 0, 0, 3]])
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(7, dtype=torch.float64, requires_grad=True)
    for reduce in ('sum', 'mean'):
        with use_kernel('fused'):
            if weighted:
                assert torch.autograd.gradcheck(
                    lambda x, w: propagate_linear(edge_index, x, w, reduce=reduce), (x, w))
            else:
                assert torch.autograd.gradcheck(
                    lambda x: propagate_linear(edge_index, x, reduce=reduce), (x,))


@pytest.mark.parametrize('name,n,edge_index', GRAPHS, ids=IDS)
@pytest.mark.parametrize('reduce', ['sum', 'mean', 'max'])
def test_typed_fused_equals_generic_and_per_edge_weights(name, n, edge_index, reduce):
    g = torch.Generator().manual_seed(2)
    num_types = 3
    edge_type = torch.randint(0, num_types, (edge_index.size(1),), generator=g)
    x = torch.randn(n, 4, dtype=torch.float64, generator=g, requires_grad=True)
    weight = torch.randn(num_types, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    results = []
    for kernel in ('generic', 'fused'):
        with use_kernel(kernel):
            out = propagate_typed(edge_index, edge_type, x, weight, reduce=reduce)
        results.append((out, torch.autograd.grad(out.pow(2).sum(), (x, weight))))
    assert_close(results[1][0], results[0][0], atol=1e-12, rtol=1e-12)
    for a, b in zip(results[1][1], results[0][1]):
        assert_close(a, b, atol=1e-12, rtol=1e-12, name='gradient')
    # the definition: a per-edge weight matrix W_{t(e)} applied to x_j, brute force
    msgs = torch.einsum('ef,efo->eo', x[edge_index[0]], weight[edge_type])
    expected = reference_messages(msgs, edge_index[1], n, reduce)
    assert_close(results[0][0], expected, atol=1e-12, rtol=1e-12)


def reference_messages(msgs, index, n, reduce):
    out = torch.zeros(n, msgs.size(1), dtype=msgs.dtype)
    for i in range(n):
        m = msgs[index == i]
        if len(m):
            out[i] = {'sum': m.sum(0), 'mean': m.mean(0), 'max': m.max(0).values}[reduce]
    return out


def test_typed_gradcheck():
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3], [1, 0, 2, 2, 0, 0]])
    edge_type = torch.tensor([0, 1, 1, 0, 1, 1])
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    with use_kernel('fused'):
        assert torch.autograd.gradcheck(
            lambda x, w: propagate_typed(edge_index, edge_type, x, w), (x, weight))


def test_bipartite_sizes():
    edge_index = torch.tensor([[0, 4, 2], [1, 1, 0]])  # 5 sources -> 2 targets
    x = torch.randn(5, 3, dtype=torch.float64)
    for kernel in ('generic', 'fused'):
        with use_kernel(kernel):
            out = propagate_linear(edge_index, x, size=(5, 2))
        assert out.shape == (2, 3)
        assert_close(out[1], x[0] + x[4])
        assert_close(out[0], x[2])


@pytest.mark.parametrize('reduce', REDUCTIONS)
def test_segment_equals_scatter(reduce):
    x = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 0, 2, 2, 2, 3, 5, 5, 5])  # groups 1 and 4 are empty
    ptr = torch.tensor([0, 2, 2, 5, 6, 6, 9])
    a, b = segment(x, ptr, reduce), scatter(x, index, 6, reduce)
    assert_close(a, b, atol=1e-12, rtol=1e-12)
    ga = torch.autograd.grad(a.sum(), x)[0]
    gb = torch.autograd.grad(b.sum(), x)[0]
    assert_close(ga, gb, atol=1e-12, rtol=1e-12)
    assert (a[1] == 0).all() and (a[4] == 0).all()


def test_softmax_sums_to_one_and_is_stable():
    index = torch.tensor([0, 0, 0, 2, 2])
    src = torch.tensor([1000.0, 1001.0, 999.0, -5.0, 3.0], dtype=torch.float64)
    alpha = softmax(src, index, 3)
    assert torch.isfinite(alpha).all()
    assert_close(scatter(alpha, index, 3, 'sum'), torch.tensor([1.0, 0.0, 1.0],
                                                             dtype=torch.float64))
    assert_close(alpha[:3], torch.softmax(src[:3], 0))
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: softmax(s, index, 3), (x,))


@pytest.mark.skipif('torch_scatter' not in core.available_backends(),
                    reason='torch_scatter is not installed (optional extra `scatter`)')
@pytest.mark.parametrize('reduce', REDUCTIONS)
def test_torch_scatter_backend_agrees(reduce):
    x = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 7, (20,))
    outs = []
    for backend in ('torch', 'torch_scatter'):
        with use_backend(backend):
            out = scatter(x, index, 9, reduce)
            outs.append((out, torch.autograd.grad(out.sum(), x)[0]))
    assert_close(outs[1][0], outs[0][0], atol=1e-12, rtol=1e-12)
    if reduce not in ('max', 'min'):  # ties split the gradient differently
        assert_close(outs[1][1], outs[0][1], atol=1e-12, rtol=1e-12)
    ptr = torch.tensor([0, 4, 4, 11, 20])  # an empty segment
    segs = []
    for backend in ('torch', 'torch_scatter'):
        with use_backend(backend):
            segs.append(segment(x, ptr, reduce))
    assert_close(segs[1], segs[0], atol=1e-12, rtol=1e-12, name='segment')


def test_unknown_backend_and_kernel_are_refused():
    with pytest.raises(ValueError, match='unknown scatter backend'):
        core.use_backend('cusparse')
    with pytest.raises(ValueError, match='unknown scatter backend'):
        GraphConv(2, 2, backend='cusparse')
    with pytest.raises(ValueError, match='unknown kernel'):
        core.use_kernel('magic')
    with pytest.raises(ValueError, match='unknown kernel'):
        GraphConv(2, 2, kernel='magic')
    with pytest.raises(ValueError, match='unknown reduction'):
        scatter(torch.zeros(2), torch.zeros(2, dtype=torch.long), 1, 'median')
    if 'torch_scatter' not in core.available_backends():
        with pytest.raises(ValueError, match='not installed'):
            core.use_backend('torch_scatter')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
@pytest.mark.parametrize('reduce', ['sum', 'mean', 'max'])
def test_cuda_equals_cpu(reduce):
    edge_index = torch.randint(0, 50, (2, 300))
    x = torch.randn(50, 8, dtype=torch.float64)
    for kernel in ('generic', 'fused'):
        with use_kernel(kernel):
            cpu = propagate_linear(edge_index, x, reduce=reduce)
            gpu = propagate_linear(edge_index.cuda(), x.cuda(), reduce=reduce)
        assert_close(gpu.cpu(), cpu, atol=1e-12, rtol=1e-12)


def test_sorted_edges_skip_the_sort_and_give_the_same_result():
    from gdl_graphs.core.sparse import CSR
    g = torch.Generator().manual_seed(5)
    edge_index = torch.randint(0, 20, (2, 80), generator=g)
    order = torch.argsort(edge_index[1] * 20 + edge_index[0])
    sorted_ei = edge_index[:, order]
    csr = CSR.build(sorted_ei[1], sorted_ei[0], (20, 20))
    assert torch.equal(csr.perm, torch.arange(80))  # no permutation needed
    x = torch.randn(20, 3, dtype=torch.float64)
    w = torch.rand(80, dtype=torch.float64)
    with use_kernel('fused'):
        a = propagate_linear(sorted_ei, x, w[order], reduce='mean')
        b = propagate_linear(edge_index, x, w, reduce='mean')
    assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize('reduce', REDUCTIONS)
def test_segment_on_integers(reduce):
    x = torch.tensor([[3], [-1], [4], [1], [5]])
    ptr = torch.tensor([0, 2, 2, 5])
    out = segment(x, ptr, reduce)
    ref = scatter(x.double(), torch.tensor([0, 0, 2, 2, 2]), 3, reduce)
    assert out.dtype == torch.long
    if reduce != 'mean':
        assert torch.equal(out, ref.long())


@pytest.mark.parametrize('dtype', [torch.float64, torch.long])
@pytest.mark.parametrize('reduce', ['max', 'min'])
def test_scatter_without_empty_fill(dtype, reduce):
    src = torch.tensor([3, -7, 2, 9, -1], dtype=dtype)
    index = torch.tensor([0, 0, 2, 2, 2])
    out = scatter(src, index, 4, reduce, fill_empty=False)
    ref = scatter(src, index, 4, reduce)
    assert torch.equal(out[[0, 2]], ref[[0, 2]])
    lowest = float('-inf') if dtype.is_floating_point else torch.iinfo(dtype).min
    highest = float('inf') if dtype.is_floating_point else torch.iinfo(dtype).max
    ident = lowest if reduce == 'max' else highest
    assert out[1] == ident and out[3] == ident


@pytest.mark.parametrize('shape', [(7,), (7, 3), (7, 2, 3)])
@pytest.mark.parametrize('reduce', ['sum', 'mean'])
def test_gather_scatter_equals_scatter_and_keeps_no_messages(shape, reduce):
    from torch.autograd import gradcheck, gradgradcheck

    from gdl_graphs.core.scatter import gather_scatter
    g = torch.Generator().manual_seed(0)
    y = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(20, dtype=torch.float64, generator=g, requires_grad=True)
    src, dst = torch.randint(0, 7, (20,), generator=g), torch.randint(0, 5, (20,), generator=g)
    col = w.view((-1,) + (1,) * (len(shape) - 1))
    want = scatter(y.index_select(0, src) * col, dst, 5, reduce)
    got = gather_scatter(y, src, dst, 5, w, reduce)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert gradcheck(lambda y, w: gather_scatter(y, src, dst, 5, w, reduce), (y, w))
    assert gradgradcheck(lambda y, w: gather_scatter(y, src, dst, 5, w, reduce), (y, w))
    # what the backward keeps: indices, weights and y itself, never the [E, ...] messages
    out = gather_scatter(y, src, dst, 5, None, 'sum')
    kept = [t for t in out.grad_fn.saved_tensors if t is not None]
    assert kept and all(t.shape != (20,) + tuple(shape[1:]) or t.dim() == 1 for t in kept)
