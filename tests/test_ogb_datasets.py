"""OGB-format folders: the builder writes what ogb's loaders read, the safe loader reads them
on torch >= 2.6 without prompts, and every bad folder gives one clear error."""
import builtins
import gzip
import os

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gdl_graphs.datasets import (
    DatasetError,
    allow_pyg_classes,
    build_graph_dataset,
    build_node_dataset,
    build_smiles_dataset,
    dataset_path,
    evaluator_for,
    load_dataset,
    random_split,
)

pytest.importorskip('ogb')




@pytest.fixture(autouse=True)
def no_prompt(monkeypatch):
    def refuse(*args):
        raise AssertionError('ogb asked for input()')
    monkeypatch.setattr(builtins, 'input', refuse)


def fabricated_mols(num=30, seed=0):
    """Graphs with ogb's molecule encoding (9 atom, 3 bond columns) and both edge
    directions, interleaved as smiles2graph returns them."""
    rng = np.random.RandomState(seed)
    graphs = []
    for _ in range(num):
        n = rng.randint(2, 7)
        pairs = [(i, i + 1) for i in range(n - 1)]
        ei = np.array([[a for u, v in pairs for a in (u, v)],
                       [a for u, v in pairs for a in (v, u)]])
        ef = np.repeat(rng.randint(0, 2, (len(pairs), 3)), 2, axis=0)
        graphs.append({'edge_index': ei, 'edge_feat': ef, 'num_nodes': n,
                       'node_feat': rng.randint(0, 2, (n, 9))})
    labels = np.arange(num) % 2
    return graphs, labels


def rdkit_smiles(num):
    rdkit = pytest.importorskip('rdkit')
    path = os.path.join(os.path.dirname(rdkit.__file__), 'Data', 'NCI', 'first_5k.tpsa.csv')
    rows = [line.strip().split(',') for line in open(path) if not line.startswith('#')][:num]
    return [r[0] for r in rows], np.array([float(r[1]) for r in rows])


def test_graph_folder_round_trip_through_ogb(tmp_path):
    graphs, labels = fabricated_mols()
    path = build_graph_dataset(str(tmp_path), 'ogbg-molhiv', graphs, labels)
    assert sorted(os.listdir(os.path.join(path, 'raw'))) == sorted(
        f + '.csv.gz' for f in ('edge', 'edge-feat', 'node-feat', 'num-node-list',
                                'num-edge-list', 'graph-label'))
    with gzip.open(os.path.join(path, 'raw', 'num-node-list.csv.gz'), 'rt') as f:
        assert f.readline().strip() == str(graphs[0]['num_nodes'])  # no header
    assert os.path.exists(os.path.join(path, 'RELEASE_v1.txt'))
    ds = load_dataset('ogbg-molhiv', str(tmp_path))
    assert len(ds) == len(graphs)
    for g, d in zip(graphs, ds):
        assert np.array_equal(d.edge_index.numpy(), g['edge_index'])
        assert np.array_equal(d.edge_attr.numpy(), g['edge_feat'])
        assert np.array_equal(d.x.numpy(), g['node_feat'])
    assert ds.y.view(-1).tolist() == labels.tolist()
    split = ds.split_idx
    assert sorted(torch.cat([split[k] for k in ('train', 'valid', 'test')]).tolist()) == \
        list(range(len(graphs)))
    assert [len(split[k]) for k in ('train', 'valid', 'test')] == [24, 3, 3]
    ds2 = load_dataset('ogbg-molhiv', str(tmp_path))  # the processed file, via torch.load
    assert torch.equal(ds2.x, ds.x)


