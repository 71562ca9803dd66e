"""The kernel plan, configuration without globals, caches that follow the data, and the
versions we claim: each test reproduces a defect as a user met it."""
import ast
import configparser
import pathlib
import re

import pytest
import torch
import torch_geometric
import torch_geometric.nn as pyg_nn

import gdl_graphs.nn as G
from gdl_graphs.core import use_kernel, validation
from gdl_graphs.core.conv import PYG_PRIVATE_CLASS, PYG_PRIVATE_INSTANCE, PYG_RANGE
from gdl_graphs.domains import complete_graph, image_to_graph
from gdl_graphs.testing import assert_close

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _x(n, f, seed=0):
    return torch.randn(n, f, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('name', ['GraphConv', 'SAGEConv', 'GCNConv'])
def test_memory_refilled_behind_torchs_back_gives_pyg_numbers(name):
    # a reused buffer refilled through numpy keeps its id, address and version counter
    torch.manual_seed(0)
    pyg = getattr(pyg_nn, name)(4, 3).double()
    ours = getattr(G, name).from_pyg(pyg)
    x = _x(6, 4)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    assert_close(ours(x, ei), pyg(x, ei), atol=1e-12)
    ei.numpy()[:] = [[5, 5, 1, 0, 2, 2], [0, 1, 1, 3, 3, 4]]
    assert_close(ours(x, ei), pyg(x, ei), atol=1e-12)
    ei.numpy()[0, 0] = 6  # out of range: the earlier validation must not vouch for it
    with pytest.raises(ValueError, match='refers to source node 6'):
        ours(x, ei)


def test_geodesic_polar_bins_follow_memory_refilled_behind_torchs_back():
    # the layer's bin adjacency is derived from edge_index: cached under edge_index's own
    # fingerprint, never trusted after the buffer changed
    torch.manual_seed(0)
    layer = G.GeodesicPolarConv(4, 3, num_rho=2, num_theta=3, radius=1.0).double()
    x = _x(6, 4)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    coords = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    layer(x, ei, coords)
    ei.numpy()[:] = [[5, 5, 1, 0, 2, 2], [0, 1, 1, 3, 3, 4]]
    fresh = ei.clone()
    assert_close(layer(x, ei, coords), layer(x, fresh, coords), atol=1e-12)
    with use_kernel('generic'):
        assert_close(layer(x, ei, coords), layer(x, fresh, coords), atol=1e-12)


@pytest.mark.parametrize('how', ['flow', 'kernel', 'use_kernel'])
def test_attention_on_a_batched_complete_graph_in_every_configuration(how):
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    ei = complete_graph(batch)
    x = _x(9, 4)
    torch.manual_seed(0)
    ref = G.AttentionConv(4, 2, kernel='generic').double()
    kw = {'flow': dict(flow='target_to_source'), 'kernel': dict(kernel='fused'),
          'use_kernel': {}}[how]
    layer = G.AttentionConv(4, 2, **kw).double()
    layer.load_state_dict(ref.state_dict())
    if how == 'use_kernel':
        with use_kernel('fused'):
            out = layer(x, ei)
    else:
        out = layer(x, ei)
    assert_close(out, ref(x, ei), atol=1e-12)      # complete graph: flow changes nothing
    assert layer.last_plan.kernel == 'generic' and 'dense' in layer.last_plan.reason
    assert G.AttentionConv(4, 2).double()(x, ei) is not None
    default = G.AttentionConv(4, 2).double()
    default(x, ei)
    assert default.last_plan.kernel == 'sdpa'


def test_a_layer_says_which_kernel_a_call_runs_and_why():
    g = image_to_graph(torch.randn(2, 3, 96, 96, dtype=torch.float64), kernel_size=3)
    conv = G.LatticeConv(3, 4, 3).double()
    plan = conv.plan(g.edge_index, x=g.x, edge_type=g.edge_type)
    assert plan.kernel == 'conv' and 'lattice' in plan.reason
    conv(g.x, g.edge_index, g.edge_type)
    assert conv.last_plan == plan
    edge_type = g.edge_type.clone()  # not the converter's: the typed sparse product
    assert conv.plan(g.edge_index, x=g.x, edge_type=edge_type).kernel == 'csr'
    assert 'converter' in conv.plan(g.edge_index, x=g.x, edge_type=edge_type).reason
    with use_kernel('generic'):
        assert conv.plan(g.edge_index, x=g.x, edge_type=g.edge_type).kernel == 'generic'
    assert conv.plan(g.edge_index, x=g.x.half(), edge_type=g.edge_type).kernel == 'conv'
    plain = G.LatticeConv(3, 4, 3, kernel='fused').double()
    assert plain.plan(g.edge_index, x=g.x, edge_type=g.edge_type).kernel == 'csr'
    hooked = G.GraphConv(3, 4).double()
    hooked.register_message_forward_hook(lambda *a: None)
    assert hooked.plan(g.edge_index, x=g.x).reason == 'message or aggregate hooks are registered'
    assert G.GraphConv(3, 4, aggr='max').plan(g.edge_index, x=g.x).kernel == 'generic'
    assert G.GraphConv(3, 4).plan(g.edge_index, x=g.x.half()).kernel == 'scatter'
    small = image_to_graph(torch.randn(1, 3, 6, 5, dtype=torch.float64), kernel_size=3)
    layer = G.GraphConv(3, 4).double()
    first = layer.plan(small.edge_index, x=small.x)
    assert first.kernel == 'scatter' and 'beats building its CSR' in first.reason
    adj_plan = G.GraphConv(3, 4, kernel='fused').double()
    adj_plan(g.x, g.edge_index)  # a large graph: its CSR is built and cached on edge_index
    assert adj_plan.last_plan.kernel == 'csr'
    assert 'cached CSR product of this graph' in adj_plan.plan(g.edge_index, x=g.x).reason


def test_configuration_is_per_layer_with_one_scoped_override():
    # aggr='max' gathers with index_select, which raises its own IndexError unchecked
    x, ei = _x(5, 3), torch.tensor([[0, 1, 2, 9], [1, 2, 3, 4]])
    layer = G.GraphConv(3, 2, aggr='max', validate=False).double()
    with pytest.raises((IndexError, RuntimeError)):  # no check: torch's own error
        layer(x, ei)
    with pytest.raises(ValueError, match='refers to source node 9'):
        G.GraphConv(3, 2, aggr='max').double()(x, ei)
    with validation(False):
        with pytest.raises((IndexError, RuntimeError)):
            G.GraphConv(3, 2, aggr='max').double()(x, ei)
    with pytest.raises(ValueError, match='refers to source node 9'):  # restored on exit
        G.GraphConv(3, 2, aggr='max').double()(x, ei)


def test_the_core_keeps_no_module_level_mutable_state():
    for path in sorted((ROOT / 'gdl_graphs' / 'core').glob('*.py')):
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.Global) for n in ast.walk(tree)), path.name
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if isinstance(target, ast.Name) and (target.id == '__all__'
                                                     or target.id.lstrip('_').isupper()):
                    continue  # constants (by name) and the export list
                value = node.value
                assert not isinstance(value, (ast.Dict, ast.List, ast.Set)), \
                    f'{path.name}:{node.lineno} keeps a mutable module-level container'


