"""Load OGB datasets safely: torch >= 2.6, no interactive prompt, one-line errors.

ogb 1.3.6 stores its processed datasets as pickled PyG objects and reads them back with a bare
``torch.load``; since torch 2.6 that defaults to ``weights_only=True`` and refuses PyG's
classes. :func:`allow_pyg_classes` registers an explicit allow-list of exactly the classes a
processed OGB dataset holds (:data:`PYG_SAFE_GLOBALS`), never a global ``weights_only=False``.

ogb also calls ``input()`` when a dataset folder lacks ``RELEASE_v<version>.txt``, and starts a
download (which may delete the folder) when any raw file is missing. :func:`load_dataset`
writes the release file, checks the folder first and turns every failure into a
:class:`DatasetError` whose message is one line naming the folder and the fix.

Datasets built by :mod:`gdl_graphs.datasets.builder` under a name ogb does not know carry their
meta information in ``gdl_meta.json`` and load through the same ogb classes (``meta_dict``).

Fingerprints: :func:`dataset_fingerprint` hashes the files ogb builds a dataset from
(``raw/`` and ``split/``; each file's hash is cached by size and modification time in
``gdl_fingerprint.json``). ogb's processed file records the fingerprint of the raw files it was
built from (``processed/gdl_source.json``, written when it is first loaded here) and is refused
when they change; partitions record it too (:mod:`gdl_graphs.distributed.partition`).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import os.path as osp
import shutil
import warnings
from typing import Any, Dict, List, Optional

import torch

META_FILE = 'gdl_meta.json'
FINGERPRINT_CACHE = 'gdl_fingerprint.json'  # per-file hashes, by size and modification time
PROCESSED_SOURCE = osp.join('processed', 'gdl_source.json')  # what processed/ was built from
PROCESSED_FORMAT = 'gdl_graphs-ogb-processed-v1'


class DatasetError(ValueError):
    """A dataset cannot be loaded; the message is one line that names the fix."""


def _pyg_safe_globals() -> List[type]:
    from torch_geometric.data.data import Data, DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import (BaseStorage, EdgeStorage, GlobalStorage,
                                              NodeStorage)
    return [Data, DataEdgeAttr, DataTensorAttr, BaseStorage, GlobalStorage, NodeStorage,
            EdgeStorage]


def allow_pyg_classes() -> List[type]:
    """Allow exactly the PyG classes of a processed OGB dataset in ``torch.load``
    (``weights_only=True``); returns the list. No-op on torch < 2.4's lacking API."""
    classes = _pyg_safe_globals()
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add(classes)
    return classes


def _master(kind: str):
    import pandas as pd
    mod = {'graph': 'graphproppred', 'node': 'nodeproppred', 'link': 'linkproppred'}[kind]
    import ogb
    path = osp.join(osp.dirname(ogb.__file__), mod, 'master.csv')
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def kind_of(name: str) -> str:
    """``'graph'`` for ``ogbg-*`` names, ``'node'`` for ``ogbn-*``, ``'link'`` for
    ``ogbl-*``."""
    if not isinstance(name, str) or not name.startswith(('ogbg-', 'ogbn-', 'ogbl-')):
        raise DatasetError(f'unknown dataset {name!r}: use an OGB name such as ogbg-molhiv, '
                           f'ogbn-arxiv or ogbl-collab (or a folder built with '
                           f'datasets/build_ogb.py, named ogbg-* / ogbn-* / ogbl-*)')
    return {'ogbg-': 'graph', 'ogbn-': 'node', 'ogbl-': 'link'}[name[:5]]


def official_names(kind: str) -> List[str]:
    return list(_master(kind).keys())


def dir_name(name: str) -> str:
    """ogb's folder name of a dataset (``ogbg-molhiv`` -> ``ogbg_molhiv``)."""
    return '_'.join(name.split('-'))


