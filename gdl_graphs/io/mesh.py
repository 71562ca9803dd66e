"""Triangle mesh files: OBJ, OFF and PLY (ascii, binary little- and big-endian) parsed here;
STL (ascii, binary), glTF and GLB through trimesh.

Why OBJ/OFF/PLY stay parsed here (measured with trimesh 5.2): trimesh silently
misreads legal files these parsers read correctly: a binary PLY whose faces mix polygon sizes
(bogus triangles made of two polygons' vertices), an OBJ face with negative indices in
``v/vt/vn`` form (index -1 kept), an OBJ face mixing index forms (wrong faces), and it raises
a numpy TypeError on OFF files mixing polygon sizes. meshio reads no glTF and OFF triangles
only. trimesh is used for the formats it reads well. Speed: an OBJ of the usual shape (ascii;
``v``, ``f``, ``vt``/``vn``, comments and the ignored keywords at line starts; positive indices)
is tokenised by numpy, with floats parsed by Python's correctly rounded ``float``; any other OBJ
goes through the line-by-line parser, which gives the same results (a property test checks it)
and the error messages. ``scripts/bench.py --only mesh`` compares it with trimesh.

:func:`read_mesh` returns ``(pos [N, 3], face [3, F])`` in PyG's layout, ready for
:func:`gdl_graphs.domains.mesh.mesh_to_graph`. Polygons are triangulated as fans
``(v0, v_k, v_k+1)`` (exact for convex polygons, the usual case). Texture coordinates, normals,
colours, groups and materials are ignored. A file that is not a mesh (or has no faces), a
face with fewer than three vertices, a vertex index out of range, or a truncated file raises
:class:`gdl_graphs.io.errors.FormatError` (a ``ValueError``) whose message is
``"<file>: <problem>"``.

:func:`write_mesh` writes the same formats (PLY ascii or binary little-endian), atomically.
"""
from __future__ import annotations

import itertools
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .errors import FormatError, PathLike, atomic_path, check_file, describe, ext_of

MESH_FORMATS = ('obj', 'off', 'ply', 'stl', 'glb', 'gltf')
_TRIMESH = ('stl', 'glb', 'gltf')  # read and written through trimesh

__all__ = ['read_mesh', 'write_mesh', 'triangulate', 'MESH_FORMATS']

_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1', 'short': 'i2', 'int16': 'i2',
    'ushort': 'u2', 'uint16': 'u2', 'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8',
}


def triangulate(polygons: Sequence[Sequence[int]]) -> np.ndarray:
    """Fan-triangulate polygons (lists of >= 3 vertex indices) -> ``[F, 3]`` int64."""
    sizes = np.fromiter(map(len, polygons), dtype=np.int64, count=len(polygons))
    if sizes.size and sizes.min() < 3:
        raise ValueError(f'a face has {sizes.min()} vertices; faces need at least 3')
    corners = np.fromiter(itertools.chain.from_iterable(polygons), dtype=np.int64,
                          count=int(sizes.sum()))
    return _fan(corners, sizes)


