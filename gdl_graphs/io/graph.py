"""Graph readers: GraphML, GML, node-link JSON (through networkx) and edge lists.

Every reader returns a :class:`torch_geometric.data.Data`:

- nodes are numbered ``0..N-1`` in the file's order (an edge list whose node names are all
  non-negative integers keeps them as indices, so ``N = max + 1`` and isolated nodes count);
- an undirected graph gets both edge directions (a self-loop once), a directed one its edges;
- numeric node attributes present on every node become ``x`` ``[N, F]`` (attributes in sorted
  name order, a list-valued attribute contributing its length); numeric edge attributes present
  on every edge become ``edge_attr`` ``[E, F]``; other attributes are dropped;
- :func:`from_networkx_graph` does the same for a graph already in memory.
"""
from __future__ import annotations

import json
import numbers
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from .errors import FormatError, PathLike, check_file, describe, ext_of, read_text

GRAPH_EXTENSIONS = ('.graphml', '.gml', '.json', '.edgelist', '.edges', '.el', '.txt', '.tsv',
                    '.csv')
EDGE_LIST_EXTENSIONS = ('.edgelist', '.edges', '.el', '.txt', '.tsv', '.csv')


def _numeric_vector(v: Any) -> Optional[List[float]]:
    if isinstance(v, bool):
        return [float(v)]
    if isinstance(v, numbers.Real):
        return [float(v)]
    if isinstance(v, (list, tuple)) and v and all(isinstance(t, numbers.Real) for t in v):
        return [float(t) for t in v]
    return None


def _attr_matrix(dicts: Sequence[Dict[str, Any]]) -> Optional[torch.Tensor]:
    if not dicts:
        return None
    keys = sorted(set.intersection(*(set(d) for d in dicts)))
    cols = []
    for key in keys:
        vals = [_numeric_vector(d[key]) for d in dicts]
        if any(v is None for v in vals) or len({len(v) for v in vals}) != 1:
            continue
        cols.append(np.asarray(vals, dtype=np.float64))
    if not cols:
        return None
    mat = np.concatenate(cols, 1)
    if not np.isfinite(mat).all():
        raise ValueError('non-finite attribute values (nan or inf)')
    return torch.from_numpy(mat.astype(np.float32))


def from_networkx_graph(graph) -> Data:
    """A networkx graph -> ``Data`` (see the module docstring for the conventions)."""
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    src, dst, eattrs = [], [], []
    for u, v, attrs in graph.edges(data=True):
        src.append(index[u])
        dst.append(index[v])
        eattrs.append(attrs)
    n = len(nodes)
    if not graph.is_directed():
        rev = [i for i in range(len(src)) if src[i] != dst[i]]  # a self-loop once
        src, dst = src + [dst[i] for i in rev], dst + [src[i] for i in rev]
        eattrs = eattrs + [eattrs[i] for i in rev]
    edge_index = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    data = Data(edge_index=edge_index, num_nodes=n)
    x = _attr_matrix([graph.nodes[u] for u in nodes])
    if x is not None:
        data.x = x
    edge_attr = _attr_matrix(eattrs)
    if edge_attr is not None:
        data.edge_attr = edge_attr
    return data


def _nx_reader(path: PathLike, parse) -> Data:
    p = check_file(path)
    try:
        graph = parse(p)
        return from_networkx_graph(graph)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError(p, 'nested too deeply') from None
    except Exception as exc:  # networkx / XML / JSON parsers raise many kinds
        raise FormatError(p, f'cannot parse the graph ({describe(exc)})') from None


def read_graphml(path: PathLike) -> Data:
    import networkx as nx
    return _nx_reader(path, lambda p: nx.read_graphml(p))


def read_gml(path: PathLike) -> Data:
    import networkx as nx
    return _nx_reader(path, lambda p: nx.read_gml(p, label=None))


def read_node_link_json(path: PathLike) -> Data:
    """networkx's node-link JSON (``{"nodes": [...], "edges"|"links": [...]}``)."""
    import networkx as nx

    def parse(p):
        obj = json.loads(read_text(p))
        if not isinstance(obj, dict) or 'nodes' not in obj:
            raise FormatError(p, "not node-link JSON (no 'nodes' list)")
        key = 'edges' if 'edges' in obj else 'links'
        if not isinstance(obj['nodes'], list) or not isinstance(obj.get(key, []), list):
            raise FormatError(p, f"not node-link JSON ('nodes' and '{key}' must be lists)")
        obj.setdefault(key, [])
        try:
            return nx.node_link_graph(obj, edges=key)
        except TypeError:  # networkx < 3.4
            return nx.node_link_graph(obj, link=key)
    return _nx_reader(path, parse)


