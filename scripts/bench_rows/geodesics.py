"""Geodesic rows: geodesic_patches (radius = 3 mean edge lengths) against mesh_to_graph's
1-ring on the same torus (100k vertices; --quick: 2400), GeodesicPolarConv fwd+bwd on the
patches against GraphConv on the same edges (reading that torus as an OBJ against trimesh is
a row of mesh.py).

The full-size geodesic_patches call takes minutes: that row runs once (rounds=1, no warm-up;
a second call measures the resident peak), and the convolution row (warm-up, one round) uses
the patches of that call, so the module runs geodesic_patches twice in all."""
import torch
from bench import Row

from gdl_graphs.domains.mesh import geodesic_patches, mesh_to_graph, torus_mesh
from gdl_graphs.nn import GeodesicPolarConv, GraphConv


def rows(quick: bool, device: str):
    n_major, n_minor = (60, 40) if quick else (400, 250)
    pos, face = torus_mesh(n_major, n_minor)
    one_ring = mesh_to_graph(pos, face)
    radius = 3 * float(one_ring.edge_coords[:, 0].mean())
    n = pos.size(0)
    cache = {}

    def patches():
        cache['data'] = geodesic_patches(pos, face, radius)
        return cache['data']

    def inputs():                       # the patch edges of the last geodesic_patches call
        if 'x' not in cache:
            data = cache['data'] if 'data' in cache else patches()
            g = torch.Generator().manual_seed(0)
            cache['x'] = torch.randn(n, 16, generator=g).to(device).requires_grad_()
            cache['ei'] = data.edge_index.to(device)
            cache['coords'] = data.edge_coords.float().to(device)
            cache['radius'] = data.radius
        return cache['x'], cache['ei'], cache['coords'], cache['radius']

    gpc = GeodesicPolarConv(16, 16, num_rho=2, num_theta=8).to(device)
    gconv = GraphConv(16, 16).to(device)

    def graph_conv():
        x, ei, _, _ = inputs()
        return gconv(x, ei)

    def polar_conv():
        x, ei, coords, r = inputs()
        return gpc(x, ei, coords, radius=r)

    def step(f):
        def run():
            f().sum().backward()
        return run

    once = {} if quick else {'rounds': 1, 'warmup': False}
    return [Row(f'geodesic_patches torus N={n} radius=3h', 'mesh_to_graph 1-ring',
                {'mesh_to_graph 1-ring': lambda: mesh_to_graph(pos, face),
                 'geodesic_patches': patches},
                note='absolute seconds are the figure; peak = resident high-water mark of the '
                     'process (numpy/scipy included)', rss=True, **once),
            Row(f'GeodesicPolarConv fwd+bwd on the geodesic patches N={n} 16->16',
                'gdl GraphConv 16->16 (same edges)',
                {'gdl GraphConv 16->16 (same edges)': step(graph_conv),
                 'GeodesicPolarConv 2x8 bins': step(polar_conv)},
                rounds=None if quick else 1)]
