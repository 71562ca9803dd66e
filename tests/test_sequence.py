"""Sequences as directed path graphs: sequence_to_graph (and its inverse), sinusoidal positions,
GatedRecurrentConv == nn.GRU on ragged batches (outputs and gradients, float64), recurrence on
trees, and what is and is not a symmetry of a recurrent model."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.core import plain, structure_of
from gdl_graphs.domains.sequence import (
    AddSinusoidalPE,
    PathGraph,
    graph_to_sequence,
    sequence_to_graph,
    sinusoidal_positions,
)
from gdl_graphs.nn import GatedRecurrentConv
from gdl_graphs.testing import (
    Permutation,
    assert_close,
    assert_equivariant,
    assert_permutation_equivariant,
)

LENGTHS = [4, 1, 6, 2]
TOL = dict(atol=1e-10, rtol=1e-10)



def ragged(lengths=LENGTHS, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(t, dim, generator=g, dtype=torch.float64) for t in lengths]


# ----------------------------------------------------------------------------- the domain


def test_sequence_to_graph_builds_paths():
    seqs = ragged()
    data = sequence_to_graph(seqs)
    assert isinstance(data, Batch) and torch.equal(data.x, torch.cat(seqs))
    expected, start = [], 0
    for t in LENGTHS:
        expected += [(start + s - 1, start + s) for s in range(1, t)]
        start += t
    assert plain(data.edge_index).t().tolist() == [list(e) for e in expected]
    assert data.time.tolist() == [s for t in LENGTHS for s in range(t)]
    s = structure_of(data.edge_index)
    assert s.kind == 'path' and torch.equal(s.meta['ptr'], data.ptr)

    padded = torch.zeros(len(LENGTHS), max(LENGTHS), 3, dtype=torch.float64)
    for b, x in enumerate(seqs):
        padded[b, :len(x)] = x
    from_padded = sequence_to_graph(padded, torch.tensor(LENGTHS))
    assert torch.equal(from_padded.x, data.x)
    assert torch.equal(plain(from_padded.edge_index), plain(data.edge_index))
    back, lengths = graph_to_sequence(data.x, data.ptr)  # the round trip
    assert torch.equal(back, padded) and lengths.tolist() == LENGTHS

    one = sequence_to_graph(seqs[0])
    assert isinstance(one, Data) and plain(one.edge_index).tolist() == [[0, 1, 2], [1, 2, 3]]


def test_path_graph_transform_equals_converter():
    seqs = ragged()
    batch = Batch.from_data_list([Data(x=x) for x in seqs])
    out = PathGraph()(batch)
    ref = sequence_to_graph(seqs)
    assert torch.equal(plain(out.edge_index), plain(ref.edge_index))
    assert torch.equal(out.time, ref.time)


def test_sequence_bad_input():
    with pytest.raises(ValueError, match='sequence 1 has length 0'):
        sequence_to_graph([torch.randn(3, 2), torch.randn(0, 2)])
    with pytest.raises(ValueError, match='sequence 2 has length 0'):
        sequence_to_graph(torch.randn(3, 5, 2), torch.tensor([5, 1, 0]))
    with pytest.raises(ValueError, match='sequence 0 has length 0'):
        sequence_to_graph(torch.randn(0, 2))
    with pytest.raises(ValueError, match='exceeds the padded length'):
        sequence_to_graph(torch.randn(2, 5, 2), torch.tensor([5, 6]))
    with pytest.raises(ValueError, match='dimension mismatch'):
        sequence_to_graph([torch.randn(3, 2), torch.randn(2, 4)])
    with pytest.raises(ValueError, match='one entry per sequence'):
        sequence_to_graph(torch.randn(2, 5, 2), torch.tensor([5]))


def test_sinusoidal_positions_match_the_formula():
    d = 7
    time = torch.tensor([0, 1, 2, 5, 11])
    pe = sinusoidal_positions(time.double(), d)
    for r, t in enumerate(time.tolist()):
        for c in range(d):
            angle = t / 10000 ** (2 * (c // 2) / d)
            ref = math.sin(angle) if c % 2 == 0 else math.cos(angle)
            assert abs(pe[r, c].item() - ref) < 1e-12
    data = AddSinusoidalPE(4)(sequence_to_graph(ragged()))
    assert torch.allclose(data.sinusoidal_pe, sinusoidal_positions(data.time, 4))
    with pytest.raises(ValueError, match='no time attribute'):
        AddSinusoidalPE(4)(Data(x=torch.randn(3, 1)))


# ----------------------------------------------------------------------------- the recurrence


def reference(gru, seqs, h0=None):
    outs = []
    for b, s in enumerate(seqs):
        h = None if h0 is None else h0[b].view(1, 1, -1)
        outs.append(gru(s[None], h)[0][0])
    return torch.cat(outs)


@pytest.mark.parametrize('hidden,bias', [(5, True), (2, False), (8, True)])
@pytest.mark.parametrize('tagged', [True, False])
def test_gated_recurrent_conv_equals_gru(hidden, bias, tagged):
    torch.manual_seed(hidden)
    seqs = ragged()
    gru = torch.nn.GRU(3, hidden, bias=bias, batch_first=True).double()
    conv = GatedRecurrentConv.from_torch(gru)
    data = sequence_to_graph(seqs)
    ei = data.edge_index if tagged else plain(data.edge_index)  # plain: schedule from edges
    h0 = torch.randn(len(seqs), hidden, dtype=torch.float64, requires_grad=True)

    x = data.x.clone().requires_grad_()
    out = conv(x, ei, h0)
    w = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * w).sum(), [x, h0] + list(conv.parameters()))

    ref_seqs = [s.clone().requires_grad_() for s in seqs]
    ref = reference(gru, ref_seqs, h0)
    g_ref = torch.autograd.grad((ref * w).sum(), ref_seqs + [h0] + list(gru.parameters()))
    assert_close(out, ref, **TOL)
    assert_close(g_ours[0], torch.cat(g_ref[:len(seqs)]), name='grad x', **TOL)
    assert_close(g_ours[1:], g_ref[len(seqs):], name='grad h0, params', **TOL)

    packed = torch.nn.utils.rnn.pack_sequence(seqs, enforce_sorted=False)  # batch_first GRU
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True)
    assert_close(conv(data.x, ei), torch.cat([padded[b, :t] for b, t in enumerate(LENGTHS)]),
                 **TOL)


def test_recurrence_on_a_tree_equals_gru_on_every_root_path():
    """A node with one predecessor: on a tree directed away from its root, node i's output is
    the GRU's last output on the path root -> ... -> i."""
    torch.manual_seed(1)
    parent = [-1, 0, 0, 1, 1, 2, -1, 6, 3]  # two trees, roots 0 and 6
    n = len(parent)
    edges = [(p, i) for i, p in enumerate(parent) if p >= 0]
    edge_index = torch.tensor(edges).t()[:, torch.randperm(len(edges))]  # any edge order
    gru = torch.nn.GRU(3, 4, batch_first=True).double()
    conv = GatedRecurrentConv.from_torch(gru)
    x = torch.randn(n, 3, dtype=torch.float64)
    out = conv(x, edge_index)
    for i in range(n):
        path = [i]
        while parent[path[-1]] >= 0:
            path.append(parent[path[-1]])
        ref = gru(x[path[::-1]][None])[0][0, -1]
        assert_close(out[i], ref, **TOL)


