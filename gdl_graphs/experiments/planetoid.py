"""Planetoid node classification (Cora, CiteSeer, PubMed) with the published GCN and GAT
recipes on gdl_graphs' layers (:class:`gdl_graphs.nn.GCNConv`, :class:`gdl_graphs.nn.GATConv`),
behind ``scripts/planetoid.py``.

Features are row-normalised (PyG's ``NormalizeFeatures``), the split is the public one (20
labels per class, 500 validation, 1000 test nodes). Recipes (each option overrides them):

- ``gcn``, Kipf and Welling, ICLR 2017: 2 layers, 16 hidden, ReLU, dropout 0.5, Adam lr 0.01,
  weight decay 5e-4 on the first layer (as the paper and PyG's ``examples/gcn.py``), 200
  epochs, no early stopping.
- ``gat``, Velickovic et al., ICLR 2018: 8 heads x 8 hidden, ELU, one output head (8 averaged
  heads on PubMed), dropout 0.6 on inputs and attention weights, Adam lr 0.005, weight decay
  5e-4 (0.001 on PubMed), early stopping with a patience of 100 epochs on the validation
  accuracy and loss, at most 1000 epochs.

The test accuracy of a run is the one at its best validation epoch (highest validation
accuracy, ties broken by the lower validation loss). The results JSON holds every run and the
mean and standard deviation (ddof=1) over runs.
"""
from __future__ import annotations

import argparse
import os.path as osp
import time
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import check_folder_path, check_outputs, write_results
from .context import init_context
from .errors import UserError
from .loop import std
from .rng import seed_everything

SCRIPT = 'planetoid'
DATASETS = {'cora': 'Cora', 'citeseer': 'CiteSeer', 'pubmed': 'PubMed'}
RAW = ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index')
PAPER = {('Cora', 'gcn'): 0.815, ('CiteSeer', 'gcn'): 0.703, ('PubMed', 'gcn'): 0.790,
         ('Cora', 'gat'): 0.830, ('CiteSeer', 'gat'): 0.725, ('PubMed', 'gat'): 0.790}


class InputDropout(torch.nn.Module):
    """Dropout of the input features. On a sparse COO ``x`` (the bag-of-words features,
    about 1% nonzero) it draws random numbers for the stored entries only, as Kipf and
    Welling's ``sparse_dropout``: the same distribution as ``F.dropout`` on the dense matrix (a
    dropped zero stays zero) at a fraction of its cost."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not x.is_sparse:
            return F.dropout(x, self.p, self.training)
        if not self.training or self.p == 0:
            return x
        out = x.clone()  # same indices; the stored values are scaled in place
        v = out.values()
        keep = torch.rand(v.shape, device=v.device) >= self.p
        v.mul_(keep / (1 - self.p))
        return out


class SparseRowsLinear(torch.nn.Module):
    """A bias-free ``Linear`` (the input projection of a GCN or GAT layer) that multiplies a
    sparse COO ``x`` as a CSR matrix through :func:`gdl_graphs.core.sparse.spmm`: the product
    and its weight gradient cost the stored entries only (torch's COO product and the CSR transpose
    of its backward cost ten to forty times more on Planetoid's features). The CSR of the
    sparsity pattern is built once and reused while it stays the same (input dropout only
    rescales the stored values). Dense inputs take ``F.linear``. Same parameters (the wrapped
    layer's ``weight``), same numbers."""

    def __init__(self, lin: torch.nn.Module):
        super().__init__()
        self.weight = lin.weight
        object.__setattr__(self, '_inner', lin)  # for reset_parameters, not a submodule
        self._csr = None
        self._indices = None

    def reset_parameters(self) -> None:
        self._inner.reset_parameters()

    def _structure(self, x):
        from ..core.sparse import CSR
        idx = x.indices()
        if self._indices is None or self._indices.shape != idx.shape or \
                not torch.equal(self._indices, idx):
            self._csr = CSR.build(idx[0], idx[1], tuple(x.shape))
            self._indices = idx
        return self._csr

    def forward(self, x):
        if not x.is_sparse:
            return F.linear(x, self.weight)
        from ..core.sparse import spmm
        x = x.coalesce()
        return spmm(self._structure(x), self.weight.t(), x.values().to(self.weight.dtype))


class GCN(torch.nn.Module):
    """Kipf and Welling's two-layer GCN: ``conv2(dropout(relu(conv1(dropout(x)))))``."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float):
        super().__init__()
        from ..nn import GCNConv
        self.dropout = dropout
        self.input_dropout = InputDropout(dropout)
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv1.lin = SparseRowsLinear(self.conv1.lin)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)

    def forward(self, x, edge_index):
        x = self.input_dropout(x)
        x = F.relu(self.conv1(x, edge_index))
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, edge_index)


class GAT(torch.nn.Module):
    """Velickovic et al.'s two-layer GAT: ``heads x hidden`` concatenated ELU features, then
    ``out_heads`` averaged output heads; dropout on every layer's input and attention."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, heads: int,
                 out_heads: int, dropout: float):
        super().__init__()
        from ..nn import GATConv
        self.dropout = dropout
        self.input_dropout = InputDropout(dropout)
        self.conv1 = GATConv(in_channels, hidden, heads=heads, dropout=dropout)
        self.conv1.lin = SparseRowsLinear(self.conv1.lin)
        self.conv2 = GATConv(hidden * heads, out_channels, heads=out_heads, concat=False,
                             dropout=dropout)

    def forward(self, x, edge_index):
        x = self.input_dropout(x)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, self.dropout, self.training)
        return self.conv2(x, edge_index)


