"""Writers and safe loaders for ``Data`` and datasets, in PyG's own formats.

- One graph: ``torch.save(data, 'graph.pt')`` (what PyG users do), written by :func:`save_data`.
- A dataset: PyG's standard processed layout, ``ROOT/processed/data.pt`` holding
  ``(data.to_dict(), slices, data_cls)`` exactly as ``InMemoryDataset.save`` writes it, plus
  ``pre_transform.pt`` and ``pre_filter.pt`` and a ``meta.json`` (domain, options, class names,
  source files). :class:`GraphDataset` opens such a folder; any ``InMemoryDataset`` subclass
  whose ``processed_file_names`` is ``'data.pt'`` can ``self.load()`` it too.

Safety: nothing is ever unpickled. Loading uses ``torch.load(..., weights_only=True)`` with only
PyG's data classes allow-listed (PyG's own loader falls back to full unpickling when that fails;
these loaders never do), and checks the loaded slices before use. Writers write to a temporary
file or folder and rename it, so an error never leaves a partial output, and they replace only
what they wrote themselves (:func:`check_replaceable`); see :mod:`gdl_graphs.io.atomic`.
"""
from __future__ import annotations

import io
import json
import pathlib
import pickle
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.data.data import BaseData

from .atomic import atomic_folder, check_output, fingerprint_files, is_ours, write_torch
from .errors import FormatError, PathLike, atomic_path, describe

META_FILE = 'meta.json'  # processed/meta.json: domain, options, classes, source files
DATASET_FORMAT = 'gdl_graphs-dataset-v1'  # the marker's format of a dataset folder
GRAPH_FORMAT = 'gdl_graphs-graph-v1'  # the marker's format of a graph file


def _safe_classes() -> list:
    from torch_geometric.data import Batch, HeteroData
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import BaseStorage, EdgeStorage, GlobalStorage, NodeStorage
    return [Data, HeteroData, Batch, DataEdgeAttr, DataTensorAttr, BaseStorage, EdgeStorage,
            GlobalStorage, NodeStorage]


def _allow_pyg() -> None:
    """Allow-list PyG's data classes for ``weights_only`` loading (as PyG itself does at import;
    added once, globally, never removed: a scoped ``safe_globals`` would remove PyG's own)."""
    ser = torch.serialization
    get = getattr(ser, 'get_safe_globals', lambda: [])  # torch 2.4 has no getter
    have = set(map(id, get()))
    missing = [c for c in _safe_classes() if id(c) not in have]
    if missing:
        ser.add_safe_globals(missing)


def safe_load(path_or_buffer: Union[PathLike, io.BytesIO], name: Optional[str] = None) -> Any:
    """``torch.load(..., weights_only=True)`` with PyG's data classes allowed; never unpickles.

    Raises:
        FormatError: when the file is corrupt, truncated or holds anything else.
    """
    name = name or str(path_or_buffer)
    if not isinstance(path_or_buffer, io.BytesIO):
        p = pathlib.Path(path_or_buffer)
        if not p.is_file():
            raise FormatError(p, 'no such file')
    try:
        _allow_pyg()
        return torch.load(path_or_buffer, map_location='cpu', weights_only=True)
    except Exception as exc:
        raise FormatError(name, _why_not_loadable(path_or_buffer, exc)) from None


# the first bytes of files that are often passed where a torch file is expected
_MAGIC = ((b'\x89PNG', 'a PNG image'), (b'\xff\xd8\xff', 'a JPEG image'),
          (b'\x93NUMPY', 'a NumPy .npy array'), (b'ply', 'a PLY mesh'), (b'OFF', 'an OFF mesh'),
          (b'solid', 'an STL mesh'), (b'glTF', 'a GLB mesh'))


