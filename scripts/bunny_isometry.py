"""Geodesic patches vs 1-ring patches under a near-isometric deformation of a real scan.

A = the Stanford bunny (``bunny_watertight.obj``) decimated to 20 % of its faces; B = the same
scan decimated to 50 % (another triangulation, 2.5x the vertices), then twisted about the
vertical axis. A smooth signal painted on the undeformed surface moves with it. Per vertex, a
rotation-invariant descriptor (``GeodesicPolarConv`` with fixed random zero-mean filters, no
root term: Gaussian (rho, theta) bins, angular max pooling) is computed once on geodesic disks
of a fixed radius (``geodesic_patches``) and once on the 1-ring graph (``mesh_to_graph``);
the descriptors of A and B are compared at corresponding points (the closest point of B's
undeformed surface, barycentric interpolation). Controls: twist only (same triangulation) and
re-triangulation only (no twist). The metric distortion of the twist is measured (edge lengths
and geodesic distances of sampled pairs).

Needs potpourri3d (``pip install gdl-graphs[mesh]``), fast-simplification (the decimation),
rtree (trimesh's closest-point query) and matplotlib (the figure). Run from the repository root::

    python scripts/bunny_isometry.py [--data DIR] [--out PNG]

(defaults: ``../shared/data/meshes`` beside the repository, ``docs/_static/bunny_isometry.png``).

About three minutes on 2 shared cores (four ``geodesic_patches`` runs of 2.8k / 7k vertices).
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
from gdl_graphs.domains.mesh import geodesic_distance, geodesic_patches, mesh_to_graph
from gdl_graphs.io import read_mesh
from gdl_graphs.nn import GeodesicPolarConv

RADIUS = 0.015          # geodesic disk radius (m): ~6 % of the bunny's bounding-box diagonal
WAVELENGTH = 0.06       # of the painted signal (m)
TWIST = 40.0            # degrees of twist over the bunny's height
CHANNELS, OUT = 4, 16   # signal channels, descriptor size
NUM_RHO, NUM_THETA = 2, 8


def decimate(pos, face, reduction):
    try:
        import fast_simplification
    except ImportError:
        sys.exit('bunny_isometry.py needs fast-simplification for the decimation: '
                 'pip install fast-simplification')
    v, f = fast_simplification.simplify(pos.numpy(), face.t().numpy().astype(np.int32),
                                         target_reduction=reduction)
    return (torch.from_numpy(np.asarray(v, dtype=np.float64)),
            torch.from_numpy(np.asarray(f, dtype=np.int64)).t().contiguous())


def twist(pos, centre, degrees_total, height):
    """Rotate every horizontal slice about the vertical (y) axis through ``centre`` by an angle
    linear in the height (k = twist / height): a smooth deformation whose metric distortion is
    a shear of k r at distance r from the axis (horizontal lengths are kept); main() measures
    it on edge lengths and geodesic distances."""
    k = np.deg2rad(degrees_total) / height
    a = k * (pos[:, 1] - centre[1])
    x, z = pos[:, 0] - centre[0], pos[:, 2] - centre[2]
    out = pos.clone()
    out[:, 0] = centre[0] + torch.cos(a) * x - torch.sin(a) * z
    out[:, 2] = centre[2] + torch.sin(a) * x + torch.cos(a) * z
    return out


def signal(u, seed=0):
    """Smooth signal of the undeformed coordinates ``u [N, 3]``: CHANNELS plane waves."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(CHANNELS, 3, generator=g, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    phase = 2 * np.pi * torch.rand(CHANNELS, generator=g, dtype=torch.float64)
    return torch.sin(2 * np.pi * (u @ d.t()) / WAVELENGTH + phase)


def descriptor_conv(seed=0):
    """GeodesicPolarConv with fixed random filters, zero mean over the bins (a constant signal
    gives 0), no root term and no bias: the descriptor sees the patch only."""
    torch.manual_seed(seed)
    conv = GeodesicPolarConv(CHANNELS, OUT, num_rho=NUM_RHO, num_theta=NUM_THETA).double()
    with torch.no_grad():
        conv.weight -= conv.weight.mean(dim=(0, 1), keepdim=True)
        conv.lin_root.weight.zero_()
        conv.lin_root.bias.zero_()
    return conv


