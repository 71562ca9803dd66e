"""The GNN stack equals OGB's baselines written with torch_geometric.nn (gin-virtual for
molecules, the ogbn-arxiv GCN), is permutation equivariant / invariant, and the registry
builds models by name."""
import pytest
import torch
import torch.nn.functional as F
import torch_geometric.nn as pyg_nn
from torch.nn import Embedding, Linear
from torch_geometric.data import Batch, Data

from gdl_graphs.models import GNN, available, create, get, register
from gdl_graphs.models.gnn import CONVS, make_conv
from gdl_graphs.nn import GCNConv, GINEConv
from gdl_graphs.testing import assert_close, assert_permutation_equivariant

H = 6



def molecules(seed=0, sizes=(5, 7, 4)):
    """A batch of small 'molecules': integer atom and bond features, undirected edges,
    one isolated atom per molecule."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for n in sizes:
        src = torch.randint(0, n - 1, (n,), generator=g)
        dst = torch.randint(0, n - 1, (n,), generator=g)
        ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
        bond = torch.randint(0, 3, (n, 2), generator=g)
        data.append(Data(x=torch.randint(0, 4, (n, 2), generator=g), edge_index=ei,
                         edge_attr=torch.cat([bond, bond]), num_nodes=n))
    return Batch.from_data_list(data)


class Encoder(torch.nn.Module):
    """OGB-style categorical encoder: a sum of one embedding per feature column."""

    def __init__(self, dim, vocab=(4, 4)):
        super().__init__()
        self.emb = torch.nn.ModuleList(Embedding(v, dim) for v in vocab)

    def forward(self, x):
        return sum(e(x[:, k]) for k, e in enumerate(self.emb))


def ogb_gin_virtual(model: GNN, pyg_convs, x, edge_index, edge_attr, batch, drop=0.0,
                    jk='last', residual=False):
    """OGB's GNN_node_Virtualnode + graph head (examples/graphproppred/mol), transcribed with
    torch_geometric.nn.GINEConv; the non-message-passing modules are borrowed from ``model``."""
    vn = model.vn_embedding.expand(int(batch.max()) + 1, -1)
    h_list = [model.node_encoder(x)]
    L = model.num_layers
    for layer in range(L):
        h_list[layer] = h_list[layer] + vn[batch]
        e = model.edge_encoders[layer](edge_attr)
        h = pyg_convs[layer](h_list[layer], edge_index, e)
        h = model.norms[layer](h)
        h = F.dropout(h, drop, model.training) if layer == L - 1 else \
            F.dropout(F.relu(h), drop, model.training)
        if residual:
            h = h + h_list[layer]
        h_list.append(h)
        if layer < L - 1:
            tmp = pyg_nn.global_add_pool(h_list[layer], batch) + vn
            upd = F.dropout(model.vn_blocks[layer].mlp(tmp), drop, model.training)
            vn = vn + upd if residual else upd
    node = h_list[-1] if jk == 'last' else sum(h_list)
    return model.head(pyg_nn.global_mean_pool(node, batch))


@pytest.mark.parametrize('jk,residual', [('last', False), ('last', True), ('sum', False),
                                         ('sum', True)])
def test_gin_virtual_equals_ogb_reference(jk, residual):
    torch.manual_seed(0)
    data = molecules()
    model = create('gine-virtual', in_channels=None, hidden_channels=H, num_layers=3,
                   out_channels=2, node_encoder=Encoder(H),
                   edge_encoder=lambda: Encoder(H, (3, 3)), readout='mean', jk=jk,
                   residual=residual).double().eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            torch.nn.init.normal_(m.running_mean)
            torch.nn.init.uniform_(m.running_var, 0.5, 2.0)
    pyg_convs = []
    for conv in model.convs:
        ref = pyg_nn.GINEConv(torch.nn.Sequential(*[type(m)(*_args(m)) for m in conv.nn]),
                              train_eps=True).double()
        ref.load_state_dict(conv.state_dict())
        pyg_convs.append(ref.eval())
    out = model(data.x, data.edge_index, data.edge_attr, data.batch)
    ref = ogb_gin_virtual(model, pyg_convs, data.x, data.edge_index, data.edge_attr,
                          data.batch, jk=jk, residual=residual)
    assert out.shape == (3, 2)
    assert_close(out, ref)
    grads = torch.autograd.grad(out.sum(), list(model.convs.parameters()))
    ref_grads = torch.autograd.grad(ref.sum(), list(torch.nn.ModuleList(
        pyg_convs).parameters()))
    for a, b in zip(grads, ref_grads):
        assert_close(a, b, name='parameter gradient')


def _args(m):
    if isinstance(m, Linear):
        return (m.in_features, m.out_features)
    if isinstance(m, torch.nn.BatchNorm1d):
        return (m.num_features,)
    return ()


def test_arxiv_gcn_equals_pyg_stack():
    """OGB's ogbn-arxiv GCN: conv, BN, ReLU, dropout; the last conv maps to the classes."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n = 20
    ei = torch.randint(0, n, (2, 60), generator=g)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    model = create('gcn', in_channels=5, hidden_channels=H, num_layers=3, out_channels=3,
                   dropout=0.5).double().eval()
    assert isinstance(model.convs[-1], GCNConv) and model.head is None
    pyg = [pyg_nn.GCNConv(c.in_channels, c.out_channels).double() for c in model.convs]
    for p, c in zip(pyg, model.convs):
        p.load_state_dict(c.state_dict())
    h = x
    for k in range(2):
        h = F.relu(model.norms[k](pyg[k](h, ei)))
    assert_close(model(x, ei), pyg[2](h, ei))