def test_real_smiles_round_trip_and_scaffold_split(tmp_path):
    smiles, tpsa = rdkit_smiles(60)
    from ogb.utils import smiles2graph
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold
    build_smiles_dataset(str(tmp_path), 'ogbg-molhiv', smiles, (tpsa > 50).astype(int))
    ds = load_dataset('ogbg-molhiv', str(tmp_path))
    for i in (0, 17, 59):
        g = smiles2graph(smiles[i])
        assert np.array_equal(ds[i].edge_index.numpy(), g['edge_index'])
        assert np.array_equal(ds[i].x.numpy(), g['node_feat'])
        assert np.array_equal(ds[i].edge_attr.numpy(), g['edge_feat'])
    scaffold = [MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(s),
                                                    includeChirality=True) for s in smiles]
    groups = {k: {scaffold[i] for i in ds.split_idx[k].tolist()} for k in ds.split_idx}
    assert not (groups['train'] & groups['valid'] or groups['train'] & groups['test'] or
                groups['valid'] & groups['test'])  # no scaffold in two splits
    assert os.path.exists(os.path.join(dataset_path('ogbg-molhiv', str(tmp_path)),
                                       'split', 'scaffold', 'train.csv.gz'))


def test_custom_name_multitask_with_missing_labels(tmp_path):
    graphs, labels = fabricated_mols(20)
    y = np.stack([labels, 1 - labels], 1).astype(float)
    y[3, 1] = np.nan
    build_graph_dataset(str(tmp_path), 'ogbg-mine', graphs, y, split='random', seed=3)
    ds = load_dataset('ogbg-mine', str(tmp_path))
    assert ds.num_tasks == 2 and torch.isnan(ds[3].y[0, 1])
    ev = evaluator_for(ds)
    assert (ev.num_tasks, ev.eval_metric) == (2, 'rocauc')
    score = ev.eval({'y_true': ds.y.numpy(), 'y_pred': np.nan_to_num(ds.y.numpy())})
    assert score['rocauc'] == 1.0


def test_data_objects_without_interleaving_and_directed(tmp_path):
    ei = torch.tensor([[0, 1, 2, 1, 2, 0], [1, 2, 0, 0, 1, 2]])  # a triangle, both ways
    data = [Data(x=torch.randn(3, 2), edge_index=ei, edge_attr=torch.arange(6.).view(6, 1))]
    with pytest.raises(DatasetError, match='not undirected'):
        build_graph_dataset(str(tmp_path), 'ogbg-tri', [Data(x=torch.randn(3, 2),
                                                             edge_index=ei[:, :3])], [1])
    # undirected: the reverse edges come back from ogb's add_inverse_edge
    sym = ei.clone()
    attr = torch.tensor([[0.], [1.], [2.], [0.], [1.], [2.]])
    build_graph_dataset(str(tmp_path), 'ogbg-tri', [Data(x=data[0].x, edge_index=sym,
                                                         edge_attr=attr)], [1], split={
        'train': [0], 'valid': [0], 'test': [0]}, task_type='regression')
    d = load_dataset('ogbg-tri', str(tmp_path))[0]
    got = {(int(a), int(b), float(w)) for (a, b), w in zip(d.edge_index.t(), d.edge_attr)}
    assert got == {(int(a), int(b), float(w)) for (a, b), w in zip(sym.t(), attr)}
    assert torch.allclose(d.x, data[0].x)
    build_graph_dataset(str(tmp_path), 'ogbg-dir', [Data(x=torch.randn(3, 2),
                                                         edge_index=ei[:, :3])], [1.5],
                        split={'train': [0], 'valid': [0], 'test': [0]},
                        task_type='regression', undirected=False)
    d = load_dataset('ogbg-dir', str(tmp_path))
    assert torch.equal(d[0].edge_index, ei[:, :3]) and evaluator_for(d).eval_metric == 'rmse'


