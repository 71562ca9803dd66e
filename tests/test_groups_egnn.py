"""EGNNConv: equality with the paper's reference E_GCL, exact E(n) equivariance, bad input."""
import pytest
import torch
from torch import nn

from gdl_graphs.coarsening import global_pool
from gdl_graphs.nn import EGNNConv
from gdl_graphs.testing import Permutation, assert_close, assert_equivariant
from gdl_graphs.testing.euclidean import EuclideanTransform, random_orthogonal


# ------------------------------------------------------------------ the paper's reference code
def unsorted_segment_sum(data, segment_ids, num_segments):
    result = data.new_full((num_segments, data.size(1)), 0)
    return result.index_add_(0, segment_ids, data)


def unsorted_segment_mean(data, segment_ids, num_segments):
    result = data.new_full((num_segments, data.size(1)), 0).index_add_(0, segment_ids, data)
    count = data.new_full((num_segments, data.size(1)), 0).index_add_(
        0, segment_ids, torch.ones_like(data))
    return result / count.clamp(min=1)


class E_GCL(nn.Module):
    """``E_GCL`` of https://github.com/vgsatorras/egnn (models/egnn_clean/egnn_clean.py)."""

    def __init__(self, input_nf, output_nf, hidden_nf, edges_in_d=0, act_fn=nn.SiLU(),
                 residual=True, attention=False, normalize=False, coords_agg='mean',
                 tanh=False):
        super().__init__()
        input_edge = input_nf * 2
        self.residual, self.attention, self.normalize = residual, attention, normalize
        self.coords_agg, self.tanh, self.epsilon = coords_agg, tanh, 1e-8
        self.edge_mlp = nn.Sequential(nn.Linear(input_edge + 1 + edges_in_d, hidden_nf), act_fn,
                                      nn.Linear(hidden_nf, hidden_nf), act_fn)
        self.node_mlp = nn.Sequential(nn.Linear(hidden_nf + input_nf, hidden_nf), act_fn,
                                      nn.Linear(hidden_nf, output_nf))
        layer = nn.Linear(hidden_nf, 1, bias=False)
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.001)
        coord_mlp = [nn.Linear(hidden_nf, hidden_nf), act_fn, layer]
        if self.tanh:
            coord_mlp.append(nn.Tanh())
        self.coord_mlp = nn.Sequential(*coord_mlp)
        if self.attention:
            self.att_mlp = nn.Sequential(nn.Linear(hidden_nf, 1), nn.Sigmoid())

    def edge_model(self, source, target, radial, edge_attr):
        if edge_attr is None:
            out = torch.cat([source, target, radial], dim=1)
        else:
            out = torch.cat([source, target, radial, edge_attr], dim=1)
        out = self.edge_mlp(out)
        if self.attention:
            out = out * self.att_mlp(out)
        return out

    def node_model(self, x, edge_index, edge_attr):
        row, col = edge_index
        agg = unsorted_segment_sum(edge_attr, row, num_segments=x.size(0))
        out = self.node_mlp(torch.cat([x, agg], dim=1))
        if self.residual:
            out = x + out
        return out

    def coord_model(self, coord, edge_index, coord_diff, edge_feat):
        row, col = edge_index
        trans = coord_diff * self.coord_mlp(edge_feat)
        if self.coords_agg == 'sum':
            agg = unsorted_segment_sum(trans, row, num_segments=coord.size(0))
        else:
            agg = unsorted_segment_mean(trans, row, num_segments=coord.size(0))
        return coord + agg

    def coord2radial(self, edge_index, coord):
        row, col = edge_index
        coord_diff = coord[row] - coord[col]
        radial = torch.sum(coord_diff ** 2, 1).unsqueeze(1)
        if self.normalize:
            norm = torch.sqrt(radial).detach() + self.epsilon
            coord_diff = coord_diff / norm
        return radial, coord_diff

    def forward(self, h, edge_index, coord, edge_attr=None):
        row, col = edge_index
        radial, coord_diff = self.coord2radial(edge_index, coord)
        edge_feat = self.edge_model(h[row], h[col], radial, edge_attr)
        coord = self.coord_model(coord, edge_index, coord_diff, edge_feat)
        h = self.node_model(h, edge_index, edge_feat)
        return h, coord