def recipe(name: str, model: str) -> Dict[str, float]:
    """The paper's hyperparameters for ``model`` on dataset ``name``."""
    if model == 'gcn':
        return {'hidden': 16, 'dropout': 0.5, 'lr': 0.01, 'weight_decay': 5e-4, 'epochs': 200,
                'patience': 0}
    pubmed = name == 'PubMed'
    return {'hidden': 8, 'heads': 8, 'out_heads': 8 if pubmed else 1, 'dropout': 0.6,
            'lr': 0.005, 'weight_decay': 1e-3 if pubmed else 5e-4, 'epochs': 1000,
            'patience': 100}


def options(args) -> Dict[str, float]:
    """The recipe with the command line's overrides, checked."""
    name = DATASETS.get(args.dataset.lower())
    if name is None:
        raise UserError(f'--dataset {args.dataset!r} is not a Planetoid dataset: use Cora, '
                        f'CiteSeer or PubMed')
    args.dataset = name
    opt = recipe(name, args.model)
    for key in list(opt) + ['heads', 'out_heads']:
        value = getattr(args, key, None)
        if value is not None:
            if args.model == 'gcn' and key in ('heads', 'out_heads'):
                raise UserError(f'--{key.replace("_", "-")} is a GAT option; drop it or use '
                                f'--model gat')
            opt[key] = value
    for key in ('hidden', 'epochs', 'heads', 'out_heads'):
        if key in opt and opt[key] < 1:
            raise UserError(f'--{key.replace("_", "-")} must be >= 1, got {opt[key]}')
    if args.runs < 1:
        raise UserError(f'--runs must be >= 1, got {args.runs}')
    if getattr(args, 'workers', 1) < 1:
        raise UserError(f'--workers must be >= 1, got {args.workers}')
    if opt['patience'] < 0:
        raise UserError(f'--patience must be >= 0 (0: no early stopping), got '
                        f'{opt["patience"]}')
    if not opt['lr'] > 0 or opt['weight_decay'] < 0 or not 0 <= opt['dropout'] < 1:
        raise UserError('need --lr > 0, --weight-decay >= 0 and 0 <= --dropout < 1')
    return opt


