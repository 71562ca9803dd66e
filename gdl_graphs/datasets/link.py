"""OGB link property prediction folders: write one from a user's graph, load one safely.

:func:`build_link_dataset` writes the layout ``ogb.linkproppred`` reads::

    <root>/<name with _>/
        RELEASE_v1.txt
        raw/edge.csv.gz               [E_train, 2] the training graph (each undirected pair once)
        raw/num-node-list.csv.gz      [1]
        raw/num-edge-list.csv.gz      [1]
        raw/node-feat.csv.gz          [N, F] (optional)
        raw/node_year.csv.gz          (ogbl-citation2) raw/edge_weight, edge_year (ogbl-collab)
        split/<split type>/{train,valid,test}.pt
        gdl_meta.json                 (only for names ogb does not know)

As OGB's link datasets, the graph holds the training edges only; the split files hold, per
family, ``edge`` ``[M, 2]`` and ``edge_neg`` ``[K, 2]`` (ogbl-collab, -ddi, -ppa: Hits@K;
collab adds ``weight`` and ``year``) or ``source_node`` / ``target_node`` ``[M]`` and
``target_node_neg`` ``[M, K]`` (ogbl-citation2: MRR). Negatives are exact non-edges of the whole
graph (:mod:`gdl_graphs.link`). The folder is written to a temporary sibling and renamed into
place: a failure leaves nothing half-written.

:func:`load_link_dataset` opens such a folder (or a downloaded OGB one) with ogb's
``PygLinkPropPredDataset`` on any torch >= 2.4, checks every split file (present, shapes,
node ids in range) and attaches the split as ``dataset.split_edge``; every failure is a
:class:`DatasetError` of one line naming the file and the fix.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch

from .builder import _finish, _Folder, _np, _write
from .ogb_utils import (DatasetError, _quiet, allow_pyg_classes, dataset_path, kind_of, lacks,
                        meta_info, open_ogb, prepare_folder)

SPLITS = ('train', 'valid', 'test')
#: official names whose split files hold source / target nodes (MRR); others hold edges
SOURCE_STYLE = ('ogbl-citation2',)


def _style(name: str, meta: Dict[str, str]) -> str:
    if name in SOURCE_STYLE or meta.get('split style') == 'source':
        return 'source'
    return 'edge'


def _check_frac(frac: Sequence[float]) -> None:
    if len(frac) != 3 or any(not (0 < f < 1) for f in frac) or abs(sum(frac) - 1) > 1e-6:
        raise DatasetError(f'link split fractions must be three numbers in (0, 1) summing to 1 '
                           f'(train, valid, test), got {tuple(frac)}')


def _official(name: str) -> Optional[Dict[str, str]]:
    from .ogb_utils import _master
    master = _master('link')
    return {k: str(v) for k, v in master[name].items()} if name in master else None


def _pairs_once(ei: np.ndarray, undirected: bool):
    """The distinct pairs of ``ei`` (canonical ``i < j`` when undirected) and, for each, the
    first column it came from."""
    if undirected:
        if (ei[0] == ei[1]).any():
            raise DatasetError('the graph has a self-loop: an undirected OGB link dataset '
                               'cannot hold one; drop self-loops first')
        ei = np.stack([ei.min(0), ei.max(0)])
    _, first = np.unique(ei[0] * (int(ei.max()) + 1) + ei[1], return_index=True)
    first = np.sort(first)
    return ei[:, first], first


def build_link_dataset(root: str, name: str, edge_index: Any, x: Any = None,
                       split: Union[str, Dict[str, Any]] = 'random',
                       frac: Sequence[float] = (0.85, 0.05, 0.1), seed: int = 0,
                       num_neg: Optional[int] = None, undirected: Optional[bool] = None,
                       node_year: Any = None, edge_weight: Any = None, edge_year: Any = None,
                       eval_metric: Optional[str] = None, style: Optional[str] = None,
                       num_nodes: Optional[int] = None, overwrite: bool = False) -> str:
    """Write an OGB link-prediction folder ``<root>/<name with _>`` from one graph.

    Args:
        root: the data root (the scripts' ``--root``).
        name: ``ogbl-*``: an OGB name (``ogbl-collab``, ``-ddi``, ``-ppa``, ``-citation2``:
            its meta must fit the data) or a new name.
        edge_index: ``[2, E]`` edges (undirected graphs: one or both directions of each).
        x: node features ``[N, F]`` (ogbl-collab, -ppa, -citation2 have them; -ddi not).
        split: ``'random'`` (``frac`` of the distinct edges, seeded) or a dict
            ``{'train', 'valid', 'test'}`` of edge positions in ``edge_index``.
        num_neg: negatives per split: ``edge_neg`` rows (default: as many as positives) or
            ``target_node_neg`` columns (default: ``min(1000, N - 1)``, OGB's 1000).
        undirected: store each pair once for ogb to add the reverse (default: the OGB name's
            ``add_inverse_edge``, else True).
        node_year, edge_weight, edge_year: ogbl-citation2's / ogbl-collab's extra files (for
            collab the defaults are weight 1 and year 0).
        eval_metric / style: for a new name: ``'hits@K'`` with ``style='edge'`` (default
            ``hits@50``) or ``'mrr'`` with ``style='source'``.

    Returns the folder's path.
    """
    from ..link.negative import NegativeSampler
    if kind_of(name) != 'link':
        raise DatasetError(f'{name!r} is not a link prediction name: use an ogbl-* name')
    ei = _np(edge_index)
    if ei is None or ei.ndim != 2 or ei.shape[0] != 2:
        raise DatasetError(f'edge_index must have shape [2, E], got '
                           f'{None if ei is None else list(ei.shape)}')
    ei = ei.astype(np.int64)
    xx = _np(x)
    n = int(num_nodes) if num_nodes is not None else xx.shape[0] if xx is not None else \
        (int(ei.max()) + 1 if ei.size else 0)
    if ei.size == 0:
        raise DatasetError('edge_index has no edges: a link prediction dataset needs edges')
    if ei.min() < 0 or ei.max() >= n:
        bad = int(ei.max()) if ei.max() >= n else int(ei.min())
        raise DatasetError(f'edge_index refers to node {bad} but the graph has {n} nodes '
                           f'(ids run from 0 to {n - 1})')
    if xx is not None and xx.shape[0] != n:
        raise DatasetError(f'x has {xx.shape[0]} rows for {n} nodes')
    meta = _official(name)
    official = meta is not None
    extra_edge = {}
    if official:
        inverse = meta['add_inverse_edge'] == 'True'
        if (meta['has_node_attr'] == 'True') != (xx is not None):
            raise DatasetError(f"{name} {'needs' if meta['has_node_attr'] == 'True' else 'has no'}"
                               f' node features: pass x accordingly, or use a new name '
                               f'(e.g. ogbl-mygraph)')
        if meta['additional node files'] == 'node_year' and node_year is None:
            raise DatasetError(f'{name} needs node_year (one year per node)')
        if 'edge_weight' in meta['additional edge files']:
            extra_edge['weight'] = edge_weight if edge_weight is not None else \
                np.ones(ei.shape[1], np.float32)
            extra_edge['year'] = edge_year if edge_year is not None else \
                np.zeros(ei.shape[1], np.int64)
        style_ = _style(name, meta)
        split_type = meta['split']
    else:
        inverse = True if undirected is None else bool(undirected)
        style_ = style or ('source' if eval_metric == 'mrr' else 'edge')
        if style_ not in ('edge', 'source'):
            raise DatasetError(f"unknown style {style!r}: use 'edge' (Hits@K) or 'source' "
                               f"(MRR)")
        metric = eval_metric or ('mrr' if style_ == 'source' else 'hits@50')
        if metric != 'mrr' and not (metric.startswith('hits@') and metric[5:].isdigit()):
            raise DatasetError(f"unknown eval_metric {metric!r}: use 'hits@K' or 'mrr'")
        if (metric == 'mrr') != (style_ == 'source'):
            raise DatasetError('mrr goes with style="source" and hits@K with style="edge"')
        if edge_weight is not None:
            extra_edge['weight'] = edge_weight
        if edge_year is not None:
            extra_edge['year'] = edge_year
        files = [f'edge_{k}' for k in extra_edge]
        meta = {'eval metric': metric, 'task type': 'link prediction',
                'download_name': '_'.join(name.split('-')), 'version': '1', 'url': '',
                'add_inverse_edge': str(inverse), 'has_node_attr': str(xx is not None),
                'has_edge_attr': 'False', 'split': 'random' if isinstance(split, str)
                else 'given', 'additional node files': 'node_year' if node_year is not None
                else 'None', 'additional edge files': ','.join(files) or 'None',
                'is hetero': 'False', 'binary': 'False', 'split style': style_}
        split_type = meta['split']
    if undirected is not None and official and bool(undirected) != inverse:
        raise DatasetError(f'{name} is {"un" if inverse else ""}directed in OGB: drop '
                           f'undirected= or use a new name')
    extra_edge = {k: _np(v).reshape(-1) for k, v in extra_edge.items()}
    for k, v in extra_edge.items():
        if v.shape[0] != ei.shape[1]:
            raise DatasetError(f'edge_{k} has {v.shape[0]} entries for {ei.shape[1]} edges')
    year = None
    if meta['additional node files'] == 'node_year':
        year = _np(node_year).reshape(-1, 1).astype(np.int64)
        if year.shape[0] != n:
            raise DatasetError(f'node_year has {year.shape[0]} entries for {n} nodes')
    pairs, first = _pairs_once(ei, inverse)
    extra_edge = {k: v[first] for k, v in extra_edge.items()}
    m = pairs.shape[1]
    if isinstance(split, dict):
        pos = {}
        for k in SPLITS:
            if k not in split:
                raise DatasetError('a given split needs the keys train, valid and test')
            idx = np.asarray(_np(split[k]), dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= ei.shape[1]):
                raise DatasetError(f'split {k!r} refers to edges outside 0 .. '
                                   f'{ei.shape[1] - 1}')
            pos[k] = idx
        # positions in edge_index -> positions among the distinct pairs
        a = np.stack([ei.min(0), ei.max(0)]) if inverse else ei
        pkeys = pairs[0] * n + pairs[1]
        order = np.argsort(pkeys)
        parts = {k: np.unique(order[np.searchsorted(pkeys[order], a[0, v] * n + a[1, v])])
                 for k, v in pos.items()}
    elif split == 'random':
        _check_frac(frac)
        perm = np.random.RandomState(seed).permutation(m)
        n_valid, n_test = int(round(frac[1] * m)), int(round(frac[2] * m))
        n_train = m - n_valid - n_test
        parts = {'train': np.sort(perm[:n_train]),
                 'valid': np.sort(perm[n_train:n_train + n_valid]),
                 'test': np.sort(perm[n_train + n_valid:])}
    else:
        raise DatasetError(f"unknown split {split!r}: use 'random' or a dict of edge positions")
    if not parts['train'].size:
        raise DatasetError(f'no edges left for training ({m} distinct edges): lower the valid '
                           f'and test fractions')
    for k in ('valid', 'test'):
        if not parts[k].size:
            raise DatasetError(f'the {k} split is empty ({m} distinct edges): give it a larger '
                               f'fraction or more edges')
    if len(set(np.concatenate(list(parts.values())).tolist())) != \
            sum(v.size for v in parts.values()):
        raise DatasetError('the given splits share edges: each edge belongs to one split')
    full = torch.from_numpy(pairs)
    if inverse:
        full = torch.cat([full, full.flip(0)], 1)
    sampler = NegativeSampler(full, n)
    gen = torch.Generator().manual_seed(seed + 1)
    out = {}
    for k in SPLITS:
        p = pairs[:, parts[k]]
        if style_ == 'source':
            d = {'source_node': torch.from_numpy(p[0]), 'target_node': torch.from_numpy(p[1])}
            if k != 'train':
                K = int(num_neg) if num_neg is not None else min(1000, n - 1)
                d['target_node_neg'] = _target_negatives(sampler, p[0], K, n, gen)
        else:
            d = {'edge': torch.from_numpy(p.T.copy())}
            if k != 'train':
                count = int(num_neg) if num_neg is not None else p.shape[1]
                try:
                    d['edge_neg'] = sampler.sample(count, gen).t().contiguous()
                except ValueError as exc:
                    raise DatasetError(f'the {k} split: {exc}') from None
        for key, v in extra_edge.items():
            d[key] = torch.from_numpy(np.ascontiguousarray(v[parts[k]]))
        out[k] = d
    folder = _Folder(root, name, overwrite)
    try:
        train = pairs[:, parts['train']]
        _write(folder.path('raw', 'edge.csv.gz'), train.T)
        _write(folder.path('raw', 'num-node-list.csv.gz'), [n])
        _write(folder.path('raw', 'num-edge-list.csv.gz'), [train.shape[1]])
        if xx is not None:
            _write(folder.path('raw', 'node-feat.csv.gz'), xx.reshape(n, -1))
        if year is not None:
            _write(folder.path('raw', 'node_year.csv.gz'), year)
        for key, v in extra_edge.items():
            _write(folder.path('raw', f'edge_{key}.csv.gz'), v[parts['train']].reshape(-1, 1))
        os.makedirs(folder.path('split', split_type), exist_ok=True)
        for k, d in out.items():
            torch.save(d, folder.path('split', split_type, f'{k}.pt'))
        _finish(folder, name, meta, official)
    except BaseException:
        folder.abort()
        raise
    return folder.final


def _target_negatives(sampler, source: np.ndarray, K: int, n: int,
                      gen: torch.Generator) -> torch.Tensor:
    """``[len(source), K]`` nodes ``t`` with ``(s, t)`` not an edge and ``t != s`` (drawn
    uniformly, redrawn where they hit an edge; at most 64 rounds)."""
    if K < 1 or K > n - 1:
        raise DatasetError(f'num_neg={K} target negatives per source: use 1 .. {n - 1}')
    s = torch.from_numpy(source).view(-1, 1).expand(-1, K).reshape(-1)
    t = torch.randint(0, n, (s.numel(),), generator=gen)
    for _ in range(64):
        bad = (t == s) | sampler.graphs.is_edge(s * sampler.n_dst + t)
        if not bool(bad.any()):
            return t.view(-1, K)
        t[bad] = torch.randint(0, n, (int(bad.sum()),), generator=gen)
    raise DatasetError('could not draw target negatives: some source is linked to almost '
                       'every node; lower num_neg')


# ----------------------------------------------------------------------------- loading

def _numpy_globals():
    out = [np.ndarray, np.dtype]
    core = getattr(np, '_core', None) or np.core
    out.append(core.multiarray._reconstruct)
    for t in ('Int64DType', 'Int32DType', 'Float32DType', 'Float64DType', 'BoolDType'):
        if hasattr(getattr(np, 'dtypes', None), t):
            out.append(getattr(np.dtypes, t))
    return out


def _load_pt(path: str) -> Dict[str, torch.Tensor]:
    try:
        ctx = getattr(torch.serialization, 'safe_globals', None)
        if ctx is not None:
            with ctx(_numpy_globals()):
                d = torch.load(path, weights_only=True)
        else:
            d = torch.load(path, weights_only=True)
    except Exception as exc:
        what = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ''
        raise DatasetError(f'cannot read {path} ({type(exc).__name__}: {what}): rebuild the '
                           f'folder with build_link_dataset') from None
    if not isinstance(d, dict):
        raise DatasetError(f'{path} holds a {type(d).__name__}, not a dict of tensors: '
                           f'rebuild the folder')
    return {k: torch.as_tensor(v) for k, v in d.items()}


def check_split_edge(split: Dict[str, Dict[str, torch.Tensor]], num_nodes: int, style: str,
                     where: str) -> None:
    """Every split has its family's keys, consistent shapes and node ids in range."""
    for k in SPLITS:
        d = split[k]
        f = osp.join(where, f'{k}.pt')
        if style == 'source':
            need = ['source_node', 'target_node'] + (['target_node_neg'] if k != 'train'
                                                     else [])
        else:
            need = ['edge'] + (['edge_neg'] if k != 'train' else [])
        miss = [key for key in need if key not in d]
        if miss:
            raise DatasetError(f'{f} lacks {miss[0]!r} (it has {sorted(d)}): rebuild the '
                               f'folder with build_link_dataset')
        if style == 'source':
            s, t = d['source_node'], d['target_node']
            if s.dim() != 1 or s.shape != t.shape:
                raise DatasetError(f'{f}: source_node {list(s.shape)} and target_node '
                                   f'{list(t.shape)} must be equal 1-D shapes')
            ids = [s, t]
            if 'target_node_neg' in d:
                neg = d['target_node_neg']
                if neg.dim() != 2 or neg.size(0) != s.size(0):
                    raise DatasetError(f'{f}: target_node_neg is {list(neg.shape)}, expected '
                                       f'[{s.size(0)}, K] (one row per source node)')
                ids.append(neg)
            rows = s.size(0)
        else:
            ids = []
            for key in ('edge', 'edge_neg'):
                if key in d:
                    e = d[key]
                    if e.dim() != 2 or e.size(1) != 2:
                        raise DatasetError(f'{f}: {key} is {list(e.shape)}, expected [M, 2]')
                    ids.append(e)
            rows = d['edge'].size(0)
        for key in ('weight', 'year'):
            if key in d and d[key].shape[0] != rows:
                raise DatasetError(f'{f}: {key} has {d[key].shape[0]} entries for {rows} edges')
        for e in ids:
            if e.numel() and (int(e.min()) < 0 or int(e.max()) >= num_nodes):
                raise DatasetError(f'{f} refers to node {int(e.max())} but the graph has '
                                   f'{num_nodes} nodes: rebuild the folder')


def load_link_dataset(name: str, root: str = 'datasets', download: bool = False,
                      quiet: bool = True, transform: Any = None):
    """ogb's ``PygLinkPropPredDataset`` for ``name`` under ``root`` with ``split_edge`` (the
    checked train / valid / test dicts) attached; see the module."""
    meta = meta_info(name, root)
    official = 'dir_path' not in meta
    path = dataset_path(name, root)
    allow_pyg_classes()
    from ogb.linkproppred import dataset_pyg as module
    fix = 'build_link_dataset'
    if prepare_folder(name, path, meta, official, download, fix):
        raw = ['edge'] + (['node-feat'] if meta.get('has_node_attr') == 'True' else [])
        for key in ('additional node files', 'additional edge files'):
            if meta.get(key, 'None') != 'None':
                raw += meta[key].split(',')
        need = [osp.join('raw', f + '.csv.gz') for f in raw]
        if osp.exists(osp.join(path, 'processed', 'geometric_data_processed.pt')):
            need = []
        sdir = osp.join('split', meta['split'])
        if not osp.exists(osp.join(path, sdir, 'split_dict.pt')):
            need += [osp.join(sdir, f'{s}.pt') for s in SPLITS]
        missing = [f for f in need if not osp.exists(osp.join(path, f))]
        if missing:
            raise lacks(path, missing, fix)
    dataset = open_ogb(module, lambda: module.PygLinkPropPredDataset(
        name=name, root=root, transform=transform,
        **({'meta_dict': meta} if not official else {})), name, path, quiet, fix)
    sdir = osp.join(dataset.root, 'split', meta['split'])
    if osp.exists(osp.join(sdir, 'split_dict.pt')):
        whole = _load_pt(osp.join(sdir, 'split_dict.pt'))
        split = {k: {kk: torch.as_tensor(vv) for kk, vv in whole[k].items()} for k in SPLITS}
    else:
        split = {k: _load_pt(osp.join(sdir, f'{k}.pt')) for k in SPLITS}
    check_split_edge(split, int(dataset[0].num_nodes), _style(name, meta), sdir)
    dataset.split_edge = split
    dataset.split_style = _style(name, meta)
    return dataset


def link_evaluator(name: str, eval_metric: str):
    """ogb's link ``Evaluator`` (also for a custom name: ogb's metric code, our metric)."""
    from ogb.linkproppred import Evaluator
    try:
        with _quiet(True):
            return Evaluator(name)
    except ValueError:
        ev = Evaluator.__new__(Evaluator)
        ev.name, ev.eval_metric = name, eval_metric
        if eval_metric.startswith('hits@'):
            ev.K = int(eval_metric.split('@')[1])
        return ev
