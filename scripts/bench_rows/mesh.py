"""Mesh rows: mesh_to_graph on a ~100k-vertex torus, GEMConv fwd+bwd vs GraphConv with the
same number of scalar features per vertex (64), and reading that torus as an ascii OBJ (plain,
and as exporters write it, with texture coordinates, normals and ``v/vt/vn`` corners) against
trimesh's own loader."""
import pathlib
import tempfile

import torch
from bench import Row
from torch_geometric.data import Data
from torch_geometric.transforms import FaceToEdge, GenerateMeshNormals

from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.io import read_mesh, write_mesh
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

    out = [Row(f'mesh_to_graph torus N={n} F={face.size(1)}',
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
    return out + obj_rows(pos.cpu(), face.cpu())


def obj_rows(pos, face):
    try:
        import trimesh
    except ImportError:
        return []
    folder = pathlib.Path(tempfile.mkdtemp())
    plain, exported = folder / 'plain.obj', folder / 'exported.obj'
    write_mesh(plain, pos.double(), face)
    f = face.t() + 1
    with open(exported, 'w') as out:  # what Blender-style exporters write
        out.write('# exported\nmtllib torus.mtl\no Torus\n')
        out.write(''.join(f'v {x:.6f} {y:.6f} {z:.6f}\n' for x, y, z in pos.tolist()))
        out.write(''.join(f'vt {x % 1:.6f} {y % 1:.6f}\n' for x, y, _ in pos.tolist()))
        out.write('vn 0 0 1\nusemtl skin\ns 1\n')
        out.write(''.join(f'f {a}/{a}/1 {b}/{b}/1 {c}/{c}/1\n' for a, b, c in f.tolist()))
    rows = []
    for name, path in (('plain', plain), ('exported (vt, vn, v/vt/vn)', exported)):
        rows.append(Row(f'read ascii OBJ {name} N={pos.size(0)} F={face.size(1)}',
                        'trimesh.load',
                        {'trimesh.load': lambda p=path: trimesh.load(
                            str(p), process=False, force='mesh', maintain_order=True),
                         'gdl read_mesh': lambda p=path: read_mesh(p)},
                        goals={'gdl read_mesh': 1.5}, rss=True,
                        note='peak memory: resident high-water mark; trimesh returns '
                             'coordinates off the file by up to ~6e-8 (float32-level), ours '
                             'are the exact doubles'))
    return rows