# ------------------------------------------------------------------------------------ helpers
def cloud(n=12, dim=3, f=5, e=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g, dtype=torch.float64)
    pos = torch.randn(n, dim, generator=g, dtype=torch.float64)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return x, pos, ei


def scale_coord_weights(layer, s=300.0):
    """The reference init makes phi_x tiny (gain 0.001); scale it so coordinates really move."""
    with torch.no_grad():
        layer.coord_mlp[2].weight.mul_(s)


OPTIONS = [dict(), dict(coords_agg='sum'), dict(attention=True, normalize=True),
           dict(tanh=True, residual=False), dict(edges_in_d=3)]


@pytest.mark.parametrize('opts', OPTIONS)
def test_equals_reference_egcl(opts):
    torch.manual_seed(0)
    x, pos, ei = cloud()
    edge_dim = opts.get('edges_in_d', 0)
    ea = torch.randn(ei.size(1), edge_dim, dtype=torch.float64) if edge_dim else None
    out_nf = 5 if opts.get('residual', True) else 7
    ref = E_GCL(5, out_nf, 16, **opts).double()
    scale_coord_weights(ref)
    ours = EGNNConv.from_reference(ref)
    assert ours.edge_dim == edge_dim and ours.out_channels == out_nf
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    ps = [pos.clone().requires_grad_(), pos.clone().requires_grad_()]
    # the reference aggregates at edge_index[0]; gdl_graphs (PyG) at edge_index[1]
    h_r, p_r = ref(xs[0], ei.flip(0), ps[0], ea)
    h_o, p_o = ours(xs[1], ps[1], ei, ea)
    assert_close((h_o, p_o), (h_r, p_r), atol=1e-12, rtol=1e-10)
    assert float((p_r - pos).detach().abs().max()) > 1e-3  # the coordinates did move
    w = torch.randn_like(h_r)
    v = torch.randn_like(p_r)
    ((h_r * w).sum() + (p_r * v).sum()).backward()
    ((h_o * w).sum() + (p_o * v).sum()).backward()
    assert_close((xs[1].grad, ps[1].grad), (xs[0].grad, ps[0].grad), atol=1e-12, rtol=1e-10)
    ref_grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, ref_grads[name].grad, atol=1e-12, rtol=1e-10, name=name)


@pytest.mark.parametrize('dim', [2, 3, 5])
@pytest.mark.parametrize('reflection', [False, True])
@pytest.mark.parametrize('opts', [dict(), dict(coords_agg='sum', attention=True,
                                               normalize=True, aggr='mean')])
