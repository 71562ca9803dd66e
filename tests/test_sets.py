"""Sets as edgeless graphs: set_to_graph, DeepSetsConv (== a per-set brute force), the
invariant readout, DeepSets and PointNet built from them, and their symmetries."""
import importlib

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.core import GDLConv, structure_of
from gdl_graphs.domains.set import ToSet, set_to_graph
from gdl_graphs.models.deepsets import DeepSets, PointNet
from gdl_graphs.nn import DeepSetsConv, DeepSetsReadout
from gdl_graphs.testing import Permutation, assert_close, assert_permutation_equivariant

SIZES = [4, 1, 6, 0, 3]  # ragged, with a one-element and an empty set
F_IN, F_OUT = 5, 3



def ragged_sets(sizes=SIZES, f=F_IN, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, f, generator=g, dtype=torch.float64) for n in sizes]


def reference_pool(x, pool):
    if x.size(0) == 0:
        return x.new_zeros(x.size(1))
    return {'sum': x.sum(0), 'mean': x.mean(0), 'max': x.amax(0)}[pool]


def brute_deepsets(conv, sets):
    """Zaheer's layer written set by set with dense torch ops."""
    outs = []
    for xs in sets:
        out = conv.lin_self(xs)
        if conv.pool is not None:
            out = out + conv.lin_pool(reference_pool(xs, conv.pool))
        outs.append(out if conv.act is None else conv.act(out))
    return torch.cat(outs)


# ----------------------------------------------------------------------------- set_to_graph


def test_set_to_graph_list_dense_and_stacked_agree():
    sets = ragged_sets()
    data = set_to_graph(sets)
    assert isinstance(data, Batch)
    assert torch.equal(data.x, torch.cat(sets))
    assert torch.equal(data.batch, torch.repeat_interleave(torch.arange(len(SIZES)),
                                                           torch.tensor(SIZES)))
    assert data.edge_index.shape == (2, 0)
    s = structure_of(data.edge_index)
    assert s.kind == 'edgeless' and torch.equal(s.meta['ptr'], data.ptr)
    assert data.num_graphs == len(SIZES)
    back = data.to_data_list()
    for xs, d in zip(sets, back):
        assert torch.equal(d.x, xs) and d.edge_index.shape == (2, 0)

    stacked = set_to_graph(data.x, data.batch)
    assert torch.equal(stacked.x, data.x) and torch.equal(stacked.batch, data.batch)

    dense = torch.randn(3, 4, 2, dtype=torch.float64)
    d = set_to_graph(dense)
    assert torch.equal(d.x, dense.reshape(12, 2))
    assert torch.equal(d.ptr, torch.tensor([0, 4, 8, 12]))

    one = set_to_graph(sets[0], pos=sets[0][:, :3])
    assert isinstance(one, Data) and one.num_nodes == 4 and torch.equal(one.pos, sets[0][:, :3])
    assert structure_of(one.edge_index).kind == 'edgeless'


def test_set_to_graph_carries_positions():
    sets = ragged_sets()
    pos = [xs[:, :3] for xs in sets]
    data = set_to_graph(sets, pos=pos)
    assert torch.equal(data.pos, torch.cat(pos))


def test_set_to_graph_bad_input():
    with pytest.raises(ValueError, match='dimension mismatch'):
        set_to_graph([torch.randn(3, 4), torch.randn(2, 5)])
    with pytest.raises(ValueError, match='not sorted'):
        set_to_graph(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match='pos\\[1\\] has 1 rows'):
        set_to_graph([torch.randn(3, 2), torch.randn(2, 2)],
                     pos=[torch.randn(3, 3), torch.randn(1, 3)])
    with pytest.raises(ValueError, match='NaN'):
        set_to_graph([torch.tensor([[0.0, float('nan')]])])
    with pytest.raises(ValueError, match='shape \\[n_b, F\\]'):
        set_to_graph([torch.randn(3)])
    with pytest.raises(ValueError, match='4 entries but there are 3 nodes'):
        set_to_graph(torch.randn(3, 2), torch.tensor([0, 0, 1, 1]))


def test_to_set_transform_drops_edges():
    data = Batch.from_data_list([
        Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]),
             edge_attr=torch.randn(2, 1)),
        Data(x=torch.randn(2, 2), edge_index=torch.tensor([[0], [1]]),
             edge_attr=torch.randn(1, 1))])
    out = ToSet()(data)
    assert out.edge_index.shape == (2, 0) and 'edge_attr' not in out
    assert torch.equal(structure_of(out.edge_index).meta['ptr'], torch.tensor([0, 3, 5]))


# ----------------------------------------------------------------------------- DeepSetsConv


@pytest.mark.parametrize('pool', ['sum', 'mean', 'max', None])
@pytest.mark.parametrize('act', [None, 'tanh'])
def test_deepsets_conv_equals_brute_force(pool, act):
    torch.manual_seed(0)
    sets = ragged_sets()
    data = set_to_graph(sets)
    conv = DeepSetsConv(F_IN, F_OUT, pool=pool, act=act).double()
    x = data.x.clone().requires_grad_()
    out = conv(x, data.batch)
    assert out.shape == (data.num_nodes, F_OUT)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), [x] + list(conv.parameters()))

    ref_sets = [xs.clone().requires_grad_() for xs in sets]
    ref = brute_deepsets(conv, ref_sets)
    ref_grads = torch.autograd.grad((ref * w).sum(), ref_sets + list(conv.parameters()),
                                    allow_unused=True)
    assert_close(out, ref, atol=1e-10, rtol=1e-10)
    assert_close(grads[0], torch.cat(ref_grads[:len(sets)]), atol=1e-10, rtol=1e-10,
                 name='grad x')
    for g, r in zip(grads[1:], ref_grads[len(sets):]):
        assert_close(g, r, atol=1e-10, rtol=1e-10, name='grad weight')


