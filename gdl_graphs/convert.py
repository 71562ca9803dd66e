"""Convert your own files to graphs: ``gdl_graphs.convert(path, as_=...)`` and
``gdl-graphs convert INPUT -o OUT --as DOMAIN``.

==============  =========================================  =================================
``as_``         files                                       converter
==============  =========================================  =================================
``grid``        ``.png .jpg .jpeg`` (Pillow), ``.npy``      ``domains.grid.image_to_graph``
``set``         ``.csv .tsv .txt .npy`` (one row/element)   ``domains.set.set_to_graph``
``sequence``    ``.csv .tsv .txt .npy`` (one row/step)      ``domains.sequence.sequence_to_graph``
``pointcloud``  ``.xyz .csv .txt .npy .ply``                ``domains.pointcloud.to_graph``
``mesh``        ``.obj .off .ply .stl .glb .gltf``          ``domains.mesh.mesh_to_graph``
``graph``       ``.graphml .gml .json`` (node-link), edge   (the file is the graph)
                lists ``.edgelist .edges .el .txt .tsv
                .csv``
==============  =========================================  =================================

A file becomes one ``Data`` (saved as PyG does, ``torch.save(data)``). A folder becomes a
dataset in PyG's standard processed layout (``OUT/processed/data.pt``, open it with
:class:`gdl_graphs.io.GraphDataset`), with a label ``y`` per graph from the class subfolders
(``root/<class>/<file>``; ``classes`` in the dataset's meta) or from a labels CSV
(``file,label`` rows; a file is named by its path relative to the folder, its name or its stem).
``options`` go to the domain's converter (``kernel_size``, ``padding`` for grids, ``k`` or ``r``
for point clouds, ``repair`` for meshes, ...) or its reader (``channels_first``, ``scale`` for
images, ``directed`` for edge lists); an unknown option is an error that lists the valid ones.

Errors: a corrupt, truncated or mislabelled input raises :class:`gdl_graphs.io.FormatError` (a
``ValueError``) whose one-line message names the file; the command prints it and exits with 2.
Outputs are written to a temporary name and renamed, so an error never leaves a partial file.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import io
import pathlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from .io.atomic import write_errors
from .io.errors import FormatError, PathLike

if TYPE_CHECKING:  # torch is imported where a conversion needs it: `--help` stays fast
    import torch

__all__ = ['convert', 'convert_file', 'DOMAINS', 'domain_options', 'list_files']


@dataclass(frozen=True)
class _Domain:
    name: str
    extensions: Tuple[str, ...]
    reader: str                      # 'module:function' (relative to gdl_graphs)
    converter: Optional[str]         # 'module:function', None: the file is the graph
    reader_options: Tuple[str, ...]  # options that go to the reader
    inputs: Tuple[str, ...]          # converter parameters the file fills


DOMAINS: Dict[str, _Domain] = {d.name: d for d in [
    _Domain('grid', ('.png', '.jpg', '.jpeg', '.npy'), 'io.image:read_image',
            'domains.grid:image_to_graph', ('channels_first', 'scale'),
            ('images', 'mask', 'dim')),
    _Domain('set', ('.csv', '.tsv', '.txt', '.npy'), 'io.sequence:read_set',
            'domains.set:set_to_graph', (), ('features', 'batch', 'pos')),
    _Domain('sequence', ('.csv', '.tsv', '.txt', '.npy'), 'io.sequence:read_sequence',
            'domains.sequence:sequence_to_graph', (), ('x', 'lengths')),
    _Domain('pointcloud', ('.xyz', '.csv', '.txt', '.npy', '.ply'), 'io.points:read_points',
            'domains.pointcloud:to_graph', (), ('pos', 'features', 'x', 'batch')),
    _Domain('mesh', ('.obj', '.off', '.ply', '.stl', '.glb', '.gltf'), 'io.mesh:read_mesh',
            'domains.mesh:mesh_to_graph', (), ('pos', 'face')),
    _Domain('graph', ('.graphml', '.gml', '.json', '.edgelist', '.edges', '.el', '.txt',
                      '.tsv', '.csv'), 'io.graph:read_graph', None, ('directed',), ()),
]}


def _resolve(spec: str, domain: str, what: str) -> Callable:
    module, name = spec.split(':')
    try:
        fn = getattr(importlib.import_module(f'gdl_graphs.{module}'), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f'the {domain} {what} (gdl_graphs.{module}.{name}) is not available '
                         f'in this installation ({type(exc).__name__}: {exc})') from None
    return fn


def _domain(as_: str) -> _Domain:
    if as_ not in DOMAINS:
        raise ValueError(f'unknown domain {as_!r}: use one of {tuple(DOMAINS)}')
    return DOMAINS[as_]


def domain_options(as_: str) -> Dict[str, Any]:
    """The options a domain accepts, with their defaults (reader options included)."""
    return {name: default for name, (default, _) in _option_specs(as_).items()}


def _option_specs(as_: str) -> Dict[str, Tuple[Any, str]]:
    """``name -> (default, annotation text)`` of a domain's options."""
    dom = _domain(as_)
    out: Dict[str, Tuple[Any, str]] = {}
    specs = [(dom.reader, dom.reader_options, 'reader')]
    if dom.converter is not None:
        specs.append((dom.converter, None, 'converter'))
    for spec, keep, what in specs:
        params = inspect.signature(_resolve(spec, as_, what)).parameters
        for i, (name, p) in enumerate(params.items()):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if keep is not None and name not in keep:
                continue
            if keep is None and (i == 0 or name in dom.inputs):
                continue
            ann = p.annotation if isinstance(p.annotation, str) else \
                getattr(p.annotation, '__name__', repr(p.annotation))
            out[name] = (None if p.default is p.empty else p.default,
                         '' if p.annotation is p.empty else ann)
    return out


