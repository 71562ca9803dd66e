"""Kipf and Welling's graph auto-encoders on Planetoid (Cora, CiteSeer, PubMed): the link
prediction experiment of "Variational Graph Auto-Encoders" (2016, Table 1), behind
``scripts/link_autoencoder.py``.

The protocol of the paper (and of its code, github.com/tkipf/gae):

- one fixed split of the undirected edges: 85% message passing and training, 5% validation,
  10% test, with as many negatives (non-edges of the whole graph) for validation and test
  (:class:`gdl_graphs.link.RandomLinkSplit`, seeded by ``--seed``);
- a 32-16 two-layer GCN encoder (:class:`gdl_graphs.models.GCNEncoder` /
  :class:`~gdl_graphs.models.VariationalGCNEncoder`), the inner product decoder, Adam with
  learning rate 0.01, 200 epochs, the raw bag-of-words features;
- ``--loss dense`` (default, the paper's): the weighted cross-entropy of every entry of
  :math:`\\hat{A} = A_{train} + I`, positives weighted by :math:`(N^2 - |A|)/|A|` and the mean
  scaled by :math:`N^2 / (2 (N^2 - |A|))`, minus :math:`\\mathrm{KL}/N` for the VGAE;
  ``--loss sampled``: PyG's ``recon_loss`` (each positive against one exact negative drawn per
  epoch) plus ``kl_loss / N``;
- the test ROC AUC and average precision after the last epoch; ``--runs`` runs differ in their
  initialisation (and the sampled negatives), as the paper's 10.
"""
from __future__ import annotations

import argparse
import os.path as osp
import time

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import check_folder_path, check_outputs, write_results
from .context import init_context
from .errors import UserError
from .loop import std
from .planetoid import sparse_features
from .rng import seed_everything

SCRIPT = 'link_autoencoder'
DATASETS = {'cora': 'Cora', 'citeseer': 'CiteSeer', 'pubmed': 'PubMed'}
RAW = ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index')
#: Kipf and Welling 2016, Table 1: (AUC, AP) in percent, mean over 10 runs
PAPER = {('Cora', 'gae'): (91.0, 92.0), ('Cora', 'vgae'): (91.4, 92.6),
         ('CiteSeer', 'gae'): (89.5, 89.9), ('CiteSeer', 'vgae'): (90.8, 92.0),
         ('PubMed', 'gae'): (96.4, 96.5), ('PubMed', 'vgae'): (94.4, 94.7)}
PAPER_STD = {('Cora', 'gae'): (0.02, 0.03), ('Cora', 'vgae'): (0.02, 0.03),
             ('CiteSeer', 'gae'): (0.04, 0.05), ('CiteSeer', 'vgae'): (0.02, 0.02),
             ('PubMed', 'gae'): (0.00, 0.00), ('PubMed', 'vgae'): (0.02, 0.02)}


def raw_folder(root: str, name: str) -> str:
    """``root/<Name>/raw`` (PyG's ``Planetoid`` layout) or ``root`` itself when it holds the
    ``ind.<name>.*`` files; a :class:`UserError` naming the missing files otherwise."""
    low = name.lower()
    candidates = [osp.join(root, name, 'raw'), root]
    for folder in candidates:
        if all(osp.isfile(osp.join(folder, f'ind.{low}.{s}')) for s in RAW):
            return folder
    folder = candidates[0] if osp.isdir(candidates[0]) else root
    missing = [f'ind.{low}.{s}' for s in RAW if not osp.isfile(osp.join(folder, f'ind.{low}.{s}'))]
    raise UserError(f'{folder} lacks {", ".join(missing)}: point --root at a folder with the '
                    f'ind.{low}.* files (or at their <Name>/raw parent, as PyG\'s Planetoid)')


def load_planetoid(root: str, name: str):
    """The graph of ``ind.<name>.*`` as PyG's ``Planetoid`` reads it, without writing a
    processed folder (the raw files may live on a read-only share)."""
    from torch_geometric.io import read_planetoid_data
    folder = raw_folder(root, name)
    try:
        return read_planetoid_data(folder, name)
    except (OSError, ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError,
            __import__('pickle').UnpicklingError) as exc:
        first = (str(exc).strip().splitlines() or [''])[0][:160]
        raise UserError(f'{folder}: the ind.{name.lower()}.* files are not a readable '
                        f'Planetoid dataset ({type(exc).__name__}: {first})') from None


def dense_loss(z: torch.Tensor, label: torch.Tensor, pos_weight: float,
               norm: float) -> torch.Tensor:
    """The paper's reconstruction loss over all ``N x N`` entries of ``A_train + I``."""
    logits = z @ z.t()
    return norm * F.binary_cross_entropy_with_logits(
        logits, label, pos_weight=torch.as_tensor(pos_weight, dtype=z.dtype, device=z.device))


def split_edges(data, seed: int):
    """The fixed 85/5/10 split: (train graph, valid, test) with ``edge_label(_index)``."""
    from ..link import RandomLinkSplit
    g = torch.Generator().manual_seed(seed)
    return RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True,
                           add_negative_train_samples=False, generator=g)(data)