def test_fixed_aggregations_and_dtypes_are_one_clear_error():
    with pytest.raises(ValueError, match=r"LatticeConv aggregates with 'sum'.*drop aggr='mean'"):
        G.LatticeConv(3, 4, 3, aggr='mean')
    G.LatticeConv(3, 4, 3, aggr='sum')  # the same aggregation is fine
    with pytest.raises(ValueError, match=r'x is torch.float64 but the layer.s weights are '
                                         r'torch.float32'):
        G.GraphConv(3, 2)(_x(4, 3), torch.tensor([[0, 1], [1, 2]]))
    assert G.GEMConv((1,), (1,), aggr='mean').aggr == 'mean'  # what it computes


def test_torchscript_is_refused_in_one_line():
    with pytest.raises(RuntimeError, match=r'GraphConv does not support TorchScript.*'
                                           r'torch.compile'):
        torch.jit.script(G.GraphConv(3, 2))


def test_setup_cfg_claims_the_pyg_range_the_core_checks():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    req = cfg['options']['install_requires']
    lo, hi = ('.'.join(map(str, v)) for v in PYG_RANGE)
    assert f'torch-geometric>={lo},<{hi}' in req
    torch_floor = re.search(r'torch>=([\d.]+)', req).group(1)
    assert tuple(map(int, torch_floor.split('.'))) <= \
        tuple(int(v) for v in torch.__version__.split('+')[0].split('.')[:2])
    version = tuple(int(v) for v in re.findall(r'\d+', torch_geometric.__version__)[:2])
    assert PYG_RANGE[0] <= version < PYG_RANGE[1]
    assert all(hasattr(torch_geometric.nn.MessagePassing, m) for m in PYG_PRIVATE_CLASS)
    layer = G.GraphConv(3, 2)
    assert all(hasattr(layer, m) for m in PYG_PRIVATE_INSTANCE)