def test_deepsets_conv_single_set_and_trailing_empty_sets():
    torch.manual_seed(1)
    conv = DeepSetsConv(F_IN, F_OUT, pool='mean').double()
    xs = ragged_sets([7])[0]
    assert_close(conv(xs), brute_deepsets(conv, [xs]), atol=1e-12)
    readout = DeepSetsReadout('sum')
    batch = torch.zeros(7, dtype=torch.long)
    pooled = readout(xs, batch, num_sets=3)
    assert_close(pooled, torch.stack([xs.sum(0), xs.new_zeros(F_IN), xs.new_zeros(F_IN)]),
                 atol=1e-12)


@pytest.mark.parametrize('pool', ['sum', 'mean', 'max'])
def test_readout_equals_per_set_reduction(pool):
    sets = ragged_sets()
    data = set_to_graph(sets)
    out = DeepSetsReadout(pool)(data.x, data.batch)
    assert_close(out, torch.stack([reference_pool(xs, pool) for xs in sets]), atol=1e-12)


def test_set_reduction_is_a_segment_reduction(monkeypatch):
    """No edge list and no scatter: the set term is one segment reduction."""
    def forbidden(*args, **kwargs):
        raise AssertionError('a set layer must not scatter over edges')

    core_scatter = importlib.import_module('gdl_graphs.core.scatter')  # the module, not the fn
    monkeypatch.setattr(core_scatter, 'scatter', forbidden)
    monkeypatch.setattr(GDLConv, 'propagate', forbidden)
    data = set_to_graph(ragged_sets())
    for pool in ('sum', 'mean', 'max'):
        conv = DeepSetsConv(F_IN, F_OUT, pool=pool).double()
        assert conv(data.x, data.batch).shape == (data.num_nodes, F_OUT)
        assert DeepSetsReadout(pool)(data.x, data.batch).shape == (len(SIZES), F_IN)


def test_deepsets_conv_bad_input():
    conv = DeepSetsConv(F_IN, F_OUT).double()
    with pytest.raises(ValueError, match='not sorted'):
        conv(torch.randn(4, F_IN, dtype=torch.float64), torch.tensor([1, 1, 0, 0]))
    with pytest.raises(ValueError, match='layer expects 5'):
        conv(torch.randn(4, F_IN + 1, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='unknown pool'):
        DeepSetsConv(F_IN, F_OUT, pool='median')
    with pytest.raises(ValueError, match='unknown pool'):
        DeepSetsReadout(None)
    assert 'DeepSetsConv(5, 3, pool=sum)' == repr(conv)


# ----------------------------------------------------------------------------- symmetries


@pytest.mark.parametrize('pool', ['sum', 'mean', 'max'])
def test_deepsets_conv_is_permutation_equivariant(pool):
    torch.manual_seed(2)
    data = set_to_graph(ragged_sets())
    conv = DeepSetsConv(F_IN, F_OUT, pool=pool, act='relu').double()
    assert_permutation_equivariant(conv, data, forward=lambda m, d: m(d.x, d.batch), seed=3)


def test_readouts_and_models_are_permutation_invariant():
    torch.manual_seed(3)
    data = set_to_graph(ragged_sets())
    models = [DeepSetsReadout('max'), DeepSets(F_IN, 8, 2, pool='mean'),
              DeepSets(F_IN, 8, 2, pool=None), PointNet(F_IN, 8, 2)]
    for model in models:
        model.double()
        fwd = (lambda m, d: m(d.x, d.batch))
        out = fwd(model, data)
        assert out.shape[0] == len(SIZES)
        assert_permutation_equivariant(model, data, forward=fwd, seed=4)


def test_permuting_across_sets_is_not_a_symmetry():
    """Moving an element to another set changes the sets: the layer must see it."""
    torch.manual_seed(4)
    conv = DeepSetsConv(2, 2, pool='sum').double()
    x = torch.randn(4, 2, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1])
    p = Permutation(torch.tensor([0, 2, 1, 3]))  # swaps elements of different sets
    with pytest.raises(AssertionError, match='equivariance'):
        from gdl_graphs.testing import assert_equivariant
        assert_equivariant(lambda x: conv(x, batch), (x,), lambda ins: (p.nodes(ins[0]),),
                           p.nodes)


def test_pointnet_is_shared_mlp_plus_max_pool():
    torch.manual_seed(5)
    sets = ragged_sets([5, 3, 4])
    data = set_to_graph(sets)
    model = PointNet(F_IN, 6, 2, num_layers=2).double()
    out = model(data.x, data.batch)
    l1, l2 = model.phi[0].lin_self, model.phi[1].lin_self
    ref = torch.stack([model.rho(torch.relu(l2(torch.relu(l1(xs)))).amax(0)) for xs in sets])
    assert_close(out, ref, atol=1e-12)
    assert all(layer.lin_pool is None for layer in model.phi)


def test_set_tour_row():
    pytest.importorskip('sklearn')
    from gdl_graphs.tour import set as set_row
    row = set_row.run(steps=5)  # the check (invariance), not the training
    assert row.ok, row
    assert 'MAE' in row.result