def train_autoencoder(args: argparse.Namespace) -> int:
    """``scripts/link_autoencoder.py``: ``args.runs`` runs of ``args.model`` (gae / vgae)."""
    name = DATASETS.get(str(args.dataset).lower())
    if name is None:
        raise UserError(f'--dataset {args.dataset!r} is not a Planetoid dataset: use Cora, '
                        f'CiteSeer or PubMed')
    for key, low in (('runs', 1), ('epochs', 1), ('hidden', 1), ('latent', 1)):
        if getattr(args, key) < low:
            raise UserError(f'--{key} must be >= {low}, got {getattr(args, key)}')
    if not (0 < args.lr < float('inf')):
        raise UserError(f'--lr must be a finite number > 0, got {args.lr}')
    check_folder_path(args.out_dir, '--out-dir')
    results = args.results or osp.join(args.out_dir, f'{SCRIPT}_{name}_{args.model}.json')
    check_outputs(None, results, False, getattr(args, 'overwrite', False))
    ctx = init_context(args.device, allow_distributed=False)
    from tqdm.auto import tqdm

    from ..models.autoencoder import GAE, VGAE, GCNEncoder, VariationalGCNEncoder
    data = load_planetoid(args.root, name)
    from torch_geometric.data import Data
    graph = Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
    train, val, test = split_edges(graph, args.seed)
    dev = ctx.device
    ei = train.edge_index.to(dev)
    x = sparse_features(train.x.to(dev), ei)  # a sparse product, as Kipf's code
    n = int(graph.num_nodes)
    label = pos_weight = norm = None
    if args.loss == 'dense':
        label = torch.eye(n, device=dev)
        label[ei[0], ei[1]] = 1.0
        ones = float(label.sum())
        pos_weight = (n * n - ones) / ones
        norm = n * n / (2 * (n * n - ones))
    variational = args.model == 'vgae'
    bias = getattr(args, 'bias', True)  # callers built before --no-bias have no such field
    runs = []
    with tqdm(total=args.runs * args.epochs, desc=f'{args.model} on {name}', unit='epoch',
              disable=args.quiet, leave=False) as bar:
        for run in range(args.runs):
            seed_everything(args.seed + run)
            gen = torch.Generator(device=dev).manual_seed(args.seed + run)
            enc = (VariationalGCNEncoder if variational else GCNEncoder)(
                graph.num_features, args.hidden, args.latent, bias=bias)
            model = (VGAE if variational else GAE)(enc).to(dev)
            opt = torch.optim.Adam(model.parameters(), lr=args.lr)
            t0 = time.perf_counter()
            curve = []
            for epoch in range(1, args.epochs + 1):
                model.train()
                opt.zero_grad()
                z = model.encode(x, ei)
                if args.loss == 'dense':
                    loss = dense_loss(z, label, pos_weight, norm)
                else:
                    loss = model.recon_loss(z, ei, generator=gen)
                if variational:
                    loss = loss + model.kl_loss() / n
                loss.backward()
                opt.step()
                bar.update()
                if epoch == args.epochs or epoch % 10 == 0:
                    model.eval()
                    with torch.no_grad():
                        z = model.encode(x, ei)
                    va = model.test(z, *_pos_neg(val, dev))
                    curve.append([epoch, float(loss.detach()), va[0], va[1]])
            model.eval()
            with torch.no_grad():
                z = model.encode(x, ei)
            auc, ap = model.test(z, *_pos_neg(test, dev))
            vauc, vap = model.test(z, *_pos_neg(val, dev))
            runs.append({'run': run, 'test_auc': auc, 'test_ap': ap, 'valid_auc': vauc,
                         'valid_ap': vap, 'seconds': time.perf_counter() - t0, 'curve': curve})
    aucs = [100 * r['test_auc'] for r in runs]
    aps = [100 * r['test_ap'] for r in runs]
    paper = PAPER[(name, args.model)]
    out = {'script': SCRIPT, 'dataset': name, 'model': args.model, 'metric': 'auc, ap (%)',
           'config': {'hidden': args.hidden, 'latent': args.latent, 'lr': args.lr,
                      'epochs': args.epochs, 'loss': args.loss, 'seed': args.seed,
                      'runs': args.runs, 'split': '85/5/10, fixed by --seed',
                      'bias': bias},
           'device': str(dev), 'torch': torch.__version__, 'num_nodes': n,
           'num_train_edges_undirected': int(ei.size(1)) // 2,
           'num_valid': int(val.edge_label.numel()), 'num_test': int(test.edge_label.numel()),
           'runs': runs, 'auc_mean': float(np.mean(aucs)), 'auc_std': std(aucs),
           'ap_mean': float(np.mean(aps)), 'ap_std': std(aps),
           'paper_auc': paper[0], 'paper_ap': paper[1],
           'paper_auc_std': PAPER_STD[(name, args.model)][0],
           'paper_ap_std': PAPER_STD[(name, args.model)][1]}
    write_results(out, results)
    print(f'{args.model.upper()} on {name}: test AUC {out["auc_mean"]:.1f} +- '
          f'{out["auc_std"]:.1f}, AP {out["ap_mean"]:.1f} +- {out["ap_std"]:.1f} over '
          f'{args.runs} run(s) (paper {paper[0]} / {paper[1]}) -> {results}')
    return 0


def _pos_neg(d, dev):
    pos = d.edge_label_index[:, d.edge_label > 0].to(dev)
    neg = d.edge_label_index[:, d.edge_label == 0].to(dev)
    return pos, neg