def _expected_kinds(default: Any, annotation: str) -> Tuple[str, ...]:
    """What an option may be, from its annotation (or its default): among ``'bool'``,
    ``'int'``, ``'ints'`` (a tuple of ints), ``'float'``, ``'str'``, ``'none'``; empty: any."""
    import re
    words = set(re.findall(r'[A-Za-z_]+', annotation))
    kinds = []
    if 'bool' in words:
        kinds.append('bool')
    if 'int' in words or 'IntOrTuple' in words:
        kinds.append('int')
    if 'IntOrTuple' in words or ({'Sequence', 'Tuple', 'tuple'} & words and 'int' in words):
        kinds.append('ints')
    if 'float' in words:
        kinds.append('float')
    if 'str' in words:
        kinds.append('str')
    if not kinds and not words:  # no annotation: the default's type
        kind = {bool: 'bool', int: 'int', float: 'float', str: 'str'}.get(type(default))
        kinds = [kind] if kind else []
    if kinds and ('Optional' in words or 'None' in words or default is None):
        kinds.append('none')
    if words - {'Optional', 'Union', 'None', 'bool', 'int', 'float', 'str', 'Sequence',
                'Tuple', 'tuple', 'IntOrTuple', 'Literal'}:
        return ()  # something we cannot check here (a tensor, a callable): the converter checks
    return tuple(kinds)


_KIND_TEXT = {'bool': 'true or false', 'int': 'an integer', 'ints': 'integers separated by '
              'commas (e.g. 3,5)', 'float': 'a number', 'str': 'a word', 'none': 'none'}


