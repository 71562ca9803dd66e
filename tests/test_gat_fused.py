"""GATConv's fused attention (core.attention_matmul on a cached CSR: a segment softmax and one
block-diagonal product for the heads) equals PyG's gather/message/scatter in float64: outputs,
attention weights and gradients, in training mode too (the seeded attention dropout draws the
same mask)."""
import pytest
import torch
from torch.autograd import gradcheck

import gdl_graphs.core.conv as core_conv
import gdl_graphs.nn as G
from gdl_graphs.core.sparse import CSR, head_spmm


def _graph(n=40, e=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    x = torch.randn(n, 6, dtype=torch.float64, generator=g)
    ea = torch.randn(e, 3, dtype=torch.float64, generator=g)
    return x, ei, ea


def _run(layer, x, ei, ea):
    x = x.clone().requires_grad_(True)
    torch.manual_seed(7)
    out, (_, alpha) = layer(x, ei, ea, return_attention_weights=True)
    loss = out.pow(2).sum() + alpha.pow(3).sum()
    grads = torch.autograd.grad(loss, [x] + list(layer.parameters()))
    return out, alpha, grads


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('kw', [{}, {'concat': False}, {'edge_dim': 3}, {'aggr': 'mean'},
                                {'flow': 'target_to_source'}],
                         ids=['concat', 'mean-heads', 'edge-dim', 'aggr-mean', 't2s'])
def test_fused_attention_equals_the_generic_path(kw, training, monkeypatch):
    monkeypatch.setattr(core_conv, 'SMALL_PRODUCT', 0)  # the CSR product even on a small graph
    x, ei, ea = _graph()
    ea = ea if 'edge_dim' in kw else None
    torch.manual_seed(0)
    ref = G.GATConv(6, 4, heads=3, dropout=0.5, kernel='generic', **kw).double()
    ours = G.GATConv(6, 4, heads=3, dropout=0.5, **kw).double()
    ours.load_state_dict(ref.state_dict())
    ref.train(training)
    ours.train(training)
    r_out, r_alpha, r_grads = _run(ref, x, ei, ea)
    out, alpha, grads = _run(ours, x, ei, ea)
    assert ours.last_plan.kernel == 'csr' and ref.last_plan.kernel == 'generic'
    torch.testing.assert_close(out, r_out, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(alpha, r_alpha, atol=1e-12, rtol=1e-12)
    for g, r in zip(grads, r_grads):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-10)
    if training:  # dropout acted: a kept weight is scaled, a dropped one is gone
        assert not torch.allclose(out, ours.eval()(x, ei, ea))


def test_head_spmm_gradients():
    x, ei, _ = _graph(n=7, e=15, seed=1)
    csr = CSR.build(ei[1], ei[0], (7, 7))
    xs = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(15, 2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda a, b: head_spmm(csr, a, b), (xs, alpha))
    dense = torch.zeros(2, 7, 7, dtype=torch.float64)  # per head: A_h[i, j] += alpha
    for k in range(15):
        dense[:, csr.row[k], csr.col[k]] += alpha[k].detach()
    want = torch.einsum('hij,jhc->ihc', dense, xs.detach())
    torch.testing.assert_close(head_spmm(csr, xs, alpha), want)