def _fan(corners: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The fans ``(v_0, v_k, v_k+1)`` of polygons given as their concatenated corners and the
    number of corners of each, in order -> ``[F, 3]``."""
    first, per = np.cumsum(sizes) - sizes, sizes - 2
    o = np.repeat(first, per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per) + 1
    return np.stack([corners[o], corners[o + k], corners[o + k + 1]], 1)


def _finish(path, pos: np.ndarray, polys, dtype) -> Tuple[Tensor, Tensor]:
    if pos.shape[0] == 0:
        raise FormatError(path, 'no vertices: not a mesh file?')
    if not np.isfinite(pos).all():
        r = int(np.nonzero(~np.isfinite(pos).all(1))[0][0])
        raise FormatError(path, f'vertex {r} has a non-finite coordinate (nan or inf)')
    if isinstance(polys, np.ndarray):
        face = polys
    else:
        short = next((k for k, p in enumerate(polys) if len(p) < 3), None)
        if short is not None:
            raise FormatError(path, f'face {short} has {len(polys[short])} vertices; a face '
                                    f'needs at least 3')
        try:
            face = triangulate(polys)
        except OverflowError:
            big = max((abs(int(v)) for p in polys for v in p), default=0)
            raise FormatError(path, f'face index out of range: vertex {str(big)[:24]} '
                                    f'referenced, but the file has {pos.shape[0]} '
                                    f'vertices') from None
    face = np.asarray(face, dtype=np.int64).reshape(-1, 3)
    if face.size == 0:
        raise FormatError(path, 'no faces: a point cloud, not a mesh? (read it with '
                                'gdl_graphs.io.read_points)')
    if face.size:
        lo, hi = int(face.min()), int(face.max())
        if lo < 0 or hi >= pos.shape[0]:
            bad = lo if lo < 0 else hi
            raise FormatError(path, f'face index out of range: vertex {bad} referenced, but '
                                    f'the file has {pos.shape[0]} vertices')
    return (torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64)).to(dtype),
            torch.from_numpy(np.ascontiguousarray(face.T)))


def _text(path, data: Optional[bytes] = None) -> str:
    """The text of an OBJ/OFF file. Only ASCII carries meaning in these formats (keywords,
    numbers, indices); other bytes may appear in comments and names, in any encoding: UTF-8 is
    decoded as such, anything else byte for byte (Latin-1), so a ``# café`` written by an
    old exporter is read, and a non-ASCII byte in a number is that line's error."""
    data = check_file(path).read_bytes() if data is None else data
    if b'\x00' in data:
        raise FormatError(path, 'binary data in a text mesh file (a NUL byte): not an '
                                'OBJ/OFF file?')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError:
        return data.decode('latin-1')


# --------------------------------------------------------------------------- OBJ


_OBJ_SKIP = frozenset(('vt', 'vn', 'vp', 'g', 'o', 's', 'l', 'p', 'usemtl', 'mtllib', 'cstype',
                       'deg', 'curv', 'surf', 'parm', 'end', 'mg', 'bevel', 'c_interp',
                       'd_interp', 'lod', 'shadow_obj', 'trace_obj', 'vertex'))
_OBJ_SKIP_BYTES = frozenset(k.encode() for k in _OBJ_SKIP)
_OBJ_SLASH = re.compile(rb'/[^ \t\r\n]*')
_POWERS_OF_TEN = 10.0 ** np.arange(16)


def _is_gap(c: np.ndarray) -> np.ndarray:
    """Which bytes separate tokens: space, tab, newline, carriage return."""
    return (c == 32) | (c == 9) | (c == 10) | (c == 13)


def _obj_tokens(buf: np.ndarray, lines: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whitespace-separated tokens of ``lines`` newline-ended lines in ``buf`` (uint8): start
    and end offsets of every token and the number of tokens on each line."""
    edge = np.diff(np.concatenate([[True], _is_gap(buf), [True]]).astype(np.int8))
    first, stop = np.flatnonzero(edge == -1), np.flatnonzero(edge == 1)
    line = np.searchsorted(np.flatnonzero(buf == 10), first)
    return first, stop, np.bincount(line, minlength=lines)[:lines]


def _obj_ints(buf: np.ndarray, first: np.ndarray, stop: np.ndarray,
              block: int = 1 << 17) -> Optional[np.ndarray]:
    """The tokens ``buf[first:stop]`` as int64 when every one is 1 to 15 decimal digits
    (exact in float64 along the way), else None. Blocks of tokens bound the per-digit index
    arrays; int32 offsets (``buf`` is under 2 GiB here)."""
    out = np.empty(first.size, dtype=np.int64)
    for s in range(0, first.size, block):
        lo, hi = first[s:s + block], stop[s:s + block]
        size = (hi - lo).astype(np.int32)
        if size.max() > 15:
            return None
        tok = np.repeat(np.arange(lo.size, dtype=np.int32), size)
        at = np.arange(tok.size, dtype=np.int32)
        at += np.repeat((lo - (np.cumsum(size) - size)).astype(np.int32), size)
        digit = buf[at] - np.uint8(48)                    # wraps below '0': > 9 too
        if digit.max() > 9:
            return None
        place = hi.astype(np.int32)[tok]
        place -= at + 1
        value = _POWERS_OF_TEN[place]
        value *= digit
        out[s:s + block] = np.bincount(tok, value, minlength=lo.size)
    return out


def _drop_slash_suffixes(text: bytes, step: int = 1 << 20) -> np.ndarray:
    """``text`` without the ``/...`` tail of every token, by blocks of whole lines (a regex
    over the whole text holds a piece object per match at once)."""
    parts, s = [], 0
    while s < len(text):
        e = text.find(b'\n', s + step)
        e = len(text) if e < 0 else e + 1
        parts.append(_OBJ_SLASH.sub(b'', text[s:e]))
        s = e
    return np.frombuffer(b''.join(parts), np.uint8)


def _read_obj_fast(data: bytes) -> Optional[tuple]:
    """Vectorised OBJ reading of the common file: ascii; lines that start with ``v``, ``f``,
    ``#`` or an ignored keyword; positive indices; no comment after the data of a ``v`` or
    ``f`` line. Returns ``(pos [N, 3], face [F, 3])``, or None for anything else, which the
    line-by-line parser then reads (same results, its error messages). Same semantics: the
    first three values of a vertex line, the index before the first ``/`` of a face corner,
    fan triangulation."""
    if not data.isascii():
        return None
    n = len(data)
    a = np.empty(n + 3, dtype=np.uint8)
    a[:n], a[n:] = np.frombuffer(data, np.uint8), 10
    if (((a - 11) <= 1) | ((a - 28) <= 3)).any():
        return None  # \x0b \x0c \x1c-\x1f: line breaks or spaces to the str parser
    if b'\r' in data and data.count(b'\r') != data.count(b'\r\n'):
        return None  # lone \r line breaks
    start = np.concatenate([[0], np.flatnonzero(a[:n] == 10) + 1])
    c0, c1, c2 = a[start], a[start + 1], a[start + 2]
    is_v, is_f = (c0 == 118) & _is_gap(c1), (c0 == 102) & _is_gap(c1)
    known = is_v | is_f | (c0 == 35) | ((c0 == 118) & np.isin(c1, (116, 110, 112))
                                        & _is_gap(c2))
    for i in np.flatnonzero(~known).tolist():
        line = data[start[i]:start[i + 1] - 1] if i + 1 < start.size else data[start[i]:]
        head = line.split(None, 1)
        if head and (head[0] not in _OBJ_SKIP_BYTES or line[:1].isspace()):
            return None  # an unknown keyword or an indented line
    a[start[is_v | is_f]] = 32  # the keywords become spaces: only values are left
    kind = np.repeat(is_v.astype(np.int8) - is_f, np.diff(np.append(start, n + 1)))
    v, f = a[:n + 1][kind == 1], a[:n + 1][kind == -1]
    if not v.size or (v == 35).any() or (f == 35).any():
        return None
    first, stop, sizes = _obj_tokens(v, int(is_v.sum()))
    if sizes.min() < 3:
        return None
    try:
        values = np.array(list(map(float, v.tobytes().split())), dtype=np.float64)
    except ValueError:
        return None
    pos = values[(np.cumsum(sizes) - sizes)[:, None] + np.arange(3)]
    if not f.size:
        return pos, []
    if (f == 47).any():  # a corner's index is what comes before its first '/'
        f = _drop_slash_suffixes(f.tobytes())
    first, stop, sizes = _obj_tokens(f, int(is_f.sum()))
    idx = _obj_ints(f, first, stop)
    if idx is None or sizes.min() < 3 or idx.min() < 1 or idx.max() > pos.shape[0]:
        return None  # the line-by-line parser names the short face or the index out of range
        # (with its line, as written) and handles relative indices
    return pos, _fan(idx - 1, sizes)


def _read_obj(path, dtype) -> Tuple[Tensor, Tensor]:
    data = check_file(path).read_bytes()
    fast = None if b'\x00' in data else _read_obj_fast(data.removeprefix(b'\xef\xbb\xbf'))
    if fast is not None:
        return _finish(path, *fast, dtype)
    return _read_obj_lines(path, _text(path, data), dtype)


def _read_obj_lines(path, text: str, dtype) -> Tuple[Tensor, Tensor]:
    """The line-by-line OBJ parser: every file the fast path declines (relative indices,
    comments after data, odd line breaks, unicode), and the error messages."""
    verts: List[List[float]] = []
    polys: List[List[int]] = []
    high: Optional[Tuple[int, int]] = None  # (first line, index) of the largest index written
    unknown = 0
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        tok = line.split()
        key = tok[0]
        if key == 'v':
            try:
                if len(tok) < 4:
                    raise ValueError
                verts.append([float(t) for t in tok[1:4]])
            except ValueError:
                raise FormatError(path, f"line {k}: a vertex needs three numbers ('v x y z'), "
                                        f"got {line[:60]!r}") from None
        elif key == 'f':
            idx = []
            for t in tok[1:]:
                try:
                    i = int(t.split('/', 1)[0])
                except ValueError:
                    raise FormatError(path, f'line {k}: {t!r} is not a vertex index') from None
                if i == 0:
                    raise FormatError(path, f'line {k}: vertex index 0 (OBJ indices start at 1)')
                if i < 0 and len(verts) + i < 0:
                    raise FormatError(path, f'line {k}: face index out of range: relative vertex '
                                            f'{i} referenced, but only {len(verts)} vertices '
                                            f'come before it')
                if i > 0 and (high is None or i > high[1]):
                    high = (k, i)
                idx.append(i - 1 if i > 0 else len(verts) + i)
            if len(idx) < 3:
                raise FormatError(path, f'line {k}: a face needs at least 3 vertices, got '
                                        f'{len(idx)}')
            polys.append(idx)
        elif key in _OBJ_SKIP:
            continue
        else:
            unknown += 1
            if unknown >= 5 and not verts:
                raise FormatError(path, f"line {k}: unknown keyword {key[:20]!r}: not an OBJ "
                                        f"file?")
    if not verts:
        raise FormatError(path, "no vertex lines ('v x y z'): not an OBJ mesh?")
    if high is not None and high[1] > len(verts):  # as written: OBJ counts from 1
        raise FormatError(path, f'line {high[0]}: face index out of range: vertex '
                                f'{str(high[1])[:24]} referenced, but the file has '
                                f'{len(verts)} vertices (OBJ counts from 1)')
    return _finish(path, np.asarray(verts, dtype=np.float64), polys, dtype)


# --------------------------------------------------------------------------- OFF


def _read_off(path, dtype) -> Tuple[Tensor, Tensor]:
    text = _text(path)
    fast = _read_off_regular(text)
    if fast is not None:
        return _finish(path, fast[0], fast[1], dtype)
    lines = [(k, ln.split('#', 1)[0].split()) for k, ln in enumerate(text.splitlines(), 1)]
    lines = [(k, t) for k, t in lines if t]
    if not lines or not re.fullmatch(r'(ST)?C?N?4?n?OFF', lines[0][1][0]):
        raise FormatError(path, "not an OFF file (the first line must be 'OFF')")
    head = lines[0][1][1:]
    rest = lines[1:]
    if not head:
        if not rest:
            raise FormatError(path, 'no vertex/face counts after OFF')
        head, rest = rest[0][1], rest[1:]
    try:
        nv, nf = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        raise FormatError(path, f"bad counts line {' '.join(head)!r} (expected "
                                f"'num_vertices num_faces num_edges')") from None
    if nv < 0 or nf < 0:
        raise FormatError(path, 'negative vertex or face count')
    if len(rest) < nv + nf:
        raise FormatError(path, f'truncated: the header announces {nv} vertices and {nf} '
                                f'faces, the file has {len(rest)} data lines')
    pos = np.empty((nv, 3))
    for r in range(nv):
        k, t = rest[r]
        try:
            pos[r] = [float(v) for v in t[:3]]
        except ValueError:
            raise FormatError(path, f'line {k}: a vertex needs three numbers') from None
    polys = []
    for r in range(nv, nv + nf):
        k, t = rest[r]
        try:
            n = int(t[0])
            idx = [int(v) for v in t[1:1 + n]]
        except ValueError:
            raise FormatError(path, f'line {k}: a face must be "n i_1 ... i_n"') from None
        if len(idx) != n:
            raise FormatError(path, f'line {k}: the face announces {n} vertices but lists '
                                    f'{len(idx)}')
        if n < 3:
            raise FormatError(path, f'line {k}: a face needs at least 3 vertices, got {n}')
        polys.append(idx)
    return _finish(path, pos, polys, dtype)


def _read_off_regular(text: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The vertices and triangles of an OFF file whose blocks are regular (no comment or blank
    line inside them, every vertex line the same width, every face a triangle), parsed by
    numpy's C reader: 27x faster than the line loop on the RNA surfaces' 14k-vertex files.
    ``None`` for anything else, which the line loop reads or names the error of."""
    lines = text.splitlines()

    def tokens(i: int, head: list) -> Tuple[int, list]:
        """``head``, or the tokens of the next line with any, and the line after them."""
        while not head and i < len(lines):
            head = lines[i].split('#', 1)[0].split()
            i += 1
        return i, head
    i, head = tokens(0, [])
    if not head or not re.fullmatch(r'(ST)?C?N?4?n?OFF', head[0]):
        return None
    i, head = tokens(i, head[1:])
    try:
        nv, nf = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        return None
    if nv <= 0 or nf <= 0 or len(lines) < i + nv + nf:
        return None
    try:
        pos = np.loadtxt(lines[i:i + nv], dtype=np.float64, comments=None, ndmin=2)
        face = np.loadtxt(lines[i + nv:i + nv + nf], dtype=np.int64, comments=None, ndmin=2)
    except (ValueError, OverflowError):
        return None
    if pos.shape[0] != nv or pos.shape[1] < 3 or face.shape[0] != nf or face.shape[1] < 4 \
            or (face[:, 0] != 3).any():
        return None
    return pos[:, :3], face[:, 1:4]


# --------------------------------------------------------------------------- PLY


def _ply_header(path, data: bytes):
    if not data.startswith(b'ply'):
        raise FormatError(path, "not a PLY file (it does not start with 'ply')")
    end = data.find(b'end_header')
    if end < 0:
        raise FormatError(path, "PLY header without 'end_header'")
    nl = data.find(b'\n', end)
    offset = len(data) if nl < 0 else nl + 1
    fmt, elements = None, []
    for k, raw in enumerate(data[:end].decode('ascii', 'replace').splitlines()[1:], 2):
        tok = raw.split()
        if not tok or tok[0] in ('comment', 'obj_info'):
            continue
        if tok[0] == 'format':
            if len(tok) < 2 or tok[1] not in ('ascii', 'binary_little_endian',
                                              'binary_big_endian'):
                raise FormatError(path, f'unknown PLY format {" ".join(tok[1:])!r}')
            fmt = tok[1]
        elif tok[0] == 'element' and len(tok) == 3:
            try:
                count = int(tok[2])
            except ValueError:
                raise FormatError(path, f'header line {k}: bad element count') from None
            if count < 0:
                raise FormatError(path, f'header line {k}: negative element count '
                                        f'({tok[1][:20]} {count})')
            elements.append([tok[1], count, []])
        elif tok[0] == 'property' and elements:
            if len(tok) == 5 and tok[1] == 'list':
                if tok[2] not in _PLY_TYPES or tok[3] not in _PLY_TYPES:
                    raise FormatError(path, f'header line {k}: unknown PLY type')
                elements[-1][2].append((tok[4], _PLY_TYPES[tok[2]], _PLY_TYPES[tok[3]]))
            elif len(tok) == 3 and tok[1] in _PLY_TYPES:
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]], None))
            else:
                raise FormatError(path, f'header line {k}: bad property {raw.strip()!r}')
        else:
            raise FormatError(path, f'header line {k}: unexpected {raw.strip()[:40]!r}')
    if fmt is None:
        raise FormatError(path, "PLY header without a 'format' line")
    return fmt, elements, offset