def read_edge_list(path: PathLike, directed: bool = False,
                   delimiter: Optional[str] = 'auto') -> Data:
    """An edge list: one edge ``u v [attributes...]`` per line (``#`` or ``%`` comments).

    Fields are separated by whitespace, or by commas/tabs/semicolons (sniffed from the first
    line). A CSV header (``source,target,...``) is skipped. Nodes are integers ``>= 0``
    (kept as indices) or names (numbered in order of appearance). Extra numeric columns become
    ``edge_attr``. Undirected lists (the default) get both directions, duplicates dropped.
    """
    from .errors import _split, sniff_delimiter
    text = read_text(path)
    rows = [(k, ln.strip()) for k, ln in enumerate(text.splitlines(), 1)]
    rows = [(k, ln) for k, ln in rows if ln and not ln.startswith(('#', '%'))]
    if rows and delimiter == 'auto':
        delimiter = sniff_delimiter(rows[0][1])
    elif delimiter == 'auto':
        delimiter = None
    if rows:
        head = [t.lower() for t in _split(rows[0][1], delimiter)]
        if len(head) >= 2 and head[0] in ('source', 'src', 'from', 'u', 'node1') \
                and head[1] in ('target', 'dst', 'to', 'v', 'node2'):
            rows = rows[1:]
    if not rows:
        raise FormatError(path, 'no edges (the edge list is empty)')
    names: List[str] = []
    attrs: List[List[float]] = []
    ncol = None
    for k, line in rows:
        toks = _split(line, delimiter)
        if len(toks) < 2 or not toks[0] or not toks[1]:
            raise FormatError(path, f'line {k}: an edge needs two node names, got {line[:60]!r}')
        if ncol is None:
            ncol = len(toks)
        elif len(toks) != ncol:
            raise FormatError(path, f'line {k} has {len(toks)} fields, expected {ncol}')
        names += toks[:2]
        try:
            vals = [float(t) for t in toks[2:]]
        except ValueError:
            raise FormatError(path, f'line {k}: an edge attribute is not a number') from None
        if not all(np.isfinite(vals)):
            raise FormatError(path, f'line {k}: a non-finite edge attribute')
        attrs.append(vals)
    if all(t.isdigit() for t in names):
        ids = np.asarray([int(t) for t in names], dtype=np.int64) if names else \
            np.zeros(0, np.int64)
        if ids.size and ids.max() > 10 ** 9:
            raise FormatError(path, f'node index {int(ids.max())} is implausibly large')
        num_nodes = int(ids.max()) + 1 if ids.size else 0
    else:
        index: Dict[str, int] = {}
        ids = np.asarray([index.setdefault(t, len(index)) for t in names], dtype=np.int64)
        num_nodes = len(index)
    ei = ids.reshape(-1, 2).T
    ea = np.asarray(attrs, dtype=np.float64).reshape(ei.shape[1], -1)
    if not directed:
        ei = np.concatenate([ei, ei[::-1]], 1)
        ea = np.concatenate([ea, ea], 0)
        keep = np.unique(ei[0] * max(num_nodes, 1) + ei[1], return_index=True)[1]
        ei, ea = ei[:, keep], ea[keep]
    data = Data(edge_index=torch.from_numpy(np.ascontiguousarray(ei)), num_nodes=num_nodes)
    if ea.shape[1]:
        data.edge_attr = torch.from_numpy(ea.astype(np.float32))
    return data


def read_graph(path: PathLike, directed: Optional[bool] = None) -> Data:
    """Read a graph (``.graphml``, ``.gml``, ``.json`` node-link, or an edge list ``.edgelist``,
    ``.edges``, ``.el``, ``.txt``, ``.tsv``, ``.csv``) -> ``Data``.

    ``directed`` applies to edge lists (default undirected); the other formats say themselves.

    Raises:
        FormatError: (a ``ValueError``) for a corrupt, truncated or mislabelled file.
    """
    ext = ext_of(path)
    if directed is not None and ext not in EDGE_LIST_EXTENSIONS:
        raise ValueError(f'directed= applies to edge lists only; {ext} files say whether '
                         f'they are directed')
    if ext == '.graphml':
        data = read_graphml(path)
    elif ext == '.gml':
        data = read_gml(path)
    elif ext == '.json':
        data = read_node_link_json(path)
    elif ext in EDGE_LIST_EXTENSIONS:
        data = read_edge_list(path, directed=bool(directed))
    else:
        raise FormatError(path, f'unknown graph extension {ext!r}; use one of '
                                f'{GRAPH_EXTENSIONS}')
    return data