def test_a_graph_used_by_a_layer_saves_and_loads_safely():
    # the caches a layer leaves on edge_index are never saved with it
    import io

    from torch_geometric.data import Data

    from gdl_graphs.io.data import safe_load
    x, ei = _x(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
    G.GraphConv(3, 2).double()(x, ei)
    buf = io.BytesIO()
    torch.save(Data(x=x, edge_index=ei), buf)
    buf.seek(0)
    back = safe_load(buf)
    assert torch.equal(back.edge_index, ei) and not back.edge_index.__dict__.get('_gdl_cache')


def test_the_guides_example_layer_takes_a_bipartite_pair_on_every_kernel():
    from gdl_graphs.core import Adjacency, GDLConv, matmul

    class MeanNeighbours(GDLConv):
        def __init__(self, channels, **kwargs):
            super().__init__(aggr='mean', **kwargs)
            self.lin = torch.nn.Linear(channels, channels)

        def forward(self, x, edge_index):
            return self.lin(self.propagate(edge_index, x=x))

        def message(self, x_j):
            return x_j

        def message_and_aggregate(self, adj: Adjacency, x):
            return matmul(adj, x, reduce=self.aggr)

    xs, xd = _x(60, 4), _x(30, 4, seed=1)
    g = torch.Generator().manual_seed(0)
    ei = torch.stack([torch.randint(0, 60, (70000,), generator=g),
                      torch.randint(0, 30, (70000,), generator=g)])
    torch.manual_seed(0)
    ref = MeanNeighbours(4, kernel='generic').double()
    out = {}
    for kernel in ('auto', 'fused'):
        layer = MeanNeighbours(4, kernel=kernel).double()
        layer.load_state_dict(ref.state_dict())
        for big in (False, True):  # a new small graph scatters; a large one builds the CSR
            e = ei if big else ei[:, :50]
            out[kernel, big] = layer((xs, xd), e)
            assert layer.last_plan.kernel == ('csr' if big else 'scatter')
            assert_close(out[kernel, big], ref((xs, xd), e), atol=1e-12)


def test_structure_survives_what_users_do_with_their_graphs():
    import copy
    import io

    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader

    from gdl_graphs.core import structure_of
    from gdl_graphs.domains import CompleteGraph
    from gdl_graphs.io.data import safe_load
    t = CompleteGraph()
    graphs = [t(Data(x=_x(n, 4, seed=n))) for n in (3, 5, 2, 4)]
    batch = next(iter(DataLoader(graphs, batch_size=4)))
    assert structure_of(batch.edge_index).kind == 'complete'
    att = G.AttentionConv(4, 2).double()
    ref = G.AttentionConv(4, 2, kernel='generic').double()
    ref.load_state_dict(att.state_dict())
    assert_close(att(batch.x, batch.edge_index), ref(batch.x, batch['edge_index']), atol=1e-12)
    assert att.last_plan.kernel == 'sdpa'
    lattice = image_to_graph(torch.randn(2, 3, 5, 4, dtype=torch.float64))
    for moved in (lattice.clone(), copy.deepcopy(lattice), lattice.to('cpu'), graphs[1].clone()):
        assert structure_of(moved.edge_index) is not None
    buf = io.BytesIO()
    torch.save(graphs[1], buf)
    buf.seek(0)
    assert structure_of(safe_load(buf).edge_index).kind == 'complete'
    changed = graphs[1].clone()
    changed.edge_index[0, 0] = 1  # no longer the complete graph: plain edges, sparse kernels
    assert structure_of(changed.edge_index) is None
