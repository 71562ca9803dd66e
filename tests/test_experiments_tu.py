"""The fast path of GIN's TU protocol computes the slow path's numbers: batches sliced from a
pre-collated store are PyG's collated batches, a fold trained on them gives the DataLoader
loop's curve exactly, and K folds stacked into one model are K independent models (float64)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_repro_scripts import write_tu

from gdl_graphs.experiments import folds as fm
from gdl_graphs.experiments import tu


@pytest.fixture(params=[True, False], ids=['node-labels', 'one-hot-degree'])
def dataset(request, tmp_path):
    write_tu(tmp_path, num_graphs=30, node_labels=request.param)
    return tu.load_tu(str(tmp_path), 'TINY', download=False)


def test_store_batches_are_pyg_batches(dataset):
    from torch_geometric.data import Batch
    store = tu.PrecollatedGraphs.from_dataset(dataset)
    assert len(store) == len(dataset)
    for ids in (torch.tensor([3, 0, 17, 5]), torch.arange(30), torch.tensor([29])):
        got = store.batch(ids)
        want = Batch.from_data_list([dataset[int(i)] for i in ids])
        assert torch.equal(got.x, want.x.float())
        assert torch.equal(got.edge_index, want.edge_index)
        assert torch.equal(got.batch, want.batch) and torch.equal(got.y, want.y)
        assert got.num_graphs == want.num_graphs


def _dataloader_fold(dataset, train_idx, test_idx, opt, nf, nc):
    """The protocol's fold as the DataLoader loop writes it (the reference)."""
    from torch_geometric.loader import DataLoader
    tu.seed_everything(opt['seed'])
    gen = torch.Generator().manual_seed(opt['seed'])
    train = DataLoader(dataset[torch.from_numpy(train_idx)], opt['batch_size'], shuffle=True,
                       generator=gen)
    test = DataLoader(dataset[torch.from_numpy(test_idx)], 128)
    model = tu.GIN(nf, opt['hidden'], nc, opt['num_layers'], opt['dropout'], False)
    optimizer = torch.optim.Adam(model.parameters(), lr=opt['lr'])
    sched = torch.optim.lr_scheduler.StepLR(optimizer, opt['step_size'], opt['gamma'])
    acc, losses = [], []
    for _ in range(opt['epochs']):
        model.train()
        total, count = 0.0, 0
        for b in train:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(b.x.float(), b.edge_index, b.batch, b.num_graphs), b.y)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * b.num_graphs
            count += b.num_graphs
        sched.step()
        model.eval()
        right = 0
        with torch.no_grad():
            for b in test:
                out = model(b.x.float(), b.edge_index, b.batch, b.num_graphs)
                right += int((out.argmax(-1) == b.y).sum())
        acc.append(right / len(test_idx))
        losses.append(total / count)
    return acc, losses


def test_fold_on_the_store_is_the_dataloader_fold(dataset):
    store = tu.PrecollatedGraphs.from_dataset(dataset)
    splits = tu.stratified_folds(store.y.numpy(), 3, seed=0)
    opt = dict(seed=0, batch_size=8, hidden=8, num_layers=3, dropout=0.5, model='gin',
               lr=0.01, step_size=2, gamma=0.5, iters_per_epoch=None, epochs=4)
    nf, nc = store.x.size(1), dataset.num_classes
    got = tu.train_fold(store, splits[0][0], splits[0][1], 0, opt, nf, nc, torch.device('cpu'))
    acc, losses = _dataloader_fold(dataset, splits[0][0], splits[0][1], opt, nf, nc)
    assert got['acc'] == acc and got['loss'] == losses


