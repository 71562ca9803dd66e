"""RNA surface segmentation (Poulenard et al. 2019; the data set of
github.com/nmwsharp/RNA-Surface-Segmentation-Dataset: 640 molecular surfaces of ~10k vertices,
260 labels per vertex, train.txt / test.txt) with geodesic polar convolutions on geodesic
disks, rotation invariant by construction.

    python scripts/rna_segmentation.py --data DATA --cache CACHE --checkpoint C.pt
    python scripts/rna_segmentation.py --evaluate --checkpoint C.pt --meshes DIR --labels DIR

DATA holds ``off/``, ``labels/``, ``train.txt`` and ``test.txt`` (the repository as it is);
nothing is downloaded. Labels ``-1 .. 258`` become classes ``0 .. 259`` (the data set's
README). Every mesh is preprocessed once into CACHE (one file per mesh, written atomically,
keyed by a fingerprint of the mesh and label files and of the parameters; a changed input is
recomputed): geodesic disks of radius ``--radius`` units (:func:`unit`: the square root of
the surface area over 100, independent of the triangulation)
(:func:`gdl_graphs.geodesics.geodesic_patches`, any triangle mesh) and rotation-invariant
vertex features (Gaussian and mean curvature times the squared / plain unit, the
log of the vertex area over the mean, and the position in the mesh's principal axes: the
global context a local patch cannot see). The model: ``--layers`` residual
:class:`gdl_graphs.nn.GeodesicPolarConv` layers (Gaussian (rho, theta) bins with angular max
pooling: invariant to the choice of gauge up to the bins' interpolation, and the inputs are
invariant to rigid motions, so the predictions are too) and a linear classifier. Accuracy is
per vertex of the original meshes; ``--evaluate --originals`` projects the predictions on
remeshed scans back onto the original meshes' vertices.

``--evaluate`` applies a saved checkpoint to every ``.off`` of ``--meshes`` with its label file
``<stem>.txt`` in ``--labels`` (how a trained model meets new scans); an unreadable mesh, a
missing label file or a label count that is not the vertex count is one line naming the file
(exit code 2).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import os.path as osp
import pathlib
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from gdl_graphs.domains.mesh import angle_defect
from gdl_graphs.experiments import UserError, cli, save_checkpoint, seed_everything, write_results
from gdl_graphs.geodesics import geodesic_patches
from gdl_graphs.geodesics.mesh import check_face, check_pos, clean_faces
from gdl_graphs.geodesics.operators import corner_geometry, cotan_laplacian, mass
from gdl_graphs.geometry import knn
from gdl_graphs.io import read_mesh
from gdl_graphs.io.atomic import write_torch
from gdl_graphs.nn import GeodesicPolarConv

SCRIPT = 'rna_segmentation'
NUM_CLASSES = 260                 # labels -1 .. 258: 260 values (the data set's README says 259)
FORMAT = 3                        # of the cache files; a new one recomputes them
NUM_FEATURES = 7


# ----------------------------------------------------------------------------- preprocessing
def read_labels(path: pathlib.Path, num_vertices: int) -> torch.Tensor:
    try:
        lab = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as exc:
        raise UserError(f'{path}: not a label file (one integer per line): '
                        f'{str(exc).splitlines()[0][:120]}') from None
    if lab.shape != (num_vertices,):
        raise UserError(f'{path}: {lab.size} labels for a mesh of {num_vertices} vertices; '
                        f'one label per vertex, in the order of the OFF file')
    if lab.size and (lab.min() < -1 or lab.max() >= NUM_CLASSES - 1):
        raise UserError(f'{path}: labels must lie in -1 .. {NUM_CLASSES - 2}, got '
                        f'{int(lab.min())} .. {int(lab.max())}')
    return torch.from_numpy(lab + 1)


def features(pos: torch.Tensor, face: torch.Tensor, h: float) -> torch.Tensor:
    """Rotation-invariant vertex features ``[N, 7]``: Gaussian curvature (angle defect over
    the vertex area) times ``h^2``, signed mean curvature (the cotan Laplacian of the
    positions along the normal) times ``h``, its magnitude, the log of the vertex area over
    the mean vertex area (``h``: the mesh's :func:`unit`), and the coordinates in the principal
    axes of the area-weighted vertices, over the RMS radius, each axis oriented by the sign
    of its third moment (invariant to rigid motions and scale where the three principal
    variances differ; area weights keep them stable under remeshing)."""
    pos = check_pos(pos).double()
    f, _, _, _ = clean_faces(pos, check_face(face, pos.size(0)))
    v, fn = pos.numpy(), f.numpy()
    n = v.shape[0]
    nu, area2, cot, _ = corner_geometry(v[fn])
    m = mass(fn, area2, n)
    safe = np.where(m > 0, m, 1.0)
    k = angle_defect(pos, f.t()).numpy() / safe * h * h
    lap = cotan_laplacian(fn, cot, n) @ v / safe[:, None]
    normal = np.zeros_like(v)
    for c in range(3):
        np.add.at(normal, fn[:, c], nu * area2[:, None])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    hmean = 0.5 * (lap * normal).sum(1) * h
    logm = np.log(np.maximum(m, 1e-12 * m.mean()) / m.mean()) if m.mean() > 0 else m
    x = np.concatenate([np.stack([k, hmean, np.abs(hmean), logm], 1), principal_coords(v, m)], 1)
    x[m == 0] = 0.0
    return torch.from_numpy(np.clip(x, -10, 10)).float()


def unit(v: np.ndarray, fn: np.ndarray) -> float:
    """The length unit of a mesh: the square root of its surface area over 100, about the
    mean edge length of a 13,000-vertex mesh. It depends on the surface, not on its
    triangulation, so a remeshed scan gets the same disks and features."""
    if not fn.size:
        return 1.0
    area = 0.5 * np.linalg.norm(np.cross(v[fn[:, 1]] - v[fn[:, 0]], v[fn[:, 2]] - v[fn[:, 0]]),
                                axis=1).sum()
    return float(np.sqrt(area)) / 100 if area > 0 else 1.0


def principal_coords(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Positions in the principal axes of the points ``v`` weighted by ``m`` (largest variance
    first), over the RMS radius; each axis points where the third moment is positive."""
    w = m / m.sum() if m.sum() > 0 else np.full(len(v), 1.0 / max(len(v), 1))
    d = v - w @ v
    var, axes = np.linalg.eigh((d * w[:, None]).T @ d)
    p = d @ axes[:, ::-1]
    p *= np.where(w @ p ** 3 < 0, -1.0, 1.0)
    return p / max(np.sqrt(var.sum()), 1e-300)


def fingerprint(*paths: pathlib.Path, params: str) -> str:
    digest = hashlib.sha1(params.encode())
    for p in paths:
        digest.update(p.read_bytes())
    return digest.hexdigest()


def preprocess(mesh: pathlib.Path, labels: pathlib.Path, cache: Optional[pathlib.Path],
               radius: float) -> Dict[str, torch.Tensor]:
    """The patch graph of one mesh with its features and labels, from ``cache`` when its
    fingerprint matches, else computed (and written atomically)."""
    if not labels.is_file():
        raise UserError(f'{labels}: no label file for {mesh.name} (expected {labels.name})')
    key = fingerprint(mesh, labels, params=f'{FORMAT} radius={radius}')
    target = cache / f'{mesh.stem}.pt' if cache is not None else None
    if target is not None and target.is_file():
        try:
            item = torch.load(target, weights_only=True)
            if item.get('fingerprint') == key:
                return item
        except Exception:  # a damaged cache file: recomputed below
            pass
    try:
        pos, face = read_mesh(mesh)
    except (OSError, ValueError) as exc:
        raise UserError(f'{mesh}: cannot read the mesh: {str(exc).splitlines()[0][:160]}'
                        ) from None
    y = read_labels(labels, pos.size(0))
    pos = pos.double()
    h = unit(pos.numpy(), face.t().numpy())
    data = geodesic_patches(pos, face, radius * h)
    item = {'fingerprint': key, 'x': features(pos, face, h), 'y': y,
            'edge_index': data.edge_index, 'edge_coords': data.edge_coords.float(),
            'radius': torch.tensor(float(data.radius))}
    if target is not None:
        tmp = target.with_name(f'.{target.name}.{os.getpid()}.tmp')
        try:
            write_torch(item, tmp)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return item


def load_split(data: pathlib.Path, name: str) -> List[str]:
    path = data / f'{name}.txt'
    if not path.is_file():
        raise UserError(f'{path} not found: --data must hold off/, labels/, train.txt and '
                        f'test.txt (the RNA-Surface-Segmentation-Dataset repository)')
    return [pathlib.Path(s.strip()).stem for s in path.read_text().split() if s.strip()]


# ----------------------------------------------------------------------------- model
class PatchNet(torch.nn.Module):
    """Residual GeodesicPolarConv layers and a linear classifier (per vertex)."""

    def __init__(self, in_channels: int, hidden: int, layers: int, num_classes: int,
                 num_rho: int = 2, num_theta: int = 8, dropout: float = 0.1):
        super().__init__()
        self.lin_in = torch.nn.Linear(in_channels, hidden)
        self.convs = torch.nn.ModuleList(
            [GeodesicPolarConv(hidden, hidden, num_rho=num_rho, num_theta=num_theta)
             for _ in range(layers)])
        self.norms = torch.nn.ModuleList([torch.nn.LayerNorm(hidden) for _ in range(layers)])
        self.lin_out = torch.nn.Linear(hidden, num_classes)
        self.dropout = dropout

    def forward(self, item: Dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.lin_in(item['x'])
        for conv, norm in zip(self.convs, self.norms):
            z = conv(norm(h), item['edge_index'], item['edge_coords'], radius=item['radius'])
            h = h + F.dropout(F.relu(z), self.dropout, self.training)
        return self.lin_out(h)


def accuracy(model: PatchNet, items: List[Dict[str, torch.Tensor]]) -> float:
    model.eval()
    right = total = 0
    with torch.no_grad():
        for item in items:
            right += int((model(item).argmax(1) == item['y']).sum())
            total += item['y'].numel()
    return right / max(total, 1)


def projected_accuracy(model: PatchNet, items: List[Dict[str, torch.Tensor]],
                       meshes: List[pathlib.Path], originals: pathlib.Path) -> float:
    """Accuracy on the vertices of the original meshes (``originals/off``, scored against
    ``originals/labels``): each original vertex takes the prediction of the nearest vertex of
    the evaluated (remeshed) mesh, as the data set's README asks results to be reported."""
    model.eval()
    right = total = 0
    with torch.no_grad():
        for item, mesh in zip(items, meshes):
            source = originals / 'off' / mesh.name
            try:
                pos, _ = read_mesh(source)
            except (OSError, ValueError) as exc:
                raise UserError(f'{source}: cannot read the original mesh: '
                                f'{str(exc).splitlines()[0][:160]}') from None
            y = read_labels(originals / 'labels' / f'{mesh.stem}.txt', pos.size(0))
            nearest = knn(read_mesh(mesh)[0].double(), pos.double(), 1)[1]
            right += int((model(item).argmax(1)[nearest] == y).sum())
            total += y.numel()
    return right / max(total, 1)


# ----------------------------------------------------------------------------- commands
def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', help='the data set folder (off/, labels/, train.txt, test.txt)')
    p.add_argument('--cache', help='folder of the preprocessed meshes (created)')
    p.add_argument('--checkpoint', required=True, help='model file (written, or read)')
    p.add_argument('--overwrite', action='store_true', help='replace --checkpoint/--results')
    p.add_argument('--results', help='JSON of the accuracies')
    p.add_argument('--evaluate', action='store_true', help='evaluate --checkpoint only')
    p.add_argument('--meshes', help='--evaluate: folder of .off meshes')
    p.add_argument('--labels', help='--evaluate: folder of <stem>.txt label files')
    p.add_argument('--originals', help='--evaluate: the data set folder (off/, labels/) of the '
                   'meshes before remeshing; predictions are projected back onto its vertices '
                   '(nearest vertex) and scored against its labels')
    p.add_argument('--radius', type=float, default=3.0,
                   help='disk radius in units of sqrt(surface area) / 100')
    p.add_argument('--epochs', type=int, default=50)
    p.add_argument('--minutes', type=float,
                   help='stop training after this many minutes (at a step boundary)')
    p.add_argument('--hidden', type=int, default=64)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--limit', type=int, help='use the first LIMIT meshes of each split')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, help='torch threads')
    p.add_argument('--workers', type=int, default=1, help='preprocessing processes')
    args = p.parse_args(argv)
    for name in ('epochs', 'hidden', 'layers', 'workers'):
        if getattr(args, name) < 1:
            raise UserError(f'--{name} must be a positive integer, got {getattr(args, name)}')
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise UserError(f'--minutes must be a positive number, got {args.minutes}')
    if not (math.isfinite(args.radius) and args.radius > 0):
        raise UserError(f'--radius must be a positive number, got {args.radius}')
    if args.evaluate:
        if not (args.meshes and args.labels):
            raise UserError('--evaluate needs --meshes DIR and --labels DIR')
        if not osp.isfile(args.checkpoint):
            raise UserError(f'--checkpoint {args.checkpoint}: no such file')
    elif not args.data:
        raise UserError('training needs --data DIR (or pass --evaluate)')
    else:
        for path in (args.checkpoint, args.results):
            if path and osp.exists(path) and not args.overwrite:
                raise UserError(f'{path} exists: pass --overwrite to replace it')
    if args.results and osp.isdir(args.results):
        raise UserError(f'--results {args.results} is a folder: name a JSON file')
    return args


def _preprocess_one(job):
    torch.set_num_threads(1)
    return preprocess(*job)


def load_items(meshes: pathlib.Path, labels: pathlib.Path, names: List[str],
               cache: Optional[pathlib.Path], radius: float,
               workers: int = 1) -> List[Dict[str, torch.Tensor]]:
    """The preprocessed meshes ``names`` (``workers`` processes, one thread each)."""
    jobs = [(meshes / f'{n}.off', labels / f'{n}.txt', cache, radius) for n in names]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('fork')) as pool:
            return list(pool.map(_preprocess_one, jobs, chunksize=4))
    items = []
    for i, job in enumerate(jobs):
        items.append(preprocess(*job))
        if (i + 1) % 50 == 0:
            print(f'  preprocessed {i + 1}/{len(jobs)}', flush=True)
    return items


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cache = pathlib.Path(args.cache) if args.cache else None
    if cache is not None:
        if cache.exists() and not cache.is_dir():
            raise UserError(f'--cache {cache} is a file: name a folder')
        cache.mkdir(parents=True, exist_ok=True)
    if args.evaluate:
        state = torch.load(args.checkpoint, weights_only=True)
        if not isinstance(state, dict) or state.get('script') != SCRIPT:
            raise UserError(f'--checkpoint {args.checkpoint}: not a checkpoint of {SCRIPT}.py')
        meshes, labels = pathlib.Path(args.meshes), pathlib.Path(args.labels)
        for folder in (meshes, labels):
            if not folder.is_dir():
                raise UserError(f'{folder}: no such folder')
        names = sorted(p.stem for p in meshes.glob('*.off'))
        if not names:
            raise UserError(f'{meshes}: no .off mesh in this folder')
        cfg = state['config']
        items = load_items(meshes, labels, names, cache, cfg['radius'], args.workers)
        model = PatchNet(NUM_FEATURES, cfg['hidden'], cfg['layers'], NUM_CLASSES)
        model.load_state_dict(state['model'])
        acc = accuracy(model, items)
        n_vertices = sum(i['y'].numel() for i in items)
        print(f'accuracy {acc:.4f} over {len(items)} meshes ({n_vertices} vertices)')
        result = {'script': SCRIPT, 'evaluate': True, 'meshes': str(meshes), 'accuracy': acc,
                  'num_meshes': len(items), 'num_vertices': n_vertices}
        if args.originals:
            originals = pathlib.Path(args.originals)
            result['projected_accuracy'] = projected_accuracy(
                model, items, [meshes / f'{n}.off' for n in names], originals)
            print(f'accuracy projected onto the original meshes of {originals}: '
                  f'{result["projected_accuracy"]:.4f}')
        if args.results:
            write_results(result, args.results)
        return 0

    seed_everything(args.seed)
    data = pathlib.Path(args.data)
    train_names, test_names = load_split(data, 'train'), load_split(data, 'test')
    if args.limit:
        train_names, test_names = train_names[:args.limit], test_names[:args.limit]
    t0 = time.perf_counter()
    train = load_items(data / 'off', data / 'labels', train_names, cache, args.radius,
                       args.workers)
    test = load_items(data / 'off', data / 'labels', test_names, cache, args.radius,
                      args.workers)
    prep = time.perf_counter() - t0
    print(f'preprocessed {len(train)} + {len(test)} meshes in {prep:.1f} s', flush=True)
    model = PatchNet(NUM_FEATURES, args.hidden, args.layers, NUM_CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    deadline = None if args.minutes is None else time.perf_counter() + 60 * args.minutes
    t0, steps, epoch = time.perf_counter(), 0, 0
    while epoch < args.epochs and (deadline is None or time.perf_counter() < deadline):
        epoch += 1
        model.train()
        total, seen = 0.0, 0
        for i in torch.randperm(len(train), generator=g).tolist():
            opt.zero_grad()
            loss = F.cross_entropy(model(train[i]), train[i]['y'])
            loss.backward()
            opt.step()
            total, seen, steps = total + float(loss.detach()), seen + 1, steps + 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
        print(f'epoch {epoch:3d} loss {total / max(seen, 1):.4f} ({seen} meshes, '
              f'{time.perf_counter() - t0:.0f} s)', flush=True)
    train_seconds = time.perf_counter() - t0
    # train accuracy on the first 50 training meshes: a full pass costs as much as an epoch
    test_acc, train_acc = accuracy(model, test), accuracy(model, train[:50])
    print(f'train accuracy (50 meshes) {train_acc:.4f}  test accuracy {test_acc:.4f}')
    config = {'radius': args.radius, 'hidden': args.hidden, 'layers': args.layers,
              'epochs': args.epochs, 'minutes': args.minutes, 'lr': args.lr, 'seed': args.seed,
              'limit': args.limit}
    save_checkpoint({'script': SCRIPT, 'config': config, 'model': model.state_dict()},
                args.checkpoint)
    if args.results:
        write_results({'script': SCRIPT, 'config': config, 'train_accuracy': train_acc,
                     'test_accuracy': test_acc, 'preprocess_seconds': prep,
                     'train_seconds': train_seconds, 'steps': steps, 'epochs_run': epoch,
                     'threads': torch.get_num_threads(),
                     'num_train': len(train), 'num_test': len(test)}, args.results)
    return 0


if __name__ == '__main__':
    sys.exit(cli(main))
