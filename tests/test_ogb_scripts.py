"""The OGB scripts end to end on tiny built folders: results JSON, interrupt + --resume gives
the identical result, one-line errors without partial files, and torchrun with 2 CPU ranks."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('ogb')

from _scripts import SCRIPTS, run  # noqa: E402


def mols(num, seed=0):
    rng = np.random.RandomState(seed)
    graphs = []
    for k in range(num):
        n = rng.randint(3, 8)
        pairs = [(i, i + 1) for i in range(n - 1)]
        ei = np.array([[a for u, v in pairs for a in (u, v)],
                       [a for u, v in pairs for a in (v, u)]])
        x = rng.randint(0, 2, (n, 9))
        x[:, 0] = k % 2 + 5 * (rng.rand(n) < 0.3)  # the label is visible in the atoms
        graphs.append({'edge_index': ei, 'num_nodes': n, 'node_feat': x,
                       'edge_feat': np.repeat(rng.randint(0, 2, (n - 1, 3)), 2, axis=0)})
    return graphs, np.arange(num) % 2


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    from gdl_graphs.datasets import build_graph_dataset, build_node_dataset
    root = tmp_path_factory.mktemp('ogb')
    graphs, y = mols(48)
    build_graph_dataset(str(root), 'ogbg-molhiv', graphs, y, split={
        'train': np.arange(32), 'valid': np.arange(32, 40), 'test': np.arange(40, 48)})
    g = torch.Generator().manual_seed(0)
    n = 60
    label = torch.arange(n) % 4
    x = torch.randn(n, 128, generator=g) + torch.nn.functional.one_hot(label, 128) * 3
    ei = torch.randint(0, n, (2, 240), generator=g)
    build_node_dataset(str(root), 'ogbn-arxiv', ei, x, label,
                       node_year=torch.randint(2000, 2020, (n,), generator=g))
    und = torch.cat([ei, ei.flip(0)], 1)
    build_node_dataset(str(root), 'ogbn-products', und[:, und[0] != und[1]], x[:, :100], label)
    return root


TINY = {'ogbg_mol': ['--emb-dim', '16', '--num-layer', '2', '--batch-size', '8'],
        'ogbn_arxiv': ['--hidden-channels', '16'],
        'ogbn_products': ['--hidden-channels', '16', '--batch-size', '16',
                          '--num-neighbors', '4,3,2', '--eval-batch-size', '32']}
RESULT = {'ogbg_mol': 'ogbg_mol_ogbg-molhiv_gin-virtual', 'ogbn_arxiv': 'ogbn_arxiv_ogbn-arxiv_gcn',
          'ogbn_products': 'ogbn_products_ogbn-products_sage'}


@pytest.mark.parametrize('script,runs', [('ogbg_mol', 1), ('ogbn_arxiv', 2),
                                         ('ogbn_products', 1)])
def test_end_to_end_json_and_identical_resume(script, runs, root, tmp_path, capsys):
    base = ['--root', str(root), '--epochs', '2', '--runs', str(runs), '--quiet',
            '--device', 'cpu'] + TINY[script]
    full, part = tmp_path / 'full', tmp_path / 'part'
    assert run(script, base + ['--out-dir', str(full)]) == 0
    res = json.loads((full / f'{RESULT[script]}.json').read_text())
    assert len(res['runs']) == runs
    for r in res['runs']:
        assert len(r['epoch_times']) == 2 and r['best_epoch'] in (1, 2)
        assert 0.0 <= r['best_valid'] <= 1.0 and 0.0 <= r['test'] <= 1.0
        assert r['peak_memory_bytes'] > 0
        assert [c[0] for c in r['curve']] == [1, 2]
    assert res['valid_mean'] == pytest.approx(np.mean([r['best_valid'] for r in res['runs']]))
    assert res['metric'] == ('rocauc' if script == 'ogbg_mol' else 'acc')
    # interrupted after one epoch (of the last run), then resumed
    stop = str(2 * runs - 1)
    assert run(script, base + ['--out-dir', str(part), '--stop-after', stop]) == 3
    assert sorted(os.listdir(part)) == [f'{RESULT[script]}.ckpt']  # no results, no temp file
    assert run(script, base + ['--out-dir', str(part), '--resume']) == 0
    again = json.loads((part / f'{RESULT[script]}.json').read_text())
    for a, b in zip(res['runs'], again['runs']):
        assert a['curve'] == b['curve']  # every loss and metric, bit for bit
        assert (a['best_valid'], a['test']) == (b['best_valid'], b['test'])
    assert (res['test_mean'], res['test_std']) == (again['test_mean'], again['test_std'])


def one_line_error(capsys, match):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
    assert err.startswith('error: ') and match in err, err


def test_bad_input_one_line_no_partial_files(root, tmp_path, capsys):
    out = tmp_path / 'out'
    common = ['--root', str(root), '--epochs', '1', '--quiet', '--out-dir', str(out)]
    assert run('ogbg_mol', common + ['--dataset', 'ogbg-nosuch']) == 2
    one_line_error(capsys, "unknown dataset 'ogbg-nosuch'")
    assert run('ogbg_mol', common + ['--dataset', 'ogbg-molpcba']) == 2
    one_line_error(capsys, 'no dataset folder')
    assert run('ogbn_arxiv', common + ['--dataset', 'ogbg-molhiv']) == 2
    one_line_error(capsys, 'not a node property dataset')
    assert run('ogbn_products', common + ['--num-neighbors', '5,x']) == 2
    one_line_error(capsys, 'one integer per hop')
    assert run('ogbg_mol', common + ['--resume']) == 2
    one_line_error(capsys, 'no checkpoint')
    assert not out.exists()
    # a corrupt raw folder
    import shutil
    bad = tmp_path / 'bad'
    shutil.copytree(root / 'ogbg_molhiv', bad / 'ogbg_molhiv', ignore=shutil.ignore_patterns(
        'processed'))
    (bad / 'ogbg_molhiv' / 'raw' / 'edge.csv.gz').write_bytes(b'\x1f\x8b garbage')
    assert run('ogbg_mol', common[:0] + ['--root', str(bad), '--quiet', '--out-dir',
                                         str(out)]) == 2
    one_line_error(capsys, 'could not read the OGB dataset ogbg-molhiv')
    assert not (bad / 'ogbg_molhiv' / 'processed').exists() and not out.exists()
    # a checkpoint from another model: refused, left untouched, nothing else written
    tiny = TINY['ogbg_mol']
    assert run('ogbg_mol', common + tiny + ['--stop-after', '1', '--epochs', '2']) == 3
    capsys.readouterr()
    ckpt = out / f"{RESULT['ogbg_mol']}.ckpt"
    before = ckpt.read_bytes()
    other = ['--emb-dim', '32', '--num-layer', '2', '--batch-size', '8']
    assert run('ogbg_mol', common + other + ['--resume', '--checkpoint', str(ckpt)]) == 2
    one_line_error(capsys, 'written for another model')
    assert ckpt.read_bytes() == before and sorted(os.listdir(out)) == [ckpt.name]
    assert run('ogbn_arxiv', common + ['--resume', '--checkpoint', str(ckpt)]) == 2
    one_line_error(capsys, 'written by ogbg_mol, not ogbn_arxiv')
    ckpt.write_bytes(b'not a checkpoint')
    assert run('ogbg_mol', common + tiny + ['--resume']) == 2
    one_line_error(capsys, 'is not a checkpoint of these commands')


def test_torchrun_two_cpu_ranks(root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',  # this checkout's
               PYTHONPATH=os.pathsep.join([str(SCRIPTS.parent), os.environ.get('PYTHONPATH', '')]))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           str(SCRIPTS / 'ogbg_mol.py'), '--root', str(root), '--epochs', '1', '--quiet',
           '--device', 'cpu', '--out-dir', str(tmp_path)] + TINY['ogbg_mol']
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / f"{RESULT['ogbg_mol']}.json").read_text())
    assert res['world_size'] == 2
    # every rank predicted a shard; the gathered metric covers each whole split
    assert res['evaluated_sizes'] == res['split_sizes'] == {'train': 32, 'valid': 8, 'test': 8}
    assert 0.0 <= res['runs'][0]['best_valid'] <= 1.0


@pytest.mark.parametrize('script,option,value,match', [
    ('ogbg_mol', '--emb-dim', '0', '--emb-dim must be >= 1'),
    ('ogbg_mol', '--emb-dim', '-5', '--emb-dim must be >= 1'),
    ('ogbg_mol', '--num-layer', '0', '--num-layer must be >= 2'),
    ('ogbg_mol', '--num-layer', '1', '--num-layer must be >= 2'),
    ('ogbg_mol', '--drop-ratio', '1.5', '--drop-ratio is a probability'),
    ('ogbg_mol', '--drop-ratio', '-0.1', '--drop-ratio is a probability'),
    ('ogbg_mol', '--drop-ratio', 'nan', '--drop-ratio is a probability'),
    ('ogbg_mol', '--device', 'mps', "--device 'mps' is not supported"),
    ('ogbg_mol', '--device', 'meta', "--device 'meta' is not supported"),
    ('ogbg_mol', '--device', 'cpu:1', "--device 'cpu:1' is not supported"),
    ('ogbg_mol', '--lr', 'inf', '--lr must be a finite number'),
    ('ogbn_arxiv', '--num-layers', '0', '--num-layers must be >= 1'),
    ('ogbn_arxiv', '--hidden-channels', '0', '--hidden-channels must be >= 1'),
    ('ogbn_arxiv', '--dropout', '1.0', '--dropout is a probability'),
    ('ogbn_arxiv', '--device', 'meta', "--device 'meta' is not supported"),
    ('ogbn_products', '--hidden-channels', '-3', '--hidden-channels must be >= 1'),
    ('ogbn_products', '--eval-batch-size', '0', '--eval-batch-size must be >= 1'),
    ('ogbn_products', '--dropout', '2', '--dropout is a probability'),
    ('ogbn_products', '--device', 'mps', "--device 'mps' is not supported"),
])
def test_numeric_options_one_line_rc2(script, option, value, match, root, tmp_path, capsys):
    out = tmp_path / 'out'
    argv = ['--root', str(root), '--epochs', '1', '--quiet', '--out-dir', str(out),
            option, value]
    assert run(script, argv) == 2
    one_line_error(capsys, match)
    assert not out.exists()
