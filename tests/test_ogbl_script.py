"""scripts/ogbl.py end to end on tiny built OGB link folders: results JSON with OGB's metric,
interrupt + --resume gives the identical result, one-line errors (exit 2) without files."""
import json
import os

import pytest
import torch

pytest.importorskip('ogb')

from _scripts import run  # noqa: E402


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    from gdl_graphs.datasets import build_link_dataset
    root = tmp_path_factory.mktemp('ogbl')
    g = torch.Generator().manual_seed(0)
    n = 70
    ei = torch.randint(0, n, (2, 360), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    x = torch.randn(n, 8, generator=g)
    build_link_dataset(str(root), 'ogbl-collab', ei, x=x, num_neg=150)
    build_link_dataset(str(root), 'ogbl-ddi', ei, num_neg=60)
    build_link_dataset(str(root), 'ogbl-citation2', ei, x=x, node_year=torch.arange(n),
                       num_neg=25)
    return root


TINY = ['--hidden-channels', '16', '--batch-size', '128', '--quiet', '--device', 'cpu',
        '--epochs', '2']


@pytest.mark.parametrize('dataset,extra,metric', [
    ('ogbl-collab', ['--model', 'gcn', '--mode', 'full'], 'hits@50'),
    ('ogbl-ddi', ['--model', 'sage', '--mode', 'sampled', '--num-neighbors', '5,5'],
     'hits@20'),
    ('ogbl-citation2', ['--model', 'gcn', '--num-neighbors', '4,3,2'], 'mrr')])
def test_end_to_end_and_identical_resume(root, tmp_path, dataset, extra, metric):
    base = ['--dataset', dataset, '--root', str(root), '--runs', '2'] + TINY + extra
    full, part = tmp_path / 'full', tmp_path / 'part'
    assert run('ogbl', base + ['--out-dir', str(full)]) == 0
    (name,) = [f for f in os.listdir(full) if f.endswith('.json')]
    res = json.loads((full / name).read_text())
    assert res['metric'] == metric and len(res['runs']) == 2
    mode = 'sampled' if dataset == 'ogbl-citation2' or 'sampled' in extra else 'full'
    assert res['mode'] == mode and name == f'ogbl_{dataset}_{res["model"]}.json'
    for r in res['runs']:
        assert [c[0] for c in r['curve']] == [1, 2]
        assert 0.0 <= r['best_valid'] <= 1.0 and 0.0 <= r['test'] <= 1.0
    assert run('ogbl', base + ['--out-dir', str(part), '--stop-after', '3']) == 3
    assert [f for f in os.listdir(part) if f.endswith('.json')] == []
    assert run('ogbl', base + ['--out-dir', str(part), '--resume']) == 0
    again = json.loads((part / name).read_text())
    for a, b in zip(res['runs'], again['runs']):
        assert a['curve'] == b['curve']


def test_mrr_and_hits_equal_ogb_evaluator_on_the_same_scores(root, tmp_path):
    # the reported valid metric is ogb's, recomputed here from the saved model
    from gdl_graphs.datasets import evaluator_for, load_dataset
    from gdl_graphs.link import hits_at_k, mrr
    ds = load_dataset('ogbl-ddi', str(root))
    ev = evaluator_for(ds)
    g = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(40, generator=g), torch.randn(60, generator=g)
    assert hits_at_k(pos, neg, ev.K) == ev.eval({'y_pred_pos': pos,
                                                 'y_pred_neg': neg})['hits@20']
    negm = torch.randn(40, 25, generator=g)
    ev2 = evaluator_for(load_dataset('ogbl-citation2', str(root)))
    ref = float(ev2.eval({'y_pred_pos': pos, 'y_pred_neg': negm})['mrr_list'].mean())
    assert abs(mrr(pos, negm) - ref) < 1e-6


@pytest.mark.parametrize('argv,msg', [
    (['--dataset', 'ogbn-arxiv'], 'not a link prediction dataset'),
    (['--dataset', 'ogbl-ddi', '--mode', 'sampled', '--num-neighbors', '3'], 'hops'),
    (['--dataset', 'ogbl-ddi', '--num-neighbors', '3,3'], 'needs --mode sampled'),
    (['--dataset', 'ogbl-ddi', '--dropout', '1.5'], 'dropout'),
    (['--dataset', 'ogbl-ddi', '--lr', '0'], '--lr'),
    (['--dataset', 'ogbl-ppa'], 'no dataset folder'),
    (['--dataset', 'ogbl-ddi', '--device', 'tpu'], 'device')])
def test_bad_arguments_one_line_exit_2(root, tmp_path, capsys, argv, msg):
    out = tmp_path / 'out'
    assert run('ogbl', argv + ['--root', str(root), '--out-dir', str(out), '--quiet',
                               '--epochs', '1', '--runs', '1']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err and msg in err
    assert not out.exists() or os.listdir(out) == []


def test_broken_split_folder(root, tmp_path, capsys):
    import shutil
    broken = tmp_path / 'root'
    shutil.copytree(root / 'ogbl_ddi', broken / 'ogbl_ddi')
    os.remove(broken / 'ogbl_ddi' / 'split' / 'target' / 'test.pt')
    out = tmp_path / 'out'
    assert run('ogbl', ['--dataset', 'ogbl-ddi', '--root', str(broken), '--out-dir', str(out),
                        '--quiet', '--epochs', '1', '--runs', '1']) == 2
    err = capsys.readouterr().err.strip()
    assert 'lacks split/target/test.pt' in err and '\n' not in err
