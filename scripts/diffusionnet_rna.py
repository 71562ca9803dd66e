"""DiffusionNet (Sharp et al. 2022) on the RNA surfaces, under rna_segmentation.py's protocol:
the comparison row of the meshes page. DiffusionNet's own package is imported from a
checkout of github.com/nmwsharp/diffusion-net (nothing of it is copied here), and the meshes
are read as its RNA dataset class reads them;
this file only replaces its CUDA-only training script: CPU, one thread, a fixed number of
epochs, and evaluation on a folder of (remeshed) meshes projected back onto the originals.

    python scripts/diffusionnet_rna.py train --diffusion-net DN --data DATA --epochs 8 \
        --model dn.pt --cache OPS
    python scripts/diffusionnet_rna.py eval --diffusion-net DN --model dn.pt --cache OPS \
        --meshes DIR/off --labels DIR/labels --originals DATA

DATA is the data set's folder (``off/``, ``labels/``, ``train.txt``, ``test.txt``; a shorter
``train.txt`` trains on fewer meshes). The recipe is DiffusionNet's RNA experiment: xyz
inputs with random rotations, 4 blocks of width 128, 128 eigenvectors, Adam at 1e-3 halved
every 50 epochs, one mesh per step. Needs potpourri3d, robust-laplacian and scipy.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np
import torch

K_EIG = 128


def import_diffusion_net(checkout: str):
    """DiffusionNet's package from a checkout, imported as ``diffusion_net`` (sys.path stays
    as it is)."""
    folder = os.path.join(checkout, 'src', 'diffusion_net')
    spec = importlib.util.spec_from_file_location(
        'diffusion_net', os.path.join(folder, '__init__.py'), submodule_search_locations=[folder])
    if spec is None:
        raise SystemExit(f'{checkout}: not a checkout of nmwsharp/diffusion-net')
    module = importlib.util.module_from_spec(spec)
    sys.modules['diffusion_net'] = module
    spec.loader.exec_module(module)
    return module


def meshes_of(dn, data: str, split: str):
    """The meshes of ``split`` (``train.txt`` / ``test.txt``) as DiffusionNet's RNA dataset
    class reads them: positions centred and scaled, labels shifted to ``0 .. 259``."""
    with open(os.path.join(data, f'{split}.txt')) as f:
        names = [line.strip() for line in f if line.strip()]
    return [load(dn, os.path.join(data, 'off', n), os.path.join(data, 'labels', n[:-4] + '.txt'))
            for n in names]


def load(dn, off: str, labels: str):
    import potpourri3d as pp3d
    verts, faces = pp3d.read_mesh(off)
    y = torch.from_numpy(np.loadtxt(labels).astype(np.int64) + 1)
    verts = dn.geometry.normalize_positions(torch.tensor(verts).float())
    return verts, torch.tensor(faces), y


def model_of(dn) -> torch.nn.Module:
    return dn.layers.DiffusionNet(
        C_in=3, C_out=260, C_width=128, N_block=4, outputs_at='vertices', dropout=True,
        last_activation=lambda x: torch.nn.functional.log_softmax(x, dim=-1))


def predict(dn, model, verts, faces, cache) -> torch.Tensor:
    _, mass, lap, evals, evecs, gx, gy = dn.geometry.get_operators(verts, faces, K_EIG, cache)
    return model(verts, mass, L=lap, evals=evals, evecs=evecs, gradX=gx, gradY=gy).argmax(1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('command', choices=['train', 'eval'])
    p.add_argument('--diffusion-net', required=True, help='checkout of nmwsharp/diffusion-net')
    p.add_argument('--model', required=True, help='state dict (written by train)')
    p.add_argument('--cache', required=True, help="DiffusionNet's operator cache folder")
    p.add_argument('--data', help='train: the data set folder')
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--meshes', help='eval: folder of .off meshes')
    p.add_argument('--labels', help='eval: folder of <stem>.txt labels')
    p.add_argument('--originals', help='eval: data set folder to project predictions onto')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    dn = import_diffusion_net(args.diffusion_net)
    if args.command == 'train':
        train, test = (meshes_of(dn, args.data, split) for split in ('train', 'test'))
        model = model_of(dn)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        t0, steps = time.perf_counter(), 0
        for epoch in range(args.epochs):
            if epoch > 0 and epoch % 50 == 0:
                for group in opt.param_groups:
                    group['lr'] *= 0.5
            model.train()
            for i in torch.randperm(len(train)).tolist():
                verts, faces, y = train[i]
                _, mass, lap, evals, evecs, gx, gy = dn.geometry.get_operators(
                    verts, faces, K_EIG, args.cache)
                verts = dn.utils.random_rotate_points(verts)
                out = model(verts, mass, L=lap, evals=evals, evecs=evecs, gradX=gx, gradY=gy)
                loss = torch.nn.functional.nll_loss(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
            print(f'epoch {epoch + 1} ({time.perf_counter() - t0:.0f} s)', flush=True)
        seconds = time.perf_counter() - t0
        torch.save(model.state_dict(), args.model)
        model.eval()
        right = total = 0
        with torch.no_grad():
            for verts, faces, y in test:
                pred = predict(dn, model, verts, faces, args.cache)
                right, total = right + int((pred == y).sum()), total + y.numel()
        print(json.dumps({'test_accuracy': right / total, 'steps': steps,
                          'train_seconds': seconds, 'seconds_per_step': seconds / steps}))
        return 0
    from scipy.spatial import cKDTree
    model = model_of(dn)
    model.load_state_dict(torch.load(args.model, weights_only=True))
    model.eval()
    names = sorted(f[:-4] for f in os.listdir(args.meshes) if f.endswith('.off'))
    right = total = p_right = p_total = 0
    with torch.no_grad():
        for n in names:
            verts, faces, y = load(dn, os.path.join(args.meshes, n + '.off'),
                                   os.path.join(args.labels, n + '.txt'))
            pred = predict(dn, model, verts, faces, args.cache)
            right, total = right + int((pred == y).sum()), total + y.numel()
            if args.originals:
                import potpourri3d as pp3d
                v0, _ = pp3d.read_mesh(os.path.join(args.originals, 'off', n + '.off'))
                y0 = np.loadtxt(os.path.join(args.originals, 'labels', n + '.txt')) + 1
                near = cKDTree(pp3d.read_mesh(os.path.join(args.meshes, n + '.off'))[0]
                               ).query(v0)[1]
                p_right += int((pred.numpy()[near] == y0.astype(np.int64)).sum())
                p_total += len(y0)
    out = {'meshes': args.meshes, 'num_meshes': len(names), 'accuracy': right / total}
    if args.originals:
        out['projected_accuracy'] = p_right / p_total
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
