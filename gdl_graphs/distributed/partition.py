"""METIS partitions of a node-property graph on disk, and the part one rank loads.

:func:`partition_graph` splits the nodes with METIS (``pymetis``, the ``dist`` extra), balanced
on two vertex weights at once: every node counts 1 and every training node counts 1 more, so
each part holds about ``N / P`` nodes *and* about ``|train| / P`` seeds. Each part is written
as plain ``.npy`` files (memory-mappable, readable by numpy alone)::

    DIR/meta.json            dataset, sizes, part_ptr, the byte size of every file
    DIR/new_id.npy           [N] int64: global node id -> partition order
                             (part of v = the p with part_ptr[p] <= new_id[v] < part_ptr[p+1],
                             local index = new_id[v] - part_ptr[p])
    DIR/part_<p>/nodes.npy   [n_p] global ids of the part's nodes, ascending (= local order)
    DIR/part_<p>/x.npy       [n_p, F] their features;  y.npy [n_p] their labels
    DIR/part_<p>/rowptr.npy  [n_p + 1] CSR of the edges INTO the part's nodes (rows = targets)
    DIR/part_<p>/col.npy     [e_p] global source id of each such edge
    DIR/part_<p>/eid.npy     [e_p] its global edge id (column of edge_index)
    DIR/part_<p>/{train,valid,test}.npy   local indices of the part's split nodes

Within a row the edges keep the order of the single-process CSR (by target, then source, then
edge id), so "offset ``j`` of node ``v``" names the same edge in both: that is what makes the
partitioned sampler draw exactly the single-process sampler's edges.

    DIR/gdl_graphs.json      the marker (gdl_graphs.io.atomic): format, the fingerprint of
                             the data the parts were cut from, every file with its size

Input arrays may be memory-mapped (``torch.load(..., mmap=True)``); beyond them the writer
holds one part's features at a time. ``DIR`` is checked before any work and replaced only when
it is a partition folder we wrote that holds nothing else (or an empty folder); the folder is
written into a temporary sibling and swapped into place: an interrupted run (an error, a full
disk, ``SIGTERM``) leaves nothing under ``DIR`` and the old folder as it was.

The fingerprint of the source (``meta.json``'s ``source``, the marker's ``fingerprint``) is
checked on use (:func:`check_folder` with ``source=``): partitions of an older version of a
dataset are refused even when its node and edge counts match.
"""
from __future__ import annotations

import json
import os.path as osp
import pathlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

FORMAT = 'gdl_graphs-partitions-v1'
PART_FILES = ('nodes', 'x', 'y', 'rowptr', 'col', 'eid', 'train', 'valid', 'test')
SPLITS = ('train', 'valid', 'test')


class PartitionError(ValueError):
    """A partition folder cannot be written or used; the message is one line naming the fix."""


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)


def metis(num_nodes: int, src: np.ndarray, dst: np.ndarray, num_parts: int,
          train_mask: Optional[np.ndarray] = None, seed: int = 0) -> np.ndarray:
    """The METIS part (``0 .. num_parts - 1``) of every node of the graph ``(src, dst)``
    (read as undirected), balanced on nodes and, given ``train_mask``, on training nodes."""
    import scipy.sparse as sp
    try:
        import pymetis
    except ImportError:
        raise PartitionError('partitioning needs METIS: pip install "gdl-graphs[dist]" '
                             '(or pip install pymetis)') from None
    if num_parts == 1:
        return np.zeros(num_nodes, dtype=np.int64)
    keep = src != dst  # METIS takes no self-loops and each undirected edge in both rows
    a = sp.coo_matrix((np.ones(2 * int(keep.sum()), dtype=np.int8),
                       (np.concatenate([src[keep], dst[keep]]),
                        np.concatenate([dst[keep], src[keep]]))),
                      shape=(num_nodes, num_nodes)).tocsr()
    a.sum_duplicates()
    weights = None
    if train_mask is not None and 0 < int(train_mask.sum()) < num_nodes:
        weights = np.stack([np.ones(num_nodes, np.int64), train_mask.astype(np.int64)],
                           1).reshape(-1)
    opts = pymetis.Options(seed=int(seed))
    xadj, adjncy = a.indptr.astype(np.int64), a.indices.astype(np.int64)
    if hasattr(pymetis, 'CSRAdjacency'):
        _, parts = pymetis.part_graph(num_parts, pymetis.CSRAdjacency(xadj, adjncy),
                                      vweights=weights, options=opts)
    else:  # pragma: no cover - pymetis < 2025
        _, parts = pymetis.part_graph(num_parts, xadj=xadj, adjncy=adjncy, vweights=weights,
                                      options=opts)
    return np.asarray(parts, dtype=np.int64)


