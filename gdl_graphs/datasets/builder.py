"""Write OGB-format dataset folders from a user's data, so it runs through the OGB scripts.

The folder holds exactly what ogb's PyG loaders read (``csv.gz`` files without a header)::

    <root>/<name with _>/
        RELEASE_v1.txt                      (so ogb never prompts)
        raw/edge.csv.gz                     [E, 2] int (each undirected edge once)
        raw/num-node-list.csv.gz            [G] int
        raw/num-edge-list.csv.gz            [G] int
        raw/node-feat.csv.gz                [N, F] (optional)
        raw/edge-feat.csv.gz                [E, F] (optional)
        raw/graph-label.csv.gz | raw/node-label.csv.gz   [G or N, T] (empty = missing label)
        raw/node_year.csv.gz                (ogbn-arxiv)
        split/<split type>/{train,valid,test}.csv.gz
        mapping/...                         (SMILES / ids per graph or node; read by nobody)
        gdl_meta.json                       (only for names ogb does not know)

Three entry points: :func:`build_smiles_dataset` (SMILES + labels, atoms and bonds encoded by
``ogb.utils.smiles2graph``; needs rdkit, the ``chem`` extra), :func:`build_graph_dataset` (a
list of graphs) and :func:`build_node_dataset` (one graph with node labels). Splits are
scaffold (Bemis-Murcko, as OGB's molecule datasets), random (seeded) or given. A folder is
written to a temporary sibling and renamed into place: a failure leaves no partial folder.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .ogb_utils import META_FILE, DatasetError, dir_name, kind_of

Split = Dict[str, np.ndarray]
_FRAC = (0.8, 0.1, 0.1)


def random_split(num: int, frac: Sequence[float] = _FRAC, seed: int = 0) -> Split:
    """A seeded random split of ``0 .. num-1`` into train / valid / test fractions."""
    _check_frac(frac)
    perm = np.random.RandomState(seed).permutation(num)
    n_train = int(round(frac[0] * num))
    n_valid = int(round(frac[1] * num))
    return {'train': np.sort(perm[:n_train]), 'valid': np.sort(perm[n_train:n_train + n_valid]),
            'test': np.sort(perm[n_train + n_valid:])}


def _check_frac(frac: Sequence[float]) -> None:
    if len(frac) != 3 or any(f < 0 for f in frac) or abs(sum(frac) - 1) > 1e-6:
        raise DatasetError(f'split fractions must be three non-negative numbers summing to 1 '
                           f'(train, valid, test), got {tuple(frac)}')


def _require_rdkit(what: str):
    try:
        import rdkit  # noqa: F401
    except ImportError:
        raise DatasetError(f'{what} needs rdkit: pip install "gdl-graphs[chem]" '
                           f'(or pip install rdkit)') from None


def scaffold_split(smiles: Sequence[str], frac: Sequence[float] = _FRAC) -> Split:
    """OGB's / MoleculeNet's deterministic scaffold split: molecules grouped by Bemis-Murcko
    scaffold, groups sorted by size (largest first, ties by first occurrence) fill train, then
    valid, then test."""
    _check_frac(frac)
    _require_rdkit('the scaffold split')
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold
    RDLogger.DisableLog('rdApp.*')
    groups: Dict[str, List[int]] = {}
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise DatasetError(f'SMILES {i} ({s!r}) is not a valid molecule: fix or drop it')
        key = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=True)
        groups.setdefault(key, []).append(i)
    sets = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    n = len(smiles)
    cut_train, cut_valid = frac[0] * n, (frac[0] + frac[1]) * n
    out: Dict[str, List[int]] = {'train': [], 'valid': [], 'test': []}
    for g in sets:
        if len(out['train']) + len(g) <= cut_train:
            out['train'] += g
        elif len(out['train']) + len(out['valid']) + len(g) <= cut_valid:
            out['valid'] += g
        else:
            out['test'] += g
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in out.items()}


def _write(path: str, array: Any) -> None:
    import pandas as pd
    os.makedirs(osp.dirname(path), exist_ok=True)
    pd.DataFrame(np.asarray(array)).to_csv(path, header=False, index=False,
                                           compression='gzip')


def _labels(labels: Any, num: int, what: str) -> np.ndarray:
    y = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, 'detach') else labels)
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != num:
        raise DatasetError(f'labels must have one row per {what} ({num}), got shape '
                           f'{list(y.shape)}')
    return y


def _split(split: Union[str, Split], num: int, frac, seed: int,
           smiles: Optional[Sequence[str]]) -> Tuple[str, Split]:
    if isinstance(split, dict):
        out = {k: np.asarray(split[k], dtype=np.int64).reshape(-1)
               for k in ('train', 'valid', 'test') if k in split}
        if len(out) != 3:
            raise DatasetError('a given split needs the keys train, valid and test')
        for k, v in out.items():
            if v.size and (v.min() < 0 or v.max() >= num):
                raise DatasetError(f'split {k!r} refers to items outside 0 .. {num - 1}')
        return 'given', out
    if split == 'random':
        return 'random', random_split(num, frac, seed)
    if split == 'scaffold':
        if smiles is None:
            raise DatasetError("the scaffold split needs SMILES: use split='random' for a "
                               "list of graphs, or build_smiles_dataset")
        return 'scaffold', scaffold_split(smiles, frac)
    raise DatasetError(f"unknown split {split!r}: use 'scaffold', 'random' or a dict of "
                       f"index arrays")


def _np(t: Any) -> Optional[np.ndarray]:
    if t is None:
        return None
    return t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)


def _as_graph(g: Any, i: int) -> Dict[str, Any]:
    if isinstance(g, dict):
        ei, nf, ef, n = g.get('edge_index'), g.get('node_feat'), g.get('edge_feat'), \
            g.get('num_nodes')
    else:  # a torch_geometric Data
        ei, nf, ef, n = g.edge_index, g.get('x'), g.get('edge_attr'), g.num_nodes
    ei = np.zeros((2, 0), dtype=np.int64) if ei is None else _np(ei).astype(np.int64)
    nf, ef = _np(nf), _np(ef)
    if n is None:
        n = nf.shape[0] if nf is not None else (int(ei.max()) + 1 if ei.size else 0)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise DatasetError(f'graph {i}: edge_index must have shape [2, E], got '
                           f'{list(ei.shape)}')
    if ei.size and (ei.min() < 0 or ei.max() >= n):
        raise DatasetError(f'graph {i}: edge_index refers to node {int(ei.max())} but the '
                           f'graph has {n} nodes')
    if nf is not None and nf.shape[0] != n:
        raise DatasetError(f'graph {i}: node features have {nf.shape[0]} rows for {n} nodes')
    if ef is not None and ef.shape[0] != ei.shape[1]:
        raise DatasetError(f'graph {i}: edge features have {ef.shape[0]} rows for '
                           f'{ei.shape[1]} edges')
    return {'edge_index': ei, 'node_feat': nf, 'edge_feat': ef, 'num_nodes': int(n)}


def _one_direction(g: Dict[str, Any], i: int) -> Dict[str, Any]:
    """Keep one of each pair (u, v), (v, u): ogb adds the inverse edges back
    (``add_inverse_edge``). Interleaved pairs (smiles2graph's order) round-trip exactly."""
    ei, ef = g['edge_index'], g['edge_feat']
    e = ei.shape[1]
    if e == 0:
        return g
    if bool((ei[0] == ei[1]).any()):
        raise DatasetError(f'graph {i} has a self-loop: an undirected OGB dataset stores each '
                           f'edge once and cannot hold self-loops; drop them')
    if e % 2 == 0 and np.array_equal(ei[:, 1::2], ei[::-1, 0::2]) and \
            (ef is None or np.array_equal(ef[0::2], ef[1::2])):
        keep = np.arange(0, e, 2)
    else:
        fwd = set(map(tuple, ei.T.tolist()))
        if any((v, u) not in fwd for u, v in fwd):
            raise DatasetError(f'graph {i} is not undirected (some edge lacks its reverse): '
                               f'pass both directions, or build with undirected=False')
        keep = np.nonzero(ei[0] < ei[1])[0]
    return {**g, 'edge_index': ei[:, keep], 'edge_feat': None if ef is None else ef[keep]}


FOLDER_FORMAT = 'gdl_graphs-ogb-folder-v1'  # the marker's format of a folder built here


class _Folder:
    """Write into a temporary sibling, swap into place on success (:mod:`gdl_graphs.io.atomic`):
    an existing folder is replaced only with ``overwrite`` and only when it was built here and
    holds nothing else but what ogb and gdl_graphs derive from it (``processed/``, the
    fingerprint cache); the marker's fingerprint is that of the raw and split files."""

    def __init__(self, root: str, name: str, overwrite: bool):
        from ..io.atomic import OutputError, atomic_folder, check_output
        from .ogb_utils import FINGERPRINT_CACHE
        self.final = osp.join(root, dir_name(name))
        try:
            check_output(self.final, FOLDER_FORMAT, overwrite=overwrite, folder=True,
                         what='a dataset folder built by gdl_graphs')
        except OutputError as exc:
            raise DatasetError(str(exc)) from None
        self._ctx = atomic_folder(self.final, FOLDER_FORMAT, self._fingerprint,
                                  overwrite=overwrite, name=name,
                                  derived=['processed', FINGERPRINT_CACHE])
        self.tmp = str(self._ctx.__enter__())

    def _fingerprint(self) -> str:
        from ..io.atomic import fingerprint_files
        from .ogb_utils import source_files
        return fingerprint_files(source_files(self.tmp), root=self.tmp)

    def path(self, *parts: str) -> str:
        return osp.join(self.tmp, *parts)

    def commit(self) -> str:
        from ..io.atomic import OutputError
        try:
            self._ctx.__exit__(None, None, None)
        except OutputError as exc:
            raise DatasetError(str(exc)) from None
        return self.final

    def abort(self) -> None:
        """Remove the temporary folder (call it from an ``except`` block)."""
        self._ctx.__exit__(*sys.exc_info())


def _meta(name: str, kind: str, task_type: str, num_tasks: int, eval_metric: str,
          num_classes: int, split: str, has_x: bool, has_e: bool, inverse: bool,
          node_files: str = 'None') -> Dict[str, str]:
    meta = {'num tasks': str(num_tasks), 'eval metric': eval_metric,
            'download_name': dir_name(name), 'version': '1', 'url': '',
            'add_inverse_edge': str(inverse), 'has_node_attr': str(has_x),
            'has_edge_attr': str(has_e), 'task type': task_type,
            'num classes': str(num_classes), 'split': split,
            'additional node files': node_files, 'additional edge files': 'None',
            'binary': 'False'}
    if kind == 'graph':
        meta['data type'] = 'mol' if name.startswith('ogbg-mol') else 'graph'
    else:
        meta['is hetero'] = 'False'
    return meta


def _official(name: str, kind: str) -> Optional[Dict[str, str]]:
    from .ogb_utils import _master
    master = _master(kind)
    return {k: str(v) for k, v in master[name].items()} if name in master else None


def _default_metric(task_type: str, kind: str) -> str:
    if 'classification' in task_type:
        return 'rocauc' if (kind == 'graph' or task_type.startswith('binary')) else 'acc'
    return 'rmse'


_TASKS = ('binary classification', 'multiclass classification', 'regression')


def build_graph_dataset(root: str, name: str, graphs: Sequence[Any], labels: Any,
                        split: Union[str, Split] = 'random', frac: Sequence[float] = _FRAC,
                        seed: int = 0, task_type: Optional[str] = None,
                        eval_metric: Optional[str] = None, undirected: bool = True,
                        smiles: Optional[Sequence[str]] = None,
                        overwrite: bool = False, data_type: Optional[str] = None) -> str:
    """Write an OGB graph-property folder ``<root>/<name with _>`` from ``graphs``.

    Args:
        root: the data root (the scripts' ``--root``).
        name: ``ogbg-*``: an OGB name (its meta must fit the data, e.g. ``ogbg-molhiv``: one
            binary task, 9 atom and 3 bond feature columns) or a new name.
        graphs: dicts as ``ogb.utils.smiles2graph`` returns (``edge_index``, ``node_feat``,
            ``edge_feat``, ``num_nodes``) or ``torch_geometric.data.Data`` (``x``,
            ``edge_attr``).
        labels: ``[G]`` or ``[G, T]``; NaN marks a missing label.
        split: ``'random'``, ``'scaffold'`` (needs ``smiles``) or a dict of index arrays.
        task_type / eval_metric: for a new name (default: binary classification, rocauc).
        undirected: graphs hold both directions of every edge; one of each is stored and ogb
            adds the other back.
        smiles: written to ``mapping/mol.csv.gz`` (and used by the scaffold split).
        data_type: ``'mol'`` or ``'graph'`` for a new name (default: ``'mol'`` with
            ``smiles``).

    Returns the folder's path."""
    kind = kind_of(name)
    if kind != 'graph':
        raise DatasetError(f'{name!r} is a node-level name: use build_node_dataset')
    if len(graphs) == 0:
        raise DatasetError('graphs is empty: a dataset needs at least one graph')
    gs = [_as_graph(g, i) for i, g in enumerate(graphs)]
    y = _labels(labels, len(gs), 'graph')
    has_x = all(g['node_feat'] is not None for g in gs)
    has_e = all(g['edge_feat'] is not None for g in gs)
    if any(g['node_feat'] is not None for g in gs) != has_x or \
            any(g['edge_feat'] is not None for g in gs) != has_e:
        raise DatasetError('some graphs have node or edge features and others do not: give '
                           'all graphs the same attributes')
    meta = _official(name, kind)
    if meta is not None:
        inverse = meta['add_inverse_edge'] == 'True'
        if int(meta['num tasks']) != y.shape[1]:
            raise DatasetError(f"{name} has {meta['num tasks']} task(s) but labels have "
                               f"{y.shape[1]} column(s): use a new name (e.g. ogbg-mymols)")
        if (meta['has_node_attr'] == 'True') != has_x or \
                (meta['has_edge_attr'] == 'True') != has_e:
            raise DatasetError(f'{name} expects node features {meta["has_node_attr"]} and '
                               f'edge features {meta["has_edge_attr"]}: use a new name')
        if meta.get('data type') == 'mol':
            from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
            for key, dims in (('node_feat', get_atom_feature_dims()),
                              ('edge_feat', get_bond_feature_dims())):
                for i, g in enumerate(gs):
                    f = g[key]
                    if f.ndim != 2 or f.shape[1] != len(dims) or \
                            (f.size and ((f < 0).any() or (f >= np.array(dims)).any())):
                        raise DatasetError(f'graph {i}: {name} needs {key} with {len(dims)} '
                                           f'integer columns in range (ogb.utils.smiles2graph '
                                           f'features): use a new name for other features')
        split_type = meta['split']
    else:
        inverse = undirected
        task_type = task_type or 'binary classification'
        if task_type not in _TASKS:
            raise DatasetError(f'unknown task_type {task_type!r}: use one of {_TASKS}')
        meta = _meta(name, kind, task_type, y.shape[1],
                     eval_metric or _default_metric(task_type, kind),
                     int(np.nanmax(y)) + 1 if 'multiclass' in task_type else 2 if
                     'binary' in task_type else -1, '', has_x, has_e, inverse)
        meta['data type'] = data_type or ('mol' if smiles is not None else 'graph')
        split_type = None
    if inverse:
        gs = [_one_direction(g, i) for i, g in enumerate(gs)]
    kind_split, idx = _split(split, len(gs), frac, seed, smiles)
    split_type = split_type or kind_split
    meta['split'] = split_type
    folder = _Folder(root, name, overwrite)
    try:
        edges = [g['edge_index'].T for g in gs]
        _write(folder.path('raw', 'edge.csv.gz'), np.concatenate(edges, 0) if edges else
               np.zeros((0, 2), np.int64))
        _write(folder.path('raw', 'num-node-list.csv.gz'), [g['num_nodes'] for g in gs])
        _write(folder.path('raw', 'num-edge-list.csv.gz'), [g['edge_index'].shape[1] for g in gs])
        if has_x:
            _write(folder.path('raw', 'node-feat.csv.gz'),
                   np.concatenate([g['node_feat'].reshape(g['num_nodes'], -1) for g in gs]))
        if has_e:
            _write(folder.path('raw', 'edge-feat.csv.gz'),
                   np.concatenate([g['edge_feat'].reshape(g['edge_index'].shape[1], -1)
                                   for g in gs]))
        _write(folder.path('raw', 'graph-label.csv.gz'), y)
        for key, v in idx.items():
            _write(folder.path('split', split_type, f'{key}.csv.gz'), v)
        import pandas as pd
        os.makedirs(folder.path('mapping'), exist_ok=True)
        cols = {f'task_{t}': y[:, t] for t in range(y.shape[1])}
        if smiles is not None:
            cols['smiles'] = list(smiles)
        cols['mol_id' if smiles is not None else 'graph_id'] = np.arange(len(gs))
        pd.DataFrame(cols).to_csv(folder.path('mapping', 'mol.csv.gz' if smiles is not None
                                              else 'graphidx2id.csv.gz'),
                                  index=False, compression='gzip')
        _finish(folder, name, meta, official=_official(name, kind) is not None)
    except BaseException:
        folder.abort()
        raise
    return folder.final


def _finish(folder: _Folder, name: str, meta: Dict[str, str], official: bool) -> None:
    with open(folder.path(f"RELEASE_v{meta['version']}.txt"), 'w') as f:
        f.write(f'{name} built by gdl_graphs.datasets.builder\n')
    if not official:
        with open(folder.path(META_FILE), 'w') as f:
            json.dump(meta, f, indent=1)
    folder.commit()


def smiles_to_graphs(smiles: Sequence[str]) -> List[Dict[str, Any]]:
    """``ogb.utils.smiles2graph`` for every SMILES (needs rdkit); one clear error for an
    invalid SMILES (naming its index)."""
    _require_rdkit('building a dataset from SMILES')
    from ogb.utils import smiles2graph
    from rdkit import RDLogger
    RDLogger.DisableLog('rdApp.*')
    out = []
    for i, s in enumerate(smiles):
        try:
            out.append(smiles2graph(s))
        except Exception:
            raise DatasetError(f'SMILES {i} ({s!r}) is not a valid molecule: fix or drop '
                               f'it') from None
    return out


def build_smiles_dataset(root: str, name: str, smiles: Sequence[str], labels: Any,
                         split: Union[str, Split] = 'scaffold', **kwargs) -> str:
    """Write an OGB molecule folder from SMILES and labels (``ogb.utils.smiles2graph`` atom
    and bond features, as every ``ogbg-mol*`` dataset); see :func:`build_graph_dataset`."""
    smiles = [str(s) for s in smiles]
    return build_graph_dataset(root, name, smiles_to_graphs(smiles), labels, split=split,
                               smiles=smiles, **kwargs)


def build_node_dataset(root: str, name: str, edge_index: Any, x: Any, y: Any,
                       split: Union[str, Split] = 'random', frac: Sequence[float] = _FRAC,
                       seed: int = 0, node_year: Any = None, undirected: Optional[bool] = None,
                       task_type: str = 'multiclass classification',
                       overwrite: bool = False) -> str:
    """Write an OGB node-property folder (one graph): ``edge_index [2, E]``, features
    ``x [N, F]``, labels ``y [N]`` or ``[N, T]``. For ``ogbn-arxiv`` pass ``node_year``; for
    ``ogbn-products`` (``add_inverse_edge``) pass both directions of every edge."""
    kind = kind_of(name)
    if kind != 'node':
        raise DatasetError(f'{name!r} is a graph-level name: use build_graph_dataset')
    x = _np(x)
    g = _as_graph({'edge_index': edge_index, 'node_feat': x, 'edge_feat': None,
                   'num_nodes': None if x is None else x.shape[0]}, 0)
    n = g['num_nodes']
    yy = _labels(y, n, 'node')
    meta = _official(name, kind)
    node_files = 'None'
    if meta is not None:
        if int(meta['num tasks']) != yy.shape[1]:
            raise DatasetError(f"{name} has {meta['num tasks']} task(s) but y has "
                               f"{yy.shape[1]} column(s)")
        if 'multiclass' in meta['task type'] and np.nanmax(yy) >= int(meta['num classes']):
            raise DatasetError(f"{name} has {meta['num classes']} classes but y holds "
                               f"{int(np.nanmax(yy))}")
        node_files = meta['additional node files']
        if node_files == 'node_year' and node_year is None:
            raise DatasetError(f'{name} needs node_year (one year per node)')
        inverse = meta['add_inverse_edge'] == 'True'
        split_type = meta['split']
    else:
        inverse = bool(undirected)
        if task_type not in _TASKS:
            raise DatasetError(f'unknown task_type {task_type!r}: use one of {_TASKS}')
        if node_year is not None:
            node_files = 'node_year'
        meta = _meta(name, kind, task_type, yy.shape[1], _default_metric(task_type, kind),
                     int(np.nanmax(yy)) + 1 if 'multiclass' in task_type else 2, '',
                     x is not None, False, inverse, node_files)
        split_type = None
    if inverse:
        g = _one_direction(g, 0)
    kind_split, idx = _split(split, n, frac, seed, None)
    split_type = split_type or kind_split
    meta['split'] = split_type
    folder = _Folder(root, name, overwrite)
    try:
        _write(folder.path('raw', 'edge.csv.gz'), g['edge_index'].T)
        _write(folder.path('raw', 'num-node-list.csv.gz'), [n])
        _write(folder.path('raw', 'num-edge-list.csv.gz'), [g['edge_index'].shape[1]])
        if x is not None:
            _write(folder.path('raw', 'node-feat.csv.gz'), x.reshape(n, -1))
        _write(folder.path('raw', 'node-label.csv.gz'), yy)
        if node_files == 'node_year':
            year = _np(node_year).reshape(-1, 1)
            if year.shape[0] != n:
                raise DatasetError(f'node_year has {year.shape[0]} entries for {n} nodes')
            _write(folder.path('raw', 'node_year.csv.gz'), year)
        for key, v in idx.items():
            _write(folder.path('split', split_type, f'{key}.csv.gz'), v)
        _write(folder.path('mapping', 'nodeidx2id.csv.gz'), np.arange(n))
        _finish(folder, name, meta, official=_official(name, kind) is not None)
    except BaseException:
        folder.abort()
        raise
    return folder.final