def _why_not_loadable(src: Union[PathLike, io.BytesIO], exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line that names a fix: never torch's own
    advice to load with ``weights_only=False`` (which would run arbitrary code)."""
    try:
        if isinstance(src, io.BytesIO):
            head = src.getvalue()[:8]
        else:
            with open(src, 'rb') as f:
                head = f.read(8)
    except OSError:
        head = b''
    if not head.startswith((b'PK\x03\x04', b'\x80')):  # neither torch's zip nor a pickle
        kind = next((w for m, w in _MAGIC if head.startswith(m)), None)
        what = f'it looks like {kind}' if kind else 'no torch.save file format'
        return (f'not a file written by torch.save ({what}); to make a graph of a file, run '
                f'gdl-graphs convert FILE -o OUT.pt --as DOMAIN')
    if isinstance(exc, pickle.UnpicklingError) or 'weights_only' in str(exc):
        return ('holds Python objects other than tensors and PyG data, which are never '
                'unpickled here (they could run code); save the graph with '
                'gdl_graphs.io.save_data or torch.save(data)')
    return f'not a loadable PyG file ({describe(exc)[:300]})'


def save_data(data: BaseData, path: PathLike, source: Optional[str] = None) -> pathlib.Path:
    """Save one graph as PyG does (``torch.save(data, path)``), atomically, with our marker
    (:mod:`gdl_graphs.io.atomic`): ``source`` is the fingerprint of what it was built from
    (default: of the graph itself). Like ``torch.save`` it replaces an existing file;
    :func:`gdl_graphs.convert` checks its output first."""
    if not isinstance(data, BaseData):
        raise ValueError(f'save_data needs a torch_geometric Data, got {type(data).__name__}')
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f'{path} is a folder; a graph is written to a file (e.g. graph.pt)')
    with atomic_path(path) as tmp:
        write_torch(data, tmp, GRAPH_FORMAT, source or (lambda f: fingerprint_files([f])))
    return path


def is_graph_file(path: PathLike) -> bool:
    """Whether ``path`` is a graph file :func:`save_data` wrote (its zip archive carries our
    marker), the only kind of file ``overwrite`` replaces with a graph."""
    return is_ours(path, GRAPH_FORMAT, folder=False)


def is_dataset_folder(path: PathLike) -> bool:
    """Whether ``path`` is a dataset folder our writer made and holds nothing else: its marker
    ``gdl_graphs.json`` lists every file with its size. Only such a folder is ever replaced
    (``overwrite``): a user's files are never deleted."""
    return is_ours(path, DATASET_FORMAT, folder=True)


def check_replaceable(path: PathLike, dataset: bool, overwrite: bool = True,
                      inputs: Sequence[PathLike] = ()) -> pathlib.Path:
    """Raise :class:`gdl_graphs.io.atomic.OutputError` (a ``ValueError``) unless ``path`` may
    be written: see :func:`gdl_graphs.io.atomic.check_output`; only a dataset folder replaces a
    dataset folder (:func:`is_dataset_folder`) and a graph file a graph file
    (:func:`is_graph_file`), and only with ``overwrite``. Returns where to write (a link to one
    of our outputs is followed)."""
    if dataset:
        return check_output(path, DATASET_FORMAT, overwrite=overwrite, folder=True,
                            inputs=inputs, what='a dataset folder written by gdl-graphs')
    return check_output(path, GRAPH_FORMAT, overwrite=overwrite, folder=False, inputs=inputs,
                        what='a graph file written by gdl-graphs')


def load_data(path: PathLike) -> BaseData:
    """Load one graph written by :func:`save_data` (or ``torch.save(data)``), safely."""
    out = safe_load(path)
    if not isinstance(out, BaseData):
        raise FormatError(path, f'holds a {type(out).__name__}, not a torch_geometric Data')
    return out


def _check_collated(name: str, data: BaseData, slices: Dict[str, Any]) -> int:
    """Slices must be 1-D, start at 0, not decrease, end at each attribute's size."""
    if not isinstance(slices, dict) or not slices:
        raise FormatError(name, 'the dataset has no slices')
    lengths = set()
    for key, sl in slices.items():
        if not isinstance(sl, torch.Tensor) or sl.dim() != 1 or sl.numel() < 1 \
                or sl.dtype != torch.long:
            raise FormatError(name, f'bad slices for {key!r}')
        if int(sl[0]) != 0 or bool((sl[1:] < sl[:-1]).any()):
            raise FormatError(name, f'the slices of {key!r} are not increasing from 0')
        lengths.add(sl.numel())
        value = data[key] if key in data else None
        if isinstance(value, torch.Tensor):
            dim = data.__cat_dim__(key, value)
            dim = dim + value.dim() if isinstance(dim, int) and dim < 0 else dim
            size = value.size(dim) if value.dim() else 1
            if int(sl[-1]) != size:
                raise FormatError(name, f'the slices of {key!r} end at {int(sl[-1])} but it '
                                        f'has {size} entries')
        elif isinstance(value, list) and int(sl[-1]) != len(value):
            raise FormatError(name, f'the slices of {key!r} do not match its length')
    if len(lengths) != 1:
        raise FormatError(name, 'the attributes disagree on the number of graphs')
    return lengths.pop() - 1


def load_collated(path: PathLike):
    """``(data, slices)`` from a processed ``data.pt``, checked."""
    out = safe_load(path)
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise FormatError(path, 'not an InMemoryDataset file (a tuple (data, slices[, cls]))')
    data, slices = out[0], out[1]
    cls = out[2] if len(out) == 3 else Data
    if not (isinstance(cls, type) and issubclass(cls, BaseData)):
        raise FormatError(path, 'not an InMemoryDataset file (bad data class)')
    if isinstance(data, dict):
        try:
            data = cls.from_dict(data)
        except Exception as exc:
            raise FormatError(path, f'corrupt dataset ({describe(exc)})') from None
    if not isinstance(data, BaseData):
        raise FormatError(path, 'not an InMemoryDataset file')
    _check_collated(str(path), data, slices)
    return data, slices


class GraphDataset(InMemoryDataset):
    r"""A folder of graphs in PyG's standard processed layout (``ROOT/processed/data.pt``),
    as written by :func:`gdl_graphs.convert` / ``gdl-graphs convert``; loaded safely.

    Args:
        root: the dataset folder.
        transform: applied to every graph on access (as any PyG dataset).

    Attributes:
        meta: the ``meta.json`` written with it (``domain``, ``options``, ``classes``,
            ``files``), or ``{}``.
        classes: class names, index = label (``meta['classes']``).
    """

    def __init__(self, root: PathLike, transform=None):
        root = pathlib.Path(root)
        path = root / 'processed' / 'data.pt'
        if not path.is_file():
            raise FormatError(root, "not a dataset folder (no processed/data.pt); create one "
                                    "with gdl-graphs convert or gdl_graphs.convert")
        super().__init__(str(root), transform, log=False)
        self.data, self.slices = load_collated(path)
        self.meta = _read_meta(root / 'processed' / META_FILE)

    @property
    def processed_file_names(self) -> List[str]:
        return ['data.pt']

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def classes(self) -> List[str]:
        return list(self.meta.get('classes') or [])

    @classmethod
    def from_data_list(cls, data_list: Sequence[BaseData], meta: Optional[dict] = None
                       ) -> 'GraphDataset':
        """An in-memory dataset (no folder) holding ``data_list``."""
        return cls.from_collated(*collate(data_list), meta=meta)

    @classmethod
    def from_collated(cls, data: dict, slices: Dict[str, torch.Tensor],
                      meta: Optional[dict] = None) -> 'GraphDataset':
        """An in-memory dataset (no folder) from collated ``(data.to_dict(), slices)``."""
        self = cls.__new__(cls)
        InMemoryDataset.__init__(self, None, None, log=False)
        self.data, self.slices = Data.from_dict(data), slices
        self.meta = dict(meta or {})
        return self

    def save_to(self, root: PathLike, overwrite: bool = False) -> pathlib.Path:
        """Write this dataset to ``root`` in PyG's processed layout (atomically)."""
        return save_dataset([self.get(i) for i in range(len(self))], root, self.meta,
                            overwrite=overwrite)


def _read_meta(path: pathlib.Path) -> dict:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding='utf-8'))
    except Exception as exc:
        raise FormatError(path, f'corrupt metadata ({describe(exc)})') from None
    if not isinstance(meta, dict):
        raise FormatError(path, 'corrupt metadata (not a JSON object)')
    return meta


