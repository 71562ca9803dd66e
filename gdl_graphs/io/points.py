"""Point cloud readers: XYZ, CSV, NPY and PLY (ascii, binary little- and big-endian).

Every reader returns ``(pos, x)``: float32 positions ``[N, 3]`` and the remaining per-point
columns as float32 features ``[N, F]`` (normals, colours, intensities), or ``None``.

- XYZ: whitespace-separated rows ``x y z [features...]``.
- CSV: comma/semicolon/tab separated; with a header, the columns named ``x, y, z`` are the
  positions (any order) and the others features; without one, the first three columns.
- NPY: an array ``[N, 3 + F]``.
- PLY: the ``vertex`` element's ``x, y, z`` and its other scalar properties; faces are ignored
  (read a mesh with :func:`gdl_graphs.io.read_mesh`).
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from .errors import FormatError, PathLike, check_file, ext_of, read_npy, read_table

POINT_EXTENSIONS = ('.xyz', '.csv', '.npy', '.ply', '.txt')

_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1', 'short': 'i2', 'int16': 'i2',
    'ushort': 'u2', 'uint16': 'u2', 'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8',
}


def _split_points(path: PathLike, table: np.ndarray, names: Optional[List[str]]
                  ) -> Tuple[Tensor, Optional[Tensor]]:
    if table.ndim != 2 or table.shape[1] < 3:
        raise FormatError(path, f'a point cloud needs at least 3 columns (x, y, z), '
                                f'got shape {list(table.shape)}')
    if table.shape[0] == 0:
        raise FormatError(path, 'no points')
    cols = list(range(table.shape[1]))
    pos_cols = [0, 1, 2]
    if names is not None:
        lower = [n.strip().lower() for n in names]
        if all(c in lower for c in 'xyz'):
            pos_cols = [lower.index(c) for c in 'xyz']
    feat_cols = [c for c in cols if c not in pos_cols]
    table = np.asarray(table, dtype=np.float64)
    if not np.isfinite(table).all():
        raise FormatError(path, 'the points hold non-finite values (nan or inf)')
    pos = torch.from_numpy(np.ascontiguousarray(table[:, pos_cols], dtype=np.float32))
    x = torch.from_numpy(np.ascontiguousarray(table[:, feat_cols], dtype=np.float32)) \
        if feat_cols else None
    return pos, x


def read_points_table(path: PathLike) -> Tuple[Tensor, Optional[Tensor]]:
    """XYZ / CSV / TXT point table."""
    header, table = read_table(path, delimiter=None if ext_of(path) == '.xyz' else 'auto',
                               min_columns=3)
    return _split_points(path, table, header)


def read_points_npy(path: PathLike) -> Tuple[Tensor, Optional[Tensor]]:
    arr = read_npy(path)
    if arr.ndim != 2:
        raise FormatError(path, f'a point cloud array must be [N, 3 + F], '
                                f'got shape {list(arr.shape)}')
    return _split_points(path, arr, None)


def _ply_header(path: PathLike, data: bytes):
    if not data.startswith(b'ply'):
        raise FormatError(path, "not a PLY file (it does not start with 'ply')")
    end = re.search(rb'end_header[ \t]*\r?\n', data)
    if end is None:
        raise FormatError(path, "truncated PLY header (no 'end_header')")
    try:
        lines = data[:end.start()].decode('ascii').splitlines()[1:]
    except UnicodeDecodeError:
        raise FormatError(path, 'the PLY header is not ASCII text') from None
    fmt, elements = None, []
    for k, line in enumerate(lines, 2):
        tok = line.split()
        if not tok or tok[0] in ('comment', 'obj_info'):
            continue
        if tok[0] == 'format' and len(tok) >= 2:
            fmt = tok[1]
        elif tok[0] == 'element' and len(tok) == 3 and tok[2].isdigit():
            elements.append([tok[1], int(tok[2]), []])
        elif tok[0] == 'property' and elements and len(tok) >= 3:
            if tok[1] == 'list':
                if len(tok) != 5 or tok[2] not in _PLY_TYPES or tok[3] not in _PLY_TYPES:
                    raise FormatError(path, f'header line {k}: bad list property {line!r}')
                elements[-1][2].append((tok[4], 'list', tok[2], tok[3]))
            elif tok[1] in _PLY_TYPES and len(tok) == 3:
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]], None, None))
            else:
                raise FormatError(path, f'header line {k}: unknown property type {tok[1]!r}')
        else:
            raise FormatError(path, f'header line {k}: cannot parse {line[:60]!r}')
    if fmt not in ('ascii', 'binary_little_endian', 'binary_big_endian'):
        raise FormatError(path, f'unknown PLY format {fmt!r}')
    return fmt, elements, end.end()


def read_ply_vertices(path: PathLike) -> Tuple[List[str], np.ndarray]:
    """The names and values ``[N, P]`` of the scalar properties of the PLY ``vertex`` element."""
    p = check_file(path)
    data = p.read_bytes()
    fmt, elements, offset = _ply_header(p, data)
    names = [e[0] for e in elements]
    if 'vertex' not in names:
        raise FormatError(p, "no 'vertex' element in the PLY header")
    if fmt == 'ascii':
        lines = data[offset:].decode('ascii', errors='replace').splitlines()
        line = 0
        for name, count, props in elements:
            if name == 'vertex':
                if any(pr[1] == 'list' for pr in props):
                    raise FormatError(p, 'list properties on vertices are not supported')
                rows = [ln.split() for ln in lines[line:line + count]]
                if len(rows) < count:
                    raise FormatError(p, f'truncated: the header declares {count} vertices, '
                                         f'the file holds {len(rows)}')
                bad = next((i for i, r in enumerate(rows) if len(r) != len(props)), None)
                if bad is not None:
                    raise FormatError(p, f'vertex {bad} has {len(rows[bad])} values, '
                                         f'expected {len(props)}')
                try:
                    arr = np.array(rows, dtype=np.float64).reshape(count, len(props))
                except ValueError:
                    raise FormatError(p, 'a vertex value is not a number') from None
                return [pr[0] for pr in props], arr
            line += count
    order = '<' if fmt == 'binary_little_endian' else '>'
    for name, count, props in elements:
        if any(pr[1] == 'list' for pr in props):
            if name == 'vertex':
                raise FormatError(p, 'list properties on vertices are not supported')
            offset = _skip_list_element(p, data, offset, count, props, order)
            continue
        dtype = np.dtype([(f'p{i}', order + pr[1]) for i, pr in enumerate(props)])
        need = dtype.itemsize * count
        if name == 'vertex':
            if len(data) - offset < need:
                have = (len(data) - offset) // max(dtype.itemsize, 1)
                raise FormatError(p, f'truncated: the header declares {count} vertices, '
                                     f'the file holds {have}')
            rec = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            arr = np.stack([rec[f'p{i}'].astype(np.float64) for i in range(len(props))], 1) \
                if props else np.zeros((count, 0))
            return [pr[0] for pr in props], arr
        offset += need
    raise AssertionError('unreachable')  # pragma: no cover


def _skip_list_element(path, data: bytes, offset: int, count: int, props, order: str) -> int:
    for _ in range(count):
        for name, kind, count_t, item_t in props:
            if kind != 'list':
                offset += np.dtype(kind).itemsize
                continue
            ct = np.dtype(order + _PLY_TYPES[count_t])
            if offset + ct.itemsize > len(data):
                raise FormatError(path, 'truncated PLY body')
            n = int(np.frombuffer(data, ct, 1, offset)[0])
            if n < 0:
                raise FormatError(path, f'negative list length {n}')
            offset += ct.itemsize + n * np.dtype(_PLY_TYPES[item_t]).itemsize
    if offset > len(data):
        raise FormatError(path, 'truncated PLY body')
    return offset


def read_points_ply(path: PathLike) -> Tuple[Tensor, Optional[Tensor]]:
    names, arr = read_ply_vertices(path)
    if not all(c in names for c in 'xyz'):
        raise FormatError(path, f"the PLY vertices have no x, y, z properties (they have "
                                f"{names})")
    return _split_points(path, arr, names)


def read_points(path: PathLike) -> Tuple[Tensor, Optional[Tensor]]:
    """Read a point cloud (``.xyz``, ``.csv``, ``.txt``, ``.npy``, ``.ply``) ->
    ``(pos [N, 3], x [N, F] or None)``, float32.

    Raises:
        FormatError: (a ``ValueError``) for a corrupt, truncated or mislabelled file.
    """
    ext = ext_of(path)
    if ext in ('.xyz', '.csv', '.txt'):
        return read_points_table(path)
    if ext == '.npy':
        return read_points_npy(path)
    if ext == '.ply':
        return read_points_ply(path)
    raise FormatError(path, f'unknown point cloud extension {ext!r}; use one of '
                            f'{POINT_EXTENSIONS}')