@pytest.mark.parametrize('conv,virtual', [(c, k % 2 == 0) for k, c in enumerate(sorted(CONVS))])
def test_every_conv_equivariant_and_invariant(conv, virtual):
    data = molecules(seed=3)
    x = torch.randn(data.num_nodes, 4, dtype=torch.float64)
    ea = torch.randn(data.num_edges, 3, dtype=torch.float64)
    d = Data(x=x, edge_index=data.edge_index, edge_attr=ea, batch=data.batch)
    kw = dict(in_channels=4, hidden_channels=4, num_layers=2, conv=conv, edge_dim=3,
              virtual_node=virtual, jk='cat', residual=True)
    node = GNN(**kw).double().eval()
    fwd = lambda m, d: m(d.x, d.edge_index, d.edge_attr, d.batch)  # noqa: E731
    assert_permutation_equivariant(node, d, fwd)
    graph = GNN(out_channels=2, readout='sum', **kw).double().eval()
    assert graph(*[d.x, d.edge_index, d.edge_attr, d.batch]).shape == (3, 2)
    assert_permutation_equivariant(graph, d, fwd)


def test_jk_modes_and_shapes():
    data = molecules()
    x = torch.randn(data.num_nodes, 3)
    for jk, width in (('last', H), ('sum', H), ('max', H), ('cat', 3 * H)):
        m = GNN(3, H, 3, conv='sage', jk=jk).eval()
        assert m(x, data.edge_index).shape == (data.num_nodes, width)
    m = GNN(3, H, 3, out_channels=2, conv='sage', jk='cat').eval()
    assert m(x, data.edge_index).shape == (data.num_nodes, 2)
    assert m.head is not None


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    data = molecules(sizes=(6, 6, 6, 6))
    y = torch.tensor([0., 1., 0., 1.]).view(-1, 1)
    model = create('gine-virtual', in_channels=None, hidden_channels=16, num_layers=2,
                   out_channels=1, node_encoder=Encoder(16),
                   edge_encoder=lambda: Encoder(16, (3, 3)), readout='mean')
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(
            model(data.x, data.edge_index, data.edge_attr, data.batch), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_registry():
    names = available()
    for name in ('gnn', 'gcn', 'sage', 'gin', 'gin-virtual', 'gine-virtual', 'gat', 'gatv2'):
        assert name in names
    assert get('gin-virtual')(in_channels=4, hidden_channels=4, num_layers=2).vn_embedding \
        is not None
    assert isinstance(create('gine', in_channels=4, hidden_channels=4, num_layers=1,
                             edge_dim=2).convs[0], GINEConv)

    @register('my-test-model')
    def mine(**kw):
        return torch.nn.Linear(2, 2)

    assert isinstance(create('my-test-model'), torch.nn.Linear)
    with pytest.raises(ValueError, match='already registered'):
        register('my-test-model', lambda: None)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create('nope')
    with pytest.raises(ValueError, match='fixes conv'):
        create('gin', conv='gcn', in_channels=2, hidden_channels=2, num_layers=1)


def test_bad_configuration():
    with pytest.raises(ValueError, match="unknown conv 'gcnn'"):
        GNN(3, 4, 2, conv='gcnn')
    with pytest.raises(ValueError, match='unknown jk'):
        GNN(3, 4, 2, jk='lstm')
    with pytest.raises(ValueError, match='readout needs out_channels'):
        GNN(3, 4, 2, readout='mean')
    with pytest.raises(ValueError, match='num_layers'):
        GNN(3, 4, 0)
    with pytest.raises(ValueError, match='virtual_node needs'):
        GNN(3, 4, 2, virtual_node=True)
    with pytest.raises(ValueError, match='divisible by heads'):
        make_conv('gat', 4, 6, heads=4)
    with pytest.raises(ValueError, match='needs edge features'):
        GNN(3, 4, 2, conv='nn')
    data = molecules()
    with pytest.raises(ValueError, match='needs edge_attr'):
        GNN(3, 4, 2, conv='gine', edge_dim=2)(torch.randn(data.num_nodes, 3), data.edge_index)
