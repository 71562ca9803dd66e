"""scripts/planetoid.py (GCN, GAT) and scripts/tu.py (GIN) end to end on tiny generated folders
in the real formats (Planetoid's ``ind.*`` pickles, TU's text files): valid results JSON whose
summary agrees with its runs, the papers' recipes, and one-line errors (exit 2) without any
download attempt."""
import json
import pathlib
import pickle
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _scripts import run

from gdl_graphs.experiments import planetoid as mod_planetoid
from gdl_graphs.experiments import tu as mod_tu


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """Any download attempt fails the test."""
    from torch_geometric.datasets import Planetoid, TUDataset

    def forbidden(self):
        raise AssertionError(f'download attempted: {type(self).__name__}')
    monkeypatch.setattr(Planetoid, 'download', forbidden)
    monkeypatch.setattr(TUDataset, 'download', forbidden)


def write_planetoid(root, name='Cora', seed=0, classes=3, feats=12, labelled=9, n=580,
                    n_test=40):
    """A Planetoid folder: ``labelled`` training nodes (x, y), ``allx``/``ally`` for the first
    ``n - n_test`` nodes, ``tx``/``ty`` for the test nodes (listed shuffled in test.index),
    ``graph`` an adjacency dict. PyG takes the 500 nodes after the labelled ones as the
    validation set, so ``n`` must exceed ``labelled + 500``."""
    rng = np.random.RandomState(seed)
    label = rng.randint(0, classes, n)
    x = (rng.rand(n, feats) < 0.2).astype(np.float32)
    x[np.arange(n), label] = 1.0  # the class is visible in the features
    onehot = np.eye(classes, dtype=np.int32)[label]
    n_all = n - n_test
    test_index = rng.permutation(np.arange(n_all, n))
    graph = defaultdict(list)
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if j != i:
                graph[i].append(int(j))
                graph[int(j)].append(i)
    raw = pathlib.Path(root) / name / 'raw'
    raw.mkdir(parents=True)
    prefix = name.lower()
    items = {'x': sp.csr_matrix(x[:labelled]), 'y': onehot[:labelled],
             'allx': sp.csr_matrix(x[:n_all]), 'ally': onehot[:n_all],
             'tx': sp.csr_matrix(x[test_index]), 'ty': onehot[test_index], 'graph': graph}
    for key, value in items.items():
        with open(raw / f'ind.{prefix}.{key}', 'wb') as f:
            pickle.dump(value, f)
    (raw / f'ind.{prefix}.test.index').write_text(''.join(f'{i}\n' for i in test_index))
    return label


def write_tu(root, name='TINY', num_graphs=24, classes=2, node_labels=True, seed=0):
    """A TU folder: 1-based ``A`` (both directions of each edge), graph indicator, graph
    labels (1-based, as some TU sets), optional node labels."""
    rng = np.random.RandomState(seed)
    raw = pathlib.Path(root) / name / 'raw'
    raw.mkdir(parents=True)
    edges, indicator, nlabels, glabels, offset = [], [], [], [], 0
    for g in range(num_graphs):
        c = g % classes
        n = rng.randint(4, 9)
        ring = [(i, (i + 1) % n) for i in range(n)] if c == 0 else \
            [(i, i + 1) for i in range(n - 1)]
        for u, v in ring:
            edges += [(offset + u + 1, offset + v + 1), (offset + v + 1, offset + u + 1)]
        indicator += [g + 1] * n
        nlabels += list(rng.randint(0, 3, n))
        glabels.append(c + 1)
        offset += n
    (raw / f'{name}_A.txt').write_text(''.join(f'{u}, {v}\n' for u, v in edges))
    (raw / f'{name}_graph_indicator.txt').write_text(''.join(f'{g}\n' for g in indicator))
    (raw / f'{name}_graph_labels.txt').write_text(''.join(f'{c}\n' for c in glabels))
    if node_labels:
        (raw / f'{name}_node_labels.txt').write_text(''.join(f'{c}\n' for c in nlabels))
    return np.array(glabels) - 1


# ----------------------------------------------------------------------------- planetoid