def dataset_path(name: str, root: str) -> str:
    """The folder ogb reads for ``name`` under ``root`` (ogb prefers a ``*_pyg`` folder)."""
    base = osp.join(root, dir_name(name))
    return base + '_pyg' if osp.exists(base + '_pyg') else base


def meta_info(name: str, root: str) -> Dict[str, str]:
    """ogb's meta information of ``name``: from ogb's master table, or from the
    ``gdl_meta.json`` of a built folder."""
    kind = kind_of(name)
    master = _master(kind)
    if name in master:
        return {k: str(v) for k, v in master[name].items()}
    path = osp.join(dataset_path(name, root), META_FILE)
    if osp.isfile(path):
        try:
            with open(path) as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise DatasetError(f'{path} is not valid JSON ({exc}): rebuild the folder with '
                               f'datasets/build_ogb.py') from None
        meta['dir_path'] = dataset_path(name, root)
        return meta
    near = ', '.join(n for n in master.keys() if n.startswith(name.split('-')[0]))
    raise DatasetError(f'unknown dataset {name!r}: ogb knows {near}; a custom name needs a '
                       f'folder built with datasets/build_ogb.py under --root {root!r}')


def required_files(meta: Dict[str, str], kind: str) -> List[str]:
    """Paths (relative to the dataset folder) that ogb reads to process the dataset."""
    if meta.get('binary') == 'True' or meta.get('is hetero') == 'True':
        return []  # npz / heterogeneous layouts: leave the checks to ogb
    raw = ['edge', 'num-node-list', 'num-edge-list']
    if meta.get('has_node_attr') == 'True':
        raw.append('node-feat')
    if meta.get('has_edge_attr') == 'True':
        raw.append('edge-feat')
    raw.append('graph-label' if kind == 'graph' else 'node-label')
    for key in ('additional node files', 'additional edge files'):
        if meta.get(key, 'None') != 'None':
            raw += meta[key].split(',')
    split = osp.join('split', meta['split'])
    return ([osp.join('raw', f + '.csv.gz') for f in raw] +
            [osp.join(split, f'{s}.csv.gz') for s in ('train', 'valid', 'test')])


def source_files(path: str) -> List[str]:
    """The files of a dataset folder that ogb builds the dataset from: every file under its
    ``raw/`` and ``split/``, in a fixed order."""
    files = []
    for sub in ('raw', 'split'):
        for dirpath, dirnames, filenames in os.walk(osp.join(path, sub)):
            dirnames.sort()
            files += [osp.join(dirpath, f) for f in sorted(filenames)]
    return files


def dataset_fingerprint(name: str, root: str) -> Optional[str]:
    """The fingerprint of the files a dataset folder is built from (every file under its
    ``raw/`` and ``split/``, names and bytes), or ``None`` when it has none (no folder, or only
    processed data). Each file is hashed once and then remembered by size and modification
    time in ``gdl_fingerprint.json``."""
    from ..io.atomic import fingerprint_files
    path = dataset_path(name, root)
    files = source_files(path)
    if not any(f.startswith(osp.join(path, 'raw') + os.sep) for f in files):
        return None
    return fingerprint_files(files, root=path, cache=osp.join(path, FINGERPRINT_CACHE))


def check_processed(name: str, root: str) -> Optional[str]:
    """Check that ogb's processed file of ``name`` was built from the raw files now in the
    folder (the fingerprint recorded when it was first loaded here); record it when missing.
    Returns the dataset's fingerprint. Raises :class:`DatasetError` naming both fingerprints."""
    path = dataset_path(name, root)
    processed = osp.join(path, 'processed')
    now = dataset_fingerprint(name, root)
    if now is None or not osp.isdir(processed):
        return now
    record = osp.join(path, PROCESSED_SOURCE)
    try:
        with open(record) as f:
            then = json.load(f).get('fingerprint')
    except (OSError, ValueError, AttributeError):
        then = None
    if then is None:
        from ..io.atomic import write_json
        try:
            write_json({}, record, PROCESSED_FORMAT, now)
        except OSError:
            pass  # a read-only folder: nothing recorded, nothing checked
    elif then != now:
        raise DatasetError(f'{processed} was built from raw files with fingerprint {then}, but '
                           f'raw/ and split/ now have fingerprint {now} (rebuilt or changed): '
                           f'delete {processed} and run again (ogb processes it again)')
    return now