def test_e_n_equivariance(dim, reflection, opts):
    torch.manual_seed(1)
    x, pos, ei = cloud(n=15, dim=dim, seed=dim)
    conv = EGNNConv(5, 16, 5, **opts).double()
    scale_coord_weights(conv)
    g = EuclideanTransform.random(dim, reflection=reflection, scale=3.0,
                                  generator=torch.Generator().manual_seed(7))
    assert g.is_reflection == reflection
    assert_equivariant(conv, (x, pos, ei), lambda a: (a[0], g.pos(a[1]), a[2]),
                       lambda out: (out[0], g.pos(out[1])))
    # the check has teeth: a non-orthogonal map breaks it
    a = torch.randn(dim, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with pytest.raises(AssertionError):
        assert_equivariant(conv, (x, pos, ei), lambda t: (t[0], t[1] @ a.T, t[2]),
                           lambda out: (out[0], out[1] @ a.T))


def test_permutation_equivariance_and_invariant_readout():
    torch.manual_seed(2)
    x, pos, ei = cloud(n=20, dim=3)
    conv1 = EGNNConv(5, 16, 8, residual=False).double()
    conv2 = EGNNConv(8, 16, 8, edge_dim=0).double()
    scale_coord_weights(conv1)

    def model(x, pos, ei):
        h, p = conv1(x, pos, ei)
        h, p = conv2(torch.tanh(h), p, ei)
        return global_pool(h, reduce='sum')

    p = Permutation.random(20, generator=torch.Generator().manual_seed(0))
    assert_equivariant(lambda *a: conv1(*a), (x, pos, ei),
                       lambda a: (p.nodes(a[0]), p.nodes(a[1]), p.edges(a[2])),
                       lambda out: (p.nodes(out[0]), p.nodes(out[1])))
    g = EuclideanTransform.random(3, reflection=True, generator=torch.Generator().manual_seed(1))
    assert_equivariant(model, (x, pos, ei),
                       lambda a: (p.nodes(a[0]), g.pos(p.nodes(a[1])), p.edges(a[2])),
                       lambda y: y)


def test_update_pos_false_and_repr():
    x, pos, ei = cloud()
    conv = EGNNConv(5, 8, 5, update_pos=False).double()
    h, p = conv(x, pos, ei)
    assert p is pos and h.shape == (12, 5)
    assert 'EGNNConv(5, 5, hidden=8' in repr(conv)


def test_isolated_nodes_and_float32():
    x, pos, _ = cloud(n=6)
    ei = torch.tensor([[0, 1], [1, 0]])
    conv = EGNNConv(5, 8, 5)
    h, p = conv(x.float(), pos.float(), ei)
    assert torch.equal(p[2:], pos.float()[2:])  # no neighbours: coordinates stay
    assert h.dtype == torch.float32 and torch.isfinite(h).all()


def test_bad_input():
    x, pos, ei = cloud()
    conv = EGNNConv(5, 8, 5).double()
    bad = pos.clone()
    bad[3, 1] = float('nan')
    with pytest.raises(ValueError, match='pos holds NaN'):
        conv(x, bad, ei)
    with pytest.raises(ValueError, match='pos has 11 rows'):
        conv(x, pos[:11], ei)
    with pytest.raises(ValueError, match='pos must be a floating tensor'):
        conv(x, pos.long(), ei)
    with pytest.raises(ValueError, match='x has 4 channels'):
        conv(x[:, :4], pos, ei)
    with pytest.raises(ValueError, match='edge_attr given'):
        conv(x, pos, ei, torch.randn(ei.size(1), 2, dtype=torch.float64))
    with pytest.raises(ValueError, match='edge_attr must have shape'):
        EGNNConv(5, 8, 5, edge_dim=2).double()(x, pos, ei)
    with pytest.raises(ValueError, match='residual=True needs'):
        EGNNConv(5, 8, 6)
    with pytest.raises(ValueError, match='coords_agg'):
        EGNNConv(5, 8, 5, coords_agg='max')
    with pytest.raises(ValueError, match='refers to node'):
        conv(x, pos, torch.tensor([[0], [12]]))


@pytest.mark.parametrize('dim', [1, 2, 3, 5])
def test_random_orthogonal(dim):
    g = torch.Generator().manual_seed(dim)
    for refl in (False, True):
        q = random_orthogonal(dim, refl, g)
        assert_close(q @ q.T, torch.eye(dim, dtype=torch.float64), atol=1e-12)
        assert float(torch.linalg.det(q)) == pytest.approx(-1.0 if refl else 1.0)
    t = EuclideanTransform.random(dim, generator=g)
    pts = torch.randn(7, dim, dtype=torch.float64, generator=g)
    assert_close(t.inverse.pos(t.pos(pts)), pts, atol=1e-12)
    assert_close(t.compose(t.inverse).pos(pts), pts, atol=1e-12)
    with pytest.raises(ValueError, match='not orthogonal'):
        EuclideanTransform(2 * torch.eye(dim, dtype=torch.float64),
                           torch.zeros(dim, dtype=torch.float64))
    with pytest.raises(ValueError, match='expected points of shape'):
        t.pos(torch.zeros(3, dim + 1, dtype=torch.float64))


def test_egnn_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip('CUDA not available')
    x, pos, ei = cloud()
    conv = EGNNConv(5, 8, 5).double()
    h, p = conv(x, pos, ei)
    hc, pc = conv.cuda()(x.cuda(), pos.cuda(), ei.cuda())
    assert_close((hc.cpu(), pc.cpu()), (h, p), atol=1e-10)
