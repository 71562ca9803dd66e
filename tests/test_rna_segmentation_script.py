"""scripts/rna_segmentation.py on generated meshes in the data set's layout (off/, labels/,
train.txt, test.txt): training writes a checkpoint that --evaluate applies to a folder of
meshes; the preprocessing cache is reused and recomputed when an input changes; features and
predictions are invariant to rigid motions; bad files are one line naming the file, exit 2."""
import json
import math

import numpy as np
import pytest
import torch
from _scripts import load_script, run

from gdl_graphs.domains.mesh import sphere_mesh, torus_mesh
from gdl_graphs.domains.sphere import icosphere
from gdl_graphs.io import read_mesh, write_mesh


def _labels(pos):
    return (pos[:, 2] > 0).long() + 2 * (pos[:, 0] > 0).long() - 1     # -1 .. 2


def make_data(root):
    (root / 'off').mkdir(parents=True)
    (root / 'labels').mkdir()
    ico = icosphere(2)
    meshes = {'ico': (ico.pos, ico.face), 'torus': torus_mesh(12, 8), 'uv': sphere_mesh(8, 12)}
    for name, (pos, face) in meshes.items():
        write_mesh(root / 'off' / f'{name}.off', pos, face)
        np.savetxt(root / 'labels' / f'{name}.txt', _labels(pos).numpy(), fmt='%d')
    (root / 'train.txt').write_text('ico.off\ntorus.off\n')
    (root / 'test.txt').write_text('uv.off\n')
    return meshes


SMALL = ['--radius', '30', '--epochs', '2', '--hidden', '8', '--layers', '1', '--threads', '1']


def test_train_then_evaluate_a_folder(tmp_path, capsys):
    data = tmp_path / 'rna'
    make_data(data)
    ckpt, res = tmp_path / 'model.pt', tmp_path / 'r.json'
    argv = ['--data', str(data), '--cache', str(tmp_path / 'cache'), '--checkpoint', str(ckpt),
            '--results', str(res)] + SMALL
    assert run('rna_segmentation', argv) == 0
    out = capsys.readouterr().out
    assert 'test accuracy' in out and ckpt.is_file() and res.is_file()
    assert sorted(p.name for p in (tmp_path / 'cache').iterdir()) == ['ico.pt', 'torus.pt',
                                                                       'uv.pt']
    # an existing checkpoint is not replaced without --overwrite
    assert run('rna_segmentation', argv) == 2
    assert 'pass --overwrite' in capsys.readouterr().err
    # evaluate the checkpoint on a folder of meshes: its accuracy is the script's own
    assert run('rna_segmentation', ['--evaluate', '--checkpoint', str(ckpt), '--meshes',
                                    str(data / 'off'), '--labels', str(data / 'labels'),
                                    '--workers', '2']) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    acc = float(line.split()[1])
    mod = load_script('rna_segmentation')
    state = torch.load(ckpt, weights_only=True)
    model = mod.PatchNet(mod.NUM_FEATURES, 8, 1, mod.NUM_CLASSES)
    model.load_state_dict(state['model'])
    items = [mod.preprocess(data / 'off' / f'{n}.off', data / 'labels' / f'{n}.txt', None, 30.0)
             for n in ('ico', 'torus', 'uv')]
    assert math.isclose(acc, mod.accuracy(model, items), abs_tol=1e-4)


def test_cache_is_reused_and_recomputed_when_an_input_changes(tmp_path):
    data = tmp_path / 'rna'
    meshes = make_data(data)
    mod = load_script('rna_segmentation')
    cache = tmp_path / 'cache'
    cache.mkdir()
    mesh, lab = data / 'off' / 'ico.off', data / 'labels' / 'ico.txt'
    a = mod.preprocess(mesh, lab, cache, 30.0)
    stamp = (cache / 'ico.pt').stat().st_mtime_ns
    b = mod.preprocess(mesh, lab, cache, 30.0)
    assert (cache / 'ico.pt').stat().st_mtime_ns == stamp          # read, not rewritten
    assert torch.equal(a['edge_index'], b['edge_index']) and torch.equal(a['y'], b['y'])
    np.savetxt(lab, np.zeros(meshes['ico'][0].size(0), dtype=int), fmt='%d')
    c = mod.preprocess(mesh, lab, cache, 30.0)
    assert bool((c['y'] == 1).all())                                # new labels, recomputed
    assert not list(cache.glob('.*.tmp'))                           # no temporary left


