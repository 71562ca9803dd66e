"""The graph layers equal torch_geometric.nn's in float64 (outputs and gradients) on graphs
with self-loops, isolated nodes, multi-edges and batches; they are permutation equivariant,
run in torch_geometric.nn.Sequential, and reject bad input with clear messages."""
import copy

import pytest
import torch
import torch_geometric.nn as pyg_nn
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential
from torch_geometric.data import Batch, Data

from gdl_graphs.core import use_kernel
from gdl_graphs.nn import (
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    NNConv,
    SAGEConv,
    VirtualNode,
)
from gdl_graphs.testing import assert_close, assert_permutation_equivariant

F_IN, F_OUT, D = 5, 4, 3



def make_graph(seed: int = 0) -> Data:
    """Two graphs in a batch: random edges, multi-edges, self-loops (one doubled, one
    weighted), and isolated nodes (3 in the first graph, 8 in the second)."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for n, e in ((7, 14), (9, 12)):
        ei = torch.randint(0, n - 1, (2, e), generator=g)  # node n-1 stays isolated
        ei = torch.cat([ei, ei[:, :2], torch.tensor([[1, 1, 2], [1, 1, 2]])], dim=1)
        m = ei.size(1)
        graphs.append(Data(x=torch.randn(n, F_IN, generator=g, dtype=torch.float64),
                           edge_index=ei,
                           edge_attr=torch.randn(m, D, generator=g, dtype=torch.float64),
                           edge_weight=torch.rand(m, generator=g, dtype=torch.float64) + 0.5))
    return Batch.from_data_list(graphs)


def _grads(tensors):
    return [t.grad.clone() if t.grad is not None else torch.zeros_like(t) for t in tensors]


def check_equal(ours, pyg, call, data, edge_keys=()):
    """``call(layer, x, edge tensors...)``: outputs and gradients w.r.t. x, the named edge
    tensors and every parameter must agree to 1e-10."""
    outs, grads = [], []
    g = torch.Generator().manual_seed(1)
    for layer in (ours, pyg):
        x = data.x.clone().requires_grad_()
        edge = [data[k].clone().requires_grad_() for k in edge_keys]
        out = call(layer, x, data.edge_index, *edge)
        if isinstance(out, tuple):
            out = out[0]
        g.manual_seed(1)
        out.backward(torch.randn(out.shape, generator=g, dtype=out.dtype))
        outs.append(out.detach())
        params = dict(layer.named_parameters())
        grads.append(_grads([x] + edge) + [params[k].grad for k in sorted(params)])
    assert_close(outs[0], outs[1], name='output')
    assert len(grads[0]) == len(grads[1])
    for k, (a, b) in enumerate(zip(*grads)):
        assert_close(a, b, name=f'gradient {k}')
    return outs[0]


def _mlp(f_in, f_out):
    return Sequential(Linear(f_in, 8), BatchNorm1d(8), ReLU(), Linear(8, f_out)).double()


# --------------------------------------------------------------------------- equality

GCN_CASES = [dict(), dict(improved=True), dict(add_self_loops=False),
             dict(normalize=False, add_self_loops=False), dict(bias=False), dict(cached=True)]


@pytest.mark.parametrize('kw', GCN_CASES)
@pytest.mark.parametrize('weighted', [False, True])
def test_gcn_equals_pyg(kw, weighted):
    data = make_graph()
    pyg = pyg_nn.GCNConv(F_IN, F_OUT, **kw).double()
    torch.nn.init.normal_(pyg.bias) if pyg.bias is not None else None
    ours = GCNConv.from_pyg(pyg)
    if weighted:
        check_equal(ours, pyg, lambda m, x, ei, w: m(x, ei, w), data, ['edge_weight'])
    else:
        check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)


def test_gcn_improved_weight_two_on_added_loops():
    # a 2-node path with unit weights: A + 2I has degree 3, so the loop weight is 2/3
    pyg = pyg_nn.GCNConv(2, 2, improved=True, bias=False).double()
    ours = GCNConv.from_pyg(pyg)
    with torch.no_grad():
        ours.lin.weight.copy_(torch.eye(2))
    ei = torch.tensor([[0, 1], [1, 0]])
    out = ours(torch.eye(2, dtype=torch.float64), ei, torch.ones(2, dtype=torch.float64))
    assert_close(out, torch.tensor([[2 / 3, 1 / 3], [1 / 3, 2 / 3]], dtype=torch.float64))


@pytest.mark.parametrize('kw', [dict(aggr='mean'), dict(aggr='sum'), dict(aggr='max'),
                                dict(aggr='min'), dict(root_weight=False),
                                dict(normalize=True), dict(project=True), dict(bias=False)])
def test_sage_equals_pyg(kw):
    data = make_graph()
    pyg = pyg_nn.SAGEConv(F_IN, F_OUT, **kw).double()
    ours = SAGEConv.from_pyg(pyg)
    check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)


def test_sage_bipartite_equals_pyg():
    data = make_graph()
    pyg = pyg_nn.SAGEConv((F_IN, 3), F_OUT).double()
    ours = SAGEConv.from_pyg(pyg)
    x_dst = torch.randn(10, 3, dtype=torch.float64)
    ei = data.edge_index[:, data.edge_index[1] < 10]
    check_equal(ours, pyg, lambda m, x, ei: m((x, x_dst), ei), Data(x=data.x, edge_index=ei))


@pytest.mark.parametrize('kw', [dict(), dict(eps=0.3, train_eps=True), dict(aggr='mean'),
                                dict(aggr='max')])
def test_gin_equals_pyg(kw):
    data = make_graph()
    pyg = pyg_nn.GINConv(_mlp(F_IN, F_OUT), **kw).double()
    ours = GINConv.from_pyg(pyg)
    assert ours.nn is not pyg.nn
    check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)


@pytest.mark.parametrize('kw', [dict(edge_dim=D), dict(edge_dim=D, eps=-0.2, train_eps=True),
                                dict()])
def test_gine_equals_pyg(kw):
    data = make_graph()
    if 'edge_dim' not in kw:
        data.edge_attr = torch.randn(data.num_edges, F_IN, dtype=torch.float64)
    pyg = pyg_nn.GINEConv(_mlp(F_IN, F_OUT), **kw).double()
    ours = GINEConv.from_pyg(pyg)
    check_equal(ours, pyg, lambda m, x, ei, ea: m(x, ei, ea), data, ['edge_attr'])


GAT_CASES = [dict(), dict(heads=3), dict(heads=3, concat=False), dict(add_self_loops=False),
             dict(heads=2, edge_dim=D), dict(heads=2, edge_dim=D, fill_value=0.5),
             dict(edge_dim=D, fill_value='max'), dict(heads=2, residual=True, bias=False),
             dict(edge_dim=D, fill_value=torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)),
             dict(negative_slope=0.05)]


@pytest.mark.parametrize('cls,pyg_cls', [(GATConv, pyg_nn.GATConv),
                                         (GATv2Conv, pyg_nn.GATv2Conv)])
@pytest.mark.parametrize('kw', GAT_CASES)
def test_gat_equals_pyg(cls, pyg_cls, kw):
    data = make_graph()
    pyg = pyg_cls(F_IN, F_OUT, **kw).double()
    if pyg.bias is not None:
        torch.nn.init.normal_(pyg.bias)
    ours = cls.from_pyg(pyg)
    if 'edge_dim' in kw:
        check_equal(ours, pyg, lambda m, x, ei, ea: m(x, ei, ea), data, ['edge_attr'])
    else:
        check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)


def test_gatv2_shared_weights_equal_pyg():
    data = make_graph()
    pyg = pyg_nn.GATv2Conv(F_IN, F_OUT, heads=2, share_weights=True).double()
    ours = GATv2Conv.from_pyg(pyg)
    check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)


@pytest.mark.parametrize('cls,pyg_cls', [(GATConv, pyg_nn.GATConv),
                                         (GATv2Conv, pyg_nn.GATv2Conv)])
def test_attention_weights_equal_pyg(cls, pyg_cls):
    data = make_graph()
    pyg = pyg_cls(F_IN, F_OUT, heads=2).double()
    ours = cls.from_pyg(pyg)
    out, (ei, alpha) = ours(data.x, data.edge_index, return_attention_weights=True)
    ref, (ei_ref, alpha_ref) = pyg(data.x, data.edge_index, return_attention_weights=True)
    assert torch.equal(ei, ei_ref)
    assert_close(alpha, alpha_ref)
    # the weights into every node sum to one per head
    assert_close(torch.zeros(data.num_nodes, 2, dtype=torch.float64).index_add(
        0, ei[1], alpha), torch.ones(data.num_nodes, 2, dtype=torch.float64))


@pytest.mark.parametrize('cls,pyg_cls', [(GATConv, pyg_nn.GATConv),
                                         (GATv2Conv, pyg_nn.GATv2Conv)])
def test_gat_bipartite_equals_pyg(cls, pyg_cls):
    data = make_graph()
    pyg = pyg_cls((F_IN, 3), F_OUT, heads=2).double()
    ours = cls.from_pyg(pyg)
    x_dst = torch.randn(10, 3, dtype=torch.float64)
    ei = data.edge_index[:, data.edge_index[1] < 10]
    check_equal(ours, pyg, lambda m, x, ei: m((x, x_dst), ei), Data(x=data.x, edge_index=ei))


def test_gat_dropout_is_off_in_eval_and_random_in_training():
    data = make_graph()
    pyg = pyg_nn.GATConv(F_IN, F_OUT, heads=2, dropout=0.5).double().eval()
    ours = GATConv.from_pyg(pyg).eval()
    check_equal(ours, pyg, lambda m, x, ei: m(x, ei), data)
    ours.train()
    assert not torch.allclose(ours(data.x, data.edge_index), ours(data.x, data.edge_index))


@pytest.mark.parametrize('aggr', ['sum', 'mean', 'max'])
def test_nnconv_equals_pyg(aggr):
    data = make_graph()
    net = Sequential(Linear(D, 6), ReLU(), Linear(6, F_IN * F_OUT)).double()
    pyg = pyg_nn.NNConv(F_IN, F_OUT, net, aggr=aggr).double()
    ours = NNConv.from_pyg(pyg)
    check_equal(ours, pyg, lambda m, x, ei, ea: m(x, ei, ea), data, ['edge_attr'])


# --------------------------------------------------------------------------- kernels

@pytest.mark.parametrize('make', [
    lambda: GCNConv(F_IN, F_OUT), lambda: SAGEConv(F_IN, F_OUT),
    lambda: SAGEConv(F_IN, F_OUT, aggr='sum'), lambda: GINConv(_mlp(F_IN, F_OUT))])
def test_fused_equals_generic(make):
    data = make_graph()
    layer = make().double().eval()
    w = data.edge_weight.clone().requires_grad_()
    weighted = isinstance(layer, GCNConv)
    outs = []
    for kernel in ('fused', 'generic'):
        x = data.x.clone().requires_grad_()
        with use_kernel(kernel):
            out = layer(x, data.edge_index, w) if weighted else layer(x, data.edge_index)
        out.pow(2).sum().backward()
        outs.append((out.detach(), x.grad, w.grad.clone() if weighted else x.grad))
        w.grad = None
    assert_close(outs[0], outs[1])


# --------------------------------------------------------------------------- symmetry

LAYERS = {
    'gcn': (lambda: GCNConv(F_IN, F_OUT), 'w'),
    'sage': (lambda: SAGEConv(F_IN, F_OUT), ''),
    'sage-max': (lambda: SAGEConv(F_IN, F_OUT, aggr='max'), ''),
    'gin': (lambda: GINConv(_mlp(F_IN, F_OUT)), ''),
    'gine': (lambda: GINEConv(_mlp(F_IN, F_OUT), edge_dim=D), 'a'),
    'gat': (lambda: GATConv(F_IN, F_OUT, heads=2, edge_dim=D), 'a'),
    'gatv2': (lambda: GATv2Conv(F_IN, F_OUT, heads=2, edge_dim=D), 'a'),
    'nnconv': (lambda: NNConv(F_IN, F_OUT, Linear(D, F_IN * F_OUT)), 'a'),
}


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_permutation_equivariant(name):
    make, edge = LAYERS[name]
    layer = make().double().eval()
    fwd = {'w': lambda m, d: m(d.x, d.edge_index, d.edge_weight),
           'a': lambda m, d: m(d.x, d.edge_index, d.edge_attr),
           '': lambda m, d: m(d.x, d.edge_index)}[edge]
    assert_permutation_equivariant(layer, make_graph(), fwd)
    assert_permutation_equivariant(layer, make_graph(), fwd, within_graphs=False, seed=3)


def test_virtual_node_equivariant_and_invariant():
    data = make_graph()
    vn = VirtualNode(F_IN).double().eval()
    torch.nn.init.normal_(vn.mlp[1].running_mean)
    h, v = vn(data.x, data.batch)
    assert h.shape == data.x.shape and v.shape == (2, F_IN)
    # h = x + v0[batch] with v0 = 0, and v = MLP(sum of h per graph)
    assert_close(h, data.x)
    sums = torch.stack([data.x[data.batch == b].sum(0) for b in range(2)])
    assert_close(v, vn.mlp(sums))
    assert_permutation_equivariant(vn, data, lambda m, d: m(d.x, d.batch))
    h2, v2 = VirtualNode(F_IN, residual=True).double().eval()(data.x, data.batch, v)
    assert_close(h2, data.x + v[data.batch])


# --------------------------------------------------------------------------- drop-in

def test_in_pyg_sequential():
    data = make_graph()
    pyg_layers = [pyg_nn.GCNConv(F_IN, 8).double(), pyg_nn.SAGEConv(8, 8).double(),
                  pyg_nn.GATConv(8, 4, heads=2).double(), pyg_nn.GINConv(_mlp(8, F_OUT))]
    ours = [GCNConv.from_pyg(pyg_layers[0]), SAGEConv.from_pyg(pyg_layers[1]),
            GATConv.from_pyg(pyg_layers[2]), GINConv.from_pyg(pyg_layers[3])]

    def seq(layers):
        return pyg_nn.Sequential('x, edge_index', [
            (layers[0], 'x, edge_index -> x'), ReLU(), (layers[1], 'x, edge_index -> x'),
            (layers[2], 'x, edge_index -> x'), (layers[3], 'x, edge_index -> x')])

    a, b = seq(ours).eval(), seq(pyg_layers).eval()
    assert_close(a(data.x, data.edge_index), b(data.x, data.edge_index))


@pytest.mark.parametrize('name', ['gcn', 'sage', 'gin', 'gat'])
def test_pyg_edge_index_class_accepted(name):
    """A column-sorted ``torch_geometric.EdgeIndex`` works as ``edge_index``."""
    from torch_geometric import EdgeIndex
    data = make_graph()
    n = data.num_nodes
    ei = EdgeIndex(data.edge_index, sparse_size=(n, n)).sort_by('col')[0]
    layer = LAYERS[name][0]().double().eval()
    assert_close(layer(data.x, ei), layer(data.x, data.edge_index.clone()))


@pytest.mark.parametrize('name', sorted(LAYERS))
@pytest.mark.parametrize('layout', ['coo', 'csr'])
def test_sparse_adjacency_equals_its_edge_list(name, layout):
    """A torch.sparse adj_t (rows = targets) runs as the edge list it stores; edge features
    follow the adjacency's (target-major) order, as in PyG."""
    data = make_graph()
    n = data.num_nodes
    key = data.edge_index[1] * n + data.edge_index[0]
    order = torch.argsort(key)
    first = torch.ones_like(order, dtype=torch.bool)
    first[1:] = key[order][1:] != key[order][:-1]          # one copy of each edge
    order = order[first]
    ei = data.edge_index[:, order]
    adj_t = torch.sparse_coo_tensor(ei.flip(0), torch.ones(ei.size(1), dtype=torch.float64),
                                    (n, n)).coalesce()
    adj_t = adj_t if layout == 'coo' else adj_t.to_sparse_csr()
    layer = LAYERS[name][0]().double().eval()
    if LAYERS[name][1] == 'a':
        ea = data.edge_attr[order]
        out, ref = layer(data.x, adj_t, ea), layer(data.x, ei, ea)
    else:
        out, ref = layer(data.x, adj_t), layer(data.x, ei)
    assert_close(out, ref, atol=1e-10)


