"""GIN's graph classification protocol on TU data sets (Xu et al., "How Powerful are Graph
Neural Networks?", ICLR 2019), behind ``scripts/tu.py``.

The recipe (the script's defaults): 5 GIN layers including the input layer (4 ``GINConv``),
each an MLP of 2 layers (Linear, BatchNorm, ReLU, Linear) followed by BatchNorm and ReLU; a sum
readout of every layer's node features (the input's included), each mapped to class scores by
its own Linear with dropout 0.5 and the scores summed; eps = 0 (GIN-0; ``gin-eps`` learns it);
hidden 32; batch size 32; Adam lr 0.01 halved every 50 epochs; 350 epochs. Folds are
stratified (scikit-learn's ``StratifiedKFold``, shuffled with the seed). As in the paper, the
reported figure is the best epoch of the held-out accuracy averaged over the folds, with the
standard deviation (ddof=1) over folds at that epoch. Graphs without node features get
one-hot degrees, as the paper does for the social data sets.

Speed without changing a number: the data set is collated once into a
:class:`PrecollatedGraphs` store, and a mini-batch is sliced from it with a few vectorised
index operations instead of collating Python ``Data`` objects; each held-out fold is one batch
built once. The batches are the ones PyG's ``DataLoader`` would give (the same generator
draws, the same graph order), so a fold's curve equals the ``DataLoader`` one. Folds are
independent (each seeded by itself) and run in ``workers`` processes at once.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential

from ..loader.precollated import GraphBatch, PrecollatedGraphs  # noqa: F401
from .checkpoint import check_folder_path, check_outputs, write_results
from .context import init_context
from .errors import UserError
from .loop import std
from .rng import seed_everything

SCRIPT = 'tu'
# GIN-0 in Table 1 of Xu et al. 2019: accuracy (%) mean and std over the 10 folds.
PAPER = {'MUTAG': (89.4, 5.6), 'PTC_MR': (64.6, 7.0), 'PROTEINS': (76.2, 2.8),
         'NCI1': (82.7, 1.7), 'IMDB-BINARY': (75.1, 5.1), 'IMDB-MULTI': (52.3, 2.8),
         'REDDIT-BINARY': (92.4, 2.5), 'REDDIT-MULTI-5K': (57.5, 1.5), 'COLLAB': (80.2, 1.9)}
REQUIRED = ('A', 'graph_indicator', 'graph_labels')


class GIN(torch.nn.Module):
    """Xu et al.'s GIN for graph classification: ``num_layers - 1`` GIN layers and a sum
    readout over all layers, the input's included."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, num_layers: int,
                 dropout: float, train_eps: bool):
        super().__init__()
        from ..nn import GINConv
        self.dropout = dropout
        self.convs = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        for i in range(num_layers - 1):
            mlp = Sequential(Linear(in_channels if i == 0 else hidden, hidden),
                             BatchNorm1d(hidden), ReLU(), Linear(hidden, hidden))
            self.convs.append(GINConv(mlp, eps=0.0, train_eps=train_eps))
            self.norms.append(BatchNorm1d(hidden))
        self.heads = torch.nn.ModuleList(
            [Linear(in_channels if i == 0 else hidden, out_channels) for i in range(num_layers)])

    def forward(self, x, edge_index, batch, num_graphs: int):
        from torch_geometric.nn import global_add_pool
        hs = [x]
        for conv, norm in zip(self.convs, self.norms):
            hs.append(F.relu(norm(conv(hs[-1], edge_index))))
        out = 0
        for h, head in zip(hs, self.heads):
            pooled = global_add_pool(h, batch, size=num_graphs)
            out = out + F.dropout(head(pooled), self.dropout, self.training)
        return out


# ----------------------------------------------------------------------------- the protocol