def correspondence(points, pos_b, face_b):
    """For every point, the closest point of the mesh B (trimesh's exact point-to-triangle
    query): the corners of its face ``[P, 3]`` and its barycentric weights ``[P, 3]``."""
    import trimesh
    f = face_b.t().numpy()
    mesh = trimesh.Trimesh(pos_b.numpy(), f, process=False)
    closest, _, tri = trimesh.proximity.closest_point(mesh, points.numpy())
    w = trimesh.triangles.points_to_barycentric(mesh.triangles[tri], closest)
    return torch.from_numpy(f[tri].astype(np.int64)), torch.from_numpy(w)


def compare(da, db_at):
    """Per-vertex error relative to the RMS descriptor norm of A; the median norm ratio; the
    per-vertex error after the best global rescaling of B (least squares)."""
    scale = da.norm(dim=1).square().mean().sqrt()
    err = (da - db_at).norm(dim=1) / scale
    ratio = (db_at.norm(dim=1) / da.norm(dim=1).clamp(min=1e-12)).median()
    s = (da * db_at).sum() / db_at.square().sum()
    return err, float(ratio), (da - s * db_at).norm(dim=1) / scale


def q(x, p):
    return float(torch.quantile(x, p))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=str(ROOT.parent / 'shared' / 'data' / 'meshes'))
    ap.add_argument('--out', default=str(ROOT / 'docs' / '_static' / 'bunny_isometry.png'))
    args = ap.parse_args()
    t0 = time.time()
    pos, face = read_mesh(pathlib.Path(args.data) / 'bunny_watertight.obj', dtype=torch.float64)
    pos_a, face_a = decimate(pos, face, 0.8)
    pos_b, face_b = decimate(pos, face, 0.5)
    lo, hi = pos.min(0).values, pos.max(0).values
    centre, height = pos.mean(0), float(hi[1] - lo[1])
    diag = float((hi - lo).norm())
    tw_a = twist(pos_a, centre, TWIST, height)
    tw_b = twist(pos_b, centre, TWIST, height)

    def mean_edge(p, f):
        return float((p[f[0]] - p[f[1]]).norm(dim=1).mean())
    h_a, h_b = mean_edge(pos_a, face_a), mean_edge(pos_b, face_b)
    print(f'A: {pos_a.size(0)} vertices, mean edge {h_a:.4f}; B: {pos_b.size(0)} vertices, '
          f'mean edge {h_b:.4f}; radius {RADIUS} = {RADIUS / h_a:.1f} h_A = {RADIUS / h_b:.1f} h_B '
          f'= {100 * RADIUS / diag:.1f} % of the diagonal {diag:.3f}')

    # --- metric distortion of the twist (same triangulation: exact correspondence)
    und = mesh_to_graph(pos_b, face_b).edge_index
    l0 = (pos_b[und[0]] - pos_b[und[1]]).norm(dim=1)
    l1 = (tw_b[und[0]] - tw_b[und[1]]).norm(dim=1)
    stretch = (l1 / l0 - 1).abs()
    g = torch.Generator().manual_seed(1)
    src = torch.randperm(pos_b.size(0), generator=g)[:20]
    rel = []
    for s in src.tolist():
        d0 = geodesic_distance(pos_b, face_b, s)
        d1 = geodesic_distance(tw_b, face_b, s)
        keep = d0 > 2 * RADIUS
        rel.append(((d1 - d0).abs() / d0)[keep])
    rel = torch.cat(rel)
    print(f'twist {TWIST:g} deg: edge length change median {100 * q(stretch, .5):.2f} %, 90th pct '
          f'{100 * q(stretch, .9):.2f} %, max {100 * float(stretch.max()):.2f} %; geodesic '
          f'distance change (20 sources x all vertices farther than 2 radii, {rel.numel()} pairs) '
          f'median {100 * q(rel, .5):.2f} %, 90th pct {100 * q(rel, .9):.2f} %')

    # --- descriptors
    conv = descriptor_conv()
    xa, xb = signal(pos_a), signal(pos_b)          # painted on the undeformed surface
    desc = {}
    for name, p, f, x in (('A', pos_a, face_a, xa), ('A twisted', tw_a, face_a, xa),
                          ('B', pos_b, face_b, xb), ('B twisted', tw_b, face_b, xb)):
        t = time.time()
        geo = geodesic_patches(p, f, RADIUS)
        ring = mesh_to_graph(p, f)
        with torch.no_grad():
            desc[name] = (conv(x, geo.edge_index, geo.edge_coords, radius=geo.radius),
                          conv(x, ring.edge_index, ring.edge_coords))
        print(f'{name}: geodesic_patches {time.time() - t:.0f} s, '
              f'{geo.edge_index.size(1) / geo.num_nodes:.1f} patch edges / vertex, '
              f'{ring.edge_index.size(1) / ring.num_nodes:.1f} 1-ring edges / vertex', flush=True)
    idx, w = correspondence(pos_a, pos_b, face_b)

    def at_b(d):
        return (d[idx] * w.unsqueeze(-1)).sum(1)
    rows = []
    results = {}
    for label, other, interp in (('twist only (same triangulation)', 'A twisted', False),
                                 ('re-triangulation only', 'B', True),
                                 ('re-triangulation + twist', 'B twisted', True)):
        row = [label]
        for k, method in ((0, 'geodesic'), (1, '1-ring')):
            db = at_b(desc[other][k]) if interp else desc[other][k]
            err, ratio, err_s = compare(desc['A'][k], db)
            results[(label, method)] = err
            row.append(f'{q(err, .5):.3f} / {q(err, .9):.3f} ({ratio:.2f}; rescaled '
                       f'{q(err_s, .5):.3f} / {q(err_s, .9):.3f})')
        rows.append(row)
    print('\n| A vs | geodesic disks: error median / 90th pct (norm ratio B/A; after the best '
          'global rescaling) | 1-ring: the same |\n|---|---|---|')
    for r in rows:
        print('| ' + ' | '.join(r) + ' |')
    print(f'\ntotal {time.time() - t0:.0f} s')
    figure(args.out, pos_a, face_a, tw_b, face_b, xb, results, h_a, h_b, stretch, rel)