def test_torch_compile_smoke():
    data = make_graph()
    layer = SAGEConv(F_IN, F_OUT, aggr='max').double()
    try:
        compiled = torch.compile(layer, backend='aot_eager', fullgraph=False)
        out = compiled(data.x, data.edge_index)
    except Exception as exc:  # pragma: no cover - depends on the platform
        pytest.skip(f'torch.compile unsupported here: {type(exc).__name__}')
    assert_close(out, layer(data.x, data.edge_index))


def test_from_pyg_makes_an_independent_copy():
    pyg = pyg_nn.GATConv(F_IN, F_OUT, heads=2).double()
    ours = GATConv.from_pyg(pyg)
    with torch.no_grad():
        pyg.att_src.add_(1.0)
    assert not torch.equal(ours.att_src, pyg.att_src)
    assert 'GATConv(5, 4, heads=2)' == repr(ours)
    assert copy.deepcopy(ours).heads == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('name', sorted(LAYERS))
def test_cuda_equals_cpu(name):
    make, edge = LAYERS[name]
    data = make_graph()
    layer = make().double().eval()
    args = {'w': ('edge_weight',), 'a': ('edge_attr',), '': ()}[edge]
    ref = layer(data.x, data.edge_index, *[data[k] for k in args])
    cuda = data.to('cuda')
    out = layer.to('cuda')(cuda.x, cuda.edge_index, *[cuda[k] for k in args])
    assert_close(out.cpu(), ref)


