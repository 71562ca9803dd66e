"""Complete graphs and attention: AttentionConv == nn.MultiheadAttention and TransformerBlock ==
nn.TransformerEncoderLayer on ragged batches of sets (outputs and gradients, float64), the dense
dispatch == the sparse path, sparse attention on general graphs == a brute force, symmetries,
and refusals (bad sizes, unsorted batches, graphs too large for memory)."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.core import plain, structure_of, use_kernel
from gdl_graphs.core.dense import from_padded, to_padded
from gdl_graphs.domains.complete import CompleteGraph, complete_graph, complete_graph_bytes
from gdl_graphs.domains.set import set_to_graph
from gdl_graphs.nn import AttentionConv, TransformerBlock
from gdl_graphs.testing import assert_close, assert_permutation_equivariant

SIZES = [5, 1, 7, 0, 3]  # ragged, with a one-element and an empty set
TOL = dict(atol=1e-10, rtol=1e-10)



def ragged(sizes=SIZES, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    sets = [torch.randn(n, dim, generator=g, dtype=torch.float64) for n in sizes]
    return sets, set_to_graph(sets)


def params_of(module):
    return [p for p in module.parameters()]


def grads(out, weight, inputs):
    return torch.autograd.grad((out * weight).sum(), inputs)


# ----------------------------------------------------------------------------- complete graphs


@pytest.mark.parametrize('loops', [True, False])
def test_complete_graph_equals_brute_force(loops):
    _, data = ragged()
    ei = complete_graph(data.batch, loops=loops)
    expected = [(j, i) for i in range(data.num_nodes) for j in range(data.num_nodes)
                if data.batch[i] == data.batch[j] and (loops or i != j)]
    assert plain(ei).t().tolist() == [list(e) for e in expected]  # ordered by target, source
    s = structure_of(ei)
    assert s.kind == 'complete' and s.meta['loops'] is loops
    assert torch.equal(s.meta['ptr'], data.ptr)
    assert complete_graph_bytes(data.ptr[1:] - data.ptr[:-1], loops)[0] == len(expected)
    single = complete_graph(num_nodes=3, loops=loops)
    assert plain(single).shape == (2, 9 if loops else 6)
    assert structure_of(single.to('cpu')).kind == 'complete'  # the tag survives .to()


def test_complete_graph_transform_keeps_tag_on_a_batch():
    batch = Batch.from_data_list([
        Data(x=torch.randn(3, 4), edge_index=torch.tensor([[0], [1]]), edge_attr=torch.ones(1)),
        Data(x=torch.randn(2, 4), edge_index=torch.tensor([[1], [0]]), edge_attr=torch.ones(1))])
    out = CompleteGraph(loops=False)(batch)
    assert 'edge_attr' not in out
    assert plain(out.edge_index).size(1) == 3 * 2 + 2 * 1
    s = structure_of(out.edge_index)
    assert s.kind == 'complete' and torch.equal(s.meta['ptr'], torch.tensor([0, 3, 5]))


def test_complete_graph_refuses_graphs_too_large_for_memory():
    with pytest.raises(ValueError, match=r'too large for memory: 100,000,000,000,000 edges'):
        complete_graph(num_nodes=10_000_000)  # 1e14 edges: refused before allocating anything
    with pytest.raises(ValueError, match=r'29 edges .* need about 1\.4 KiB.*max_bytes'):
        complete_graph(torch.tensor([0, 0, 0, 0, 0, 1, 1]), max_bytes=1000)  # 25 + 4 edges
    with pytest.raises(ValueError, match='not sorted'):
        complete_graph(torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match='needs batch, ptr or num_nodes'):
        complete_graph()


def test_padding_round_trip():
    sets, data = ragged()
    padded, mask = to_padded(data.x, data.ptr)
    assert padded.shape == (len(SIZES), max(SIZES), 8)
    assert mask.sum(1).tolist() == SIZES
    for b, xs in enumerate(sets):
        assert torch.equal(padded[b, :len(xs)], xs)
        assert not padded[b, len(xs):].any()
    assert torch.equal(from_padded(padded, data.ptr), data.x)


# ----------------------------------------------------------------------------- AttentionConv


@pytest.mark.parametrize('heads', [1, 2, 4])
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('dense', [True, False])
def test_attention_equals_multihead_attention(heads, bias, dense):
    torch.manual_seed(heads)
    sets, data = ragged()
    mha = torch.nn.MultiheadAttention(8, heads, bias=bias, batch_first=True).double()
    if bias:  # non-zero biases, so that they are tested
        torch.nn.init.normal_(mha.in_proj_bias)
        torch.nn.init.normal_(mha.out_proj.bias)
    conv = AttentionConv.from_torch(mha)
    ei = complete_graph(data.batch, ptr=data.ptr)
    ei = ei if dense else plain(ei)

    x = data.x.clone().requires_grad_()
    out = conv(x, ei)
    w = torch.randn_like(out)
    g_ours = grads(out, w, [x] + params_of(conv))

    ref_sets = [xs.clone().requires_grad_() for xs in sets]
    ref = torch.cat([mha(s[None], s[None], s[None], need_weights=False)[0][0]
                     for s in ref_sets])
    nonempty = [s for s in ref_sets if len(s)]
    g_ref = grads(ref, w, nonempty + params_of(mha))

    assert_close(out, ref, **TOL)
    assert_close(g_ours[0], torch.cat(g_ref[:len(nonempty)]), name='grad x', **TOL)
    assert_close(g_ours[1:], g_ref[len(nonempty):], name='grad params', **TOL)


def test_attention_equals_multihead_attention_on_the_padded_batch():
    """The padding mask of nn.MultiheadAttention is the batch vector."""
    torch.manual_seed(0)
    _, data = ragged([4, 6, 2, 6])
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    padded, mask = to_padded(data.x, data.ptr)
    ref = mha(padded, padded, padded, key_padding_mask=~mask, need_weights=False)[0]
    out = AttentionConv.from_torch(mha)(data.x, complete_graph(data.batch))
    assert_close(out, ref[mask], **TOL)


@pytest.mark.parametrize('loops', [True, False])
@pytest.mark.parametrize('sizes', [SIZES, [4, 4, 4]])
def test_dense_dispatch_equals_sparse_path(loops, sizes):
    torch.manual_seed(1)
    _, data = ragged(sizes)
    conv = AttentionConv(8, 2).double()
    torch.nn.init.normal_(conv.in_proj_bias)
    ei = complete_graph(data.batch, loops=loops)
    results = []
    for run in ('dense', 'sparse', 'generic'):
        x = data.x.clone().requires_grad_()
        if run == 'generic':
            with use_kernel('generic'):  # forces the gather/scatter path on the tagged graph
                out = conv(x, ei)
        else:
            out = conv(x, ei if run == 'dense' else plain(ei))
        w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        results.append((out,) + grads(out, w, [x] + params_of(conv)))
    for other in results[1:]:
        assert_close(results[0], other, **TOL)
    if not loops:  # a one-element set has no neighbour: W_O 0 + b_O, on both paths
        one = data.ptr[torch.tensor(sizes).eq(1).nonzero()[0, 0]] if 1 in sizes else None
        if one is not None:
            assert_close(results[0][0][one], conv.out_proj.bias, **TOL)


def test_sparse_attention_on_a_general_graph_equals_brute_force():
    torch.manual_seed(2)
    n, dim, heads = 7, 6, 3
    adj = torch.rand(n, n) < 0.4   # adj[i, j]: edge j -> i
    adj[3] = False                 # node 3 has no incoming edge
    dst, src = adj.nonzero().t()
    edge_index = torch.stack([src, dst])
    conv = AttentionConv(dim, heads).double()
    torch.nn.init.normal_(conv.in_proj_bias)
    x = torch.randn(n, dim, dtype=torch.float64)
    out = conv(x, edge_index)

    q, k, v = torch.nn.functional.linear(x, conv.in_proj_weight, conv.in_proj_bias).chunk(3, -1)
    d = dim // heads
    ref = torch.zeros(n, dim, dtype=torch.float64)
    for i in range(n):
        for h in range(heads):
            nb = adj[i].nonzero().flatten()
            if nb.numel() == 0:
                continue
            hs = slice(h * d, (h + 1) * d)
            score = (k[nb, hs] @ q[i, hs]) / d ** 0.5
            ref[i, hs] = torch.softmax(score, 0) @ v[nb, hs]
    assert_close(out, conv.out_proj(ref), **TOL)


def test_attention_is_permutation_equivariant():
    torch.manual_seed(3)
    _, data = ragged()
    data.edge_index = complete_graph(data.batch)
    conv = AttentionConv(8, 4).double()
    # the permuted graph is untagged: this also compares the dense and the sparse path
    assert_permutation_equivariant(conv, data, seed=1)
    general = Data(x=data.x, edge_index=torch.randint(0, data.num_nodes, (2, 40)))
    assert_permutation_equivariant(conv, general, seed=2, within_graphs=False)


def test_attention_bad_input():
    _, data = ragged()
    conv = AttentionConv(8, 2).double()
    ei = complete_graph(data.batch)
    with pytest.raises(ValueError, match='layer expects 8'):
        conv(torch.randn(data.num_nodes, 6, dtype=torch.float64), ei)
    with pytest.raises(ValueError, match='must be positive and divide embed_dim'):
        AttentionConv(8, 3)
    bigger = torch.randn(data.num_nodes + 2, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match='structure tag belongs to another graph'):
        conv(bigger, ei)
    with pytest.raises(ValueError, match='kdim/vdim'):
        AttentionConv.from_torch(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match='add_bias_kv'):
        AttentionConv.from_torch(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True))
    assert repr(conv) == 'AttentionConv(8, num_heads=2)'


# ----------------------------------------------------------------------------- TransformerBlock


@pytest.mark.parametrize('norm_first', [False, True])
@pytest.mark.parametrize('heads,activation', [(1, 'relu'), (2, 'gelu'), (4, 'relu')])
def test_transformer_block_equals_encoder_layer(norm_first, heads, activation):
    torch.manual_seed(heads)
    sets, data = ragged()
    layer = torch.nn.TransformerEncoderLayer(8, heads, 16, dropout=0.0, activation=activation,
                                             batch_first=True, norm_first=norm_first).double()
    for p in layer.parameters():  # move away from the default 0/1 biases and norms
        torch.nn.init.normal_(p, std=0.5)
    block = TransformerBlock.from_torch(layer)
    ei = complete_graph(data.batch)
    x = data.x.clone().requires_grad_()
    out = block(x, ei)
    w = torch.randn_like(out)
    g_ours = grads(out, w, [x] + params_of(block))

    ref_sets = [xs.clone().requires_grad_() for xs in sets]
    nonempty = [s for s in ref_sets if len(s)]
    ref = torch.cat([layer(s[None])[0] for s in nonempty])
    g_ref = grads(ref, w, nonempty + params_of(layer))
    assert_close(out, ref, **TOL)
    assert_close(g_ours[0], torch.cat(g_ref[:len(nonempty)]), name='grad x', **TOL)
    assert_close(g_ours[1:], g_ref[len(nonempty):], name='grad params', **TOL)
    assert_close(block(data.x, plain(ei)), out, **TOL)  # sparse path

    layer.eval(), block.eval()  # torch's inference fast path, too
    with torch.no_grad():
        ref = torch.cat([layer(s[None])[0] for s in sets if len(s)])
        assert_close(block(data.x, ei), ref, **TOL)


def test_transformer_block_is_permutation_equivariant_and_checks_input():
    torch.manual_seed(4)
    _, data = ragged()
    data.edge_index = complete_graph(data.batch)
    block = TransformerBlock(8, 2, 16, norm_first=True).double()
    assert_permutation_equivariant(block, data, seed=5)
    with pytest.raises(ValueError, match='layer expects 8'):
        block(torch.randn(data.num_nodes, 4, dtype=torch.float64), data.edge_index)
    with pytest.raises(ValueError, match='TransformerEncoderLayer'):
        TransformerBlock.from_torch(torch.nn.Linear(2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_dense_dispatch_on_cuda():
    torch.manual_seed(5)
    _, data = ragged()
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double().cuda()
    conv = AttentionConv.from_torch(mha)
    x = data.x.cuda()
    ei = complete_graph(data.batch.cuda())
    assert_close(conv(x, ei), conv(x, plain(ei)), **TOL)


def test_transformer_tour_row():
    from gdl_graphs.tour import transformer
    assert transformer._check() <= 1e-10