def collate(data_list: Sequence[BaseData]) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """``InMemoryDataset.collate`` as the dict ``(data.to_dict(), slices)`` that is saved."""
    if not data_list:
        raise ValueError('a dataset needs at least one graph')
    from torch_geometric.data.collate import collate as pyg_collate
    data_list = list(data_list)  # as InMemoryDataset.collate, also for a single graph
    data, slices, _ = pyg_collate(data_list[0].__class__, data_list, increment=False,
                                  add_batch=False)
    return data.to_dict(), slices


def merge_collated(parts: Sequence[Tuple[dict, Dict[str, torch.Tensor]]]
                   ) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """Join collated chunks ``(data_dict, slices)`` into one, equal to collating all graphs at
    once (``InMemoryDataset.collate`` does not increment indices, so chunks concatenate)."""
    if not parts:
        raise ValueError('nothing to merge')
    if len(parts) == 1:
        return parts[0]
    keys, skeys = set(parts[0][0]), set(parts[0][1])
    for k, (d, s) in enumerate(parts[1:], 1):
        if set(d) != keys or set(s) != skeys:
            diff = sorted(keys.symmetric_difference(d))
            raise ValueError(f'the files give graphs with different attributes ({diff}); '
                             f'convert files of one kind together')
    probe = Data()
    out: dict = {}
    for key in parts[0][0]:
        vals = [d[key] for d, _ in parts]
        if key == 'num_nodes':
            out[key] = sum(int(v) for v in vals)
        elif key == '_num_nodes' or isinstance(vals[0], list):
            out[key] = [t for v in vals for t in v]
        elif isinstance(vals[0], torch.Tensor):
            dim = probe.__cat_dim__(key, vals[0])
            out[key] = torch.cat(vals, dim=0 if dim is None else dim)
        else:
            raise ValueError(f'cannot merge attribute {key!r} of type {type(vals[0]).__name__}')
    slices = {}
    for key in parts[0][1]:
        pieces, offset = [parts[0][1][key]], parts[0][1][key][-1]
        for _, s in parts[1:]:
            pieces.append(s[key][1:] + offset)
            offset = pieces[-1][-1] if pieces[-1].numel() else offset
        slices[key] = torch.cat(pieces)
    return out, slices


