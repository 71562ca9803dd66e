"""TU graph classification (MUTAG, PROTEINS, NCI1, IMDB-BINARY, ...) with GIN and the
10-fold protocol of Xu et al., "How Powerful are Graph Neural Networks?" (ICLR 2019), on
:class:`gdl_graphs.nn.GINConv`.

    python scripts/tu.py --dataset MUTAG --model gin --root ROOT --folds 10

ROOT holds PyG's ``TUDataset`` layout: ``ROOT/<NAME>/raw/<NAME>_A.txt``,
``<NAME>_graph_indicator.txt``, ``<NAME>_graph_labels.txt`` (and node labels/attributes when
the data set has them). Nothing is downloaded unless ``--download`` is given. Graphs without
node features get one-hot degrees, as the paper does for the social data sets.

The recipe (the defaults): 5 GIN layers including the input layer (4 ``GINConv``), each an
MLP of 2 layers (Linear, BatchNorm, ReLU, Linear) followed by BatchNorm and ReLU; a sum
readout of every layer's node features (the input's included), each mapped to class scores by
its own Linear with dropout 0.5 and the scores summed; eps = 0 (GIN-0; ``--model gin-eps``
learns it); hidden 32; batch size 32; Adam lr 0.01 halved every 50 epochs; 350 epochs.
Folds are stratified (scikit-learn's ``StratifiedKFold``, shuffled with ``--seed``). As in the
paper, the reported figure is the best epoch of the accuracy on the held-out fold averaged
over the folds, with the standard deviation (ddof=1) over folds at that epoch.

One epoch is one pass over the training folds (the authors' code draws 50 random batches per
epoch instead; ``--iters-per-epoch 50`` does that).
"""
from __future__ import annotations

import os.path as osp
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import UserError, _std, atomic_json, cli, seed_everything, setup_device  # noqa: E402

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
        from gdl_graphs.nn import GINConv
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


def parse(argv: Optional[List[str]]):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', default='MUTAG', help='a TU data set name, e.g. MUTAG')
    p.add_argument('--model', default='gin', choices=['gin', 'gin-eps'],
                   help='gin: GIN-0 (eps = 0), gin-eps: eps learned')
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--device', default=None, help='cpu, cuda (default: cuda when available)')
    p.add_argument('--folds', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=350)
    p.add_argument('--iters-per-epoch', type=int, default=None,
                   help='random batches per epoch (default: one pass over the training folds)')
    p.add_argument('--num-layers', type=int, default=5, help='GIN layers, the input included')
    p.add_argument('--hidden', type=int, default=32)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--step-size', type=int, default=50, help='epochs between lr decays')
    p.add_argument('--gamma', type=float, default=0.5, help='lr decay factor')
    p.add_argument('--out-dir', default='runs', help='where the results JSON goes')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--download', action='store_true',
                   help='download the raw files when ROOT/<NAME>/raw lacks them')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.add_argument('--only-folds', default=None,
                   help='comma-separated folds to run (e.g. 0,1): a partial results JSON with '
                        'the per-fold curves, for parallel processes; combine with --merge')
    p.add_argument('--merge', nargs='+', default=None, metavar='JSON',
                   help='combine the partial results of --only-folds runs into one result')
    return p.parse_args(argv)


def check(args) -> None:
    for key in ('epochs', 'hidden', 'batch_size', 'step_size'):
        if getattr(args, key) < 1:
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


def load(root: str, name: str, download: bool):
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
            from torch_geometric.utils import degree
            max_deg = max(int(degree(g.edge_index[0], g.num_nodes).max()) if g.num_edges else 0
                          for g in dataset)
            dataset = TUDataset(root, name, transform=OneHotDegree(max_deg))
    except (OSError, ValueError, IndexError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [''])[0][:160]
        raise UserError(f'{raw}: not a readable TU data set {name!r} ({type(exc).__name__}: '
                        f'{first})') from None
    if len(dataset) == 0 or dataset.num_classes < 2:
        raise UserError(f'{raw}: {name} has {len(dataset)} graphs and {dataset.num_classes} '
                        f'class(es); graph classification needs at least 2 classes')
    return dataset


def folds(y: np.ndarray, k: int, seed: int):
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


def train_epoch(model, optimizer, loader, dev, iters: Optional[int]) -> float:
    model.train()
    total, count, it = 0.0, 0, 0
    while True:
        for batch in loader:
            batch = batch.to(dev)
            optimizer.zero_grad()
            out = model(batch.x.float(), batch.edge_index, batch.batch, batch.num_graphs)
            loss = F.cross_entropy(out, batch.y)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * batch.num_graphs
            count += batch.num_graphs
            it += 1
            if iters is not None and it >= iters:
                return total / count
        if iters is None:
            return total / count


