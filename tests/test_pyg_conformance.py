"""Every layer of gdl_graphs.nn through PyG's MessagePassing conventions, compared with the
torch_geometric.nn layer of the same name (same weights, float64): flow both ways, hooks,
explain (GNNExplainer), aggregation lists and modules, sparse adj_t inputs, bipartite inputs,
lazy shapes and to_hetero, the meta device and torch.compile(fullgraph=True)."""
import copy

import pytest
import torch
import torch_geometric.nn as pyg_nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import aggr as pyg_aggr

import gdl_graphs.nn as G
from gdl_graphs.core import GDLConv, use_kernel
from gdl_graphs.domains import image_to_graph
from gdl_graphs.testing import assert_close

N, F_IN, F_OUT = 7, 5, 4
TORCH = tuple(int(v) for v in torch.__version__.split('+')[0].split('.')[:2])
EI = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 1, 3, 2, 2],
                   [1, 2, 3, 4, 5, 6, 0, 3, 1, 6, 2]])


def _x(n=N, f=F_IN, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, f, dtype=torch.float64, generator=g)


def _edge_attr(dim=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(EI.size(1), dim, dtype=torch.float64, generator=g)


def _mlp(i, o):
    return torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.ReLU(), torch.nn.Linear(o, o))


# name -> (make PyG layer(**kw), convert, needs edge_attr)
PAIRS = {
    'GraphConv': (lambda **kw: pyg_nn.GraphConv(F_IN, F_OUT, **kw), G.GraphConv.from_pyg, False),
    'GCNConv': (lambda **kw: pyg_nn.GCNConv(F_IN, F_OUT, **kw), G.GCNConv.from_pyg, False),
    'SAGEConv': (lambda **kw: pyg_nn.SAGEConv(F_IN, F_OUT, **kw), G.SAGEConv.from_pyg, False),
    'GINConv': (lambda **kw: pyg_nn.GINConv(_mlp(F_IN, F_OUT), **kw), G.GINConv.from_pyg,
                False),
    'GINEConv': (lambda **kw: pyg_nn.GINEConv(_mlp(F_IN, F_OUT), edge_dim=3, **kw),
                 G.GINEConv.from_pyg, True),
    'GATConv': (lambda **kw: pyg_nn.GATConv(F_IN, F_OUT, heads=2, **kw), G.GATConv.from_pyg,
                False),
    'GATv2Conv': (lambda **kw: pyg_nn.GATv2Conv(F_IN, F_OUT, heads=2, **kw),
                  G.GATv2Conv.from_pyg, False),
    'NNConv': (lambda **kw: pyg_nn.NNConv(F_IN, F_OUT, torch.nn.Linear(3, F_IN * F_OUT), **kw),
               G.NNConv.from_pyg, True),
}


def _pair(name, **kw):
    make, convert, edge = PAIRS[name]
    torch.manual_seed(0)
    pyg = make(**kw).double()
    return pyg, convert(pyg), edge


def _call(layer, x, edge_index, edge, **kw):
    return layer(x, edge_index, _edge_attr(), **kw) if edge else layer(x, edge_index, **kw)


@pytest.mark.parametrize('name', PAIRS)
@pytest.mark.parametrize('flow', ['source_to_target', 'target_to_source'])
def test_flow_both_ways_equals_pyg(name, flow):
    pyg, ours, edge = _pair(name, flow=flow)
    assert ours.flow == flow
    x = _x().requires_grad_()
    ref = _call(pyg, x, EI, edge)
    for kernel in ('auto', 'generic'):
        with use_kernel(kernel):
            out = _call(ours, x, EI, edge)
        assert_close(out, ref, atol=1e-10)
        g_ref, = torch.autograd.grad(ref.sum(), x, retain_graph=True)
        g_out, = torch.autograd.grad(out.sum(), x)
        assert_close(g_out, g_ref, atol=1e-10)


@pytest.mark.parametrize('name', PAIRS)
def test_hooks_fire_as_in_pyg(name):
    pyg, ours, edge = _pair(name)
    for layer in (pyg, ours):
        seen = []
        handles = [
            layer.register_propagate_forward_pre_hook(lambda m, i: seen.append('pre')),
            layer.register_propagate_forward_hook(lambda m, i, o: seen.append('post')),
            layer.register_message_forward_hook(lambda m, i, o: seen.append('msg')),
            layer.register_aggregate_forward_hook(lambda m, i, o: seen.append('aggr')),
        ]
        _call(layer, _x(), EI, edge)
        layer.seen = seen
        for h in handles:
            h.remove()
    assert ours.seen == pyg.seen and {'pre', 'post', 'msg', 'aggr'} <= set(ours.seen)