def save_dataset(data_list: Sequence[BaseData], root: PathLike, meta: Optional[dict] = None,
                 overwrite: bool = False, source: Optional[str] = None) -> pathlib.Path:
    """Write graphs as a dataset folder in PyG's standard processed layout, atomically.

    The folder is built under a temporary name next to ``root`` and renamed into place, so an
    error (or ``SIGTERM``, see :func:`gdl_graphs.io.atomic.terminate_cleanly`) leaves neither a
    partial folder nor a damaged old one; a killed writer's temporary folder is removed by the
    next write. An existing ``root`` is replaced only with ``overwrite=True``, and only when it
    is a dataset folder this writer made that holds nothing else (:func:`is_dataset_folder`);
    the new folder is swapped in atomically. ``source``: the fingerprint of what the graphs
    were built from, kept in the folder's marker (default: of the graphs themselves).
    """
    if not data_list:
        raise ValueError('save_dataset needs at least one graph')
    data, slices = collate(data_list)
    return save_collated(data, slices, root, meta, overwrite, source)


def save_collated(data: dict, slices: Dict[str, torch.Tensor], root: PathLike,
                  meta: Optional[dict] = None, overwrite: bool = False,
                  source: Optional[str] = None) -> pathlib.Path:
    """:func:`save_dataset` for already collated ``(data.to_dict(), slices)``."""
    root = check_replaceable(root, dataset=True, overwrite=overwrite)
    _check_collated(str(root), Data.from_dict(data), slices)
    meta = dict(meta or {})
    # the marker's fingerprint (default: of data.pt itself); root is checked again right before
    # the swap: something may have appeared meanwhile
    with atomic_folder(root, DATASET_FORMAT, source or (lambda: fingerprint_files(
            [tmp / 'processed' / 'data.pt'])), overwrite=overwrite) as tmp:
        proc = tmp / 'processed'
        proc.mkdir()
        write_torch((data, slices, Data), proc / 'data.pt')
        write_torch('None', proc / 'pre_transform.pt')  # PyG's _repr(None)
        write_torch('None', proc / 'pre_filter.pt')
        with open(proc / META_FILE, 'w', encoding='utf-8') as f:
            f.write(json.dumps(meta, indent=1))
    return root


def load(path: PathLike) -> Union[BaseData, GraphDataset]:
    """A graph file (``.pt``) or a dataset folder (or its ``processed/data.pt``), loaded safely."""
    p = pathlib.Path(path)
    if p.is_dir():
        return GraphDataset(p)
    if p.name == 'data.pt' and p.parent.name == 'processed':
        return GraphDataset(p.parent.parent)
    if not p.exists():
        raise FormatError(p, 'no such file or folder')
    out = safe_load(p)
    if isinstance(out, BaseData):
        return out
    if isinstance(out, tuple):
        raise FormatError(p, 'a collated dataset file; open its folder (ROOT with '
                             'ROOT/processed/data.pt) instead')
    raise FormatError(p, f'holds a {type(out).__name__}, not a torch_geometric Data')
