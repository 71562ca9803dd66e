"""The molhiv CPU leaderboard recipe: the model has the entry's 32,385 parameters, the preset
sets the recipe and yields to explicit options, the run loop's 'valid_and_train' selection
picks the epoch the entry's rule picks, and the pipeline runs end to end on a molecule set
built from SMILES that ship with rdkit."""
import argparse
import json
import os

import numpy as np
import pytest
import torch
from _scripts import load_script, run

from gdl_graphs.experiments import DistContext, RunState, run_experiment


def test_atom_gin_has_the_entrys_parameter_count_and_ignores_node_order():
    pytest.importorskip('ogb')
    from torch_geometric.data import Batch, Data

    from gdl_graphs.models import AtomGIN, mol_gnn
    model = mol_gnn('atom-gin', 1, num_layer=2, emb_dim=64, drop_ratio=0.5)
    assert isinstance(model, AtomGIN)
    assert sum(p.numel() for p in model.parameters()) == 32385
    model = model.double().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (6, 9), generator=g)
    ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(6)
    a = Batch.from_data_list([Data(x=x, edge_index=ei)])
    b = Batch.from_data_list([Data(x=x[perm], edge_index=inv[ei])])
    torch.testing.assert_close(model(a), model(b))
    assert model(a).shape == (1, 1)


def test_preset_sets_the_recipe_and_explicit_options_win():
    mod = load_script('ogbg_mol')
    args = mod.parse(['--preset', 'molhiv-cpu-gin', '--epochs', '3'])
    assert (args.gnn, args.num_layer, args.emb_dim, args.drop_ratio) == ('atom-gin', 2, 64, 0.5)
    assert (args.lr, args.weight_decay, args.lr_halve_at, args.batch_size) == \
        (1e-3, 1e-6, 10, 32)
    assert (args.runs, args.seed, args.selection, args.dataset) == \
        (10, 0, 'valid_and_train', 'ogbg-molhiv')
    assert args.epochs == 3
    assert mod.parse([]).gnn == 'gin-virtual'  # no preset: OGB's defaults


@pytest.mark.parametrize('selection,best', [('valid', 5), ('valid_and_train', 4)])
def test_selection_rules(selection, best, tmp_path):
    # (train, valid): epoch 2 sets the valid; epoch 3 ties it with a worse train; epoch 4
    # ties it with a better train; epoch 5 has a better valid but a worse train
    curve = [(0.6, 0.5), (0.7, 0.8), (0.65, 0.8), (0.9, 0.8), (0.5, 0.85)]
    model = torch.nn.Linear(1, 1)

    def setup_run(run):
        return RunState(model, torch.optim.SGD(model.parameters(), lr=0.1))

    def evaluate(st):
        train, valid = curve[st.extra.setdefault('epoch', 0)]
        st.extra['epoch'] += 1
        return {'train': train, 'valid': valid, 'test': valid / 2}

    args = argparse.Namespace(epochs=5, runs=1, seed=0, resume=False, overwrite=False,
                              out_dir=str(tmp_path), results=None, checkpoint=None,
                              dataset='toy', quiet=True, stop_after=None)
    assert run_experiment(args, script='toy', model_name='m', config={}, ctx=DistContext(),
                          metric='acc', setup_run=setup_run, train_epoch=lambda *a: 0.0,
                          evaluate=evaluate, selection=selection) == 0
    res = json.loads((tmp_path / 'toy_toy_m.json').read_text())
    assert res['runs'][0]['best_epoch'] == best
    assert res['runs'][0]['test'] == curve[best - 1][1] / 2


def test_preset_end_to_end_on_molecules_built_from_rdkit_smiles(tmp_path, capsys):
    pytest.importorskip('ogb')
    rdkit = pytest.importorskip('rdkit')
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog('rdApp.*')
    path = os.path.join(os.path.dirname(rdkit.__file__), 'Data', 'NCI', 'first_5k.tpsa.csv')
    rows = []
    for line in open(path):
        smi, _, tpsa = line.strip().rpartition(',')
        if line.startswith('#') or not smi or Chem.MolFromSmiles(smi) is None:
            continue
        rows.append((smi, float(tpsa)))
        if len(rows) == 400:
            break
    tpsa = np.array([t for _, t in rows])
    active = (tpsa > np.quantile(tpsa, 0.8)).astype(int)
    csv = tmp_path / 'mols.csv'
    csv.write_text('smiles,active\n' + ''.join(f'{s},{a}\n' for (s, _), a in zip(rows, active)))
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'build_ogb', os.path.join(os.path.dirname(__file__), '..', 'datasets', 'build_ogb.py'))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.build(['--csv', str(csv), '--label-columns', 'active', '--name', 'ogbg-molhiv',
                 '--root', str(tmp_path / 'data')])
    out = tmp_path / 'out'
    assert run('ogbg_mol', ['--preset', 'molhiv-cpu-gin', '--root', str(tmp_path / 'data'),
                            '--epochs', '2', '--runs', '2', '--device', 'cpu', '--quiet',
                            '--out-dir', str(out)]) == 0, capsys.readouterr().err
    res = json.loads((out / 'ogbg_mol_ogbg-molhiv_atom-gin.json').read_text())
    assert res['num_parameters'] == 32385 and res['metric'] == 'rocauc'
    assert res['config']['selection'] == 'valid_and_train' and res['config']['epochs'] == 2
    assert [r['run'] for r in res['runs']] == [0, 1]
    assert all(0.0 <= r['test'] <= 1.0 for r in res['runs'])