def _explain(model, x, edge_index, seed):
    from torch_geometric.explain import Explainer, GNNExplainer
    torch.manual_seed(seed)
    explainer = Explainer(model, GNNExplainer(epochs=20), explanation_type='model',
                          node_mask_type='attributes', edge_mask_type='object',
                          model_config=dict(mode='regression', task_level='node',
                                            return_type='raw'))
    return explainer(x, edge_index, index=2)


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GATConv',
                                  'GATv2Conv'])
def test_gnnexplainer_equals_pyg(name):
    pyg, ours, _ = _pair(name)
    x = _x()
    a = _explain(pyg, x, EI, seed=3)
    b = _explain(ours, x, EI, seed=3)
    assert_close(b.edge_mask, a.edge_mask, atol=1e-8)
    assert_close(b.node_mask, a.node_mask, atol=1e-8)
    assert float(b.edge_mask.abs().sum()) > 0  # the mask reached the messages


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv'])
def test_set_masks_reach_the_messages(name):
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
    pyg, ours, edge = _pair(name)
    x = _x()
    zero = torch.full((EI.size(1),), -1e9, dtype=torch.float64)  # sigmoid -> 0
    outs = []
    for layer in (pyg, ours):
        before = _call(layer, x, EI, edge)
        set_masks(layer, zero, EI, apply_sigmoid=True)
        outs.append((before, _call(layer, x, EI, edge)))
        clear_masks(layer)
    (pb, pm), (ob, om) = outs
    assert_close(om, pm, atol=1e-10)
    assert float((ob - om).abs().max()) > 1e-3  # the masked messages changed the output


@pytest.mark.parametrize('name', ['GraphConv', 'SAGEConv', 'GINConv'])
@pytest.mark.parametrize('aggr', [['mean', 'max'], 'std', 'softmax-module'])
def test_aggregation_lists_and_modules_equal_pyg(name, aggr):
    if aggr == 'softmax-module':
        aggr = pyg_aggr.SoftmaxAggregation(learn=True)
    kw = dict(aggr=copy.deepcopy(aggr))
    if isinstance(aggr, list) and name == 'GraphConv':
        pytest.skip('PyG GraphConv widens its input for multi-aggregation only in lin_rel')
    make, convert, edge = PAIRS[name]
    torch.manual_seed(0)
    if isinstance(aggr, list) and name == 'SAGEConv':
        pyg = pyg_nn.SAGEConv(F_IN, F_OUT, aggr=aggr).double()
    elif isinstance(aggr, list) and name == 'GINConv':
        pyg = pyg_nn.GINConv(_mlp(2 * F_IN, F_OUT), aggr=aggr).double()
    else:
        pyg = make(**kw).double()
    if isinstance(aggr, list) and name == 'GINConv':
        pytest.skip('GINConv adds (1 + eps) x_i to the aggregate: widths differ for lists')
    ours = convert(pyg)
    x = _x()
    assert_close(_call(ours, x, EI, edge), _call(pyg, x, EI, edge), atol=1e-10)


def _sparse(layout, ei=EI):
    adj = torch.sparse_coo_tensor(ei.flip(0), torch.ones(ei.size(1), dtype=torch.float64),
                                  (N, N)).coalesce()
    return {'coo': adj, 'csr': adj.to_sparse_csr(), 'csc': adj.to_sparse_csc()}[layout]


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GATConv',
                                  'GATv2Conv'])
@pytest.mark.parametrize('layout', ['coo', 'csr', 'csc'])
def test_sparse_adj_t_equals_pyg(name, layout):
    pyg, ours, edge = _pair(name)
    x = _x()
    # PyG's gcn_norm adds a second self-loop to an adj_t that has one (add_self_loops) but
    # replaces it in an edge_index (add_remaining_self_loops); ours gives the edge_index
    # numbers for both formats, so PyG is compared on a graph without self-loops
    no_loop = EI[:, EI[0] != EI[1]]
    adj = _sparse(layout, no_loop if name == 'GCNConv' else EI)
    try:
        ref = _call(pyg, x, adj, edge)
    except Exception as e:  # PyG refuses it: ours runs it, equal to its edge list below
        ref = None
        print(f'PyG {name} does not run {layout}: {type(e).__name__}')
    if ref is not None:
        assert_close(_call(ours, x, adj, edge), ref, atol=1e-10)
    # the same numbers as the edge list it stores, self-loops included
    assert_close(_call(ours, x, _sparse(layout), edge), _call(ours, x, EI.unique(dim=1), edge),
                 atol=1e-10)