@pytest.mark.parametrize('model', ['gcn', 'gat'])
def test_planetoid_end_to_end(model, tmp_path, capsys):
    label = write_planetoid(tmp_path / 'data')
    out = tmp_path / 'out'
    extra = ['--hidden', '4', '--heads', '2'] if model == 'gat' else []
    rc = run('planetoid', ['--dataset', 'cora', '--model', model, '--root',
                           str(tmp_path / 'data'), '--runs', '2', '--epochs', '4',
                           '--patience', '2', '--out-dir', str(out), '--quiet',
                           '--device', 'cpu'] + extra)
    assert rc == 0, capsys.readouterr().err
    res = json.loads((out / f'planetoid_Cora_{model}.json').read_text())
    assert res['num_nodes'] == len(label)
    assert len(res['runs']) == 2
    test = [r['test'] for r in res['runs']]
    assert res['test_mean'] == pytest.approx(np.mean(test))
    assert res['test_std'] == pytest.approx(np.std(test, ddof=1))
    for r in res['runs']:
        curve = np.array(r['curve'])
        assert r['epochs'] == len(curve) <= 4
        # the reported test accuracy is the one at the best validation epoch
        best = r['best_epoch'] - 1
        assert curve[best, 3] == curve[:, 3].max()
        assert curve[best, 4] == r['test']
        assert all(0 <= a <= 1 for a in curve[:, 2:5].ravel())
    assert res['config']['lr'] == (0.01 if model == 'gcn' else 0.005)


def test_planetoid_reads_the_split_pyg_reads(tmp_path):
    """The script's data is PyG's Planetoid on the generated files: labels in test.index
    order, 500 validation nodes after the labelled ones."""
    label = write_planetoid(tmp_path)
    mod = mod_planetoid
    data, classes = mod.load(str(tmp_path), 'Cora', download=False)
    assert classes == 3
    assert torch.equal(data.y, torch.from_numpy(label).long())
    assert int(data.train_mask.sum()) == 9 and int(data.val_mask.sum()) == 500
    assert torch.equal(data.val_mask.nonzero().view(-1), torch.arange(9, 509))
    assert torch.allclose(data.x.sum(1), torch.ones(len(label)))  # row-normalised


def test_planetoid_recipes_are_the_papers():
    mod = mod_planetoid
    gcn = mod.recipe('CiteSeer', 'gcn')
    assert (gcn['hidden'], gcn['dropout'], gcn['lr'], gcn['weight_decay'], gcn['epochs']) == \
        (16, 0.5, 0.01, 5e-4, 200)
    gat = mod.recipe('CiteSeer', 'gat')
    assert (gat['heads'], gat['hidden'], gat['out_heads'], gat['dropout'], gat['lr'],
            gat['weight_decay'], gat['patience']) == (8, 8, 1, 0.6, 0.005, 5e-4, 100)
    pub = mod.recipe('PubMed', 'gat')
    assert (pub['out_heads'], pub['weight_decay']) == (8, 1e-3)
    # GCN: weight decay on the first layer only (Kipf and Welling; PyG's examples/gcn.py)
    import argparse
    model, opt = mod.build(argparse.Namespace(model='gcn'), gcn, 10, 3)
    decay = {id(p): g['weight_decay'] for g in opt.param_groups for p in g['params']}
    assert all(decay[id(p)] == 5e-4 for p in model.conv1.parameters())
    assert all(decay[id(p)] == 0 for p in model.conv2.parameters())


def test_sparse_features_give_the_dense_numbers():
    """A model on sparse COO features computes what it computes on the dense matrix (eval),
    and the input dropout keeps each stored entry scaled by 1/(1-p) or zeroes it."""
    mod = mod_planetoid
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(30, 17, generator=g, dtype=torch.float64) < 0.2).double()
    ei = torch.randint(0, 30, (2, 80), generator=g)
    xs = mod.sparse_features(x, ei)
    for model in (mod.GCN(17, 5, 3, 0.5), mod.GAT(17, 2, 3, 2, 1, 0.6)):
        model = model.double().eval()
        torch.testing.assert_close(model(xs, ei), model(x, ei))
    drop = mod.InputDropout(0.5).train()
    if xs.is_sparse:
        d = drop(xs).to_dense()
        kept = d != 0
        assert torch.equal(d[kept], 2 * x[kept])
        assert bool((x[kept] != 0).all())
        assert 0 < int(kept.sum()) < int((x != 0).sum())


