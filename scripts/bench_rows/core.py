"""Foundation rows: a sum-aggregation layer on the core vs PyG GraphConv and a bare CSR spmm."""
import torch
import torch_geometric.nn as pyg_nn
from bench import Row

from gdl_graphs.core.sparse import csr_of, spmm
from gdl_graphs.nn import GraphConv


def rows(quick: bool, device: str):
    n, e, f = (10_000, 100_000, 64) if quick else (100_000, 1_000_000, 64)
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, e), generator=g).to(device)
    x = torch.randn(n, f, generator=g).to(device).requires_grad_()
    pyg = pyg_nn.GraphConv(f, f, aggr='add').to(device)
    ours = GraphConv.from_pyg(pyg).to(device)
    csr = csr_of(edge_index, n, n)
    csr.transpose()  # the bare baseline gets its cached transpose too
    lin_rel, lin_root = ours.lin_rel, ours.lin_root

    def run(layer):
        def step():
            layer(x, edge_index).sum().backward()
        return step

    def bare():  # the same layer written directly on a cached CSR torch.sparse.mm
        (lin_rel(spmm(csr, x)) + lin_root(x)).sum().backward()

    return [Row(f'GraphConv sum fwd+bwd N={n} E={e} F={f}', 'pyg GraphConv(edge_index)',
                {'pyg GraphConv(edge_index)': run(pyg), 'gdl GraphConv (fused core)': run(ours),
                 'bare CSR sparse.mm + cached T': bare},
                goals={'gdl GraphConv (fused core)': 0.5},
                mem_goals={'gdl GraphConv (fused core)': 0.5}),
            Row(f'core vs bare CSR N={n} E={e} F={f}', 'bare CSR sparse.mm + cached T',
                {'bare CSR sparse.mm + cached T': bare, 'gdl GraphConv (fused core)': run(ours)},
                goals={'gdl GraphConv (fused core)': 1.25})]
