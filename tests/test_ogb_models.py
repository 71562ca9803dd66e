"""OGB's molecule layers and models on the core equal OGB's example code (written here with
torch_geometric's MessagePassing, as in ogb/examples/graphproppred/mol) in float64."""
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MessagePassing, global_add_pool, global_mean_pool
from torch_geometric.utils import degree

from gdl_graphs.models.ogb import MolGNN, NodeGNN, mol_gnn
from gdl_graphs.nn import MolGCNConv, MolGINConv
from gdl_graphs.testing import assert_close, assert_permutation_equivariant

pytest.importorskip('ogb')
from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder  # noqa: E402

# ------------------------------------------------------------- OGB's example code (reference)

class OGBGINConv(MessagePassing):
    def __init__(self, emb_dim):
        super().__init__(aggr='add')
        self.mlp = torch.nn.Sequential(torch.nn.Linear(emb_dim, 2 * emb_dim),
                                       torch.nn.BatchNorm1d(2 * emb_dim), torch.nn.ReLU(),
                                       torch.nn.Linear(2 * emb_dim, emb_dim))
        self.eps = torch.nn.Parameter(torch.Tensor([0]))
        self.bond_encoder = BondEncoder(emb_dim=emb_dim)

    def forward(self, x, edge_index, edge_attr):
        edge_embedding = self.bond_encoder(edge_attr)
        return self.mlp((1 + self.eps) * x + self.propagate(edge_index, x=x,
                                                             edge_attr=edge_embedding))

    def message(self, x_j, edge_attr):
        return F.relu(x_j + edge_attr)


class OGBGCNConv(MessagePassing):
    def __init__(self, emb_dim):
        super().__init__(aggr='add')
        self.linear = torch.nn.Linear(emb_dim, emb_dim)
        self.root_emb = torch.nn.Embedding(1, emb_dim)
        self.bond_encoder = BondEncoder(emb_dim=emb_dim)

    def forward(self, x, edge_index, edge_attr):
        x = self.linear(x)
        edge_embedding = self.bond_encoder(edge_attr)
        row, col = edge_index
        deg = degree(row, x.size(0), dtype=x.dtype) + 1
        deg_inv_sqrt = deg.pow(-0.5)
        deg_inv_sqrt[deg_inv_sqrt == float('inf')] = 0
        norm = deg_inv_sqrt[row] * deg_inv_sqrt[col]
        return self.propagate(edge_index, x=x, edge_attr=edge_embedding, norm=norm) + \
            F.relu(x + self.root_emb.weight) * 1. / deg.view(-1, 1)

    def message(self, x_j, edge_attr, norm):
        return norm.view(-1, 1) * F.relu(x_j + edge_attr)


