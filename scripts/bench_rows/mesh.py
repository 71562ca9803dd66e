"""Mesh rows: mesh_to_graph on a ~100k-vertex torus, and GEMConv fwd+bwd vs GraphConv with the
same number of scalar features per vertex (64)."""
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import FaceToEdge, GenerateMeshNormals

from bench import Row
from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.nn import GEMConv, GraphConv


def rows(quick: bool, device: str):
    n_major, n_minor = (100, 100) if quick else (400, 250)
    pos, face = torus_mesh(n_major, n_minor, dtype=torch.float32)
    pos, face = pos.to(device), face.to(device)
    n = pos.size(0)

    def pyg_baseline():  # edges + area-weighted normals only
        GenerateMeshNormals()(FaceToEdge(remove_faces=False)(Data(pos=pos, face=face)))

    def ours():
        mesh_to_graph(pos, face)

    data = mesh_to_graph(pos, face)
    e = data.edge_index.size(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 64, generator=g).to(device).requires_grad_()
    geo = (data.edge_index, data.edge_coords, data.connection)
    graph_conv = GraphConv(64, 64).to(device)
    gem1 = GEMConv((32, 16), (32, 16), aggr='sum').to(device)
    gem2 = GEMConv((16, 12, 12), (16, 12, 12), aggr='sum').to(device)
    gem1r2 = GEMConv((32, 16), (32, 16), num_radial=2, aggr='sum').to(device)

    def step(f):
        def run():
            f().sum().backward()
        return run

    return [Row(f'mesh_to_graph torus N={n} F={face.size(1)}',
                'pyg FaceToEdge+GenerateMeshNormals',
                {'pyg FaceToEdge+GenerateMeshNormals': pyg_baseline,
                 'gdl mesh_to_graph (+frames,logmap,transport)': ours},
                note='absolute seconds are the figure; PyG computes edges and normals only'),
            Row(f'GEMConv fwd+bwd N={n} E={e} 64 reals', 'gdl GraphConv 64->64 (fused)',
                {'gdl GraphConv 64->64 (fused)': step(lambda: graph_conv(x, data.edge_index)),
                 'GEMConv rho0x32+rho1x16 R=1': step(lambda: gem1(x, *geo)),
                 'GEMConv rho0x16+rho1x12+rho2x12 R=1': step(lambda: gem2(x, *geo)),
                 'GEMConv rho0x32+rho1x16 R=2': step(lambda: gem1r2(x, *geo))},
                goals={'GEMConv rho0x32+rho1x16 R=1': 4.0})]