@contextlib.contextmanager
def _quiet(enabled: bool):
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def _no_prompt(module):
    """ogb asks before downloads over 1 GB: the caller already said yes (``download=True``)."""
    old = module.decide_download
    module.decide_download = lambda url: True
    try:
        yield
    finally:
        module.decide_download = old


def prepare_folder(name: str, path: str, meta: Dict[str, str], official: bool,
                   download: bool, fix: str) -> bool:
    """Whether the folder exists (then with its release file, so ogb never prompts); a missing
    folder is a :class:`DatasetError` unless ogb may download it."""
    if not osp.isdir(path):
        if not (official and download):
            how = ('pass --download to fetch it, or ' if official else '')
            raise DatasetError(f'no dataset folder {path}: {how}build one with {fix} (or point '
                               f'--root at its parent)')
        return False
    release = osp.join(path, f"RELEASE_v{meta['version']}.txt")
    if not osp.exists(release):  # else ogb blocks on input()
        with open(release, 'w') as f:
            f.write(f"{name} version {meta['version']} (written by gdl_graphs)\n")
    return True


def lacks(path: str, missing: List[str], fix: str) -> DatasetError:
    more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
    return DatasetError(f'the dataset folder {path} lacks {missing[0]}{more}: rebuild it with '
                        f'{fix}, or delete it and download again')


def open_ogb(module, make, name: str, path: str, quiet: bool, fix: str):
    """``make()`` (ogb's dataset class) quietly, without prompts; whatever ogb raises becomes
    one :class:`DatasetError` line, and a ``processed`` folder it half-wrote is removed."""
    had_processed = osp.exists(osp.join(path, 'processed'))
    try:
        with _quiet(quiet), _no_prompt(module), warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)  # ogb's non-writable numpy arrays
            return make()
    except DatasetError:
        raise
    except Exception as exc:  # ogb raises anything from pandas, gzip, numpy, torch
        if not had_processed:
            shutil.rmtree(osp.join(path, 'processed'), ignore_errors=True)
        what = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''
        verb = 'download' if not osp.isdir(path) else 'read'
        raise DatasetError(f'could not {verb} the OGB dataset {name} in {path} '
                           f'({type(exc).__name__}: {what}): rebuild it with {fix}, or delete '
                           f'{path} and download again') from None


