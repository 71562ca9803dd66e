"""Layers on awkward input: empty graphs, half precision, vectors for features, out-of-range
edges in attention layers, lattice edge types that are not the lattice's, wrong widths."""
import pytest
import torch
import torch_geometric.nn as pyg_nn

import gdl_graphs.nn as G
from gdl_graphs.core import use_kernel
from gdl_graphs.domains import image_to_graph
from gdl_graphs.testing import assert_close

EI = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])


def _layers(f_in=8, f_out=4):
    return {
        'GraphConv': G.GraphConv(f_in, f_out), 'GCNConv': G.GCNConv(f_in, f_out),
        'SAGEConv': G.SAGEConv(f_in, f_out), 'GINConv': G.GINConv(torch.nn.Linear(f_in, f_out)),
        'GATConv': G.GATConv(f_in, f_out), 'GATv2Conv': G.GATv2Conv(f_in, f_out),
    }


@pytest.mark.parametrize('name', list(_layers()))
@pytest.mark.parametrize('kernel', ['auto', 'generic'])
def test_empty_graph_gives_empty_output(name, kernel):
    layer = _layers()[name]
    with use_kernel(kernel):
        out = layer(torch.randn(0, 8), torch.empty(2, 0, dtype=torch.long))
    assert out.shape == (0, 4)


def test_empty_lattice_edges_and_no_nodes():
    conv = G.LatticeConv(3, 4, 3)
    out = conv(torch.randn(0, 3), torch.empty(2, 0, dtype=torch.long),
               torch.empty(0, dtype=torch.long))
    assert out.shape == (0, 4)


def test_isolated_nodes_without_edges_keep_their_rows():
    x = torch.randn(5, 8, dtype=torch.float64)
    pyg = pyg_nn.GraphConv(8, 4).double()
    ours = G.GraphConv.from_pyg(pyg)
    none = torch.empty(2, 0, dtype=torch.long)
    assert_close(ours(x, none), pyg(x, none), atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv'])
def test_half_precision_runs_and_matches_float32(name, dtype):
    torch.manual_seed(0)
    layer = _layers()[name]
    x = torch.randn(5, 8)
    ref = layer(x, EI)
    out = layer.to(dtype)(x.to(dtype), EI)
    assert out.dtype == dtype
    assert_close(out.float(), ref, atol=0.1, rtol=0.05)


def test_half_precision_lattice():
    g = image_to_graph(torch.randn(1, 3, 6, 5), kernel_size=3)
    conv = G.LatticeConv(3, 4, 3)
    ref = conv(g.x, g.edge_index, g.edge_type)
    with use_kernel('fused'):  # the typed CSR path, in bfloat16
        out = conv.to(torch.bfloat16)(g.x.bfloat16(), g.edge_index, g.edge_type)
    assert_close(out.float(), ref, atol=0.1, rtol=0.05)


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GATConv'])
def test_vector_features_are_refused(name):
    layer = _layers(5, 4)[name]
    with pytest.raises(ValueError, match=r'\[num_nodes, channels\]|channels'):
        layer(torch.randn(5), EI)


@pytest.mark.parametrize('name', ['GraphConv', 'GCNConv', 'SAGEConv', 'GATConv', 'GATv2Conv'])
def test_wrong_width_names_the_problem(name):
    layer = _layers(8, 4)[name]
    with pytest.raises(ValueError, match='8'):
        layer(torch.randn(5, 6), EI)


@pytest.mark.parametrize('name', ['GATConv', 'GATv2Conv', 'GraphConv', 'GINConv'])
def test_out_of_range_edges_give_the_range_error(name):
    layer = _layers()[name]
    with pytest.raises(ValueError, match='refers to'):
        layer(torch.randn(5, 8), torch.tensor([[0, 1], [1, 5]]))


def _lattice():
    torch.manual_seed(0)
    g = image_to_graph(torch.randn(2, 3, 5, 4, dtype=torch.float64), kernel_size=3)
    return g, G.LatticeConv(3, 4, 3).double()


def test_lattice_uses_the_edge_types_it_is_given():
    g, conv = _lattice()
    dense = conv(g.x, g.edge_index, g.edge_type)
    assert_close(conv(g.x, g.edge_index, g.edge_type.clone()), dense, atol=1e-12)  # same T
    zeros = torch.zeros_like(g.edge_type)
    with use_kernel('generic'):
        ref = conv(g.x, g.edge_index, zeros)
    out = conv(g.x, g.edge_index, zeros)                   # used, not ignored
    assert_close(out, ref, atol=1e-12)
    assert float((out - dense).abs().max()) > 1e-3


@pytest.mark.parametrize('bad, match', [
    (lambda et: torch.full_like(et, 9), 'out of range'),
    (lambda et: torch.full_like(et, -1), 'out of range'),
    (lambda et: et.double(), 'integers'),
    (lambda et: et[:-1], 'one entry per edge'),
])
def test_lattice_refuses_bad_edge_types(bad, match):
    g, conv = _lattice()
    with pytest.raises(ValueError, match=match):
        conv(g.x, g.edge_index, bad(g.edge_type))


@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_stencil_wider_than_the_image_equals_conv2d(padding):
    # kernel_size 5, dilation 2 spans 9 pixels on a 7-pixel axis
    torch.manual_seed(0)
    img = torch.randn(2, 2, 7, 6, dtype=torch.float64)
    conv = torch.nn.Conv2d(2, 3, 5, dilation=2, padding=4, padding_mode=padding).double()
    g = image_to_graph(img, kernel_size=5, dilation=2, padding=padding)
    layer = G.LatticeConv.from_conv(conv)
    from gdl_graphs.domains import graph_to_image
    ref = conv(img)
    for kernel in ('auto', 'fused', 'generic'):
        with use_kernel(kernel):
            out = graph_to_image(layer(g.x, g.edge_index, g.edge_type), g)
        assert_close(out, ref, atol=1e-10)


def test_circular_wrap_beyond_one_turn_is_refused():
    with pytest.raises(ValueError, match='wraps at most once'):
        image_to_graph(torch.randn(1, 1, 3, 3), kernel_size=9, padding='circular')
