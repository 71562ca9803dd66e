"""The one error every reader raises, and the helpers the readers share.

A reader never lets a parser's own exception escape: a corrupt, truncated or mislabelled file
(one whose content does not match its extension) raises :class:`FormatError`, a
:class:`ValueError` whose message is one line, ``"<file>: <problem>"``. The command line turns it
into exit code 2 and that line.
"""
from __future__ import annotations

import io
import os
import pathlib
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # numpy is imported by the readers that use it (`--help` stays fast)
    import numpy as np

from .atomic import _umask, atomic_path  # noqa: F401  (shared by the writers)

PathLike = Union[str, 'os.PathLike[str]']


class FormatError(ValueError):
    """A file that cannot be read as what it claims to be: ``"<file>: <problem>"``."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = ' '.join(str(problem).split())  # one line, always
        super().__init__(f'{self.path}: {self.problem}')


def ext_of(path: PathLike) -> str:
    """The lower-case extension with its dot (``'.png'``)."""
    return pathlib.Path(path).suffix.lower()


def check_file(path: PathLike) -> pathlib.Path:
    p = pathlib.Path(path)
    if not p.exists():
        raise FormatError(p, 'no such file')
    if not p.is_file():
        raise FormatError(p, 'not a regular file')
    return p


def describe(exc: BaseException) -> str:
    """A short, one-line description of a parser's exception."""
    msg = ' '.join(str(exc).split())
    return f'{type(exc).__name__}: {msg}' if msg else type(exc).__name__


def read_text(path: PathLike) -> str:
    p = check_file(path)
    data = p.read_bytes()
    if b'\x00' in data:
        raise FormatError(p, 'binary data in a text file (a NUL byte); is the extension right?')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise FormatError(p, f'not UTF-8 text (byte {exc.start})') from None


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _split(line: str, delimiter: Optional[str]) -> list:
    if delimiter is None:
        return line.split()
    return [t.strip() for t in line.split(delimiter)]


def sniff_delimiter(line: str) -> Optional[str]:
    for d in (',', ';', '\t'):
        if d in line:
            return d
    return None  # whitespace


def read_table(path: PathLike, delimiter: Optional[str] = 'auto', min_columns: int = 1,
               comments: Sequence[str] = ('#', '%')
               ) -> Tuple[Optional[list], np.ndarray]:
    """A numeric text table (CSV, TSV or whitespace separated) -> ``(header or None, [R, C])``.

    The first line is a header when one of its fields is not a number. Every row must have the
    same number of columns and hold finite numbers; otherwise :class:`FormatError` names the line.
    """
    import numpy as np
    text = read_text(path)
    rows = []
    for k, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(tuple(comments)):
            continue
        rows.append((k, line))
    if not rows:
        raise FormatError(path, 'no data rows (the file is empty)')
    if delimiter == 'auto':
        delimiter = sniff_delimiter(rows[0][1])
    header = None
    first = _split(rows[0][1], delimiter)
    if not all(_is_number(t) for t in first):
        header = first
        rows = rows[1:]
        if not rows:
            raise FormatError(path, 'a header but no data rows')
    ncol = len(header) if header is not None else len(_split(rows[0][1], delimiter))
    if ncol < min_columns:
        raise FormatError(path, f'{ncol} column(s), at least {min_columns} needed')
    out = None
    if len(rows) > 64:  # fast path; the loop below finds the line of any problem
        try:
            out = np.loadtxt(io.StringIO('\n'.join(line for _, line in rows)),
                             delimiter=delimiter, ndmin=2, dtype=np.float64)
            if out.shape != (len(rows), ncol):
                out = None
        except ValueError:
            out = None
    if out is None:
        out = _parse_rows(path, rows, delimiter, ncol)
    if not np.isfinite(out).all():
        r = int(np.nonzero(~np.isfinite(out).all(1))[0][0])
        raise FormatError(path, f'line {rows[r][0]} holds a non-finite value (nan or inf)')
    return header, out


def _parse_rows(path: PathLike, rows: list, delimiter: Optional[str], ncol: int) -> np.ndarray:
    import numpy as np
    out = np.empty((len(rows), ncol), dtype=np.float64)
    for r, (k, line) in enumerate(rows):
        toks = _split(line, delimiter)
        if len(toks) != ncol:
            raise FormatError(path, f'line {k} has {len(toks)} column(s), expected {ncol}')
        try:
            out[r] = [float(t) for t in toks]
        except ValueError:
            bad = next(t for t in toks if not _is_number(t))
            raise FormatError(path, f'line {k}: {bad[:40]!r} is not a number') from None
    return out


NUMERIC_KINDS = 'biuf'


def read_npy(path: PathLike) -> np.ndarray:
    """``np.load`` without pickles: object arrays, truncated files and headers that claim more
    data than the file holds raise :class:`FormatError` (before anything is allocated)."""
    import numpy as np
    p = check_file(path)
    with open(p, 'rb') as f:
        magic = f.read(6)
        if magic != b'\x93NUMPY':
            raise FormatError(p, 'not an NPY file (bad magic bytes); is the extension right?')
        f.seek(0)
        try:
            fmt = np.lib.format
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else \
                fmt.read_array_header_2_0  # 3.0 differs only in the header's encoding
            shape, _, dtype = read(f)
        except Exception as exc:  # a bad header
            raise FormatError(p, f'corrupt NPY file ({describe(exc)})') from None
        if dtype.hasobject:
            raise FormatError(p, f'NPY array of dtype {dtype} (pickled Python objects, never '
                                 f'loaded); a numeric array is needed')
        count = 1
        for n in shape:
            count *= int(n)
        need, have = count * dtype.itemsize, os.fstat(f.fileno()).st_size - f.tell()
        if need > have:  # truncated, or a forged shape: refuse before allocating
            raise FormatError(p, f'corrupt NPY file: the header says shape {tuple(shape)} of '
                                 f'{dtype} ({need} bytes) but the file holds {have} bytes of '
                                 f'data')
        f.seek(0)
        try:
            arr = np.load(f, allow_pickle=False)
        except Exception as exc:  # truncated, bad header, pickled objects, ...
            raise FormatError(p, f'corrupt NPY file ({describe(exc)})') from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in NUMERIC_KINDS:
        raise FormatError(p, f'NPY array of dtype {arr.dtype}; a numeric array is needed')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
        raise FormatError(p, 'the array holds non-finite values (nan or inf)')
    return arr