def _face_prop(props) -> Optional[int]:
    for k, (name, _, list_t) in enumerate(props):
        if list_t is not None and name in ('vertex_indices', 'vertex_index'):
            return k
    return next((k for k, p in enumerate(props) if p[2] is not None), None)


def _ply_binary_element(path, data, offset, count, props, order):
    """Parse one binary element; return (new offset, vertex array or polygons or None)."""
    if all(p[2] is None for p in props):
        dt = np.dtype([(f'p{k}', order + p[1]) for k, p in enumerate(props)])
        end = offset + dt.itemsize * count
        if end > len(data):
            raise FormatError(path, 'truncated binary PLY data')
        arr = np.frombuffer(data, dtype=dt, count=count, offset=offset)
        return end, arr
    # fast path: every list has the same length as the first one
    if count:
        fields, pos0 = [], offset
        for k, (name, t, lt) in enumerate(props):
            if lt is None:
                pos0 += np.dtype(t).itemsize
                continue
            if pos0 + np.dtype(t).itemsize > len(data):
                raise FormatError(path, 'truncated binary PLY data')
            n0 = int(np.frombuffer(data, dtype=order + t, count=1, offset=pos0)[0])
            pos0 += np.dtype(t).itemsize + n0 * np.dtype(lt).itemsize
            fields.append(n0)
        it = iter(fields)
        dt_fields = []
        for k, (name, t, lt) in enumerate(props):
            if lt is None:
                dt_fields.append((f'p{k}', order + t))
            else:
                dt_fields += [(f'n{k}', order + t), (f'p{k}', order + lt, (next(it),))]
        dt = np.dtype(dt_fields)
        end = offset + dt.itemsize * count
        if end <= len(data):
            arr = np.frombuffer(data, dtype=dt, count=count, offset=offset)
            if all((arr[f'n{k}'] == arr[f'p{k}'].shape[1]).all()
                   for k, p in enumerate(props) if p[2] is not None):
                return end, arr
    # general path: row by row
    rows = []
    for _ in range(count):
        row = {}
        for k, (name, t, lt) in enumerate(props):
            size = np.dtype(t).itemsize
            if offset + size > len(data):
                raise FormatError(path, 'truncated binary PLY data')
            v = np.frombuffer(data, dtype=order + t, count=1, offset=offset)[0]
            offset += size
            if lt is not None:
                n, lsize = int(v), np.dtype(lt).itemsize
                if offset + n * lsize > len(data):
                    raise FormatError(path, 'truncated binary PLY data')
                v = np.frombuffer(data, dtype=order + lt, count=n, offset=offset)
                offset += n * lsize
            row[f'p{k}'] = v
        rows.append(row)
    return offset, rows