def test_node_folders_arxiv_and_products(tmp_path):
    g = torch.Generator().manual_seed(0)
    n = 30
    ei = torch.randint(0, n, (2, 90), generator=g)
    x, y = torch.randn(n, 128, generator=g), torch.randint(0, 40, (n,), generator=g)
    year = torch.randint(2000, 2020, (n,), generator=g)
    build_node_dataset(str(tmp_path), 'ogbn-arxiv', ei, x, y, node_year=year)
    ds = load_dataset('ogbn-arxiv', str(tmp_path))
    d = ds[0]
    assert torch.equal(d.edge_index, ei) and torch.allclose(d.x, x)
    assert torch.equal(d.y.view(-1), y) and torch.equal(d.node_year.view(-1), year)
    assert os.path.isdir(os.path.join(str(tmp_path), 'ogbn_arxiv', 'split', 'time'))
    und = torch.cat([ei, ei.flip(0)], 1)
    und = und[:, und[0] != und[1]]
    build_node_dataset(str(tmp_path), 'ogbn-products', und, x[:, :100],
                       torch.randint(0, 47, (n,), generator=g))
    d = load_dataset('ogbn-products', str(tmp_path))[0]
    assert sorted(map(tuple, d.edge_index.t().tolist())) == sorted(map(tuple, und.t().tolist()))
    with pytest.raises(DatasetError, match='needs node_year'):
        build_node_dataset(str(tmp_path), 'ogbn-arxiv', ei, x, y, overwrite=True)


def test_builder_bad_input_leaves_nothing(tmp_path):
    graphs, labels = fabricated_mols(10)
    root = str(tmp_path)
    with pytest.raises(DatasetError, match='has 1 task'):
        build_graph_dataset(root, 'ogbg-molhiv', graphs, np.stack([labels, labels], 1))
    with pytest.raises(DatasetError, match='one row per graph'):
        build_graph_dataset(root, 'ogbg-molhiv', graphs, labels[:5])
    with pytest.raises(DatasetError, match='scaffold split needs SMILES'):
        build_graph_dataset(root, 'ogbg-molhiv', graphs, labels, split='scaffold')
    bad = [dict(g) for g in graphs]
    bad[2]['node_feat'] = bad[2]['node_feat'][:, :4]
    with pytest.raises(DatasetError, match='graph 2: ogbg-molhiv needs node_feat with 9'):
        build_graph_dataset(root, 'ogbg-molhiv', bad, labels)
    with pytest.raises(DatasetError, match='node-level name'):
        build_graph_dataset(root, 'ogbn-arxiv', graphs, labels)
    with pytest.raises(DatasetError, match='unknown dataset'):
        build_graph_dataset(root, 'molhiv', graphs, labels)
    with pytest.raises(DatasetError, match='fractions'):
        random_split(10, (0.5, 0.5, 0.5))
    assert os.listdir(root) == []  # no partial folder, no temporary left
    build_graph_dataset(root, 'ogbg-molhiv', graphs, labels)
    with pytest.raises(DatasetError, match='exists; choose another output or pass overwrite=True'):
        build_graph_dataset(root, 'ogbg-molhiv', graphs, labels)


def test_invalid_smiles_named(tmp_path):
    pytest.importorskip('rdkit')
    with pytest.raises(DatasetError, match=r"SMILES 1 \('C1CC'\) is not a valid molecule"):
        build_smiles_dataset(str(tmp_path), 'ogbg-molhiv', ['CCO', 'C1CC'], [0, 1])
    assert os.listdir(str(tmp_path)) == []