def load(root: str, name: str, download: bool):
    """PyG's ``Planetoid(root, name)`` on the raw ``ind.*`` files, row-normalised features;
    a :class:`UserError` naming the missing files unless ``download``."""
    from torch_geometric.datasets import Planetoid
    from torch_geometric.transforms import NormalizeFeatures
    raw = osp.join(root, name, 'raw')
    missing = [f'ind.{name.lower()}.{s}' for s in RAW
               if not osp.isfile(osp.join(raw, f'ind.{name.lower()}.{s}'))]
    if missing and not download:
        raise UserError(f'{raw} lacks {", ".join(missing)}: copy the ind.{name.lower()}.* '
                        f'files there (github.com/kimiyoung/planetoid, data/) or pass '
                        f'--download')
    try:
        dataset = Planetoid(root, name, transform=NormalizeFeatures())
        return dataset[0], dataset.num_classes
    except (OSError, ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError,
            __import__('pickle').UnpicklingError) as exc:
        first = (str(exc).strip().splitlines() or [''])[0][:160]
        raise UserError(f'{raw}: the ind.{name.lower()}.* files are not a readable Planetoid '
                        f'dataset ({type(exc).__name__}: {first})') from None


def sparse_features(x, edge_index):
    """``x`` as a coalesced sparse COO tensor when the layers accept one (their ``Linear``
    then runs a sparse product), else ``x`` unchanged: the numbers are the same."""
    from ..nn import GCNConv
    xs = x.to_sparse_coo().coalesce()
    try:
        with torch.no_grad():
            GCNConv(x.size(1), 1).to(x.device)(xs, edge_index)
    except (ValueError, TypeError, RuntimeError, NotImplementedError):
        return x
    return xs


def build(args, opt, num_features: int, num_classes: int):
    if args.model == 'gcn':
        model = GCN(num_features, opt['hidden'], num_classes, opt['dropout'])
        groups = [{'params': model.conv1.parameters(), 'weight_decay': opt['weight_decay']},
                  {'params': model.conv2.parameters(), 'weight_decay': 0.0}]
    else:
        model = GAT(num_features, opt['hidden'], num_classes, opt['heads'], opt['out_heads'],
                    opt['dropout'])
        groups = [{'params': model.parameters(), 'weight_decay': opt['weight_decay']}]
    # one fused kernel for all parameters (the same update as the per-tensor loop)
    return model, torch.optim.Adam(groups, lr=opt['lr'], fused=True)


def train(model, optimizer, data) -> float:
    """One full-batch step on the training nodes."""
    model.train()
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model, data) -> Dict[str, float]:
    """Accuracy on the train, val and test masks, and the validation loss."""
    model.eval()
    out = model(data.x, data.edge_index)
    pred = out.argmax(-1)
    res = {k: float((pred[m] == data.y[m]).float().mean())
           for k, m in (('train', data.train_mask), ('valid', data.val_mask),
                        ('test', data.test_mask))}
    res['valid_loss'] = float(F.cross_entropy(out[data.val_mask], data.y[data.val_mask]))
    return res


def run_once(args, opt, data, num_classes: int, run: int, bar) -> Dict:
    """One run: train, track the best validation epoch, stop after ``patience`` epochs
    without a better validation accuracy or loss (GAT)."""
    seed_everything(args.seed + run)
    model, optimizer = build(args, opt, data.num_features, num_classes)
    model = model.to(data.x.device)
    best, best_acc, best_loss, wait = None, -1.0, float('inf'), 0
    curve, t0 = [], time.perf_counter()
    for epoch in range(1, opt['epochs'] + 1):
        loss = train(model, optimizer, data)
        res = evaluate(model, data)
        curve.append([epoch, loss, res['train'], res['valid'], res['test'], res['valid_loss']])
        if best is None or res['valid'] > best['valid'] or (
                res['valid'] == best['valid'] and res['valid_loss'] < best['valid_loss']):
            best = dict(res, epoch=epoch)
        if res['valid'] > best_acc or res['valid_loss'] < best_loss:
            best_acc, best_loss = max(best_acc, res['valid']), min(best_loss, res['valid_loss'])
            wait = 0
        else:
            wait += 1
        bar.set_postfix(run=run, loss=f'{loss:.3f}', val=f'{res["valid"]:.3f}',
                        test=f'{best["test"]:.3f}', refresh=False)
        bar.update()
        if opt['patience'] and wait >= opt['patience']:
            break
    return {'run': run, 'best_epoch': best['epoch'], 'valid': best['valid'],
            'test': best['test'], 'epochs': len(curve),
            'seconds': time.perf_counter() - t0, 'curve': curve}