def _read_ply(path, dtype) -> Tuple[Tensor, Tensor]:
    data = check_file(path).read_bytes()
    fmt, elements, offset = _ply_header(path, data)
    names = [e[0] for e in elements]
    if 'vertex' not in names:
        raise FormatError(path, "no 'vertex' element: not a mesh")
    pos = None
    polys = []
    if fmt == 'ascii':
        body = data[offset:].decode('ascii', 'replace').splitlines()
        lines = iter(ln for ln in body if ln.strip())
    for name, count, props in elements:
        if fmt == 'ascii':
            rows = []
            for _ in range(count):
                try:
                    rows.append(next(lines).split())
                except StopIteration:
                    raise FormatError(path, f'truncated: fewer {name} rows than the header '
                                            f'announces ({count})') from None
            if name == 'vertex':
                pos = _ply_vertex_ascii(path, rows, props)
            elif name == 'face':
                polys = _ply_face_ascii(path, rows, props)
        else:
            order = '<' if fmt == 'binary_little_endian' else '>'
            offset, arr = _ply_binary_element(path, data, offset, count, props, order)
            if name == 'vertex':
                pos = _ply_vertex_binary(path, arr, props)
            elif name == 'face':
                k = _face_prop(props)
                if k is None:
                    raise FormatError(path, "the 'face' element has no list property "
                                            "'vertex_indices'")
                if isinstance(arr, np.ndarray):
                    polys = arr[f'p{k}'].astype(np.int64)
                else:
                    polys = [r[f'p{k}'].astype(np.int64).tolist() for r in arr]
    if isinstance(polys, np.ndarray):
        if polys.shape[1] < 3 and polys.shape[0]:
            raise FormatError(path, f'face 0 has {polys.shape[1]} vertices; a face needs at '
                                    f'least 3')
        if polys.shape[1] != 3:
            polys = triangulate(polys.tolist())
    return _finish(path, pos, polys, dtype)