def load_tu(root: str, name: str, download: bool):
    """PyG's ``TUDataset(root, name)``; one-hot degrees when the graphs have no features; a
    :class:`UserError` naming the missing files unless ``download``."""
    from torch_geometric.datasets import TUDataset
    raw = osp.join(root, name, 'raw')
    missing = [f'{name}_{s}.txt' for s in REQUIRED
               if not osp.isfile(osp.join(raw, f'{name}_{s}.txt'))]
    if missing and not download:
        raise UserError(f'{raw} lacks {", ".join(missing)}: copy the TU data set {name!r} '
                        f'there (https://chrsmrrs.github.io/datasets/) or pass --download')
    try:
        dataset = TUDataset(root, name)
        if dataset.num_node_features == 0:
            from torch_geometric.transforms import OneHotDegree
            max_deg = 0
            for g in dataset:
                if g.num_edges:
                    max_deg = max(max_deg, int(torch.bincount(g.edge_index[0]).max()))
            dataset = TUDataset(root, name, transform=OneHotDegree(max_deg))
    except (OSError, ValueError, IndexError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [''])[0][:160]
        raise UserError(f'{raw}: not a readable TU data set {name!r} ({type(exc).__name__}: '
                        f'{first})') from None
    if len(dataset) == 0 or dataset.num_classes < 2:
        raise UserError(f'{raw}: {name} has {len(dataset)} graphs and {dataset.num_classes} '
                        f'class(es); graph classification needs at least 2 classes')
    return dataset


def stratified_folds(y: np.ndarray, k: int, seed: int):
    """Stratified ``k``-fold (train, test) index pairs, as the authors' code."""
    from sklearn.model_selection import StratifiedKFold
    if k > len(y):
        raise UserError(f'--folds {k} is more than the {len(y)} graphs of the data set: use '
                        f'--folds {min(10, len(y))} or fewer')
    counts = np.bincount(y)
    if k > counts.max():
        raise UserError(f'--folds {k} is more than the largest class ({counts.max()} '
                        f'graphs): use --folds {counts.max()} or fewer')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # a class smaller than k: still fine
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def check_tu_args(args: argparse.Namespace) -> None:
    for key in ('epochs', 'hidden', 'batch_size', 'step_size', 'workers'):
        if getattr(args, key, 1) < 1:
            raise UserError(f'--{key.replace("_", "-")} must be >= 1, got {getattr(args, key)}')
    if args.folds < 2:
        raise UserError(f'--folds must be >= 2, got {args.folds}')
    if args.num_layers < 2:
        raise UserError(f'--num-layers must be >= 2 (the input layer and one GIN layer), got '
                        f'{args.num_layers}')
    if args.iters_per_epoch is not None and args.iters_per_epoch < 1:
        raise UserError(f'--iters-per-epoch must be >= 1, got {args.iters_per_epoch}')
    if not args.lr > 0 or not 0 < args.gamma <= 1 or not 0 <= args.dropout < 1:
        raise UserError('need --lr > 0, 0 < --gamma <= 1 and 0 <= --dropout < 1')


def train_fold(store: PrecollatedGraphs, train_idx: np.ndarray, test_idx: np.ndarray,
               fold: int, opt: Dict, num_features: int, num_classes: int,
               device: torch.device, progress=None) -> Dict:
    """One fold of the protocol: the held-out accuracy and mean loss of every epoch."""
    seed_everything(opt['seed'] + fold)
    gen = torch.Generator().manual_seed(opt['seed'] + fold)
    train_ids = torch.from_numpy(np.asarray(train_idx))
    # the order and the generator draws of PyG's DataLoader(shuffle=True, generator=gen)
    order = torch.utils.data.DataLoader(range(len(train_ids)), opt['batch_size'], shuffle=True,
                                        generator=gen)
    test = store.batch(torch.from_numpy(np.asarray(test_idx)))
    test = GraphBatch(test.x.to(device), test.edge_index.to(device), test.batch.to(device),
                      test.y.to(device), test.num_graphs)
    model = GIN(num_features, opt['hidden'], num_classes, opt['num_layers'], opt['dropout'],
                opt['model'] == 'gin-eps').to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=opt['lr'])
    sched = torch.optim.lr_scheduler.StepLR(optimizer, opt['step_size'], opt['gamma'])
    iters = opt['iters_per_epoch']
    acc, losses = [], []
    t0 = time.perf_counter()
    for epoch in range(opt['epochs']):
        model.train()
        total, count, it = 0.0, 0, 0
        while True:
            for pos in order:
                b = store.batch(train_ids.index_select(0, pos))
                optimizer.zero_grad()
                out = model(b.x.to(device), b.edge_index.to(device), b.batch.to(device),
                            b.num_graphs)
                loss = F.cross_entropy(out, b.y.to(device))
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * b.num_graphs
                count += b.num_graphs
                it += 1
                if iters is not None and it >= iters:
                    break
            if iters is None or it >= iters:
                break
        sched.step()
        model.eval()
        # a DataLoader without a generator draws its base seed from torch's global generator
        # when it starts; the same draw keeps the dropout masks of the DataLoader protocol
        torch.empty((), dtype=torch.int64).random_()
        with torch.no_grad():
            out = model(test.x, test.edge_index, test.batch, test.num_graphs)
        acc.append(int((out.argmax(-1) == test.y).sum()) / test.num_graphs)
        losses.append(total / count)
        if progress is not None:
            progress(fold, losses[-1], acc[-1])
    return {'fold': fold, 'acc': acc, 'loss': losses, 'seconds': time.perf_counter() - t0}