class _Quiet:
    """A progress bar that shows nothing (runs in worker processes)."""

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def update(self, *args) -> None:
        pass


_WORKER: Dict = {}  # set in each worker process by _start_worker (a forked copy)


def _start_worker(args, opt, data, num_classes) -> None:
    torch.set_num_threads(1)
    _WORKER.update(args=args, opt=opt, data=data, num_classes=num_classes)


def _run_in_worker(run: int) -> Dict:
    w = _WORKER
    return run_once(w['args'], w['opt'], w['data'], w['num_classes'], run, _Quiet())


def train_planetoid(args: argparse.Namespace) -> int:
    """``scripts/planetoid.py``: ``args.runs`` runs of ``args.model`` on ``args.dataset``
    (the recipe's options overridden by those given), one results JSON."""
    opt = options(args)
    check_folder_path(args.out_dir, '--out-dir')
    results = args.results or osp.join(args.out_dir, f'{SCRIPT}_{args.dataset}_{args.model}.json')
    check_outputs(None, results, False, getattr(args, 'overwrite', False))
    dist = init_context(args.device, allow_distributed=False)
    from tqdm.auto import tqdm
    data, num_classes = load(args.root, args.dataset, args.download)
    data = data.to(dist.device)
    data.x = sparse_features(data.x, data.edge_index)
    runs = []
    workers = min(getattr(args, 'workers', 1), args.runs)
    if workers > 1 and dist.device.type == 'cpu':
        # runs are seeded one by one: the same records as one process, in parallel
        import multiprocessing as mp
        pool = mp.get_context('fork').Pool(workers, _start_worker,
                                           (args, opt, data, num_classes))
        try:
            runs = pool.map(_run_in_worker, range(args.runs), chunksize=1)
        finally:  # close and join: terminate() can deadlock on a worker's queue lock
            pool.close()
            pool.join()
    else:
        with tqdm(total=args.runs * opt['epochs'], desc=f'{args.model} on {args.dataset}',
                  unit='epoch', disable=args.quiet, leave=False) as bar:
            for run in range(args.runs):
                rec = run_once(args, opt, data, num_classes, run, bar)
                bar.update(opt['epochs'] - rec['epochs'])  # the epochs early stopping skipped
                runs.append(rec)
    test = [r['test'] for r in runs]
    valid = [r['valid'] for r in runs]
    out = {'script': SCRIPT, 'dataset': args.dataset, 'model': args.model, 'metric': 'acc',
           'config': dict(opt, seed=args.seed, runs=args.runs), 'device': str(dist.device),
           'workers': workers,
           'torch': torch.__version__, 'num_nodes': int(data.num_nodes),
           'num_edges': int(data.edge_index.size(1)), 'runs': runs,
           'valid_mean': float(np.mean(valid)), 'valid_std': std(valid),
           'test_mean': float(np.mean(test)), 'test_std': std(test),
           'paper_test': PAPER[(args.dataset, args.model)]}
    write_results(out, results)
    print(f'{args.model} on {args.dataset}: test acc {out["test_mean"]:.4f} +- '
          f'{out["test_std"]:.4f} over {args.runs} run(s) (paper {out["paper_test"]:.3f}) '
          f'-> {results}')
    return 0