class OGBGNNNode(torch.nn.Module):
    """GNN_node and GNN_node_Virtualnode of OGB's examples (JK last/sum, residual)."""

    def __init__(self, num_layer, emb_dim, drop_ratio, JK, residual, gnn_type, virtual):
        super().__init__()
        self.num_layer, self.drop_ratio, self.JK, self.residual = num_layer, drop_ratio, JK, \
            residual
        self.virtual = virtual
        self.atom_encoder = AtomEncoder(emb_dim)
        conv = OGBGINConv if gnn_type == 'gin' else OGBGCNConv
        self.convs = torch.nn.ModuleList([conv(emb_dim) for _ in range(num_layer)])
        self.batch_norms = torch.nn.ModuleList([torch.nn.BatchNorm1d(emb_dim)
                                                for _ in range(num_layer)])
        if virtual:
            self.virtualnode_embedding = torch.nn.Embedding(1, emb_dim)
            torch.nn.init.constant_(self.virtualnode_embedding.weight.data, 0)
            self.mlp_virtualnode_list = torch.nn.ModuleList([torch.nn.Sequential(
                torch.nn.Linear(emb_dim, 2 * emb_dim), torch.nn.BatchNorm1d(2 * emb_dim),
                torch.nn.ReLU(), torch.nn.Linear(2 * emb_dim, emb_dim),
                torch.nn.BatchNorm1d(emb_dim), torch.nn.ReLU()) for _ in range(num_layer - 1)])

    def forward(self, data):
        x, edge_index, edge_attr, batch = data.x, data.edge_index, data.edge_attr, data.batch
        if self.virtual:
            vn = self.virtualnode_embedding(torch.zeros(batch[-1].item() + 1).to(
                edge_index.dtype).to(edge_index.device))
        h_list = [self.atom_encoder(x)]
        for layer in range(self.num_layer):
            if self.virtual:
                h_list[layer] = h_list[layer] + vn[batch]
            h = self.batch_norms[layer](self.convs[layer](h_list[layer], edge_index, edge_attr))
            if layer == self.num_layer - 1:
                h = F.dropout(h, self.drop_ratio, training=self.training)
            else:
                h = F.dropout(F.relu(h), self.drop_ratio, training=self.training)
            if self.residual:  # OGB writes h += ...; out of place for autograd with p = 0
                h = h + h_list[layer]
            h_list.append(h)
            if self.virtual and layer < self.num_layer - 1:
                tmp = global_add_pool(h_list[layer], batch) + vn
                new = F.dropout(self.mlp_virtualnode_list[layer](tmp), self.drop_ratio,
                                training=self.training)
                vn = vn + new if self.residual else new
        if self.JK == 'last':
            return h_list[-1]
        return sum(h_list)


class OGBGNN(torch.nn.Module):
    def __init__(self, num_tasks, num_layer, emb_dim, gnn_type, virtual, residual=False,
                 drop_ratio=0.5, JK='last'):
        super().__init__()
        self.gnn_node = OGBGNNNode(num_layer, emb_dim, drop_ratio, JK, residual, gnn_type,
                                   virtual)
        self.graph_pred_linear = torch.nn.Linear(emb_dim, num_tasks)

    def forward(self, data):
        return self.graph_pred_linear(global_mean_pool(self.gnn_node(data), data.batch))


# ------------------------------------------------------------------------------- helpers

