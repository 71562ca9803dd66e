"""What a converted file holds: ``gdl-graphs info OUT`` and :func:`info`.

For one graph: nodes, edges, every attribute with its shape and dtype, and the structure. For a
dataset: the number of graphs, per-graph statistics (nodes and edges: min, mean, max), the
attributes of one graph, the structures found, and the labels (classes and their counts).

Structures (:func:`structure_name`): ``lattice`` (an ``image_to_graph`` grid), ``mesh with
gauges`` (a ``mesh_to_graph`` mesh with frames and transport), ``mesh`` (faces only), ``path``
(sequences), ``complete``, ``edgeless`` (sets), ``point cloud`` (any other graph with
``pos``, e.g. a k-NN graph) and ``general``. A structure tag on
``edge_index`` is used when present; otherwise the structure is read from the attributes and
the edges themselves (tags do not survive ``torch.save``).
"""
from __future__ import annotations

import pathlib
from typing import Any, Dict, List, Optional, Union

import torch
from torch import Tensor

__all__ = ['info', 'format_info', 'structure_name']

PathLike = Union[str, pathlib.Path]


def _edges(data) -> Tensor:
    ei = data.get('edge_index') if hasattr(data, 'get') else None
    return ei


def structure_name(data) -> str:
    """The structure of one graph (see the module docstring)."""
    from .core import plain, structure_of
    keys = set(data.keys())
    ei = _edges(data)
    tag = structure_of(ei) if ei is not None else None
    if 'face' in keys:
        return 'mesh with gauges' if {'frame', 'connection'} <= keys else 'mesh'
    if tag is not None:
        return tag.kind
    if 'lattice_shape' in keys:
        return 'lattice'
    n = int(data.num_nodes or 0)
    if ei is None or ei.numel() == 0:
        return 'edgeless'
    ei = plain(ei)
    src, dst = ei[0], ei[1]
    e = int(src.numel())
    if n > 1 and e == n - 1 and bool((dst == src + 1).all()):
        return 'path'
    if 'time' in keys and bool((dst == src + 1).all()):
        return 'path'
    off = int((src != dst).sum())
    if n > 1 and off == n * (n - 1):
        pairs = torch.unique(src * n + dst)
        if int((pairs // n != pairs % n).sum()) == n * (n - 1):
            return 'complete'
    if 'pos' in keys:
        return 'point cloud'
    return 'general'


def _attrs(data) -> Dict[str, str]:
    out = {}
    for key in sorted(data.keys()):
        v = data[key]
        if isinstance(v, Tensor):
            dtype = str(v.dtype).replace('torch.', '')
            out[key] = f'{dtype} {list(v.shape)}'
        elif isinstance(v, (int, float, str, bool)):
            out[key] = f'{type(v).__name__} {v!r}'
        elif isinstance(v, (list, tuple)):
            out[key] = f'{type(v).__name__} of {len(v)}'
        else:
            out[key] = type(v).__name__
    return out


def _stats(values: List[int]) -> Dict[str, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return {'min': int(t.min()), 'mean': round(float(t.mean()), 2), 'max': int(t.max())}


def _sizes_from_slices(obj, n: int):
    """Nodes and edges per graph of an InMemoryDataset, from its slices (no copies)."""
    slices = getattr(obj, 'slices', None)
    data = getattr(obj, '_data', None)
    if not isinstance(slices, dict) or data is None or getattr(obj, '_indices', None) is not None:
        return None, None
    node_key = next((k for k in ('x', 'pos', 'normal', 'time') if k in slices), None)
    if node_key is None:
        return None, None
    nodes = (slices[node_key][1:] - slices[node_key][:-1]).tolist()
    if 'edge_index' in slices:
        edges = (slices['edge_index'][1:] - slices['edge_index'][:-1]).tolist()
    else:
        edges = [0] * n
    return nodes, edges


def info(path_or_obj: Any, max_structure_checks: int = 200) -> Dict[str, Any]:
    """Describe a ``.pt`` graph file, a dataset folder, a ``Data`` or a dataset, as a dict.

    Raises:
        FormatError: (a ``ValueError``) when the file is not a loadable graph or dataset.
    """

    from .io.atomic import read_marker
    from .io.data import load
    obj = load(path_or_obj) if isinstance(path_or_obj, (str, pathlib.Path)) else path_or_obj
    where = str(path_or_obj) if isinstance(path_or_obj, (str, pathlib.Path)) else None
    out = _info(obj, where, max_structure_checks)
    marker = read_marker(where) if where is not None else None
    if marker is not None and isinstance(marker.get('fingerprint'), str):
        out['source'] = marker['fingerprint']  # of what it was built from (io.atomic)
    return out


def _info(obj: Any, where: Optional[str], max_structure_checks: int) -> Dict[str, Any]:
    from torch_geometric.data.data import BaseData
    if isinstance(obj, BaseData):
        return {'path': where, 'kind': 'graph', 'structure': structure_name(obj),
                'num_nodes': int(obj.num_nodes or 0),
                'num_edges': int(_edges(obj).size(1)) if _edges(obj) is not None else 0,
                'attributes': _attrs(obj)}
    n = len(obj)
    if n == 0:
        return {'path': where, 'kind': 'dataset', 'num_graphs': 0}
    nodes, edges = _sizes_from_slices(obj, n)
    nodes_l: List[int] = []
    edges_l: List[int] = []
    structures: Dict[str, int] = {}
    for i in range(n):
        if nodes is None or i < max_structure_checks:
            d = obj.get(i) if hasattr(obj, 'get') else obj[i]
        if nodes is None:
            nodes_i, ei = int(d.num_nodes or 0), _edges(d)
            edges_i = int(ei.size(1)) if ei is not None else 0
            nodes_l.append(nodes_i)
            edges_l.append(edges_i)
        if i < max_structure_checks:
            s = structure_name(d)
            structures[s] = structures.get(s, 0) + 1
        elif nodes is not None:
            break
    if nodes is None:
        nodes, edges = nodes_l, edges_l
    first = obj.get(0) if hasattr(obj, 'get') else obj[0]
    out: Dict[str, Any] = {
        'path': where, 'kind': 'dataset', 'num_graphs': n,
        'nodes': _stats(nodes), 'edges': _stats(edges), 'structures': structures,
        'structures_checked': min(n, max_structure_checks), 'attributes': _attrs(first)}
    meta = getattr(obj, 'meta', {}) or {}
    if meta.get('domain'):
        out['domain'] = meta['domain']
    if meta.get('options'):
        out['options'] = meta['options']
    data = getattr(obj, '_data', None)
    y = data.get('y') if data is not None and hasattr(data, 'get') else None
    if isinstance(y, Tensor) and y.numel() == n:
        classes = list(meta.get('classes') or [])
        if y.is_floating_point():
            out['labels'] = {'kind': 'regression', 'min': float(y.min()),
                             'max': float(y.max())}
        else:
            vals, counts = torch.unique(y.view(-1), return_counts=True)
            names = [classes[int(v)] if 0 <= int(v) < len(classes) else str(int(v))
                     for v in vals]
            out['labels'] = {'kind': 'classes', 'counts': dict(zip(names, counts.tolist()))}
    return out


def format_info(d: Dict[str, Any]) -> str:
    """The text ``gdl-graphs info`` prints."""
    lines = []
    head = d.get('path') or '(in memory)'
    if d['kind'] == 'graph':
        lines.append(f'{head}: one graph, structure {d["structure"]}')
        lines.append(f'  nodes: {d["num_nodes"]}   edges: {d["num_edges"]}')
    else:
        lines.append(f'{head}: dataset of {d["num_graphs"]} graphs'
                     + (f' (--as {d["domain"]})' if d.get('domain') else ''))
        if d['num_graphs'] == 0:
            return '\n'.join(lines)
        for what in ('nodes', 'edges'):
            s = d[what]
            lines.append(f'  {what} per graph: min {s["min"]}  mean {s["mean"]}  max {s["max"]}')
        st = ', '.join(f'{k} ({v})' for k, v in sorted(d['structures'].items()))
        lines.append(f'  structure: {st}  [{d["structures_checked"]} graphs checked]')
        if d.get('options'):
            lines.append('  options: ' + ', '.join(f'{k}={v!r}' for k, v in
                                                   d['options'].items()))
        lab = d.get('labels')
        if lab and lab['kind'] == 'classes':
            lines.append(f'  labels: {len(lab["counts"])} classes: ' + ', '.join(
                f'{k} ({v})' for k, v in lab['counts'].items()))
        elif lab:
            lines.append(f'  labels: regression, from {lab["min"]:g} to {lab["max"]:g}')
    lines.append('  attributes' + (' (of graph 0)' if d['kind'] == 'dataset' else '') + ':')
    width = max((len(k) for k in d['attributes']), default=0)
    for k, v in d['attributes'].items():
        lines.append(f'    {k:<{width}}  {v}')
    if d.get('source'):
        lines.append(f'  built from: {d["source"]} (fingerprint of the inputs and options)')
    return '\n'.join(lines)