def _xyz_index(path, props) -> List[int]:
    names = [p[0] for p in props]
    try:
        return [names.index(c) for c in 'xyz']
    except ValueError:
        raise FormatError(path, "the 'vertex' element lacks x, y, z properties") from None


def _ply_vertex_ascii(path, rows, props) -> np.ndarray:
    idx = _xyz_index(path, props)
    if any(p[2] is not None for p in props[:max(idx) + 1]):
        raise FormatError(path, 'list properties before x, y, z in the vertex element')
    try:
        return np.asarray([[float(r[i]) for i in idx] for r in rows], dtype=np.float64) \
            .reshape(-1, 3)
    except (ValueError, IndexError):
        raise FormatError(path, 'a vertex row does not hold numbers x, y, z') from None


def _ply_vertex_binary(path, arr, props) -> np.ndarray:
    idx = _xyz_index(path, props)
    if not isinstance(arr, np.ndarray):
        return np.asarray([[float(r[f'p{i}']) for i in idx] for r in arr]).reshape(-1, 3)
    return np.stack([arr[f'p{i}'].astype(np.float64) for i in idx], 1)


def _ply_face_ascii(path, rows, props) -> list:
    k = _face_prop(props)
    if k is None:
        raise FormatError(path, "the 'face' element has no list property 'vertex_indices'")
    polys = []
    for r, tok in enumerate(rows):
        at = 0
        try:
            for j, (_, _, lt) in enumerate(props):
                if lt is None:
                    at += 1
                    continue
                n = int(tok[at])
                vals = tok[at + 1:at + 1 + n]
                if len(vals) != n:
                    raise FormatError(path, f'face {r} announces {n} vertices but lists '
                                            f'{len(vals)}')
                if j == k:
                    polys.append([int(v) for v in vals])
                at += 1 + n
        except (ValueError, IndexError):
            raise FormatError(path, f'face {r}: bad vertex index list') from None
    return polys


