"""Geodesic rows: geodesic_patches (radius = 3 mean edge lengths) against mesh_to_graph's
1-ring on the same torus, GeodesicPolarConv fwd+bwd on the patches against GraphConv on the
same edges, and reading an ascii OBJ (ours) against trimesh's own loader. Needs potpourri3d
and trimesh (the rows are skipped without them)."""
import pathlib
import tempfile

import torch

from bench import Row
from gdl_graphs.domains.mesh import geodesic_patches, mesh_to_graph, torus_mesh
from gdl_graphs.io import read_mesh, write_mesh
from gdl_graphs.nn import GeodesicPolarConv, GraphConv


def rows(quick: bool, device: str):
    try:
        import potpourri3d  # noqa: F401
        import trimesh
    except ImportError:
        return []
    n_major, n_minor = (60, 40) if quick else (400, 250)
    pos, face = torus_mesh(n_major, n_minor)
    one_ring = mesh_to_graph(pos, face)
    radius = 3 * float(one_ring.edge_coords[:, 0].mean())
    n = pos.size(0)
    data = geodesic_patches(pos, face, radius)
    e = data.edge_index.size(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 16, generator=g, dtype=torch.float32).to(device).requires_grad_()
    ei, coords = data.edge_index.to(device), data.edge_coords.float().to(device)
    gpc = GeodesicPolarConv(16, 16, num_rho=2, num_theta=8).to(device)
    gconv = GraphConv(16, 16).to(device)

    def step(f):
        def run():
            f().sum().backward()
        return run

    folder = pathlib.Path(tempfile.mkdtemp())
    obj = folder / 'torus.obj'
    write_mesh(obj, pos, face)

    return [Row(f'geodesic_patches torus N={n} radius=3h (E={e})', 'mesh_to_graph 1-ring',
                {'mesh_to_graph 1-ring': lambda: mesh_to_graph(pos, face),
                 'geodesic_patches (potpourri3d)': lambda: geodesic_patches(pos, face, radius)},
                note='absolute seconds are the figure; peak memory counts torch only, not '
                     'potpourri3d or numpy (measure the process RSS for those)'),
            Row(f'GeodesicPolarConv fwd+bwd on geodesic patches N={n} E={e} 16->16',
                'gdl GraphConv 16->16 (same edges)',
                {'gdl GraphConv 16->16 (same edges)': step(lambda: gconv(x, ei)),
                 'GeodesicPolarConv 2x8 bins': step(lambda: gpc(x, ei, coords,
                                                                radius=data.radius))}),
            Row(f'read ascii OBJ N={n}', 'trimesh.load',
                {'trimesh.load': lambda: trimesh.load(str(obj), process=False, force='mesh',
                                                      maintain_order=True),
                 'gdl read_mesh': lambda: read_mesh(obj)},
                goals={'gdl read_mesh': 1.5})]