# --------------------------------------------------------------------------- bad input

def test_bad_input_raises_clear_errors():
    data = make_graph()
    with pytest.raises(ValueError, match='self-loops without normalize'):
        GCNConv(3, 3, add_self_loops=True, normalize=False)
    with pytest.raises(ValueError, match='channels'):
        GCNConv(3, 4).double()(data.x, data.edge_index)
    with pytest.raises(ValueError, match='bipartite'):
        GCNConv(F_IN, 4).double()((data.x, data.x), data.edge_index)
    with pytest.raises(ValueError, match='edge_weight must have shape'):
        GCNConv(F_IN, 4).double()(data.x, data.edge_index, data.edge_weight[:-1])
    with pytest.raises(ValueError, match='refers to source node 14'):
        SAGEConv(F_IN, 4).double()(data.x[:5], data.edge_index)
    with pytest.raises(ValueError, match='needs edge_attr'):
        GINEConv(_mlp(F_IN, 4), edge_dim=D)(data.x, data.edge_index)
    with pytest.raises(ValueError, match='edge_dim=3'):
        GINEConv(_mlp(F_IN, 4))(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match='one row per edge'):
        GATConv(F_IN, 4, edge_dim=D).double()(data.x, data.edge_index, data.edge_attr[:-1])
    with pytest.raises(ValueError, match='edge_dim'):
        GATv2Conv(F_IN, 4).double()(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match=r'\[E, 5 \* 4\]'):
        NNConv(F_IN, 4, Linear(D, 7).double())(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match='shape \\[2, E\\]'):
        GATConv(F_IN, 4).double()(data.x, data.edge_index.t())
    with pytest.raises(ValueError, match='unknown aggregation'):
        SAGEConv(F_IN, 4, aggr='nonsense')
    with pytest.raises(ValueError, match='vn must have shape'):
        VirtualNode(F_IN).double()(data.x, data.batch, torch.zeros(2, 3))