def _fold_worker(job):
    torch.set_num_threads(1)
    store, splits, group, opt, nf, nc, batched = job
    if batched:
        from .folds import train_folds
        return train_folds(store, splits, group, opt, nf, nc, torch.device('cpu'))
    return [train_fold(store, splits[f][0], splits[f][1], f, opt, nf, nc, torch.device('cpu'))
            for f in group]


def summarise(out: Dict, acc: np.ndarray) -> Dict:
    """The paper's figure from the per-fold accuracy curves ``acc [folds, epochs]``: the best
    epoch of the mean over folds, the mean and std (ddof=1) over folds at that epoch."""
    mean = acc.mean(0)
    best = int(mean.argmax())
    out.update(best_epoch=best + 1, fold_acc=acc[:, best].tolist(), test_mean=float(mean[best]),
               test_std=std(acc[:, best].tolist()), last_mean=float(mean[-1]),
               last_std=std(acc[:, -1].tolist()), mean_curve=mean.tolist())
    name = out['dataset']
    if name in PAPER:
        out['paper_mean'], out['paper_std'] = (v / 100 for v in PAPER[name])
    return out


def report(out: Dict, path: str) -> None:
    name = out['dataset']
    paper = f' (paper {PAPER[name][0]} +- {PAPER[name][1]})' if name in PAPER else ''
    print(f'{out["model"]} on {name}: {len(out["fold_acc"])}-fold acc '
          f'{100 * out["test_mean"]:.1f} +- {100 * out["test_std"]:.1f} at epoch '
          f'{out["best_epoch"]}{paper} -> {path}')


def _results_path(args, stem: str) -> str:
    check_folder_path(args.out_dir, '--out-dir')
    path = args.results or osp.join(args.out_dir, stem + '.json')
    check_outputs(None, path, False, getattr(args, 'overwrite', False))
    return path


def merge_folds(paths: Sequence[str], args: argparse.Namespace) -> int:
    """One result from the partial results of ``--only-folds`` runs of one setup."""
    parts = []
    for path in paths:
        try:
            with open(path) as f:
                parts.append(json.load(f))
        except (OSError, ValueError) as exc:
            raise UserError(f'--merge: cannot read {path} ({type(exc).__name__})') from None
    if any('fold_curves' not in p or 'folds_run' not in p for p in parts):
        raise UserError('--merge takes the results JSON of --only-folds runs')
    first = parts[0]
    for p in parts[1:]:
        if (p['dataset'], p['model'], p['config']) != (first['dataset'], first['model'],
                                                       first['config']):
            raise UserError(f'--merge: {paths[0]} and another file are different setups')
    curves = {}
    for p in parts:
        for fold, curve in zip(p['folds_run'], p['fold_curves']):
            if fold in curves:
                raise UserError(f'--merge: fold {fold} appears twice')
            curves[fold] = curve
    k = first['config']['folds']
    if sorted(curves) != list(range(k)):
        raise UserError(f'--merge: folds {sorted(curves)} are not all of 0..{k - 1}')
    out = {key: first[key] for key in ('script', 'dataset', 'model', 'metric', 'config',
                                       'device', 'torch', 'num_graphs')}
    out['fold_seconds'] = [s for p in parts for s in p['fold_seconds']]
    out['merged_from'] = list(paths)
    out = summarise(out, np.array([curves[f] for f in range(k)]))
    path = _results_path(args, f'{SCRIPT}_{out["dataset"]}_{out["model"]}')
    write_results(out, path)
    report(out, path)
    return 0