# --------------------------------------------------------------------------- API


def _read_trimesh(path, fmt: str, dtype) -> Tuple[Tensor, Tensor]:
    try:
        import trimesh
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f'reading .{fmt} meshes needs trimesh: pip install trimesh') from None
    if fmt == 'stl':
        head = check_file(path).read_bytes()[:84]
        if not head.lstrip().startswith(b'solid') and len(head) < 84:
            raise FormatError(path, 'truncated STL file (shorter than the 84-byte binary '
                                    'header)')
    try:
        mesh = trimesh.load(str(path), file_type=fmt, process=False, force='mesh')
        verts = np.asarray(getattr(mesh, 'vertices', np.zeros((0, 3))), dtype=np.float64)
        faces = getattr(mesh, 'faces', None)
        faces = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(faces)
    except Exception as exc:  # trimesh raises many kinds on corrupt input: one error here
        raise FormatError(path, f'corrupt {fmt.upper()} file ({describe(exc)[:160]})') from None
    return _finish(path, verts.reshape(-1, 3), faces.reshape(-1, 3).astype(np.int64), dtype)


def _format_of(path, format: Optional[str]) -> str:
    if format is not None:
        fmt = format.lower().lstrip('.')
        if fmt not in MESH_FORMATS:
            raise ValueError(f'unknown mesh format {format!r}: use one of {MESH_FORMATS}')
        return fmt
    ext = ext_of(path).lstrip('.')
    if ext in MESH_FORMATS:
        return ext
    raise FormatError(path, f"unknown mesh extension {ext_of(path) or '(none)'!r}: use one of "
                            f"{', '.join('.' + f for f in MESH_FORMATS)}, or pass format=")


