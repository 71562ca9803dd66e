"""The harness passes silently, fails readably, and its permutation action is complete."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.nn import GraphConv
from gdl_graphs.testing import (
    Permutation,
    assert_close,
    assert_equivariant,
    assert_permutation_equivariant,
    tolerance,
)


def test_tolerances_depend_on_dtype():
    assert tolerance(torch.float64) < tolerance(torch.float32) < tolerance(torch.float16)


def test_failure_names_the_error_and_where():
    a = torch.zeros(3, 4, dtype=torch.float64)
    b = a.clone()
    b[2, 1] = 1e-6
    with pytest.raises(AssertionError, match=r'max error 1\.000e-06.*index \(2, 1\)'):
        assert_close(a, b)
    with pytest.raises(AssertionError, match='shape'):
        assert_close(a, b[:2])


def test_equivariant_passes_and_non_equivariant_fails():
    x = torch.randn(5, 3, dtype=torch.float64)
    perm = torch.tensor([4, 2, 0, 1, 3])
    act = lambda ins: (ins[0][perm],)  # noqa: E731
    assert_equivariant(torch.tanh, (x,), act, lambda y: y[perm])
    with pytest.raises(AssertionError, match='equivariance'):
        assert_equivariant(lambda t: torch.cumsum(t, 0), (x,), act, lambda y: y[perm])


def test_permutation_acts_on_every_node_attribute():
    data = Data(x=torch.arange(4.).view(4, 1), pos=torch.arange(8.).view(4, 2),
                edge_index=torch.tensor([[0, 1], [1, 3]]), y=torch.tensor([7]),
                node_label=torch.tensor([10, 11, 12, 13]))
    p = Permutation(torch.tensor([3, 0, 2, 1]))
    out = p.data(data)
    assert out.x.view(-1).tolist() == [3., 0., 2., 1.]
    assert out.node_label.tolist() == [13, 10, 12, 11]
    assert out.pos[0].tolist() == [6., 7.]
    # old edge 0 -> 1 becomes new 1 -> 3, old 1 -> 3 becomes new 3 -> 0
    assert out.edge_index.tolist() == [[1, 3], [3, 0]]
    assert out.y.tolist() == [7]
    assert torch.equal(p.inverse[p.perm], torch.arange(4))


def test_permutation_within_graphs_keeps_batch_sorted():
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    p = Permutation.random(9, batch, torch.Generator().manual_seed(0))
    assert torch.equal(batch[p.perm], batch)


def test_graph_layer_and_readout_through_the_harness():
    g = torch.Generator().manual_seed(0)
    graphs = [Data(x=torch.randn(n, 3, dtype=torch.float64, generator=g),
                   edge_index=torch.randint(0, n, (2, 2 * n), generator=g)) for n in (4, 6, 5)]
    batch = Batch.from_data_list(graphs)
    layer = GraphConv(3, 2).double()

    def forward(m, d):
        from gdl_graphs.coarsening import global_pool
        h = m(d.x, d.edge_index)
        return h, global_pool(h, d.batch, 'sum', num_graphs=3)

    assert_permutation_equivariant(layer, batch, forward)
    assert_permutation_equivariant(layer, batch, forward, within_graphs=False)


def test_order_dependent_model_fails_the_permutation_check():
    data = Data(x=torch.randn(6, 2, dtype=torch.float64),
                edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(None, data, lambda m, d: torch.cumsum(d.x, 0))


def test_graph_conv_from_pyg_keeps_float64_weights_exactly():
    import torch_geometric.nn as pyg_nn
    pyg = pyg_nn.GraphConv(3, 2).double()
    with torch.no_grad():
        pyg.lin_rel.weight.fill_(1 / 3)  # not representable in float32
    ours = GraphConv.from_pyg(pyg)
    assert torch.equal(ours.lin_rel.weight, pyg.lin_rel.weight)