def molecules(num=4, seed=0):
    """A batch of random molecule-like graphs (ogb encodings), one isolated atom included."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(num):
        n = 1 if k == 1 else int(torch.randint(3, 8, (), generator=g))
        pairs = torch.tensor([[i, i + 1] for i in range(n - 1)] + ([[0, n - 1]] if n > 3 else []),
                             dtype=torch.long).view(-1, 2)
        ei = torch.cat([pairs, pairs.flip(1)]).t()
        ef = torch.randint(0, 2, (pairs.size(0), 3), generator=g).repeat(2, 1)
        x = torch.randint(0, 2, (n, 9), generator=g)
        graphs.append(Data(x=x, edge_index=ei, edge_attr=ef, y=torch.tensor([[k % 2]])))
    return Batch.from_data_list(graphs)


def grads(module):
    return tuple(p.grad.clone() for p in module.parameters() if p.grad is not None)


# ------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize('ours_cls,ref_cls', [(MolGINConv, OGBGINConv),
                                               (MolGCNConv, OGBGCNConv)])
def test_mol_convs_equal_ogb(ours_cls, ref_cls):
    torch.manual_seed(0)
    ref = ref_cls(6).double()
    ours = ours_cls.from_ogb(ref)
    with torch.no_grad():  # make eps non-trivial
        for m in (ref, ours):
            if hasattr(m, 'eps'):
                m.eps.fill_(0.3)
    b = molecules()
    x = torch.randn(b.num_nodes, 6, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref = ref(xa, b.edge_index, b.edge_attr)
    out = ours(xb, b.edge_index, b.edge_attr)
    assert_close(out, out_ref, atol=1e-10, rtol=1e-10)
    w = torch.randn_like(out)
    (out_ref * w).sum().backward()
    (out * w).sum().backward()
    assert_close(xb.grad, xa.grad, atol=1e-10, rtol=1e-10)
    assert_close(grads(ours), grads(ref), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('cls', [MolGINConv, MolGCNConv])
def test_mol_convs_permutation_equivariant(cls):
    torch.manual_seed(1)
    conv = cls(5).double().eval()
    b = molecules(3, seed=2)
    data = Data(x=torch.randn(b.num_nodes, 5, dtype=torch.float64), edge_index=b.edge_index,
                edge_attr=b.edge_attr)
    assert_permutation_equivariant(conv, data, lambda m, d: m(d.x, d.edge_index, d.edge_attr))


@pytest.mark.parametrize('gnn,residual,JK', [('gin', False, 'last'), ('gin-virtual', True, 'sum'),
                                              ('gcn', True, 'sum'),
                                              ('gcn-virtual', False, 'last')])
def test_mol_gnn_equals_ogb_model(gnn, residual, JK):
    torch.manual_seed(0)
    ref = OGBGNN(2, 3, 8, gnn.split('-')[0], gnn.endswith('virtual'), residual,
                 drop_ratio=0.0, JK=JK).double()
    ours = mol_gnn(gnn, 2, num_layer=3, emb_dim=8, residual=residual, drop_ratio=0.0,
                   JK=JK).double()
    ours.load_ogb_state_dict(ref.state_dict())
    b = molecules(5, seed=3)
    for train in (True, False):  # batch statistics, then running statistics
        ref.train(train)
        ours.train(train)
        ref.zero_grad()
        ours.zero_grad()
        out_ref, out = ref(b), ours(b)
        assert_close(out, out_ref, atol=1e-10, rtol=1e-10)
        if train:
            w = torch.randn_like(out)
            (out_ref * w).sum().backward()
            (out * w).sum().backward()
            assert_close(grads(ours), grads(ref), atol=1e-10, rtol=1e-10)


def test_mol_gnn_invariant_under_node_permutation():
    torch.manual_seed(0)
    model = mol_gnn('gin-virtual', 1, num_layer=2, emb_dim=8).double().eval()
    b = molecules(4, seed=5)
    assert_permutation_equivariant(model, b, lambda m, d: m(d))


def test_node_gnn_full_batch_and_layerwise_inference_agree():
    from gdl_graphs.loader import NeighborLoader
    torch.manual_seed(0)
    n = 40
    ei = torch.randint(0, n, (2, 200))
    data = Data(x=torch.randn(n, 6, dtype=torch.float64), edge_index=ei, num_nodes=n)
    for model in ('sage', 'gcn'):
        net = NodeGNN(6, 8, 3, num_layers=3, model=model, batch_norm=True,
                      cached=False).double().eval()
        full = net(data.x, ei)
        if model == 'sage':  # layer-wise inference runs bipartite SAGE on full neighbourhoods
            loader = NeighborLoader(data, [-1], batch_size=7)
            assert_close(net.inference(data.x, loader), full, atol=1e-10, rtol=1e-10)
        assert_permutation_equivariant(net, data)


def test_bad_model_options():
    with pytest.raises(ValueError, match="unknown --gnn 'gat'"):
        mol_gnn('gat', 1)
    with pytest.raises(ValueError, match='num_layer must be >= 2'):
        MolGNN(1, num_layer=1)
    with pytest.raises(ValueError, match="graph_pooling must be"):
        MolGNN(1, graph_pooling='set2set')
    with pytest.raises(ValueError, match="unknown --model 'gat'"):
        NodeGNN(3, 4, 2, model='gat')
    conv = MolGINConv(4)
    b = molecules(2)
    with pytest.raises(ValueError, match='integer bond features'):
        conv(torch.randn(b.num_nodes, 4), b.edge_index, b.edge_attr.float())
    with pytest.raises(ValueError, match='cannot load OGBGCNConv into MolGINConv'):
        from gdl_graphs.nn.ogb_mol_conv import _copy
        _copy(MolGINConv(4), OGBGCNConv(4))