def _check_option_type(as_: str, key: str, value: Any, default: Any, annotation: str) -> None:
    kinds = _expected_kinds(default, annotation)
    if not kinds:
        return
    ok = {
        'bool': isinstance(value, bool),
        'int': isinstance(value, int) and not isinstance(value, bool),
        'ints': isinstance(value, tuple) and len(value) > 0 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value),
        'float': isinstance(value, (int, float)) and not isinstance(value, bool),
        'str': isinstance(value, str),
        'none': value is None,
    }
    if any(ok[k] for k in kinds):
        return
    text = ','.join(map(str, value)) if isinstance(value, tuple) else str(value)
    want = ' or '.join(_KIND_TEXT[k] for k in kinds)
    raise ValueError(f'option {key}={text!r} for --as {as_}: expected {want} (default '
                     f'{key}={default!r})')


def _split_options(as_: str, options: Dict[str, Any]) -> Tuple[dict, dict]:
    dom = _domain(as_)
    specs = _option_specs(as_)
    unknown = sorted(set(options) - set(specs))
    if unknown:
        raise ValueError(f'unknown option(s) {unknown} for --as {as_}; valid options: '
                         f'{sorted(specs) or "none"}')
    for key, value in options.items():
        _check_option_type(as_, key, value, *specs[key])
    if as_ == 'pointcloud' and options.get('k') is None and options.get('r') is None:
        raise ValueError('--as pointcloud needs a neighbourhood: k (k nearest neighbours, '
                         '--k 16) or r (a radius, --r 0.1)')
    reader = {k: v for k, v in options.items() if k in dom.reader_options}
    conv = {k: v for k, v in options.items() if k not in dom.reader_options}
    return reader, conv


def _finish(data):
    from torch_geometric.data import Batch
    if isinstance(data, Batch) and data.num_graphs == 1:
        data = data.get_example(0)
    return data


def _convert_one(as_: str, path: pathlib.Path, reader_opts: dict, conv_opts: dict,
                 reuse: bool = False):
    """One file -> one graph. ``reuse``: share lattices between images of equal size (only
    for graphs that are collated, i.e. copied, right away)."""
    dom = DOMAINS[as_]
    read = _resolve(dom.reader, as_, 'reader')
    try:
        got = read(path, **reader_opts)
    except FormatError:
        raise
    except ValueError as exc:  # a reader owned elsewhere (read_mesh): name the file once
        msg = str(exc).replace(f'{path}: ', '').replace(str(path), 'the file')
        raise FormatError(path, msg) from None
    if dom.converter is None:
        return got
    conv = _resolve(dom.converter, as_, 'converter')
    try:
        if as_ == 'pointcloud':
            pos, x = got
            params = inspect.signature(conv).parameters
            if 'features' in params:
                data = conv(pos, features=x, **conv_opts)
            elif 'x' in params:
                data = conv(pos, x=x, **conv_opts)
            else:
                data = conv(pos, **conv_opts)
                if x is not None:
                    data.x = x
        elif as_ == 'mesh':
            pos, face = got
            data = conv(pos, face, **conv_opts)
        elif as_ == 'grid' and reuse:
            data = _grid_graph(conv, got, conv_opts)
        else:
            data = conv(got, **conv_opts)
    except (ValueError, TypeError) as exc:  # the converter refused this file's content
        raise FormatError(path, str(exc)) from None
    return _finish(data)


_LATTICES: Dict[tuple, Any] = {}  # (image shape, dtype, options) -> a graph of that lattice


def _grid_graph(conv: Callable, image: torch.Tensor, conv_opts: dict):
    """``image_to_graph(image, **conv_opts)``, reusing the lattice of an earlier image of the
    same shape: every image of a folder of equal-size images has the same edges, types and
    positions, so only ``x`` changes. The reuse is checked once per lattice: the first graph's
    ``x`` must be the channels-last image, as ``image_to_graph`` documents; otherwise (e.g. a
    mask) every image is converted in full."""
    import copy

    import torch
    try:
        key = (tuple(image.shape), image.dtype, tuple(sorted(conv_opts.items())))
        hash(key)
    except TypeError:  # an unhashable option value: no reuse
        return conv(image, **conv_opts)
    x = image.movedim(0, -1).reshape(-1, image.size(0))
    template = _LATTICES.get(key)
    if template is None:
        data = conv(image, **conv_opts)
        ok = 'x' in data and torch.equal(data.x, x) and data.num_nodes == x.size(0) \
            and 'batch' not in data
        if len(_LATTICES) > 64:
            _LATTICES.clear()
        _LATTICES[key] = data.clone() if ok else False
        return data
    if template is False:
        return conv(image, **conv_opts)
    data = copy.copy(template)  # shares the lattice tensors, which nothing modifies
    data.x = x
    return data