def test_features_and_predictions_are_invariant_to_rigid_motions(tmp_path):
    mod = load_script('rna_segmentation')
    pos, face = torus_mesh(14, 9)
    # three distinct principal variances (a round torus has two equal ones: no unique axes)
    pos = pos * torch.tensor([1.0, 0.8, 0.6], dtype=pos.dtype) + 0.1 * pos[:, :1] ** 2
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3),
                                       dtype=torch.float64))
    moved = pos @ q.t() + torch.tensor([5.0, -2.0, 1.0], dtype=torch.float64)
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    write_mesh(tmp_path / 'a' / 'm.off', pos, face)
    write_mesh(tmp_path / 'b' / 'm.off', moved, face)
    for d in ('a', 'b'):
        np.savetxt(tmp_path / d / 'm.txt', _labels(pos).numpy(), fmt='%d')
    a = mod.preprocess(tmp_path / 'a' / 'm.off', tmp_path / 'a' / 'm.txt', None, 30.0)
    b = mod.preprocess(tmp_path / 'b' / 'm.off', tmp_path / 'b' / 'm.txt', None, 30.0)
    assert torch.allclose(a['x'], b['x'], atol=1e-4)
    assert torch.equal(a['edge_index'], b['edge_index'])
    assert torch.allclose(a['edge_coords'][:, 0], b['edge_coords'][:, 0], atol=1e-5)
    # the frames (the gauge) move with the world axes, so theta changes by a per-vertex angle:
    # the angular max pooling makes the layer invariant to that up to the bins' interpolation
    torch.manual_seed(0)
    model = mod.PatchNet(mod.NUM_FEATURES, 8, 2, mod.NUM_CLASSES).eval()
    with torch.no_grad():
        ya, yb = model(a), model(b)
    rel = float((ya - yb).abs().mean() / ya.abs().mean())
    assert rel < 0.05


@pytest.mark.parametrize('case', ['count', 'missing', 'unreadable'])
def test_bad_files_are_one_line_naming_the_file(tmp_path, capsys, case):
    data = tmp_path / 'rna'
    make_data(data)
    ckpt = tmp_path / 'model.pt'
    assert run('rna_segmentation', ['--data', str(data), '--checkpoint', str(ckpt)] + SMALL) == 0
    capsys.readouterr()
    bad = data / ('labels/uv.txt' if case != 'unreadable' else 'off/uv.off')
    if case == 'count':
        bad.write_text('0\n1\n')
    elif case == 'missing':
        bad.unlink()
    else:
        bad.write_text('OFF\nthis is not a mesh\n')
    code = run('rna_segmentation', ['--evaluate', '--checkpoint', str(ckpt), '--meshes',
                                    str(data / 'off'), '--labels', str(data / 'labels')])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and 'uv.' in err and 'Traceback' not in err


def test_projected_accuracy_on_the_meshes_themselves_is_the_accuracy(tmp_path, capsys):
    # projecting onto the same meshes maps every vertex to itself
    data = tmp_path / 'rna'
    make_data(data)
    ckpt, res = tmp_path / 'model.pt', tmp_path / 'e.json'
    assert run('rna_segmentation', ['--data', str(data), '--checkpoint', str(ckpt)] + SMALL) == 0
    assert run('rna_segmentation', ['--evaluate', '--checkpoint', str(ckpt), '--meshes',
                                    str(data / 'off'), '--labels', str(data / 'labels'),
                                    '--originals', str(data), '--results', str(res)]) == 0
    out = json.loads(res.read_text())
    assert out['projected_accuracy'] == out['accuracy']


def test_decimated_meshes_carry_the_nearest_original_label(tmp_path, capsys):
    pytest.importorskip('fast_simplification')
    data = tmp_path / 'rna'
    meshes = make_data(data)
    out = tmp_path / 'half'
    assert run('decimate_meshes', ['--meshes', str(data / 'off'), '--labels',
                                   str(data / 'labels'), '--out', str(out), '--names',
                                   str(data / 'test.txt')]) == 0
    assert sorted(p.name for p in (out / 'off').iterdir()) == ['uv.off']
    pos, _ = meshes['uv']
    new_pos, new_face = read_mesh(out / 'off' / 'uv.off')
    assert 0.3 * pos.size(0) < new_pos.size(0) < 0.7 * pos.size(0) and new_face.size(1) > 0
    lab = np.loadtxt(out / 'labels' / 'uv.txt', dtype=np.int64)
    nearest = torch.cdist(new_pos.double(), pos.double()).argmin(1)
    assert np.array_equal(lab, _labels(pos)[nearest].numpy())
    # the decimated folder is what --evaluate reads, projected back onto the originals
    ckpt = tmp_path / 'model.pt'
    assert run('rna_segmentation', ['--data', str(data), '--checkpoint', str(ckpt)] + SMALL) == 0
    assert run('rna_segmentation', ['--evaluate', '--checkpoint', str(ckpt), '--meshes',
                                    str(out / 'off'), '--labels', str(out / 'labels'),
                                    '--originals', str(data)]) == 0
    assert 'projected onto the original meshes' in capsys.readouterr().out
    assert run('decimate_meshes', ['--meshes', str(data / 'off'), '--labels',
                                   str(data / 'labels'), '--out', str(out), '--ratio', '1']) == 2
    assert '--ratio' in capsys.readouterr().err


def test_the_length_unit_follows_the_surface_not_its_triangulation():
    mod = load_script('rna_segmentation')
    for n in (3, 9):   # a unit square in (n - 1)^2 * 2 triangles
        t = np.linspace(0.0, 1.0, n)
        v = np.stack(np.meshgrid(t, t, indexing='ij'), -1).reshape(-1, 2)
        v = np.concatenate([v, np.zeros((len(v), 1))], 1)
        i = np.arange(n * n).reshape(n, n)[:-1, :-1].reshape(-1)
        f = np.concatenate([np.stack([i, i + n, i + 1], 1), np.stack([i + 1, i + n, i + n + 1], 1)])
        assert math.isclose(mod.unit(v, f), 0.01, rel_tol=1e-12)
