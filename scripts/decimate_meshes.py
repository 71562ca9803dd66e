"""Re-triangulate labelled meshes: decimate every mesh of a folder with fast-simplification
(quadric edge collapse) and carry its per-vertex labels to the new vertices by the nearest
original vertex. This is how a segmentation model is tested for robustness to remeshing.

    python scripts/decimate_meshes.py --meshes DIR --labels DIR --out OUT [--ratio 0.5]
        [--names test.txt]

Reads ``DIR/<stem>.off`` (any mesh format ``gdl_graphs.io.read_mesh`` reads) and
``LABELS/<stem>.txt`` (one integer per vertex); writes ``OUT/off/<stem>.off`` and
``OUT/labels/<stem>.txt`` (each file atomically), ready for ``rna_segmentation.py --evaluate
--meshes OUT/off --labels OUT/labels``. ``--ratio`` is the fraction of the faces removed
(0.5: about half the vertices remain). ``--names`` restricts the work to the stems listed in
a file (the data set's ``test.txt``). Needs ``pip install fast-simplification``.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
from typing import List, Optional

import numpy as np
import torch

from gdl_graphs.experiments import UserError, cli
from gdl_graphs.geometry import knn
from gdl_graphs.io import read_mesh, write_mesh
from gdl_graphs.io.atomic import atomic_path


def decimate(pos: np.ndarray, face: np.ndarray, labels: np.ndarray, ratio: float):
    """``(pos, face, labels)`` of the decimated mesh; each new vertex takes the label of the
    nearest original vertex."""
    import fast_simplification
    new_pos, new_face = fast_simplification.simplify(pos, face, target_reduction=ratio)
    nearest = knn(torch.from_numpy(pos), torch.from_numpy(new_pos), 1)[1].numpy()
    return new_pos, new_face, labels[nearest]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--meshes', required=True, help='folder of meshes')
    p.add_argument('--labels', required=True, help='folder of <stem>.txt label files')
    p.add_argument('--out', required=True, help='output folder (off/ and labels/ created)')
    p.add_argument('--ratio', type=float, default=0.5, help='fraction of faces removed')
    p.add_argument('--names', help='file listing the meshes to use (one name per line)')
    args = p.parse_args(argv)
    if not 0.0 < args.ratio < 1.0:
        raise UserError(f'--ratio must lie in (0, 1), got {args.ratio}')
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        raise UserError('decimation needs fast-simplification: pip install '
                        'fast-simplification') from None
    meshes, labels, out = (pathlib.Path(a) for a in (args.meshes, args.labels, args.out))
    for folder in (meshes, labels):
        if not folder.is_dir():
            raise UserError(f'{folder}: no such folder')
    if args.names:
        stems = [pathlib.Path(s.strip()).stem for s in pathlib.Path(args.names).read_text()
                 .split() if s.strip()]
        files = [meshes / f'{s}.off' for s in stems]
    else:
        files = sorted(meshes.glob('*.off'))
    if not files:
        raise UserError(f'{meshes}: no .off mesh to decimate')
    (out / 'off').mkdir(parents=True, exist_ok=True)
    (out / 'labels').mkdir(parents=True, exist_ok=True)
    before = after = 0
    for path in files:
        label_path = labels / f'{path.stem}.txt'
        try:
            pos, face = read_mesh(path)
            lab = np.loadtxt(label_path, dtype=np.int64, ndmin=1)
        except (OSError, ValueError) as exc:
            raise UserError(f'{path.name}: {str(exc).splitlines()[0][:160]}') from None
        if lab.shape != (pos.size(0),):
            raise UserError(f'{label_path}: {lab.size} labels for {pos.size(0)} vertices')
        new_pos, new_face, new_lab = decimate(pos.double().numpy(), face.t().numpy(), lab,
                                              args.ratio)
        write_mesh(out / 'off' / path.name, torch.from_numpy(new_pos),
                   torch.from_numpy(new_face).t())
        with atomic_path(out / 'labels' / label_path.name) as tmp:
            tmp.write_text('\n'.join(map(str, new_lab.tolist())) + '\n')
        before, after = before + pos.size(0), after + len(new_pos)
    print(f'{len(files)} meshes: {before} -> {after} vertices ({after / before:.2f}) in {out}')
    return 0


if __name__ == '__main__':
    sys.exit(cli(main))