def _only_folds(text: Optional[str], k: int) -> List[int]:
    if text is None:
        return list(range(k))
    try:
        run = sorted({int(f) for f in text.split(',')})
    except ValueError:
        raise UserError(f'--only-folds {text!r}: give fold numbers like 0,1,2') from None
    if not run or run[0] < 0 or run[-1] >= k:
        raise UserError(f'--only-folds {text!r}: folds are 0..{k - 1}')
    return run


CONFIG_KEYS = ('folds', 'seed', 'epochs', 'iters_per_epoch', 'num_layers', 'hidden',
               'batch_size', 'dropout', 'lr', 'step_size', 'gamma')


def train_tu(args: argparse.Namespace) -> int:
    """``scripts/tu.py``: the protocol on ``args.dataset`` (see the module docstring); with
    ``args.merge``, combine partial results instead."""
    if args.merge:
        return merge_folds(args.merge, args)
    check_tu_args(args)
    run_folds = _only_folds(args.only_folds, args.folds)
    stem = f'{SCRIPT}_{args.dataset}_{args.model}'
    if args.only_folds is not None:
        stem += '_folds' + '-'.join(map(str, run_folds))
    results = _results_path(args, stem)
    ctx = init_context(args.device, allow_distributed=False)
    dataset = load_tu(args.root, args.dataset, args.download)
    store = PrecollatedGraphs.from_dataset(dataset)
    splits = stratified_folds(store.y.numpy(), args.folds, args.seed)
    opt = {k: getattr(args, k) for k in CONFIG_KEYS}
    opt['model'] = args.model
    nf, nc = int(store.x.size(1)), int(dataset.num_classes)
    workers = min(getattr(args, 'workers', 1), len(run_folds))
    batched = getattr(args, 'engine', 'batched') == 'batched'
    if workers > 1 and ctx.device.type == 'cpu':
        import multiprocessing as mp
        groups = [run_folds[i::workers] for i in range(workers)] if batched else \
            [[f] for f in run_folds]
        jobs = [(store, splits, g, opt, nf, nc, batched) for g in groups]
        pool = mp.get_context('fork').Pool(workers)
        try:
            done = [r for rs in pool.map(_fold_worker, jobs, chunksize=1) for r in rs]
        finally:  # close and join: terminate() can deadlock on a worker's queue lock
            pool.close()
            pool.join()
        folds = sorted(done, key=lambda r: run_folds.index(r['fold']))
    else:
        from tqdm.auto import tqdm
        total = args.epochs if batched else len(run_folds) * args.epochs
        with tqdm(total=total, desc=f'{args.model} on {args.dataset}', unit='epoch',
                  disable=args.quiet, leave=False) as bar:
            def progress(fold, loss, acc):
                bar.set_postfix(loss=f'{loss:.3f}', acc=f'{acc:.3f}', refresh=False)
                bar.update()
            if batched:
                from .folds import train_folds
                folds = train_folds(store, splits, run_folds, opt, nf, nc, ctx.device, progress)
            else:
                folds = [train_fold(store, splits[f][0], splits[f][1], f, opt, nf, nc,
                                    ctx.device, progress) for f in run_folds]
    acc = np.array([f['acc'] for f in folds])
    out = {'script': SCRIPT, 'dataset': args.dataset, 'model': args.model, 'metric': 'acc',
           'config': {k: getattr(args, k) for k in CONFIG_KEYS}, 'device': str(ctx.device),
           'torch': torch.__version__, 'num_graphs': len(store),
           'fold_seconds': [f['seconds'] for f in folds], 'workers': workers,
           'engine': 'batched' if batched else 'per-fold',
           'loss_curve': np.array([f['loss'] for f in folds]).mean(0).tolist(),
           'folds_run': run_folds, 'fold_curves': acc.tolist()}
    if args.only_folds is not None:
        write_results(out, results)
        print(f'folds {run_folds} of {args.dataset} done -> {results}; combine the folds with '
              f'--merge')
        return 0
    out = summarise(out, acc)
    write_results(out, results)
    report(out, results)
    return 0