@pytest.mark.parametrize('name', ['GraphConv', 'SAGEConv', 'GINConv', 'GATConv', 'NNConv'])
def test_bipartite_equals_pyg(name):
    pyg, ours, edge = _pair(name)
    x_src, x_dst = _x(7), _x(4, seed=5)
    ei = torch.tensor([[0, 1, 2, 6, 5, 3], [0, 0, 1, 2, 3, 3]])
    args = (_edge_attr()[:6],) if edge else ()
    if name == 'GATConv':
        torch.manual_seed(0)
        pyg = pyg_nn.GATConv((F_IN, F_IN), F_OUT, heads=2, add_self_loops=False).double()
        ours = G.GATConv.from_pyg(pyg)
    assert_close(ours((x_src, x_dst), ei, *args), pyg((x_src, x_dst), ei, *args), atol=1e-10)


@pytest.mark.parametrize('make', [lambda: G.SAGEConv((-1, -1), 8), lambda: G.GraphConv(-1, 8),
                                  lambda: G.GATConv((-1, -1), 8, add_self_loops=False)])
def test_lazy_shapes_and_to_hetero(make):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = make()

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    data = HeteroData()
    data['paper'].x = torch.randn(6, 5)
    data['author'].x = torch.randn(4, 3)   # node types of different widths
    data['author', 'writes', 'paper'].edge_index = torch.tensor([[0, 1, 3, 2], [0, 2, 5, 1]])
    data['paper', 'rev_writes', 'author'].edge_index = torch.tensor([[0, 2, 5, 1],
                                                                      [0, 1, 3, 2]])
    model = pyg_nn.to_hetero(Net(), data.metadata(), aggr='sum')
    out = model(data.x_dict, data.edge_index_dict)
    assert out['paper'].shape == (6, 8) and out['author'].shape == (4, 8)
    assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv'])
def test_meta_device_forward(name):
    pyg, ours, edge = _pair(name)
    x = _x().to('meta')
    out = _call(ours.to('meta'), x, EI.to('meta'), edge)
    assert out.device.type == 'meta' and out.shape == (N, F_OUT)


def _graph_model(name, kernel='auto'):
    torch.manual_seed(0)
    k = dict(kernel=kernel)
    if name == 'LatticeConv':
        return torch.nn.ModuleList([G.LatticeConv(3, 8, 3, **k),
                                    G.LatticeConv(8, 4, 3, **k)]).double()
    layer = {'GraphConv': lambda i, o: G.GraphConv(i, o, **k),
             'GCNConv': lambda i, o: G.GCNConv(i, o, **k),
             'SAGEConv': lambda i, o: G.SAGEConv(i, o, **k),
             'GINConv': lambda i, o: G.GINConv(torch.nn.Linear(i, o), **k),
             'GATConv': lambda i, o: G.GATConv(i, o, **k)}[name]
    return torch.nn.ModuleList([layer(F_IN, 8), layer(8, F_OUT)]).double()


def _run(model, x, ei, et=None):
    for i, conv in enumerate(model):
        x = conv(x, ei, et) if et is not None else conv(x, ei)
        x = x.relu() if i == 0 else x
    return x


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GATConv',
                                  'LatticeConv'])
@pytest.mark.parametrize('kernel', ['auto', 'generic'])
def test_torch_compile_fullgraph_equals_eager(name, kernel):
    # one graph without breaks on torch >= 2.11; older torch breaks the graph at data-dependent
    # shapes (nonzero, bincount) and compiles the pieces
    import torch._dynamo
    torch._dynamo.reset()
    fullgraph = TORCH >= (2, 11)
    model = _graph_model(name, kernel)
    if name == 'LatticeConv':
        g = image_to_graph(torch.randn(2, 3, 5, 4, dtype=torch.float64), kernel_size=3)
        args = (g.x, g.edge_index, g.edge_type)
    else:
        args = (_x(), EI)
    eager = _run(model, *args)
    compiled = torch.compile(lambda *a: _run(model, *a), fullgraph=fullgraph, backend='eager')
    assert_close(compiled(*args), eager, atol=1e-10)
    if kernel == 'generic':
        assert all(conv.last_plan.kernel == 'generic' for conv in model)


