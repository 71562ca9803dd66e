"""The contract of every layer in ``gdl_graphs.nn.__all__``: each kernel (auto, fused,
generic) x flow (both) x graph form (the converter's structure, a plain ``edge_index``, a sparse
``adj_t``, PyG's ``EdgeIndex``) x (one graph, a collated batch) equals the generic path on the
plain edge list in float64 within 1e-10, outputs and input gradients, or is refused with a
ValueError that says why; the plan that ran is recorded on the layer."""
import copy

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing

import gdl_graphs.nn as G
from gdl_graphs.core import GDLConv, available_backends, plain, structure_of, use_backend
from gdl_graphs.domains import (
    complete_graph,
    image_to_graph,
    lift_lattice,
    mesh_to_graph,
    sequence_to_graph,
)
from gdl_graphs.domains.sphere import icosphere
from gdl_graphs.testing import assert_close

F = 4
KERNELS = ('auto', 'fused', 'generic')
FLOWS = ('source_to_target', 'target_to_source')
FORMS = ('structure', 'plain', 'adj_t', 'EdgeIndex')


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _mlp(i, o):
    return torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.ReLU(), torch.nn.Linear(o, o))


def _general(n, seed):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randperm(n * n, generator=g)[:3 * n]       # distinct edges, in random order
    ei = torch.stack([pairs // n, pairs % n])
    return Data(x=_randn(n, F, seed=seed), edge_index=ei,
                edge_attr=_randn(ei.size(1), 3, seed=seed + 1), num_nodes=n)


def _lattice(seed):
    return image_to_graph(_randn(1, F, 4, 5, seed=seed), kernel_size=3)


def _lifted(seed, batched=False, group_features=False):
    images = _randn(2 if batched else 1, F, 4, 4, seed=seed)
    d = lift_lattice(image_to_graph(images, kernel_size=3), 'C4')
    # pixel features for the lifting layer; (pixel, rotation) features for the group layer
    d.x = _randn(d.num_nodes, F, seed=seed + 3) if group_features else \
        images.permute(0, 2, 3, 1).reshape(-1, F)
    return d


def _complete(n, seed):
    x = _randn(n, F, seed=seed)
    return Data(x=x, edge_index=complete_graph(num_nodes=n), num_nodes=n)


def _path(n, seed):
    return sequence_to_graph(_randn(n, F, seed=seed))


def _mesh(seed):
    s = icosphere(1)
    g = mesh_to_graph(s.pos, s.face)
    g.x = _randn(g.num_nodes, 1 + 2 * 1, seed=seed)
    return g


def _call_general(attr=False):
    def call(m, d, ei):
        return m(d.x, ei, d.edge_attr) if attr else m(d.x, ei)
    return call


# name -> (make(**kw), graph(seed) -> Data, call(layer, data, edge_index), per-edge field)
CASES = {
    'GraphConv': (lambda **kw: G.GraphConv(F, F, **kw), lambda s: _general(6, s),
                  _call_general(), None),
    'GCNConv': (lambda **kw: G.GCNConv(F, F, **kw), lambda s: _general(6, s),
                _call_general(), None),
    'SAGEConv': (lambda **kw: G.SAGEConv(F, F, **kw), lambda s: _general(6, s),
                 _call_general(), None),
    'GINConv': (lambda **kw: G.GINConv(_mlp(F, F), **kw), lambda s: _general(6, s),
                _call_general(), None),
    'GINEConv': (lambda **kw: G.GINEConv(_mlp(F, F), edge_dim=3, **kw),
                 lambda s: _general(6, s), _call_general(True), 'edge_attr'),
    'GATConv': (lambda **kw: G.GATConv(F, F, heads=2, **kw), lambda s: _general(6, s),
                _call_general(), None),
    'GATv2Conv': (lambda **kw: G.GATv2Conv(F, F, heads=2, **kw), lambda s: _general(6, s),
                  _call_general(), None),
    'NNConv': (lambda **kw: G.NNConv(F, F, torch.nn.Linear(3, F * F), **kw),
               lambda s: _general(6, s), _call_general(True), 'edge_attr'),
    'LatticeConv': (lambda **kw: G.LatticeConv(F, 3, 3, **kw), _lattice,
                    lambda m, d, ei: m(d.x, ei, d.edge_type), 'edge_type'),
    'AttentionConv': (lambda **kw: G.AttentionConv(F, 2, **kw), lambda s: _complete(5, s),
                      _call_general(), None),
    'TransformerBlock': (lambda **kw: G.TransformerBlock(F, 2, dim_feedforward=8, **kw),
                         lambda s: _complete(5, s), _call_general(), None),
    'GatedRecurrentConv': (lambda **kw: G.GatedRecurrentConv(F, 3, **kw),
                           lambda s: _path(5, s), _call_general(), None),
    'LiftingConv': (lambda **kw: G.LiftingConv(F, 2, **kw), _lifted,
                    lambda m, d, ei: m(d.x, ei, d.lift_edge_type), 'lift_edge_type'),
    'GroupConv': (lambda **kw: G.GroupConv(F, 2, **kw),
                  lambda s, batched=False: _lifted(s, batched, group_features=True),
                  lambda m, d, ei: m(d.x, ei, d.edge_type), 'edge_type'),
    'EGNNConv': (lambda **kw: G.EGNNConv(F, 5, F, **kw),
                 lambda s: Data(pos=_randn(6, 3, seed=s + 7), **_general(6, s).to_dict()),
                 lambda m, d, ei: torch.cat(m(d.x, d.pos, ei), -1), None),
    'GEMConv': (lambda **kw: G.GEMConv((1, 1), (2, 1), **kw), _mesh,
                lambda m, d, ei: m(d.x, ei, d.edge_coords, d.connection), None),
    'GeodesicPolarConv': (lambda **kw: G.GeodesicPolarConv(F, 3, **kw),
                          lambda s: Data(x=_randn(12, F, seed=s), **_polar(s)),
                          lambda m, d, ei: m(d.x, ei, d.edge_coords, radius=1.0), None),
}
#: layers without an edge_index (a set or a virtual node): kernels agree, flow is refused
EDGELESS = {
    'DeepSetsConv': lambda **kw: G.DeepSetsConv(F, 3, **kw),
    'DeepSetsReadout': lambda **kw: G.DeepSetsReadout(**kw),
    'VirtualNode': lambda **kw: G.VirtualNode(F, **kw),
}
#: OGB's molecule layers embed OGB's bond features: tested against OGB in test_ogb_models
#: RegularNonlinearity is pointwise (no graph)
NOT_ON_EDGES = {'MolGCNConv', 'MolGINConv', 'RegularNonlinearity'}


#: layers that read each edge's endpoints or geometry: no sparse adj_t
REFUSE_ADJ_T = {'EGNNConv', 'GatedRecurrentConv', 'GEMConv', 'GeodesicPolarConv'}


def _polar(seed):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randperm(144, generator=g)[:40]
    ei = torch.stack([pairs // 12, pairs % 12])
    rho = torch.rand(40, generator=g, dtype=torch.float64)
    theta = torch.rand(40, generator=g, dtype=torch.float64) * 6.28
    return dict(edge_index=ei, edge_coords=torch.stack([rho, theta], 1))


def test_every_layer_is_covered():
    assert set(G.__all__) == set(CASES) | set(EDGELESS) | NOT_ON_EDGES


def _form(ei: torch.Tensor, form: str, n: int, n_dst=None):
    if form == 'structure':
        return ei
    if form == 'plain':
        return plain(ei)
    if form == 'EdgeIndex':
        return EdgeIndex(plain(ei), sparse_size=(n, n))
    p = plain(ei)  # adj_t: rows = targets, columns = sources
    return torch.sparse_coo_tensor(p.flip(0), torch.ones(p.size(1), dtype=torch.float64),
                                   (n if n_dst is None else n_dst, n)).coalesce().to_sparse_csr()


def _data(name, batched):
    make, graph, call, field = CASES[name]
    if not batched:
        return graph(0)
    if name in ('LiftingConv', 'GroupConv'):  # lifting edges are bipartite: lift the batch
        return graph(0, batched=True)
    return Batch.from_data_list([graph(0), graph(1)])


def _run(layer, call, data, ei):
    x_name = 'x'
    x = data[x_name].detach().clone().requires_grad_(True)
    d = copy.copy(data)  # shallow: the converter's own edge_type and structure stay
    d[x_name] = x
    out = call(layer, d, ei)
    grad = torch.autograd.grad(out.pow(2).sum(), x, allow_unused=True)[0]
    return out, grad


@pytest.mark.parametrize('batched', [False, True], ids=['single', 'batch'])
@pytest.mark.parametrize('form', FORMS)
@pytest.mark.parametrize('flow', FLOWS, ids=['s2t', 't2s'])
@pytest.mark.parametrize('kernel', KERNELS)
@pytest.mark.parametrize('name', sorted(CASES))
def test_every_kernel_and_form_equals_the_generic_path(name, kernel, flow, form, batched):
    make, _, call, field = CASES[name]
    data = _data(name, batched)
    n = data.x.size(0) if name == 'LiftingConv' else data.num_nodes
    edge_key = 'lift_edge_index' if name == 'LiftingConv' else 'edge_index'
    ei = data[edge_key]
    if name == 'LiftingConv' and flow == 'target_to_source':
        with pytest.raises(ValueError, match='flow'):  # pixels -> lifted nodes only
            make(flow=flow)
        return
    torch.manual_seed(0)
    ref_layer = make(flow=flow, kernel='generic').double()
    layer = make(flow=flow, kernel=kernel).double()
    layer.load_state_dict(ref_layer.state_dict())
    if name == 'LiftingConv':  # pixels -> (pixel, rotation): bipartite
        graph = EdgeIndex(plain(ei), sparse_size=(n, data.num_nodes)) if form == 'EdgeIndex' \
            else _form(ei, form, n, data.num_nodes)
    else:
        graph = _form(ei, form, n)
    if form == 'adj_t' and (flow == 'target_to_source' or name in REFUSE_ADJ_T):
        # PyG refuses target_to_source on a sparse adjacency; geometric layers need edges
        with pytest.raises(ValueError, match='sparse|target_to_source|adj_t|SparseTensor'):
            _run(layer, call, data, graph)
        return
    if form == 'adj_t':  # a sparse matrix stores its edges target-major: so do edge inputs
        p = plain(ei)
        order = torch.argsort(p[1] * n + p[0])
        data = copy.copy(data)
        if field is not None:
            data[field] = data[field][order]
        ei = p[:, order]
    ref, ref_grad = _run(ref_layer, call, data, plain(ei))
    out, grad = _run(layer, call, data, graph)
    assert_close(out, ref, atol=1e-10, rtol=1e-10)
    if ref_grad is not None:
        assert_close(grad, ref_grad, atol=1e-10, rtol=1e-10)
    if isinstance(layer, GDLConv) and name != 'GatedRecurrentConv':
        plan = layer.last_plan
        assert plan is not None and plan.reason
        if kernel == 'generic':
            assert plan.kernel == 'generic'
        elif kernel == 'fused':
            assert plan.kernel not in set(layer.dense_kernels.values())
        elif form == 'structure' and flow == 'source_to_target' and layer.dense_kernels \
                and structure_of(ei) is not None:
            assert plan.kernel in set(layer.dense_kernels.values()), plan


@pytest.mark.parametrize('name', sorted(EDGELESS))
def test_layers_without_edges_are_plain_modules_and_refuse_edge_options(name):
    make = EDGELESS[name]
    x = _randn(7, F)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    torch.manual_seed(0)
    ref = make().double()
    assert isinstance(ref, torch.nn.Module) and not isinstance(ref, MessagePassing)
    outs = []
    for backend in available_backends():  # every segment backend gives the same numbers
        with use_backend(backend):
            out = ref(x, batch)
        outs.append(torch.cat(out, 0) if isinstance(out, tuple) else out)
    for out in outs[1:]:
        assert_close(out, outs[0], atol=1e-12, rtol=1e-12)
    for option in ({'flow': 'target_to_source'}, {'kernel': 'fused'}, {'aggr': 'max'}):
        key = next(iter(option))
        with pytest.raises(ValueError, match=f'^{name} has no edges.*drop {key} '):
            make(**option)


@pytest.mark.parametrize('name', sorted(set(CASES) - {'LiftingConv'}))
def test_target_to_source_on_reversed_edges_is_the_same_layer(name):
    # the flow must reach every message passing inside the layer; a third of the edges is
    # dropped so that no test graph stays symmetric (on a symmetric graph any flow agrees)
    make, _, call, _ = CASES[name]
    data = copy.copy(_data(name, True))
    ei = plain(data.edge_index)
    keep = torch.arange(ei.size(1)) % 3 != 0
    for key in list(data.keys()):
        if key != 'edge_index' and data.is_edge_attr(key):
            data[key] = data[key][keep]
    ei = ei[:, keep]
    data.edge_index = ei
    assert set(map(tuple, ei.t().tolist())) != set(map(tuple, ei.flip(0).t().tolist()))
    torch.manual_seed(0)
    layer = make().double()
    rev = make(flow='target_to_source').double()
    rev.load_state_dict(layer.state_dict())
    assert rev.flow == 'target_to_source'
    out, grad = _run(layer, call, data, ei)
    out_rev, grad_rev = _run(rev, call, data, ei.flip(0))
    assert_close(out_rev, out, atol=1e-10, rtol=1e-10)
    if grad is not None:
        assert_close(grad_rev, grad, atol=1e-10, rtol=1e-10)
