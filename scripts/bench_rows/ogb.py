"""OGB row: an ogbg-molhiv-style training epoch of GIN-virtual (5 layers, 300 hidden, batch 32,
dropout 0.5, Adam) on real molecules (rdkit's shipped NCI SMILES through
ogb.utils.smiles2graph), gdl_graphs' model vs the same model written with torch_geometric.nn
(OGB's example code: MessagePassing GINConv, global_add_pool / global_mean_pool), side by
side, with the same weights and the same pre-collated batches."""
import os

import torch
import torch.nn.functional as F
from bench import Row


def _smiles(num: int):
    import rdkit
    path = os.path.join(os.path.dirname(rdkit.__file__), 'Data', 'NCI', 'first_5k.tpsa.csv')
    rows = [line.strip().split(',') for line in open(path) if not line.startswith('#')]
    return [(s, float(t)) for s, t in rows[:num]]


def _pyg_gin_virtual(num_tasks: int, num_layer: int, emb_dim: int, drop_ratio: float):
    """OGB's examples/graphproppred/mol GNN(gnn_type='gin', virtual_node=True) in PyG."""
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
    from torch_geometric.nn import MessagePassing, global_add_pool, global_mean_pool

    class GINConv(MessagePassing):
        def __init__(self, emb_dim):
            super().__init__(aggr='add')
            self.mlp = torch.nn.Sequential(torch.nn.Linear(emb_dim, 2 * emb_dim),
                                           torch.nn.BatchNorm1d(2 * emb_dim), torch.nn.ReLU(),
                                           torch.nn.Linear(2 * emb_dim, emb_dim))
            self.eps = torch.nn.Parameter(torch.Tensor([0]))
            self.bond_encoder = BondEncoder(emb_dim=emb_dim)

        def forward(self, x, edge_index, edge_attr):
            e = self.bond_encoder(edge_attr)
            return self.mlp((1 + self.eps) * x + self.propagate(edge_index, x=x, edge_attr=e))

        def message(self, x_j, edge_attr):
            return F.relu(x_j + edge_attr)

    class Node(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.atom_encoder = AtomEncoder(emb_dim)
            self.virtualnode_embedding = torch.nn.Embedding(1, emb_dim)
            torch.nn.init.constant_(self.virtualnode_embedding.weight.data, 0)
            self.convs = torch.nn.ModuleList([GINConv(emb_dim) for _ in range(num_layer)])
            self.batch_norms = torch.nn.ModuleList([torch.nn.BatchNorm1d(emb_dim)
                                                    for _ in range(num_layer)])
            self.mlp_virtualnode_list = torch.nn.ModuleList([torch.nn.Sequential(
                torch.nn.Linear(emb_dim, 2 * emb_dim), torch.nn.BatchNorm1d(2 * emb_dim),
                torch.nn.ReLU(), torch.nn.Linear(2 * emb_dim, emb_dim),
                torch.nn.BatchNorm1d(emb_dim), torch.nn.ReLU()) for _ in range(num_layer - 1)])

        def forward(self, d):
            x, edge_index, edge_attr, batch = d.x, d.edge_index, d.edge_attr, d.batch
            vn = self.virtualnode_embedding(torch.zeros(batch[-1].item() + 1).to(
                edge_index.dtype).to(edge_index.device))
            h_list = [self.atom_encoder(x)]
            for layer in range(num_layer):
                h_list[layer] = h_list[layer] + vn[batch]
                h = self.batch_norms[layer](self.convs[layer](h_list[layer], edge_index,
                                                              edge_attr))
                if layer == num_layer - 1:
                    h = F.dropout(h, drop_ratio, training=self.training)
                else:
                    h = F.dropout(F.relu(h), drop_ratio, training=self.training)
                h_list.append(h)
                if layer < num_layer - 1:
                    tmp = global_add_pool(h_list[layer], batch) + vn
                    vn = F.dropout(self.mlp_virtualnode_list[layer](tmp), drop_ratio,
                                   training=self.training)
            return h_list[-1]

    class GNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gnn_node = Node()
            self.graph_pred_linear = torch.nn.Linear(emb_dim, num_tasks)

        def forward(self, d):
            return self.graph_pred_linear(global_mean_pool(self.gnn_node(d), d.batch))

    return GNN()


def rows(quick: bool, device: str):
    try:
        from ogb.utils import smiles2graph
    except ImportError:
        print('   (ogb row skipped: needs ogb and rdkit)')
        return []
    from rdkit import RDLogger
    from torch_geometric.data import Batch, Data

    from gdl_graphs.models.ogb import mol_gnn
    RDLogger.DisableLog('rdApp.*')

    num, emb, layers, bs = (320, 300, 5, 32) if quick else (4000, 300, 5, 32)
    data = []
    for s, tpsa in _smiles(num):
        try:
            g = smiles2graph(s)
        except Exception:
            continue
        if g['num_nodes'] < 2:
            continue
        data.append(Data(x=torch.from_numpy(g['node_feat']),
                         edge_index=torch.from_numpy(g['edge_index']),
                         edge_attr=torch.from_numpy(g['edge_feat']),
                         y=torch.tensor([[float(tpsa > 50)]])))
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [Batch.from_data_list([data[i] for i in perm[k:k + bs]]).to(device)
               for k in range(0, len(perm) - bs + 1, bs)]
    torch.manual_seed(0)
    pyg = _pyg_gin_virtual(1, layers, emb, 0.5).to(device)
    ours = mol_gnn('gin-virtual', 1, num_layer=layers, emb_dim=emb, drop_ratio=0.5).to(device)
    ours.load_ogb_state_dict(pyg.state_dict())

    def epoch(model):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        state = {k: v.clone() for k, v in model.state_dict().items()}

        def step():
            model.load_state_dict(state)  # every call trains the same epoch from the start
            model.train()
            for b in batches:
                opt.zero_grad()
                loss = F.binary_cross_entropy_with_logits(model(b), b.y)
                loss.backward()
                opt.step()
        return step

    n_mol = len(batches) * bs
    return [Row(f'ogbg-molhiv-style epoch GIN-virtual {layers}x{emb} batch {bs}, '
                f'{n_mol} rdkit molecules', 'pyg GIN-virtual (OGB example code)',
                {'pyg GIN-virtual (OGB example code)': epoch(pyg),
                 'gdl GIN-virtual (models.ogb)': epoch(ours)},
                goals={'gdl GIN-virtual (models.ogb)': 1.0},
                note='same weights, same pre-collated batches; forward + backward + Adam')]


def _register() -> None:
    """PyG's MessagePassing inspector reads ``sys.modules[cls.__module__]``; the harness loads
    row files without registering them."""
    import sys
    import types
    if __name__ not in sys.modules:
        mod = types.ModuleType(__name__)
        mod.__dict__.update(globals())
        sys.modules[__name__] = mod


_register()