@torch.no_grad()
def accuracy(model, loader, dev) -> float:
    model.eval()
    correct, count = 0, 0
    for batch in loader:
        batch = batch.to(dev)
        out = model(batch.x.float(), batch.edge_index, batch.batch, batch.num_graphs)
        correct += int((out.argmax(-1) == batch.y).sum())
        count += batch.num_graphs
    return correct / count


def summarise(out: Dict, acc: np.ndarray) -> Dict:
    """The paper's figure from the per-fold accuracy curves ``acc [folds, epochs]``: the best
    epoch of the mean over folds, the mean and std (ddof=1) over folds at that epoch."""
    mean = acc.mean(0)
    best = int(mean.argmax())
    out.update(best_epoch=best + 1, fold_acc=acc[:, best].tolist(), test_mean=float(mean[best]),
               test_std=_std(acc[:, best].tolist()), last_mean=float(mean[-1]),
               last_std=_std(acc[:, -1].tolist()), mean_curve=mean.tolist())
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


def merge(paths: List[str], results: Optional[str], out_dir: str) -> int:
    """One result from the partial results of ``--only-folds`` runs of one setup."""
    import json
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
    path = results or osp.join(out_dir, f'{SCRIPT}_{out["dataset"]}_{out["model"]}.json')
    atomic_json(out, path)
    report(out, path)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    if args.merge:
        return merge(args.merge, args.results, args.out_dir)
    check(args)
    dist = setup_device(args, allow_distributed=False)
    from torch_geometric.loader import DataLoader
    from tqdm.auto import tqdm
    dataset = load(args.root, args.dataset, args.download)
    y = dataset._data.y.view(-1).numpy()
    splits = folds(y, args.folds, args.seed)
    run_folds = list(range(args.folds))
    if args.only_folds is not None:
        try:
            run_folds = sorted({int(f) for f in args.only_folds.split(',')})
        except ValueError:
            raise UserError(f'--only-folds {args.only_folds!r}: give fold numbers like 0,1,2') \
                from None
        if not run_folds or run_folds[0] < 0 or run_folds[-1] >= args.folds:
            raise UserError(f'--only-folds {args.only_folds!r}: folds are 0..{args.folds - 1}')
    dev = dist.device
    stem = f'{SCRIPT}_{args.dataset}_{args.model}'
    if args.only_folds is not None:
        stem += '_folds' + '-'.join(map(str, run_folds))
    results = args.results or osp.join(args.out_dir, stem + '.json')
    acc = np.zeros((len(run_folds), args.epochs))
    loss_curve = np.zeros((len(run_folds), args.epochs))
    seconds = []
    with tqdm(total=len(run_folds) * args.epochs, desc=f'{args.model} on {args.dataset}',
              unit='epoch', disable=args.quiet, leave=False) as bar:
        for row, fold in enumerate(run_folds):
            train_idx, test_idx = splits[fold]
            seed_everything(args.seed + fold)
            gen = torch.Generator().manual_seed(args.seed + fold)
            train_loader = DataLoader(dataset[torch.from_numpy(train_idx)], args.batch_size,
                                      shuffle=True, generator=gen)
            test_loader = DataLoader(dataset[torch.from_numpy(test_idx)], 128)
            model = GIN(dataset.num_features, args.hidden, dataset.num_classes,
                        args.num_layers, args.dropout, args.model == 'gin-eps').to(dev)
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            sched = torch.optim.lr_scheduler.StepLR(optimizer, args.step_size, args.gamma)
            t0 = time.perf_counter()
            for epoch in range(args.epochs):
                loss_curve[row, epoch] = train_epoch(model, optimizer, train_loader, dev,
                                                     args.iters_per_epoch)
                sched.step()
                acc[row, epoch] = accuracy(model, test_loader, dev)
                bar.set_postfix(fold=fold, loss=f'{loss_curve[row, epoch]:.3f}',
                                acc=f'{acc[row, epoch]:.3f}', refresh=False)
                bar.update()
            seconds.append(time.perf_counter() - t0)
    out = {'script': SCRIPT, 'dataset': args.dataset, 'model': args.model, 'metric': 'acc',
           'config': {k: getattr(args, k) for k in (
               'folds', 'seed', 'epochs', 'iters_per_epoch', 'num_layers', 'hidden',
               'batch_size', 'dropout', 'lr', 'step_size', 'gamma')},
           'device': str(dev), 'torch': torch.__version__, 'num_graphs': len(dataset),
           'fold_seconds': seconds, 'loss_curve': loss_curve.mean(0).tolist()}
    out.update(folds_run=run_folds, fold_curves=acc.tolist())
    if args.only_folds is not None:
        atomic_json(out, results)
        print(f'folds {run_folds} of {args.dataset} done -> {results}; combine the folds with '
              f'--merge')
        return 0
    out = summarise(out, acc)
    atomic_json(out, results)
    report(out, results)
    return 0


if __name__ == '__main__':
    sys.exit(cli(main))
