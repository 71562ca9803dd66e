"""One measurement of geodesic_patches on a 100k-vertex torus (radius 3 mean edge lengths): time,
peak RSS, then GeodesicPolarConv vs GraphConv fwd+bwd on the patch edges (docs/performance.rst)."""
import resource
import time

import torch

from gdl_graphs.domains.mesh import geodesic_patches, mesh_to_graph, torus_mesh

pos, face = torus_mesh(400, 250)
d = mesh_to_graph(pos, face)
h = float(d.edge_coords[:, 0].mean())
t = time.perf_counter()
g = geodesic_patches(pos, face, 3 * h)
el = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(f'N={g.num_nodes} E={g.edge_index.size(1)} radius={3*h:.4f} time={el:.1f}s '
      f'maxrss={rss:.2f}GB', flush=True)
from gdl_graphs.nn import GeodesicPolarConv, GraphConv

torch.manual_seed(0)
x = torch.randn(g.num_nodes, 16, requires_grad=True)
gpc = GeodesicPolarConv(16, 16, num_rho=2, num_theta=8)
gc = GraphConv(16, 16)
for name, fn in [('gpc', lambda: gpc(x, g.edge_index, g.edge_coords,
                                     radius=g.radius).sum().backward()),
                 ('graphconv', lambda: gc(x, g.edge_index).sum().backward())]:
    fn()
    ts = []
    for _ in range(3):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    print(name, 'fwd+bwd min', f'{min(ts):.3f}s', flush=True)