def convert_file(path: PathLike, as_: str, **options) -> Any:
    """One file -> one ``Data`` (nothing written). See :func:`convert`."""
    reader_opts, conv_opts = _split_options(as_, options)
    p = pathlib.Path(path)
    if not p.is_file():
        raise FormatError(p, 'no such file')
    return _convert_one(as_, p, reader_opts, conv_opts)


def list_files(root: PathLike, as_: str, exclude: Sequence[PathLike] = ()) -> List[pathlib.Path]:
    """The files under ``root`` (recursively, sorted, hidden ones skipped) a domain can read."""
    root = pathlib.Path(root)
    exts = set(_domain(as_).extensions)
    skip = {pathlib.Path(e).resolve() for e in exclude}
    out = []
    for p in sorted(root.rglob('*')):
        rel = p.relative_to(root)
        if any(part.startswith('.') for part in rel.parts) or not p.is_file():
            continue
        if p.suffix.lower() in exts and p.resolve() not in skip:
            out.append(p)
    return out


def _labels_from_folders(root: pathlib.Path, files: List[pathlib.Path]):
    depth = [len(f.relative_to(root).parts) for f in files]
    if all(d == 1 for d in depth):
        return None, []
    if any(d == 1 for d in depth):
        loose = files[depth.index(1)]
        raise FormatError(loose, 'is not in a class subfolder, but other files are; put every '
                                 'file in a class folder or pass a labels CSV')
    names = [f.relative_to(root).parts[0] for f in files]
    classes = sorted(set(names))
    return [classes.index(n) for n in names], classes


def _labels_from_csv(csv: pathlib.Path, root: pathlib.Path, files: List[pathlib.Path]):
    from .io.errors import _split, read_text, sniff_delimiter
    text = read_text(csv)
    rows = [(k, ln.strip()) for k, ln in enumerate(text.splitlines(), 1)]
    rows = [(k, ln) for k, ln in rows if ln and not ln.startswith('#')]
    if not rows:
        raise FormatError(csv, 'no labels (the file is empty)')
    delim = sniff_delimiter(rows[0][1])
    first = [t.lower() for t in _split(rows[0][1], delim)]
    if first and first[0] in ('file', 'filename', 'path', 'name', 'image', 'id'):
        rows = rows[1:]
    keys: Dict[str, int] = {}
    for i, f in enumerate(files):
        rel = f.relative_to(root)
        for key in {rel.as_posix(), f.name, f.stem}:
            keys.setdefault(key, i)
    raw: Dict[int, str] = {}
    for k, line in rows:
        toks = _split(line, delim)
        if len(toks) != 2 or not toks[0] or not toks[1]:
            raise FormatError(csv, f'line {k}: expected two fields "file,label", got '
                                   f'{line[:60]!r}')
        i = keys.get(toks[0])
        if i is None:
            raise FormatError(csv, f'line {k}: {toks[0]!r} is not one of the input files')
        if i in raw:
            raise FormatError(csv, f'line {k}: a second label for {toks[0]!r}')
        raw[i] = toks[1]
    for i, f in enumerate(files):
        if i not in raw:
            raise FormatError(f, f'has no label in {csv}')
    vals = [raw[i] for i in range(len(files))]
    try:
        nums = [float(v) for v in vals]
    except ValueError:
        classes = sorted(set(vals))
        return [classes.index(v) for v in vals], classes
    if not all(n == n and abs(n) != float('inf') for n in nums):
        raise FormatError(csv, 'a label is not finite')
    if all(float(n).is_integer() for n in nums) and all('.' not in v for v in vals):
        return [int(n) for n in nums], []
    return nums, []