def figure(out, pos_a, face_a, tw_b, face_b, xb, results, h_a, h_b, stretch, rel):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    def view(ax, p, f, value, cmap, vmin, vmax, title):
        p = p.numpy()[:, [0, 2, 1]]                # y up -> matplotlib's z up
        tri = p[f.t().numpy()]
        val = value.numpy()[f.t().numpy()].mean(1)
        coll = Poly3DCollection(tri, linewidths=0)
        coll.set_array(val)
        coll.set_cmap(cmap)
        coll.set_clim(vmin, vmax)
        ax.add_collection3d(coll)
        lo, hi = p.min(0), p.max(0)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_box_aspect(hi - lo, zoom=1.35)
        ax.view_init(elev=10, azim=-80)
        ax.set_axis_off()
        ax.set_title(title, fontsize=9)
        return coll

    key = 're-triangulation + twist'
    eg, er = results[(key, 'geodesic')], results[(key, '1-ring')]
    vmax = q(er, .95)
    fig = plt.figure(figsize=(12.5, 3.4))
    grid = fig.add_gridspec(1, 6, width_ratios=[1, 1, 1, 0.05, 0.3, 1.05], wspace=0.12,
                            left=0.0, right=0.99, bottom=0.15, top=0.86)
    ax = fig.add_subplot(grid[0], projection='3d')
    view(ax, tw_b, face_b, xb[:, 0], 'coolwarm', -1, 1,
         f'B: {tw_b.size(0)} vertices, twisted {TWIST:g} deg\n(signal channel 0)')
    ax = fig.add_subplot(grid[1], projection='3d')
    view(ax, pos_a, face_a, er, 'magma', 0, vmax,
         f'A ({pos_a.size(0)} v.) vs B: 1-ring descriptor\nerror median {q(er, .5):.2f}, '
         f'90th pct {q(er, .9):.2f}')
    ax = fig.add_subplot(grid[2], projection='3d')
    coll = view(ax, pos_a, face_a, eg, 'magma', 0, vmax,
                f'A vs B: geodesic disks (r = {RADIUS:g})\nerror median '
                f'{q(eg, .5):.2f}, 90th pct {q(eg, .9):.2f}')
    fig.colorbar(coll, cax=fig.add_subplot(grid[3]), label='relative error')
    ax = fig.add_subplot(grid[5])
    bins = np.linspace(0, float(max(er.max(), eg.max())), 40)
    for method in ('geodesic', '1-ring'):
        ax.hist(results[(key, method)].numpy(), bins=bins, histtype='step', lw=1.5,
                label='geodesic disks' if method == 'geodesic' else method)
    ax.set_xlabel('per-vertex descriptor error (relative)', fontsize=9)
    ax.set_ylabel('vertices of A', fontsize=9)
    ax.set_title(f'twist: edge lengths change {100 * q(stretch, .5):.1f} % (median),\n'
                 f'geodesic distances {100 * q(rel, .5):.1f} %', fontsize=9)
    ax.legend(fontsize=8)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f'wrote {out} ({out.stat().st_size // 1024} KB)')


if __name__ == '__main__':
    main()