def test_load_errors_are_one_line_and_keep_the_folder(tmp_path):
    root = str(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'ogbg-nope'.*build_ogb.py"):
        load_dataset('ogbg-nope', root)
    with pytest.raises(DatasetError, match='unknown dataset'):
        load_dataset('cora', root)
    with pytest.raises(DatasetError, match='no dataset folder .*--download'):
        load_dataset('ogbg-molhiv', root)
    graphs, labels = fabricated_mols(12)
    path = build_graph_dataset(root, 'ogbg-molhiv', graphs, labels)
    os.remove(os.path.join(path, 'raw', 'edge-feat.csv.gz'))
    with pytest.raises(DatasetError, match=r'lacks raw.edge-feat.csv.gz') as err:
        load_dataset('ogbg-molhiv', root)
    assert '\n' not in str(err.value)
    assert os.path.isdir(os.path.join(path, 'raw'))  # never deleted, never re-downloaded
    with open(os.path.join(path, 'raw', 'edge-feat.csv.gz'), 'wb') as f:
        f.write(b'this is not gzip')
    with pytest.raises(DatasetError, match='could not read the OGB dataset ogbg-molhiv') as err:
        load_dataset('ogbg-molhiv', root)
    assert '\n' not in str(err.value)
    assert not os.path.exists(os.path.join(path, 'processed'))  # no partial processed data


def test_release_file_written_so_ogb_never_prompts(tmp_path):
    graphs, labels = fabricated_mols(12)
    path = build_graph_dataset(str(tmp_path), 'ogbg-molhiv', graphs, labels)
    os.remove(os.path.join(path, 'RELEASE_v1.txt'))
    load_dataset('ogbg-molhiv', str(tmp_path))  # input() would raise (fixture)
    assert os.path.exists(os.path.join(path, 'RELEASE_v1.txt'))


def test_allow_list_is_explicit_and_sufficient(tmp_path):
    classes = allow_pyg_classes()
    names = {c.__name__ for c in classes}
    assert names == {'Data', 'DataEdgeAttr', 'DataTensorAttr', 'BaseStorage', 'GlobalStorage',
                     'NodeStorage', 'EdgeStorage'}
    d = Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
    torch.save((d, {'x': torch.tensor([0, 3])}), tmp_path / 'p.pt')
    back, _ = torch.load(tmp_path / 'p.pt', weights_only=True)
    assert torch.equal(back.x, d.x)


def test_smiles_builder_needs_rdkit_clearly(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'rdkit', None)  # as if rdkit were not installed
    with pytest.raises(DatasetError, match=r'needs rdkit: pip install "gdl-graphs\[chem\]"'):
        build_smiles_dataset(str(tmp_path), 'ogbg-molhiv', ['CCO'], [1])
    assert os.listdir(str(tmp_path)) == []


def test_build_ogb_command(tmp_path, capsys):
    import importlib.util
    import pathlib
    smiles, tpsa = rdkit_smiles(40)
    csv = tmp_path / 'mols.csv'
    csv.write_text('smiles,tpsa,active\n' + ''.join(
        f'{s},{t},{"" if i % 9 == 0 else int(t > 50)}\n' for i, (s, t) in
        enumerate(zip(smiles, tpsa))))
    path = pathlib.Path(__file__).resolve().parents[1] / 'datasets' / 'build_ogb.py'
    spec = importlib.util.spec_from_file_location('_build_ogb', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    root = tmp_path / 'root'
    assert mod.main(['--csv', str(csv), '--label-columns', 'active', 'tpsa', '--name',
                     'ogbg-mymols', '--root', str(root), '--split', 'random']) == 0
    ds = load_dataset('ogbg-mymols', str(root))
    assert ds.num_tasks == 2 and len(ds) == 40 and torch.isnan(ds[0].y[0, 0])
    assert ds[1].y[0, 1].item() == pytest.approx(tpsa[1], rel=1e-6)
    capsys.readouterr()
    assert mod.main(['--csv', str(csv), '--label-columns', 'actve', '--name', 'ogbg-x',
                     '--root', str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and "no column 'actve'" in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(root)) == ['ogbg_mymols']


def test_tour_row(monkeypatch):
    import sys

    from gdl_graphs.tour import ogb as row
    r = row.run()
    assert r.ok and r.error <= 1e-10 and 'ogb loader' in r.result
    monkeypatch.setitem(sys.modules, 'ogb', None)
    skipped = row.run()
    assert skipped.ok and skipped.error == 0 and 'skipped: no ogb' in skipped.check