def read_mesh(path: PathLike, format: Optional[str] = None,
              dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor]:
    """Read a triangle mesh -> ``(pos [N, 3], face [3, F])`` (polygons fan-triangulated).

    Args:
        path: an ``.obj``, ``.off``, ``.ply`` (ascii, binary little- or big-endian), ``.stl``
            (ascii or binary), ``.glb`` or ``.gltf`` file (a glTF scene becomes one mesh).
        format: override the extension (one of :data:`MESH_FORMATS`).
        dtype: floating type of ``pos`` (default float32, as PyG's readers).
    """
    fmt = _format_of(path, format)
    check_file(path)
    if fmt in _TRIMESH:
        return _read_trimesh(path, fmt, dtype)
    reader = {'obj': _read_obj, 'off': _read_off, 'ply': _read_ply}[fmt]
    return reader(path, dtype)


def write_mesh(path: PathLike, pos: Tensor, face: Tensor, format: Optional[str] = None,
               binary: bool = False) -> None:
    """Write a mesh (``face`` ``[3, F]`` triangles, or ``[F, k]`` polygons as a list/array).
    OBJ, OFF and PLY exactly (PLY ascii or, with ``binary=True``, binary little-endian); STL,
    glTF and GLB through trimesh (float32 positions, polygons fan-triangulated). Atomic: a
    failure never leaves a partial file."""
    fmt = _format_of(path, format)
    pos = np.asarray(pos.detach().cpu().double() if isinstance(pos, Tensor) else pos,
                     dtype=np.float64)
    if isinstance(face, Tensor):
        face = face.detach().cpu().numpy()
        if face.ndim == 2 and face.shape[0] == 3 and face.shape[1] != 3:
            face = face.T
    polys = [list(map(int, f)) for f in face]
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f'pos must have shape [N, 3], got {list(pos.shape)}')
    if fmt in _TRIMESH:
        import trimesh
        tri = triangulate(polys) if polys else np.zeros((0, 3), dtype=np.int64)
        mesh = trimesh.Trimesh(pos, tri, process=False)
        with atomic_path(path, suffix='.' + fmt) as tmp:
            mesh.export(str(tmp), file_type=fmt)
        return
    with atomic_path(path) as tmp:
        if fmt == 'obj':
            lines = [f'v {x!r} {y!r} {z!r}' for x, y, z in pos.tolist()]
            lines += ['f ' + ' '.join(str(i + 1) for i in p) for p in polys]
            tmp.write_text('\n'.join(lines) + '\n')
        elif fmt == 'off':
            lines = ['OFF', f'{len(pos)} {len(polys)} 0']
            lines += [f'{x!r} {y!r} {z!r}' for x, y, z in pos.tolist()]
            lines += [f'{len(p)} ' + ' '.join(map(str, p)) for p in polys]
            tmp.write_text('\n'.join(lines) + '\n')
        else:
            head = ['ply', f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
                    f'element vertex {len(pos)}', 'property double x', 'property double y',
                    'property double z', f'element face {len(polys)}',
                    'property list uchar int vertex_indices', 'end_header']
            if not binary:
                body = [f'{x!r} {y!r} {z!r}' for x, y, z in pos.tolist()]
                body += [f'{len(p)} ' + ' '.join(map(str, p)) for p in polys]
                tmp.write_text('\n'.join(head + body) + '\n')
            else:
                with open(tmp, 'wb') as f:
                    f.write(('\n'.join(head) + '\n').encode('ascii'))
                    f.write(pos.astype('<f8').tobytes())
                    for p in polys:
                        f.write(np.uint8(len(p)).tobytes())
                        f.write(np.asarray(p, dtype='<i4').tobytes())
