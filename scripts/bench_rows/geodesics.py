"""Geodesic rows: geodesic_patches (radius = 3 mean edge lengths) with the eikonal marching
solver (solver='fast', the default) against the heat / vector heat solver (solver='heat', the
default before) and potpourri3d's solvers (solver='potpourri3d') in one process, on a
10k-vertex torus and on a 100k-vertex one (there without potpourri3d, about 7 minutes alone);
GeodesicPolarConv fwd+bwd on the patches against GraphConv on the same edges (reading that
torus as an OBJ against trimesh is a row of mesh.py). --quick: 2,400 and 10k vertices.

The full-size calls take seconds to minutes: the 10k row runs 3 rounds, the 100k row once (no
warm-up; the compiled marching kernel is compiled or loaded from numba's cache by a small call
first)."""
import torch
from bench import Row

from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.geodesics import geodesic_patches
from gdl_graphs.nn import GeodesicPolarConv, GraphConv


def _torus(n_major, n_minor):
    pos, face = torus_mesh(n_major, n_minor)
    return pos, face, 3 * float(mesh_to_graph(pos, face).edge_coords[:, 0].mean())


def rows(quick: bool, device: str):
    small = _torus(60, 40) if quick else _torus(100, 100)
    large = _torus(100, 100) if quick else _torus(400, 250)
    ico_pos, ico_face, ico_r = _torus(12, 8)
    geodesic_patches(ico_pos, ico_face, ico_r)       # compile / load the marching kernel
    cache = {}

    def call(mesh, solver, keep=False):
        def run():
            out = geodesic_patches(mesh[0], mesh[1], mesh[2], solver=solver)
            if keep:
                cache['data'] = out
            return out
        return run

    once = {'rounds': 1, 'warmup': False}
    out = [Row(f'geodesic_patches torus N={small[0].size(0)} radius=3h', 'heat (previous default)',
               {'heat (previous default)': call(small, 'heat'),
                'potpourri3d': call(small, 'potpourri3d'),
                'fast (marching)': call(small, 'fast')},
               goals={'fast (marching)': 0.1},
               note='1 thread; absolute seconds are the figure; best of 3 rounds',
               rounds=3, warmup=False),
           Row(f'geodesic_patches torus N={large[0].size(0)} radius=3h', 'heat (previous default)',
               {'heat (previous default)': call(large, 'heat'),
                'fast (marching)': call(large, 'fast', keep=True)},
               goals={'fast (marching)': 0.1},
               note='potpourri3d left out here (about 3x the heat solver); peak = resident '
                    'high-water mark of the process', rss=True, **once)]
    n = large[0].size(0)

    def inputs():                       # the patch edges of the last geodesic_patches call
        if 'x' not in cache:
            data = cache['data'] if 'data' in cache else call(large, 'fast', True)()
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

    return out + [Row(f'GeodesicPolarConv fwd+bwd on the geodesic patches N={n} 16->16',
                      'gdl GraphConv 16->16 (same edges)',
                      {'gdl GraphConv 16->16 (same edges)': step(graph_conv),
                       'GeodesicPolarConv 2x8 bins': step(polar_conv)},
                      rounds=None if quick else 1)]