@pytest.mark.parametrize('train_eps', [False, True])
def test_stacked_folds_are_independent_models(dataset, train_eps):
    """K GINs stacked into one model, trained with FoldAdam on each fold's own batches, give
    every GIN's outputs, parameters and batch-norm statistics (a fold without a batch in a step
    is left alone), in float64."""
    store = tu.PrecollatedGraphs.from_dataset(dataset)
    store.x = store.x.double()
    K, nf = 3, store.x.size(1)
    models = []
    for k in range(K):
        torch.manual_seed(k)
        models.append(tu.GIN(nf, 8, 2, 4, 0.0, train_eps).double())
    stacked = fm.FoldBatchedGIN(models).double()
    adam = fm.FoldAdam(stacked.flat, 0.01)
    opts = [torch.optim.Adam(m.parameters(), lr=0.01) for m in models]
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        ids = [torch.randperm(30, generator=g)[:4 + 3 * k] for k in range(K)]
        if step == 2:
            ids[1] = ids[1][:0]  # fold 1 has no batch left
        fb = fm.FoldBatch(store, ids, torch.device('cpu')).to(torch.float64)
        stacked.train()
        adam.zero_grad()
        out = stacked(fb)
        ce = F.cross_entropy(out.reshape(-1, 2), fb.y.view(-1), reduction='none',
                             ignore_index=-100).view(K, -1).sum(1)
        (ce / fb.graph_count.clamp(min=1)).sum().backward()
        adam.step(fb.graph_count > 0)
        for k, m in enumerate(models):
            if ids[k].numel() == 0:
                continue
            m.train()
            b = store.batch(ids[k])
            opts[k].zero_grad()
            o = m(b.x, b.edge_index, b.batch, b.num_graphs)
            torch.testing.assert_close(o, out[k, :b.num_graphs])
            F.cross_entropy(o, b.y).backward()
            opts[k].step()
    for k, m in enumerate(models):
        ref = m.state_dict()
        for name, value in stacked.fold_state_dict(k).items():
            if name.endswith(('nn.0.bias', 'nn.3.bias')):
                # a bias right before batch norm has a zero gradient up to rounding, which
                # Adam's normalisation turns into steps of any size: it cancels in the output
                continue
            torch.testing.assert_close(value, ref[name].to(value.dtype), msg=name)
    stacked.eval()
    every = torch.arange(30)
    out = stacked(fm.FoldBatch(store, [every] * K, torch.device('cpu')).to(torch.float64))
    b = store.batch(every)
    for k, m in enumerate(models):
        # eval mode sees those biases through the running means: equal up to their noise
        torch.testing.assert_close(m.eval()(b.x, b.edge_index, b.batch, 30), out[k, :30],
                                   rtol=1e-5, atol=1e-5)


def test_batched_engine_learns_like_the_per_fold_engine(tmp_path):
    """Both engines on the same folds: learnable data, both above chance, results JSON per
    fold, the batched one without the per-fold loop's model count."""
    write_tu(tmp_path, num_graphs=40)
    dataset = tu.load_tu(str(tmp_path), 'TINY', download=False)
    store = tu.PrecollatedGraphs.from_dataset(dataset)
    splits = tu.stratified_folds(store.y.numpy(), 4, seed=0)
    opt = dict(seed=0, batch_size=8, hidden=16, num_layers=3, dropout=0.0, model='gin',
               lr=0.01, step_size=50, gamma=0.5, iters_per_epoch=None, epochs=15)
    nf, nc = store.x.size(1), 2
    batched = fm.train_folds(store, splits, [0, 1, 2, 3], opt, nf, nc, torch.device('cpu'))
    per = [tu.train_fold(store, splits[f][0], splits[f][1], f, opt, nf, nc,
                         torch.device('cpu')) for f in range(4)]
    assert [r['fold'] for r in batched] == [0, 1, 2, 3]
    a = np.array([r['acc'] for r in batched])[:, -5:].mean()
    b = np.array([r['acc'] for r in per])[:, -5:].mean()
    assert a > 0.8 and b > 0.8  # rings against paths: separable
    # the first epoch of each fold sees the same batches from the same start
    np.testing.assert_allclose([r['loss'][0] for r in batched], [r['loss'][0] for r in per],
                               rtol=1e-4)
