"""GatedRecurrentConv in LSTM and plain-RNN modes == nn.LSTM / nn.RNN on ragged batches
(outputs and gradients, float64, 1e-10), chrono initialisation, PyG propagate hooks and flow,
and the time-warping tour row."""
import math

import pytest
import torch

from gdl_graphs.core import plain
from gdl_graphs.domains.sequence import sequence_to_graph
from gdl_graphs.nn import GatedRecurrentConv
from gdl_graphs.testing import assert_close

LENGTHS = [4, 1, 6, 2, 5]
TOL = dict(atol=1e-10, rtol=1e-10)


def ragged(lengths=LENGTHS, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(t, dim, generator=g, dtype=torch.float64) for t in lengths]


@pytest.mark.parametrize('kind', ['lstm', 'rnn'])
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('tagged', [True, False])
def test_equals_torch_on_ragged_batches(kind, bias, tagged):
    torch.manual_seed(1)
    hidden = 5
    seqs = ragged()
    mod = (torch.nn.LSTM if kind == 'lstm' else torch.nn.RNN)(3, hidden, bias=bias,
                                                              batch_first=True).double()
    conv = GatedRecurrentConv.from_torch(mod)
    assert conv.mode == kind
    data = sequence_to_graph(seqs)
    ei = data.edge_index if tagged else plain(data.edge_index)
    h0 = torch.randn(len(seqs), hidden, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(len(seqs), hidden, dtype=torch.float64, requires_grad=True)
    state = (h0, c0) if kind == 'lstm' else h0
    leaves = [h0, c0] if kind == 'lstm' else [h0]

    x = data.x.clone().requires_grad_()
    out = conv(x, ei, state)
    w = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * w).sum(), [x] + leaves + list(conv.parameters()))

    # reference: torch on a packed (ragged) batch, unpacked in the graph's node order
    ref_seqs = [s.clone().requires_grad_() for s in seqs]
    packed = torch.nn.utils.rnn.pack_sequence(ref_seqs, enforce_sorted=False)
    ref_state = (h0[None], c0[None]) if kind == 'lstm' else h0[None]
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(mod(packed, ref_state)[0],
                                                       batch_first=True)
    ref = torch.cat([padded[b, :t] for b, t in enumerate(LENGTHS)])
    g_ref = torch.autograd.grad((ref * w).sum(), ref_seqs + leaves + list(mod.parameters()))
    assert_close(out, ref, **TOL)
    assert_close(g_ours[0], torch.cat(g_ref[:len(seqs)]), name='grad x', **TOL)
    assert_close(g_ours[1:], g_ref[len(seqs):], name='grad state, params', **TOL)


def test_lstm_cell_and_errors():
    cell = torch.nn.LSTMCell(3, 4).double()
    conv = GatedRecurrentConv.from_torch(cell)
    x = torch.randn(1, 3, dtype=torch.float64)
    ei = torch.empty(2, 0, dtype=torch.long)
    assert_close(conv(x, ei), cell(x)[0], **TOL)
    with pytest.raises(ValueError, match='pair'):
        conv(x, ei, torch.zeros(1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode must be"):
        GatedRecurrentConv(3, 4, mode='transformer')
    with pytest.raises(ValueError, match='proj_size'):
        GatedRecurrentConv.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match='one-layer'):
        GatedRecurrentConv.from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match='tanh'):
        GatedRecurrentConv.from_torch(torch.nn.RNN(3, 4, nonlinearity='relu'))
    with pytest.raises(ValueError, match='chrono'):
        GatedRecurrentConv(3, 4, mode='rnn', chrono=10)
    assert repr(conv) == "GatedRecurrentConv(3, 4, mode='lstm')"


@pytest.mark.parametrize('mode', ['lstm', 'gru'])
def test_chrono_initialisation(mode):
    torch.manual_seed(0)
    hs, t_max = 64, 50
    conv = GatedRecurrentConv(2, hs, mode=mode, chrono=t_max)
    b = conv.bias_ih.detach()
    keep = b[hs:2 * hs]                      # LSTM forget gate f / GRU update gate z
    assert bool((keep >= 0).all() and (keep <= math.log(t_max - 1)).all())
    assert float(keep.std()) > 0.3           # drawn, not constant
    assert bool((conv.bias_hh == 0).all())
    if mode == 'lstm':
        assert torch.equal(b[:hs], -keep)    # input gate = -forget gate
        assert bool((b[2 * hs:] == 0).all())
    else:
        assert bool((b[:hs] == 0).all() and (b[2 * hs:] == 0).all())


@pytest.mark.parametrize('mode', ['gru', 'lstm'])
def test_propagate_hooks_fire_and_flow_reverses(mode):
    seqs = ragged([3, 5])
    data = sequence_to_graph(seqs)
    conv = GatedRecurrentConv(3, 4, mode=mode).double()
    seen = []
    conv.register_propagate_forward_pre_hook(lambda m, inp: seen.append(('pre', inp[0].shape)))
    handle = conv.register_propagate_forward_hook(
        lambda m, inp, out: seen.append(('post', out.shape)) or out * 2)
    out = conv(data.x, data.edge_index)
    assert seen == [('pre', data.edge_index.shape), ('post', out.shape)]
    handle.remove()
    assert_close(out, 2 * conv(data.x, data.edge_index), **TOL)
    # flow='target_to_source': the recurrence runs along the reversed edges (time reversed)
    rev = GatedRecurrentConv(3, 4, mode=mode, flow='target_to_source').double()
    rev.load_state_dict(conv.state_dict())
    back = sequence_to_graph([s.flip(0) for s in seqs])
    out_rev = rev(data.x, data.edge_index)
    ref = conv(back.x, back.edge_index)
    # node t of sequence b in the reversed graph is node T_b - 1 - t of the original
    off = 0
    for s in seqs:
        t = s.size(0)
        assert_close(out_rev[off:off + t], ref[off:off + t].flip(0), **TOL)
        off += t


def test_time_warp_tour_row():
    from gdl_graphs.tour import time_warp
    row = time_warp.run(steps=30)
    assert row.error == row.error  # a number
    assert 'gated' in row.result and 'plain' in row.result
