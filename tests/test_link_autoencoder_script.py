"""scripts/link_autoencoder.py end to end on tiny Planetoid files in the real ``ind.*`` format:
the results JSON agrees with its runs, both folder layouts are read, the paper's loss is
tf.nn.weighted_cross_entropy_with_logits as written in Kipf's code, one-line errors (exit 2)."""
import json
import shutil

import pytest
import torch
from _scripts import run
from test_repro_scripts import write_planetoid

from gdl_graphs.experiments.autoencoder import PAPER, dense_loss


@pytest.mark.parametrize('model,loss', [('gae', 'dense'), ('vgae', 'sampled')])
def test_end_to_end(tmp_path, model, loss):
    write_planetoid(tmp_path / 'data', name='CiteSeer')
    out = tmp_path / 'out'
    argv = ['--dataset', 'citeseer', '--model', model, '--root', str(tmp_path / 'data'),
            '--runs', '2', '--epochs', '20', '--loss', loss, '--out-dir', str(out), '--quiet',
            '--device', 'cpu']
    assert run('link_autoencoder', argv) == 0
    res = json.loads((out / f'link_autoencoder_CiteSeer_{model}.json').read_text())
    aucs = [100 * r['test_auc'] for r in res['runs']]
    assert len(aucs) == 2 and res['auc_mean'] == pytest.approx(sum(aucs) / 2)
    assert all(0 <= r['test_ap'] <= 1 and 0 <= r['valid_auc'] <= 1 for r in res['runs'])
    assert (res['paper_auc'], res['paper_ap']) == PAPER[('CiteSeer', model)]
    # the 85/5/10 split: test positives are 10% of the undirected edges, negatives as many
    total = res['num_train_edges_undirected'] + (res['num_valid'] + res['num_test']) // 2
    assert res['num_test'] // 2 == int(0.1 * total)
    # the flat layout (ind.* files directly in --root) gives the same numbers
    flat = tmp_path / 'flat'
    shutil.copytree(tmp_path / 'data' / 'CiteSeer' / 'raw', flat)
    out2 = tmp_path / 'out2'
    argv2 = [a if a != str(tmp_path / 'data') else str(flat) for a in argv]
    argv2[argv2.index(str(out))] = str(out2)
    assert run('link_autoencoder', argv2) == 0
    again = json.loads((out2 / f'link_autoencoder_CiteSeer_{model}.json').read_text())
    assert [r['test_auc'] for r in again['runs']] == [r['test_auc'] for r in res['runs']]


def test_dense_loss_is_kipfs_weighted_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, dtype=torch.float64, generator=g)
    label = (torch.rand(7, 7, generator=g) < 0.3).double()
    label = ((label + label.t() + torch.eye(7, dtype=torch.float64)) > 0).double()
    ones = float(label.sum())
    pw, norm = (49 - ones) / ones, 49 / (2 * (49 - ones))
    s = torch.sigmoid(z @ z.t())
    ref = norm * torch.mean(label * -torch.log(s) * pw + (1 - label) * -torch.log(1 - s))
    torch.testing.assert_close(dense_loss(z, label, pw, norm), ref)


@pytest.mark.parametrize('argv,msg', [
    (['--dataset', 'Reddit'], 'not a Planetoid dataset'),
    (['--runs', '0'], '--runs'),
    (['--lr', '-1'], '--lr'),
    ([], 'lacks ind.citeseer.x')])
def test_errors(tmp_path, capsys, argv, msg):
    out = tmp_path / 'out'
    assert run('link_autoencoder', argv + ['--root', str(tmp_path), '--out-dir', str(out),
                                           '--quiet']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err and msg in err
    assert not out.exists() or not any(out.iterdir())