def check_output(out: str, overwrite: bool = False) -> pathlib.Path:
    """Check a partition folder to write before any work: it must not exist, be empty, or
    (with ``overwrite``) be a partition folder we wrote that holds nothing else. Returns where
    to write; raises :class:`PartitionError`."""
    from ..io.atomic import OutputError, check_output
    try:
        return check_output(out, FORMAT, overwrite=overwrite, folder=True,
                            what='a partition folder written by gdl_graphs',
                            flag='--overwrite')
    except OutputError as exc:
        raise PartitionError(str(exc)) from None


def source_fingerprint(edge_index: Any, x: Any, y: Any, split: Dict[str, Any]) -> str:
    """The fingerprint of a graph's arrays (what partitions are cut from), when no dataset
    fingerprint is given: edges, features, labels and split, in that order."""
    from ..io.atomic import fingerprint
    return fingerprint('partition-source', edge_index, x, y,
                       {k: _np(split[k]).reshape(-1) for k in SPLITS})


def partition_graph(out: str, dataset: str, edge_index: Any, x: Any, y: Any,
                    split: Dict[str, Any], num_parts: int, seed: int = 0,
                    overwrite: bool = False, progress: bool = True,
                    num_classes: Optional[int] = None, source: Optional[str] = None) -> str:
    """Write ``num_parts`` METIS partitions of one graph to ``out`` (layout: module docstring).

    Args:
        out: the partition folder (must not exist, unless ``overwrite`` and it is one).
        dataset: the dataset's name, recorded so a run on another dataset is refused.
        edge_index: ``[2, E]`` (messages flow source -> target, as PyG).
        x: ``[N, F]`` node features; y: ``[N]`` or ``[N, 1]`` labels (tensors, arrays or
            memory maps: only one part's rows are copied at a time).
        split: ``{'train', 'valid', 'test'}`` -> node ids.
        num_parts: ``P >= 1``; seed: METIS' seed.
        source: the fingerprint of the data the parts are cut from, checked on use (e.g.
            :func:`gdl_graphs.datasets.dataset_fingerprint`); default: of the arrays given.

    Returns the folder (a symbolic link to a partition folder is followed).
    """
    from tqdm import tqdm

    from ..io.atomic import OutputError, atomic_folder, write_errors
    dest = check_output(out, overwrite)  # before any work
    if int(num_parts) < 1:
        raise PartitionError(f'--num-parts must be >= 1, got {num_parts}')
    num_parts = int(num_parts)
    ei = _np(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise PartitionError(f'edge_index must have shape [2, E], got {list(ei.shape)}')
    xs, ys = (x if isinstance(x, np.ndarray) else _np(x)), _np(y).reshape(-1)
    n = int(xs.shape[0])
    if ys.shape[0] != n:
        raise PartitionError(f'y has {ys.shape[0]} rows for {n} nodes')
    if num_parts > n:
        raise PartitionError(f'--num-parts {num_parts} exceeds the {n} nodes')
    src, dst = ei[0].astype(np.int64), ei[1].astype(np.int64)
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise PartitionError(f'edge_index refers to nodes outside 0 .. {n - 1}')
    idx = {k: _np(split[k]).reshape(-1).astype(np.int64) for k in SPLITS}
    train = np.zeros(n, dtype=bool)
    train[idx['train']] = True
    if source is None:
        source = source_fingerprint(ei, xs, ys, idx)
    parts = metis(n, src, dst, num_parts, train, seed)
    counts = np.bincount(parts, minlength=num_parts)
    if (counts == 0).any():
        raise PartitionError(f'METIS left part {int(np.argmin(counts))} empty: use fewer '
                             f'--num-parts')
    part_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    order = np.argsort(parts, kind='stable')  # by part, then global id
    new_id = np.empty(n, dtype=np.int64)
    new_id[order] = np.arange(n, dtype=np.int64)
    # the single-process CSR order (target, source, edge id), grouped by the target's part
    eorder = np.lexsort((src, dst))
    eorder = eorder[np.argsort(parts[dst[eorder]], kind='stable')]
    eptr = np.concatenate([[0], np.cumsum(np.bincount(parts[dst], minlength=num_parts))])
    sizes: Dict[str, int] = {}
    info: List[Dict[str, int]] = []
    try:
        with write_errors(out), atomic_folder(dest, FORMAT, source, overwrite=overwrite,
                                              dataset=dataset) as tmp:
            sizes['new_id.npy'] = _save(osp.join(tmp, 'new_id.npy'), new_id)
            for p in tqdm(range(num_parts), desc='writing parts', disable=not progress):
                folder = osp.join(tmp, f'part_{p}')
                _write_part(folder, p, order, part_ptr, eorder, eptr, new_id, dst, src, xs, ys,
                            idx, parts, sizes, info)
            cut = int((parts[src] != parts[dst]).sum())
            meta = {'format': FORMAT, 'dataset': dataset, 'source': source, 'num_nodes': n,
                    'num_edges': int(src.size), 'num_features': int(np.prod(xs.shape[1:])),
                    'feature_dtype': str(xs.dtype),
                    'num_classes': int(num_classes if num_classes is not None else
                                       (int(np.nanmax(ys)) + 1 if ys.size else 0)),
                    'num_parts': num_parts, 'part_ptr': part_ptr.tolist(), 'parts': info,
                    'edge_cut': cut, 'seed': int(seed), 'files': sizes}
            with open(osp.join(tmp, 'meta.json'), 'w') as f:
                json.dump(meta, f, indent=1)
    except OutputError as exc:  # the folder changed while it was written
        raise PartitionError(str(exc)) from None
    return str(dest)


class _Writes:
    """A file seen only through ``write``: numpy then writes in chunks through Python's file,
    so a full disk is ``OSError(ENOSPC)`` (its own ``tofile`` reports only a short count)."""

    def __init__(self, f):
        self.write = f.write


def _save(path: str, arr: np.ndarray) -> int:
    """``np.save(path, arr)`` (the same bytes); returns the file's size."""
    with open(path, 'wb') as f:
        np.lib.format.write_array(_Writes(f), np.ascontiguousarray(arr), allow_pickle=False)
    return osp.getsize(path)


def _write_part(folder, p, order, part_ptr, eorder, eptr, new_id, dst, src, xs, ys, idx, parts,
                sizes, info) -> None:
    import os
    os.makedirs(folder)
    nodes = order[part_ptr[p]:part_ptr[p + 1]]
    e = eorder[eptr[p]:eptr[p + 1]]
    local_dst = new_id[dst[e]] - part_ptr[p]
    rowptr = np.concatenate([[0], np.cumsum(np.bincount(local_dst, minlength=nodes.size))])
    arrays = {'nodes': nodes, 'x': np.asarray(xs[nodes]), 'y': ys[nodes],
              'rowptr': rowptr.astype(np.int64), 'col': src[e], 'eid': e}
    for k in SPLITS:
        mine = idx[k][parts[idx[k]] == p]
        arrays[k] = np.sort(new_id[mine] - part_ptr[p])
    for k in PART_FILES:
        sizes[f'part_{p}/{k}.npy'] = _save(osp.join(folder, k + '.npy'), arrays[k])
    info.append({'nodes': int(nodes.size), 'edges': int(e.size),
                 **{k: int(arrays[k].size) for k in SPLITS}})


def read_meta(folder: str) -> Dict[str, Any]:
    path = osp.join(folder, 'meta.json')
    if not osp.isfile(path):
        raise PartitionError(f'{folder} is not a partition folder (no meta.json): write one '
                             f'with scripts/partition.py')
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise PartitionError(f'{path} is not readable JSON ({exc}): partition again') from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        raise PartitionError(f'{path} is not a gdl_graphs partition folder ({FORMAT}): '
                             f'partition again with scripts/partition.py')
    from ..io.atomic import read_marker
    marker = read_marker(folder)
    if not isinstance(meta.get('source'), str) or marker is None \
            or marker.get('fingerprint') != meta['source']:
        raise PartitionError(f'{folder} has no fingerprint of the data it was cut from (written '
                             f'by an older gdl_graphs, or its gdl_graphs.json was changed): '
                             f'partition again with scripts/partition.py')
    return meta


def check_folder(folder: str, dataset: Optional[str], world_size: Optional[int],
                 parts: Optional[Sequence[int]] = None, source: Optional[str] = None,
                 source_name: str = 'the data') -> Dict[str, Any]:
    """Check a partition folder: format, dataset name, the fingerprint of the data it was
    cut from against ``source`` (when given: the fingerprint of the dataset at hand, named
    ``source_name`` in the error), number of parts against the world size, and the size of
    every file of ``parts`` (default: all; a machine of a multi-machine run may hold only its
    own parts) and of ``new_id.npy``."""
    meta = read_meta(folder)
    if source is not None and meta['source'] != source:
        raise PartitionError(f"{folder} was cut from data with fingerprint {meta['source']}, "
                             f"but {source_name} has fingerprint {source} (it was rebuilt or "
                             f"changed): partition it again with scripts/partition.py")
    if dataset is not None and meta['dataset'] != dataset:
        raise PartitionError(f"{folder} holds partitions of {meta['dataset']}, not {dataset}: "
                             f"pass --dataset {meta['dataset']} or partition {dataset}")
    if world_size is not None and meta['num_parts'] != world_size:
        raise PartitionError(f"{folder} holds {meta['num_parts']} parts but {world_size} "
                             f"rank(s) started: run torchrun --nproc_per_node="
                             f"{meta['num_parts']} (x nodes) or partition again")
    wanted = None if parts is None else {f'part_{p}' for p in parts}
    for rel, size in meta['files'].items():
        if wanted is not None and rel != 'new_id.npy' and rel.split('/')[0] not in wanted:
            continue
        path = osp.join(folder, rel)
        if not osp.isfile(path):
            raise PartitionError(f'{folder} lacks {rel}: the folder is incomplete; partition '
                                 f'again with scripts/partition.py')
        if osp.getsize(path) != size:
            raise PartitionError(f'{path} has {osp.getsize(path)} bytes, meta.json says '
                                 f'{size}: the folder is damaged; partition again')
    return meta


@dataclass
class LocalPart:
    """The part one rank holds (tensors; ``new_id`` stays a read-only memory map)."""
    meta: Dict[str, Any]
    rank: int
    nodes: Any
    x: Any
    y: Any
    rowptr: Any
    col: Any
    eid: Any
    split: Dict[str, Any]
    new_id: np.ndarray
    part_ptr: Any

    @property
    def num_nodes(self) -> int:
        return int(self.nodes.numel())


def load_part(folder: str, rank: int, world_size: Optional[int] = None,
              dataset: Optional[str] = None) -> LocalPart:
    """Load part ``rank`` of ``folder`` after :func:`check_folder`."""
    import torch
    meta = check_folder(folder, dataset, world_size, parts=[rank])
    if not 0 <= rank < meta['num_parts']:
        raise PartitionError(f"rank {rank} has no part in {folder} ({meta['num_parts']} parts)")
    base = osp.join(folder, f'part_{rank}')

    def t(name):
        return torch.from_numpy(np.load(osp.join(base, name + '.npy')))

    new_id = np.load(osp.join(folder, 'new_id.npy'), mmap_mode='r')
    return LocalPart(meta, rank, t('nodes'), t('x'), t('y'), t('rowptr'), t('col'), t('eid'),
                     {k: t(k) for k in SPLITS}, new_id,
                     torch.tensor(meta['part_ptr'], dtype=torch.long))