def test_planetoid_bad_input(tmp_path, capsys):
    cases = [
        (['--dataset', 'Cora', '--root', str(tmp_path)], 'lacks ind.cora.x'),
        (['--dataset', 'Amazon', '--root', str(tmp_path)], 'not a Planetoid dataset'),
        (['--dataset', 'Cora', '--root', str(tmp_path), '--runs', '0'], '--runs'),
        (['--dataset', 'Cora', '--model', 'gcn', '--heads', '2', '--root', str(tmp_path)],
         'GAT option'),
    ]
    for argv, needle in cases:
        rc = run('planetoid', argv + ['--out-dir', str(tmp_path / 'out'), '--quiet'])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and needle in err[0], (argv, err)
    # unreadable raw files: one line too
    raw = tmp_path / 'bad' / 'CiteSeer' / 'raw'
    raw.mkdir(parents=True)
    for s in ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index'):
        (raw / f'ind.citeseer.{s}').write_bytes(b'not a pickle')
    rc = run('planetoid', ['--dataset', 'CiteSeer', '--root', str(tmp_path / 'bad'),
                           '--out-dir', str(tmp_path / 'out'), '--quiet'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'not a readable Planetoid' in err[0], err
    assert not (tmp_path / 'out').exists()


# ----------------------------------------------------------------------------- TU / GIN

@pytest.mark.parametrize('node_labels,model', [(True, 'gin'), (False, 'gin-eps')])
def test_tu_end_to_end(node_labels, model, tmp_path, capsys):
    y = write_tu(tmp_path / 'data', node_labels=node_labels)
    out = tmp_path / 'out'
    rc = run('tu', ['--dataset', 'TINY', '--model', model, '--root', str(tmp_path / 'data'),
                    '--folds', '3', '--epochs', '3', '--hidden', '8', '--batch-size', '8',
                    '--out-dir', str(out), '--quiet', '--device', 'cpu'])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((out / f'tu_TINY_{model}.json').read_text())
    assert res['num_graphs'] == len(y)
    curve = np.array(res['mean_curve'])
    assert len(curve) == 3
    assert res['best_epoch'] == int(curve.argmax()) + 1
    assert res['test_mean'] == pytest.approx(np.mean(res['fold_acc']))
    assert res['test_mean'] == pytest.approx(curve.max())
    assert res['test_std'] == pytest.approx(np.std(res['fold_acc'], ddof=1))
    # held-out folds of 8 graphs: accuracies are multiples of 1/8
    assert all(abs(a * 8 - round(a * 8)) < 1e-9 for a in res['fold_acc'])


def test_tu_only_folds_then_merge_is_the_full_run(tmp_path, capsys):
    """Folds run in separate processes (--only-folds) and combined (--merge) give the result
    of one run over all folds: each fold is seeded by itself."""
    write_tu(tmp_path / 'data')
    base = ['--dataset', 'TINY', '--root', str(tmp_path / 'data'), '--folds', '3',
            '--engine', 'per-fold', '--epochs', '2', '--hidden', '8', '--batch-size', '8',
            '--quiet', '--device', 'cpu']
    assert run('tu', base + ['--results', str(tmp_path / 'full.json')]) == 0
    assert run('tu', base + ['--only-folds', '2,0', '--results', str(tmp_path / 'a.json')]) == 0
    assert run('tu', base + ['--only-folds', '1', '--results', str(tmp_path / 'b.json')]) == 0
    assert run('tu', ['--merge', str(tmp_path / 'a.json'), str(tmp_path / 'b.json'),
                      '--results', str(tmp_path / 'merged.json')]) == 0
    full = json.loads((tmp_path / 'full.json').read_text())
    merged = json.loads((tmp_path / 'merged.json').read_text())
    for key in ('best_epoch', 'fold_acc', 'test_mean', 'test_std', 'mean_curve'):
        assert merged[key] == full[key], key
    # a missing fold is an error, not a smaller result
    assert run('tu', ['--merge', str(tmp_path / 'a.json'), '--out-dir', str(tmp_path)]) == 2
    assert 'not all of 0..2' in capsys.readouterr().err


def test_tu_folds_partition_and_stratify():
    mod = mod_tu
    y = np.array([0] * 12 + [1] * 8)
    splits = mod.stratified_folds(y, 4, seed=0)
    test = np.concatenate([t for _, t in splits])
    assert sorted(test.tolist()) == list(range(20))
    for train, t in splits:
        assert set(train).isdisjoint(t) and len(train) + len(t) == 20
        assert np.bincount(y[t]).tolist() == [3, 2]


def test_gin_model_is_the_papers():
    """5 layers incl. the input: 4 GIN layers with 2-layer MLPs, 5 readout heads; GIN-0 keeps
    eps at 0; the readout is a sum, so the scores of a graph do not depend on node order."""
    mod = mod_tu
    from gdl_graphs.nn import GINConv
    model = mod.GIN(7, 16, 2, 5, 0.5, train_eps=False).double().eval()
    convs = [m for m in model.modules() if isinstance(m, GINConv)]
    assert len(convs) == 4 and len(model.heads) == 5
    assert all(float(c.eps) == 0 and not c.eps.requires_grad for c in convs)
    assert all(sum(isinstance(m, torch.nn.Linear) for m in c.nn) == 2 for c in convs)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 7, generator=g, dtype=torch.float64)
    ei = torch.tensor([[0, 1, 2, 3, 5, 6], [1, 2, 3, 4, 6, 7]])
    ei = torch.cat([ei, ei.flip(0)], 1)
    batch = torch.tensor([0] * 5 + [1] * 4)
    perm = torch.tensor([4, 2, 0, 1, 3, 8, 5, 7, 6])  # within each graph
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(9)
    torch.testing.assert_close(model(x[perm], inv[ei], batch[perm], 2), model(x, ei, batch, 2))


def test_tu_bad_input(tmp_path, capsys):
    write_tu(tmp_path, num_graphs=6)
    cases = [
        (['--dataset', 'MUTAG'], 'lacks MUTAG_A.txt'),
        (['--dataset', 'NOT-A-DATASET'], 'lacks NOT-A-DATASET_A.txt'),
        (['--dataset', 'TINY', '--folds', '7'], 'more than the 6 graphs'),
        (['--dataset', 'TINY', '--folds', '1'], '--folds must be >= 2'),
    ]
    for argv, needle in cases:
        rc = run('tu', argv + ['--root', str(tmp_path), '--out-dir', str(tmp_path / 'out'),
                               '--quiet', '--epochs', '1'])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and needle in err[0], (argv, err)
    assert not (tmp_path / 'out').exists()


def test_sparse_rows_linear_gives_the_dense_product_and_gradient():
    """The CSR input projection: same output and weight gradient as ``F.linear`` on the dense
    matrix (float64), also after the sparsity pattern changes (the cached CSR is rebuilt)."""
    from torch_geometric.nn.dense.linear import Linear
    g = torch.Generator().manual_seed(1)
    lin = mod_planetoid.SparseRowsLinear(Linear(17, 4, bias=False).double())
    for density in (0.2, 0.5):
        x = torch.rand(30, 17, generator=g, dtype=torch.float64)
        x = x * (torch.rand(30, 17, generator=g, dtype=torch.float64) < density)
        lin.weight.grad = None
        lin(x.to_sparse_coo().coalesce()).pow(2).sum().backward()
        got = lin.weight.grad.clone()
        lin.weight.grad = None
        want_out = torch.nn.functional.linear(x, lin.weight)
        want_out.pow(2).sum().backward()
        torch.testing.assert_close(lin(x.to_sparse_coo().coalesce()), want_out)
        torch.testing.assert_close(got, lin.weight.grad)


def test_planetoid_runs_in_worker_processes_are_the_same_runs(tmp_path, capsys):
    write_planetoid(tmp_path / 'data')
    base = ['--dataset', 'cora', '--model', 'gcn', '--root', str(tmp_path / 'data'), '--runs',
            '3', '--epochs', '5', '--quiet', '--device', 'cpu']
    assert run('planetoid', base + ['--results', str(tmp_path / 'one.json')]) == 0
    assert run('planetoid', base + ['--workers', '2', '--results',
                                    str(tmp_path / 'two.json')]) == 0
    one = json.loads((tmp_path / 'one.json').read_text())
    two = json.loads((tmp_path / 'two.json').read_text())
    assert two['workers'] == 2
    for a, b in zip(one['runs'], two['runs']):
        assert a['curve'] == b['curve'] and a['test'] == b['test']


def test_tu_folds_in_worker_processes_are_the_same_folds(tmp_path, capsys):
    write_tu(tmp_path / 'data')
    base = ['--dataset', 'TINY', '--root', str(tmp_path / 'data'), '--folds', '3', '--engine',
            'per-fold', '--epochs', '2', '--hidden', '8', '--batch-size', '8', '--quiet',
            '--device', 'cpu']
    assert run('tu', base + ['--results', str(tmp_path / 'one.json')]) == 0
    assert run('tu', base + ['--workers', '2', '--results', str(tmp_path / 'two.json')]) == 0
    one = json.loads((tmp_path / 'one.json').read_text())
    two = json.loads((tmp_path / 'two.json').read_text())
    assert two['workers'] == 2 and two['folds_run'] == [0, 1, 2]
    assert one['fold_curves'] == two['fold_curves'] and one['test_mean'] == two['test_mean']