def load_dataset(name: str, root: str = 'datasets', download: bool = False,
                 quiet: bool = True, transform: Any = None):
    """The ogb PyG dataset ``name`` under ``root`` (``PygGraphPropPredDataset`` or
    ``PygNodePropPredDataset``), loaded on any torch >= 2.4.

    Args:
        name: an OGB name (``ogbg-molhiv``) or the name of a folder built by the builder.
        root: the data root holding ``<name with _>/``.
        download: let ogb download an official dataset whose folder does not exist (never
            over an existing folder, never with a prompt).
        quiet: silence ogb's progress output.

    Raises:
        DatasetError: unknown name, missing folder or files, unreadable (corrupt) data.
    """
    kind = kind_of(name)
    if kind == 'link':
        from .link import load_link_dataset
        return load_link_dataset(name, root, download=download, quiet=quiet,
                                 transform=transform)
    meta = meta_info(name, root)
    official = 'dir_path' not in meta
    path = dataset_path(name, root)
    allow_pyg_classes()
    if kind == 'graph':
        from ogb.graphproppred import dataset_pyg as module
        cls = module.PygGraphPropPredDataset
    else:
        from ogb.nodeproppred import dataset_pyg as module
        cls = module.PygNodePropPredDataset
    processed = osp.join(path, 'processed', 'geometric_data_processed.pt')
    fix = 'datasets/build_ogb.py'
    if prepare_folder(name, path, meta, official, download, fix):
        missing = [f for f in required_files(meta, kind) if not osp.exists(osp.join(path, f))]
        if missing and not (osp.exists(processed) and
                            all(f.startswith('split') for f in missing)):
            raise lacks(path, missing, fix)
    if osp.exists(osp.join(path, 'processed')):
        check_processed(name, root)  # stale processed data: refused before ogb loads it

    def make():
        ds = cls(name=name, root=root, transform=transform,
                 **({'meta_dict': meta} if not official else {}))
        return ds, ds.get_idx_split()
    dataset, split = open_ogb(module, make, name, path, quiet, fix)
    n = len(dataset) if kind == 'graph' else dataset[0].num_nodes
    for key in ('train', 'valid', 'test'):
        idx = split.get(key) if isinstance(split, dict) else None
        if idx is None or (len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n)):
            raise DatasetError(f'the {key} split of {path} is missing or refers to items '
                               f'outside 0 .. {n - 1}: rebuild the folder')
    dataset.fingerprint = check_processed(name, root)
    dataset.split_idx = split
    return dataset


def evaluator_for(dataset):
    """ogb's ``Evaluator`` for ``dataset`` (also for a built dataset with a custom name)."""
    name = dataset.name
    if name.startswith('ogbg-'):
        from ogb.graphproppred import Evaluator
    elif name.startswith('ogbl-'):
        from .link import link_evaluator
        return link_evaluator(name, dataset.meta_info['eval metric'])
    else:
        from ogb.nodeproppred import Evaluator
    try:
        with _quiet(True):  # ogb prints the name before raising for an unknown one
            return Evaluator(name)
    except ValueError:
        ev = Evaluator.__new__(Evaluator)  # a custom name: ogb's metric code, our meta
        ev.name = name
        ev.num_tasks = int(dataset.meta_info['num tasks'])
        ev.eval_metric = dataset.meta_info['eval metric']
        return ev


def load_node_arrays(name: str, root: str = 'datasets'):
    """``(edge_index, x, y, split, num_classes)`` of an ogbn-* folder, memory-mapped from
    ogb's processed file (ogb writes it on the first load), for partitioning graphs larger than
    memory allows to copy."""
    if kind_of(name) != 'node':
        raise DatasetError(f'--dataset {name!r} is not a node property dataset: use an ogbn-* '
                           f'name')
    path = dataset_path(name, root)
    processed = osp.join(path, 'processed', 'geometric_data_processed.pt')
    if osp.isfile(processed):
        check_processed(name, root)  # built from the raw files now there
    dataset = load_dataset(name, root) if not osp.isfile(processed) else None
    split = dataset.split_idx if dataset is not None else None
    del dataset
    allow_pyg_classes()
    try:
        data = torch.load(processed, mmap=True, weights_only=True)[0]
    except Exception as exc:
        raise DatasetError(f'cannot memory-map {processed} ({type(exc).__name__}); delete the '
                           f'processed folder and run again') from None
    if split is None:
        import pandas as pd
        meta = meta_info(name, root)
        folder = osp.join(path, 'split', meta['split'])
        split = {k: pd.read_csv(osp.join(folder, f'{k}.csv.gz'), compression='gzip',
                                header=None).values.T[0] for k in ('train', 'valid', 'test')}
    get = data.get if hasattr(data, 'get') else data.__getitem__
    x, y, ei = get('x'), get('y'), get('edge_index')
    if x is None or y is None:
        raise DatasetError(f'{name} has no node features or labels: rebuild it with x and y')
    num_classes = int(meta_info(name, root).get('num classes', int(y.max()) + 1))
    return ei, x, y, split, num_classes