def _worker_init() -> None:
    import torch

    from .io.atomic import default_signals
    default_signals()  # a worker just ends on SIGTERM; the parent removes the output
    torch.set_num_threads(1)


def _signature(data) -> Dict[str, Any]:
    """What graphs of one dataset must share: the attributes, their dtypes and their sizes
    except along the dimension PyG concatenates (e.g. ``x``'s channels)."""
    import torch
    from torch_geometric.data import Data
    probe, sig = Data(), {}
    for key in data.keys():
        v = data[key]
        if isinstance(v, torch.Tensor):
            dim = probe.__cat_dim__(key, v)
            shape = list(v.shape)
            if v.dim() and dim is not None:
                shape[dim] = '*'
            sig[key] = (str(v.dtype).replace('torch.', ''), shape)
        else:
            sig[key] = type(v).__name__
    return sig


def _check_same(path, sig: Dict[str, Any], ref: Dict[str, Any], ref_path) -> None:
    if sig == ref:
        return
    keys = sorted(set(sig) | set(ref))
    key = next(k for k in keys if sig.get(k) != ref.get(k))
    raise FormatError(path, f'gives {key} = {sig.get(key, "nothing")}, but {ref_path} gives '
                            f'{ref.get(key, "nothing")}; the files of a folder must agree '
                            f'(e.g. all greyscale or all RGB)')


def _convert_list(as_: str, paths: Sequence[PathLike], reader_opts: dict, conv_opts: dict,
                  step: Callable[[int], None] = lambda n: None, ref=None):
    """Convert and collate ``paths`` (checking they agree); returns (collated, signature)."""
    from .io.data import collate, merge_collated
    parts, chunk = [], []
    for p in paths:
        data = _convert_one(as_, pathlib.Path(p), reader_opts, conv_opts, reuse=True)
        sig = _signature(data)
        if ref is None:
            ref = (sig, p)
        _check_same(p, sig, *ref)
        chunk.append(data)
        step(1)
        if len(chunk) == 1024:
            parts.append(collate(chunk))
            chunk = []
    if chunk:
        parts.append(collate(chunk))
    return merge_collated(parts), ref[0]


def _convert_chunk(as_: str, paths: List[str], reader_opts: dict, conv_opts: dict):
    """In a worker: convert and collate ``paths``. The collated chunk comes back as
    ``torch.save`` bytes (a few tensors, loaded with ``weights_only=True``) with the graphs'
    signature; an input error as ``(file, problem)``."""
    import torch
    try:
        chunk, sig = _convert_list(as_, paths, reader_opts, conv_opts)
    except FormatError as exc:
        return None, (exc.path, exc.problem), None
    buf = io.BytesIO()
    torch.save(chunk, buf)
    return buf.getvalue(), None, sig