def test_recurrence_bad_input():
    conv = GatedRecurrentConv(3, 4).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match='node 2 has 2 incoming edges'):
        conv(x, torch.tensor([[0, 1], [2, 2]]))
    with pytest.raises(ValueError, match='directed cycle'):
        conv(x, torch.tensor([[0, 1, 2], [1, 2, 0]]))
    with pytest.raises(ValueError, match='h0 must have shape \\[2, 4\\]'):
        conv(x, torch.tensor([[0, 2], [1, 3]]), torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match='layer expects 3'):
        conv(torch.randn(4, 2, dtype=torch.float64), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match='one-layer unidirectional'):
        GatedRecurrentConv.from_torch(torch.nn.GRU(3, 4, num_layers=2))
    with pytest.raises(ValueError, match='one-layer unidirectional'):
        GatedRecurrentConv.from_torch(torch.nn.GRU(3, 4, bidirectional=True))
    assert repr(conv) == 'GatedRecurrentConv(3, 4)'


# ----------------------------------------------------------------------------- symmetries


def test_reordering_whole_sequences_is_a_symmetry():
    torch.manual_seed(2)
    seqs = ragged()
    conv = GatedRecurrentConv(3, 4).double()
    order = [2, 0, 3, 1]
    starts = torch.tensor([0] + LENGTHS).cumsum(0)
    node_perm = torch.cat([torch.arange(int(starts[b]), int(starts[b + 1])) for b in order])

    def run(*ss):
        d = sequence_to_graph(list(ss))
        return conv(d.x, d.edge_index)

    assert_equivariant(run, seqs, lambda ins: [ins[b] for b in order],
                       lambda y: y[node_perm])


def test_permuting_nodes_within_a_sequence_is_not_a_symmetry():
    """A path graph has no non-trivial automorphism: relabelling the nodes of a sequence
    (edges relabelled alike) is a symmetry of the graph *data*, and the layer is equivariant to
    it, but permuting the time steps themselves changes the sequence and the output."""
    torch.manual_seed(3)
    data = sequence_to_graph(ragged([5, 6]))
    conv = GatedRecurrentConv(3, 4).double()
    # relabelling nodes together with the edges: equivariant (message passing)
    assert_permutation_equivariant(conv, data, seed=1)
    # shuffling the time steps (x permuted, the path kept): not a symmetry
    p = Permutation.random(data.num_nodes, data.batch, torch.Generator().manual_seed(1))
    with pytest.raises(AssertionError, match='equivariance'):
        assert_equivariant(lambda x: conv(x, data.edge_index), (data.x,),
                           lambda ins: (p.nodes(ins[0]),), p.nodes)


def test_sequence_tour_row():
    from gdl_graphs.tour import sequence
    row = sequence.run(steps=2)
    assert row.ok, row
