"""The geodesic accuracy table of docs/studies.rst: geodesic_patches against exact geometry on unit
icospheres (great circles, tangent directions, transport), on icospheres with jittered
vertices, and on a flat grid (Euclidean).

    python scripts/geodesic_accuracy.py [fast|heat|potpourri3d]     (the solver; default fast)"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'tests')]
import test_mesh_geodesics
import torch
from test_mesh_geodesics import grid, sphere_errors, wrap

from gdl_graphs.geodesics import geodesic_patches as _patches

SOLVER = sys.argv[1] if len(sys.argv) > 1 else 'fast'


def geodesic_patches(pos, face, radius, solver=None):
    return _patches(pos, face, radius, solver=SOLVER)


test_mesh_geodesics.geodesic_patches = geodesic_patches   # sphere_errors calls it
print('| icosphere level | vertices | mean edge h | patch edges / vertex '
      '| distance error max / mean | theta error mean / max (rad) '
      '| transport error mean / max (rad) |')
for level, jitter in ((1, 0), (2, 0), (3, 0), (2, 0.3), (3, 0.3)):
    g, great, d_err, t_err = sphere_errors(level, 0.5, jitter=jitter)
    if not g.edge_index.numel():
        print(f'| {level} | {g.num_nodes} | no pair within 0.5 |')
        continue
    p, (s, t) = g.pos, g.edge_index
    ax = torch.cross(p[s], p[t], dim=-1); sn = ax.norm(dim=1, keepdim=True); ax = ax / sn
    cs = (p[s] * p[t]).sum(1, keepdim=True); e1 = g.frame[s, 0]; fr = g.frame[t]
    rot = (e1 * cs + torch.cross(ax, e1, dim=-1) * sn
           + ax * (ax * e1).sum(1, keepdim=True) * (1 - cs))
    conn = torch.atan2((rot * fr[:, 1]).sum(1), (rot * fr[:, 0]).sum(1))
    ce = wrap(g.connection - conn).abs()
    h = float((g.pos[g.face[0]] - g.pos[g.face[1]]).norm(dim=1).mean())
    name = f'{level} jittered {jitter} h' if jitter else f'{level}'
    print(f'| {name} | {g.num_nodes} | {h:.3f} | {g.edge_index.size(1)/g.num_nodes:.1f} '
          f'| {float(d_err.max()):.4f} / {float(d_err.mean()):.4f} '
          f'| {float(t_err.mean()):.4f} / {float(t_err.max()):.4f} '
          f'| {float(ce.mean()):.4f} / {float(ce.max()):.4f} |')
for n in (9, 17):
    pos, face = grid(n)
    g = geodesic_patches(pos, face, 0.3)
    s, t = g.edge_index
    d = pos[s] - pos[t]
    inner = ((pos[t, :2] > 0.3) & (pos[t, :2] < 0.7)).all(1)
    de = (g.edge_coords[:, 0] - d.norm(dim=1))[inner].abs()
    te = wrap(g.edge_coords[:, 1] - torch.atan2(d[:, 1], d[:, 0]))[inner].abs()
    ce = wrap(g.connection)[inner].abs()
    print(f'plane {n}x{n} | {float(de.max()):.4f} / {float(de.mean()):.4f} '
          f'| {float(te.mean()):.4f} / {float(te.max()):.4f} '
          f'| {float(ce.mean()):.4f} / {float(ce.max()):.4f}')