def _gdl_layers():
    return sorted(name for name in G.__all__ if isinstance(getattr(G, name), type)
                  and issubclass(getattr(G, name), GDLConv))


def test_every_layer_states_its_symmetry_and_resets_and_reprs_its_own_way():
    from torch_geometric.nn import MessagePassing
    for name in _gdl_layers():
        cls = getattr(G, name)
        assert cls.reset_parameters is not MessagePassing.reset_parameters, name
        assert cls.__repr__ is not MessagePassing.__repr__ or hasattr(cls, 'in_channels'), name
        assert cls.__doc__ and 'Equivariance' in cls.__doc__, name


def test_layers_without_edges_refuse_flow_clearly():
    for cls, args in [(G.DeepSetsConv, (4, 4)), (G.DeepSetsReadout, ())]:
        with pytest.raises(ValueError, match='flow'):
            cls(*args, flow='target_to_source')


def test_layer_that_cannot_fuse_runs_generic_with_hooks():
    # a GDLConv subclass written the PyG way, without message_and_aggregate: PyG's path
    class Max(GDLConv):
        def __init__(self):
            super().__init__(aggr='max')

        def forward(self, x, edge_index):
            return self.propagate(edge_index, x=x)

    x = _x()
    fired = []
    layer = Max()
    layer.register_message_forward_hook(lambda m, i, o: fired.append(o.shape))
    out = layer(x, EI)
    ref = pyg_nn.SimpleConv(aggr='max')(x, EI)
    assert_close(out, ref, atol=0.0) and fired == [(EI.size(1), F_IN)]


def _non_pyg_cases():
    """(name, layer, call(layer, edge_index, flipped) -> output) for the layers without a PyG
    twin: flow='target_to_source' on edge_index must equal the default flow on the flipped
    edges, and PyG's hooks must fire."""
    torch.manual_seed(0)
    g = image_to_graph(torch.randn(1, 3, 5, 4, dtype=torch.float64), kernel_size=3)
    x = _x(N, 8)
    pos = _x(N, 3, seed=4)
    cases = {
        'LatticeConv': (lambda **kw: G.LatticeConv(3, 4, 3, **kw).double(),
                        lambda m, ei: m(g.x, ei, g.edge_type), g.edge_index),
        'AttentionConv': (lambda **kw: G.AttentionConv(8, 2, **kw).double(),
                          lambda m, ei: m(x, ei), EI),
        'EGNNConv': (lambda **kw: G.EGNNConv(8, 8, 8, **kw).double(),
                     lambda m, ei: torch.cat(m(x, pos, ei), -1), EI),
    }
    return cases


@pytest.mark.parametrize('name', ['LatticeConv', 'AttentionConv', 'EGNNConv'])
def test_layers_without_pyg_twin_honour_flow_and_hooks(name):
    make, call, ei = _non_pyg_cases()[name]
    torch.manual_seed(1)
    default = make()
    reverse = make(flow='target_to_source')
    reverse.load_state_dict(default.state_dict())
    flipped = ei.flip(0)
    assert_close(call(reverse, ei), call(default, flipped), atol=1e-10)
    seen = []
    default.register_propagate_forward_hook(lambda m, i, o: seen.append('post'))
    default.register_message_forward_hook(lambda m, i, o: seen.append('msg'))
    ref = call(default, ei)
    assert {'post', 'msg'} <= set(seen)
    with use_kernel('generic'):
        assert_close(call(default, ei), ref, atol=1e-10)


@pytest.mark.parametrize('aggr', ['sum', 'mean', 'max', 'min', 'mul'])
@pytest.mark.parametrize('kernel', ['auto', 'generic'])
def test_graphconv_equals_pyg_with_weights_and_gradients(aggr, kernel):
    torch.manual_seed(0)
    pyg = pyg_nn.GraphConv(F_IN, F_OUT, aggr=aggr).double()
    ours = G.GraphConv.from_pyg(pyg)
    x = _x().requires_grad_()
    w = torch.rand(EI.size(1), dtype=torch.float64).requires_grad_()
    ref = pyg(x, EI, w)
    with use_kernel(kernel):
        out = ours(x, EI, w)
    assert_close(out, ref, atol=1e-10)
    seed = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * seed).sum(), (x, w, pyg.lin_rel.weight))
    g_out = torch.autograd.grad((out * seed).sum(), (x, w, ours.lin_rel.weight))
    for a, b in zip(g_out, g_ref):
        assert_close(a, b, atol=1e-10)