def _convert_many(as_: str, files: List[pathlib.Path], reader_opts: dict, conv_opts: dict,
                  workers: int, progress: bool) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """Convert ``files`` in chunks (here or in ``workers`` processes), collate every chunk and
    merge them: the result equals ``InMemoryDataset.collate`` of all graphs, without holding a
    Python object per graph in between."""
    from tqdm.auto import tqdm

    from .io.data import merge_collated, safe_load
    bar = tqdm(total=len(files), desc=f'convert --as {as_}', unit='file', disable=not progress,
               file=sys.stderr, mininterval=0.25)
    try:
        if workers <= 1:
            return _convert_list(as_, files, reader_opts, conv_opts, bar.update)[0]
        import multiprocessing as mp
        from concurrent.futures import as_completed
        ctx = mp.get_context('fork' if 'fork' in mp.get_all_start_methods() else 'spawn')
        size = max(1, min(512, len(files) // (workers * 4) or 1))
        chunks = [[str(f) for f in files[i:i + size]] for i in range(0, len(files), size)]
        results: list = [None] * len(chunks)
        sigs: list = [None] * len(chunks)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(_convert_chunk, as_, c, reader_opts, conv_opts): i
                       for i, c in enumerate(chunks)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    blob, err, sigs[i] = fut.result()
                    if err is not None:
                        raise FormatError(*err)
                    results[i] = safe_load(io.BytesIO(blob), name='a conversion worker')
                    bar.update(len(chunks[i]))
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        for i in range(1, len(chunks)):  # chunks agree within; now across
            _check_same(chunks[i][0], sigs[i], sigs[0], chunks[0][0])
        return merge_collated(results)
    finally:
        bar.close()


def convert(path: PathLike, as_: str, out: Optional[PathLike] = None, *,
            labels: Optional[PathLike] = None, workers: int = 0, progress: bool = True,
            overwrite: bool = False, **options):
    """Convert a file or a folder of files to graphs (the Python twin of ``gdl-graphs convert``).

    Args:
        path: a file, or a folder (searched recursively; hidden files skipped).
        as_: the domain: ``'grid'``, ``'set'``, ``'sequence'``, ``'pointcloud'``, ``'mesh'``
            or ``'graph'`` (see the module docstring for the formats).
        out: where to write: a ``.pt`` file for one file, a dataset folder for a folder;
            ``None`` writes nothing.
        labels: for a folder, a CSV of ``file,label`` rows (default: class subfolders, if any).
        workers: processes for a folder (``0`` or ``1``: this process).
        progress: show a progress bar (tqdm, on stderr) for a folder.
        overwrite: replace an existing ``out``, but only a dataset folder or graph file that
            gdl-graphs wrote; never an input, a folder that holds an input or a user's files.
        **options: the converter's and the reader's options (:func:`domain_options`).

    Returns:
        A ``Data`` for a file; a :class:`gdl_graphs.io.GraphDataset` (an ``InMemoryDataset``) for
        a folder, with ``y`` when there are labels and ``meta`` (domain, options, classes, files).

    Raises:
        FormatError: (a ``ValueError``) a corrupt, truncated or mislabelled input, naming it.
        ValueError: an unknown domain or option, an existing ``out`` without ``overwrite``, an
            ``out`` that is, holds or is inside an input, or is not ours to replace.
        OSError: the output cannot be written (a full disk, a read-only folder); nothing
            partial is left.
    """
    import torch

    from .io.data import GraphDataset, save_collated, save_data
    reader_opts, conv_opts = _split_options(as_, options)
    p = pathlib.Path(path)
    dest = None
    if out is not None:  # before any work
        inputs = [p] + ([pathlib.Path(labels)] if labels is not None else [])
        dest = check_output(out, inputs, overwrite, dataset=not p.is_file())
    if p.is_file():
        if labels is not None:
            raise ValueError('labels= is for a folder of files; a single file has no label')
        data = _convert_one(as_, p, reader_opts, conv_opts)
        if out is not None:
            source = source_fingerprint(p.parent, [p], as_, options)
            dest = check_output(out, [p], overwrite, dataset=False)  # again: time has passed
            with write_errors(out):
                save_data(data, dest, source=source)
        return data
    if not p.is_dir():
        raise FormatError(p, 'no such file or folder')
    exclude = [labels] if labels is not None else []
    files = list_files(p, as_, exclude=exclude)
    if not files:
        raise FormatError(p, f'no {"/".join(_domain(as_).extensions)} files in this folder')
    if labels is not None:
        ys, classes = _labels_from_csv(pathlib.Path(labels), p, files)
    else:
        ys, classes = _labels_from_folders(p, files)
    data, slices = _convert_many(as_, files, reader_opts, conv_opts, int(workers), progress)
    if ys is not None:
        dtype = torch.float if any(isinstance(v, float) for v in ys) else torch.long
        data['y'] = torch.tensor(ys, dtype=dtype)
        slices['y'] = torch.arange(len(ys) + 1)
    meta = {'domain': as_, 'options': {k: _jsonable(v) for k, v in options.items()},
            'classes': classes, 'files': [f.relative_to(p).as_posix() for f in files]}
    if out is None:
        return GraphDataset.from_collated(data, slices, meta)
    source = source_fingerprint(p, files + exclude, as_, options)
    with write_errors(out):
        save_collated(data, slices, dest, meta, overwrite=overwrite, source=source)
    return GraphDataset(dest)


def source_fingerprint(root: PathLike, files: Sequence[PathLike], as_: str,
                       options: Dict[str, Any]) -> str:
    """The fingerprint of what a conversion is built from: the domain, the options and the
    input files' names (relative to ``root``) and bytes; kept in the output's marker."""
    from .io.atomic import Fingerprint
    root = pathlib.Path(root)
    fp = Fingerprint().update('convert', as_, {k: _jsonable(v) for k, v in options.items()})
    for f in files:
        f = pathlib.Path(f)
        try:
            name = f.relative_to(root).as_posix()
        except ValueError:
            name = f.name
        fp.update_file(f, name)
    return fp.hexdigest()


def check_output(out: PathLike, inputs: Sequence[PathLike], overwrite: bool,
                 dataset: bool) -> pathlib.Path:
    """Refuse an output that would destroy what the user has: a path that is, contains or is
    inside an input; an existing path without ``overwrite``; and, even with ``overwrite``,
    anything but a dataset folder (for a dataset) or a graph file (for a graph) that gdl-graphs
    wrote and that holds nothing else (:func:`gdl_graphs.io.atomic.check_output`). Returns
    where to write (a symbolic link to one of our outputs is followed)."""
    from .io.data import check_replaceable
    return check_replaceable(out, dataset=dataset, overwrite=overwrite, inputs=inputs)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(t) for t in v]
    return repr(v)


# --- the command line ---------------------------------------------------------------------

def parse_value(text: str) -> Any:
    """A ``--option KEY=VALUE`` value: int, float, bool, None, a comma tuple, or a string."""
    low = text.strip().lower()
    if low in ('true', 'yes', 'on'):
        return True
    if low in ('false', 'no', 'off'):
        return False
    if low in ('none', 'null'):
        return None
    if ',' in text:
        return tuple(parse_value(t) for t in text.split(','))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _options_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    opts: Dict[str, Any] = {}
    for name in ('kernel_size', 'dilation', 'padding', 'k', 'r', 'directed', 'channels_first',
                 'scale', 'repair'):
        val = getattr(args, name, None)
        if val is not None:
            opts[name] = val
    for item in args.option or []:
        if '=' not in item:
            raise ValueError(f'--option needs KEY=VALUE, got {item!r}')
        key, val = item.split('=', 1)
        opts[key.strip().replace('-', '_')] = parse_value(val)
    return opts


# how the library names an option in its messages -> what a shell user types instead
_CLI_WORDS = (
    ('pass repair=True to repair them', 'leave out --no-repair to repair them'),
    ('pass overwrite=True (--overwrite)', 'pass --overwrite'),
)


def error_line(command: str, exc: BaseException) -> str:
    """The one line the command prints for an error, in the command line's words."""
    msg = ' '.join(str(exc).split()) or type(exc).__name__
    for lib, cli in _CLI_WORDS:
        msg = msg.replace(lib, cli)
    return f'gdl-graphs {command}: error: {msg}'


def _run(command: str, fn: Callable[[], int]) -> int:
    try:
        return fn()
    except (ValueError, OSError, ImportError, EOFError) as exc:
        print(error_line(command, exc), file=sys.stderr)
        return 2


def _cmd_convert(args: argparse.Namespace) -> int:
    def go() -> int:
        opts = _options_from_args(args)
        res = convert(args.input, args.as_, args.output, labels=args.labels,
                      workers=args.workers, progress=not args.quiet, overwrite=args.overwrite,
                      **opts)
        if not args.quiet:
            n = len(res) if hasattr(res, 'slices') else 1
            print(f'wrote {args.output} ({n} graph{"s" if n != 1 else ""}, --as {args.as_})')
        return 0
    return _run('convert', go)


def _cmd_info(args: argparse.Namespace) -> int:
    def go() -> int:
        from .info import format_info, info
        print(format_info(info(args.path)))
        return 0
    return _run('info', go)


def _cmd_plot(args: argparse.Namespace) -> int:
    def go() -> int:
        from .viz import plot_file
        plot_file(args.path, args.output, feature=args.feature, index=args.index,
                  examples=args.examples, overwrite=args.overwrite)
        print(f'wrote {args.output}')
        return 0
    return _run('plot', go)


def add_subcommands(sub) -> None:
    """Register ``convert``, ``info`` and ``plot`` on the ``gdl-graphs`` parser."""
    p = sub.add_parser('convert', help='convert files or a folder of files to graphs',
                       description='Convert a file (-> OUT.pt, one Data) or a folder (-> a '
                                   'dataset folder in PyG processed layout) to graphs.')
    p.add_argument('input', help='a file or a folder of files')
    p.add_argument('-o', '--output', required=True, help='output .pt file or dataset folder')
    p.add_argument('--as', dest='as_', required=True, choices=tuple(DOMAINS),
                   help='the domain of the input')
    p.add_argument('--labels', help='a CSV of "file,label" rows (default: class subfolders)')
    p.add_argument('--workers', type=int, default=0, help='processes for a folder (default 0)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress bar, no summary')
    g = p.add_argument_group('domain options (each passed only when given)')
    g.add_argument('--kernel-size', type=int, help='grid: stencil size')
    g.add_argument('--dilation', type=int, help='grid: stencil dilation')
    g.add_argument('--padding', choices=('zeros', 'circular'), help='grid: boundary')
    g.add_argument('--channels-first', dest='channels_first', action='store_true', default=None,
                   help='grid: NPY images are [C, H, W] (default: guessed from the shape)')
    g.add_argument('--channels-last', dest='channels_first', action='store_false',
                   help='grid: NPY images are [H, W, C]')
    g.add_argument('--no-scale', dest='scale', action='store_false', default=None,
                   help='grid: keep integer pixel values (default: scale to [0, 1])')
    g.add_argument('--k', type=int, help='pointcloud: neighbours per point')
    g.add_argument('--r', type=float, help='pointcloud: neighbourhood radius')
    g.add_argument('--no-repair', dest='repair', action='store_false', default=None,
                   help='mesh: refuse defective meshes instead of repairing them')
    g.add_argument('--directed', action='store_true', default=None,
                   help='graph: an edge list is directed (default undirected)')
    g.add_argument('-O', '--option', action='append', metavar='KEY=VALUE',
                   help='any other converter option, e.g. -O kernel_size=5 (repeatable)')
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser('info', help='describe a converted graph or dataset')
    p.add_argument('path', help='a .pt graph file or a dataset folder')
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser('plot', help='draw a converted graph or dataset (needs matplotlib)')
    p.add_argument('path', help='a .pt graph file or a dataset folder')
    p.add_argument('-o', '--output', required=True, help='the picture (.png)')
    p.add_argument('--feature', help='node attribute or x column to colour by (name or index)')
    p.add_argument('--index', type=int, help='plot only this graph of a dataset')
    p.add_argument('--examples', type=int, default=16, help='graphs in a dataset grid')
    p.add_argument('--overwrite', action='store_true',
                   help='replace a picture this command wrote before')
    p.set_defaults(func=_cmd_plot)
