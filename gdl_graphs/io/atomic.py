"""One rule for everything that writes: nothing a user has is lost or left half-written.

**Ours.** An output is *ours* when it carries a marker naming its format and a content
fingerprint (a hash of what it was built from):

- a folder holds ``gdl_graphs.json`` (:data:`MARKER`) at its top,
  ``{"format": ..., "fingerprint": ..., "files": {relative path: size}, ...}``, and nothing but
  the files it lists, with those sizes (:func:`is_ours`), and what its optional ``"derived"``
  paths hold (data regenerated from the listed files, e.g. ogb's ``processed/``);
- a ``torch.save`` file holds the same JSON as an extra record of its zip archive
  (``<archive>/gdl_graphs.json``, written by :func:`write_torch`; ``torch.load`` ignores it);
- a ``.json`` file is an object with top-level ``"format"`` and ``"fingerprint"`` keys
  (:func:`write_json`);
- a ``.png`` picture holds the marker's JSON in a ``tEXt`` chunk named ``gdl_graphs.json``.

**Check before any work.** :func:`check_output` is called with the output path before anything
is read or computed. It refuses (:class:`OutputError`, a ``ValueError`` with a one-line message
naming the fix): an output that is, holds or is inside an input; a path below a file; an
existing path without the explicit flag (``overwrite``); and, even with the flag, anything that
is not ours in the expected format or holds anything else. An empty folder is taken as is (it
holds nothing to lose). A symbolic link to one of our outputs is that output: the write goes to
its target and the link stays.

**Replace atomically.** Every output is built under a hidden temporary name next to its
destination, ``.NAME.gdl<pid>-<random>[.ext].tmp``, and renamed into place only when complete
(:func:`atomic_path`, :func:`atomic_folder`); a folder replaces an old one by an atomic
exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere renames undone on failure), checked
again right before the exchange. The temporary name carries the writer's process id: the next
write of the same destination removes what writers that are gone (``SIGKILL``, a power cut)
left (:func:`remove_stale`), folders only when they carry our marker.

**Errors.** A full disk or a read-only folder is an ``OSError`` that names the output and says
nothing was written (:func:`write_errors`); torch's zip writer, which raises a second, opaque
``RuntimeError`` from its ``__exit__`` when the disk fills mid-file, is unwrapped by
:func:`write_torch`. :func:`terminate_cleanly` turns ``SIGTERM``/``SIGHUP`` into
``SystemExit(128 + signal)`` so the writers' ``finally`` blocks remove their temporary files.

Example (a folder writer)::

    from gdl_graphs.io import atomic
    out = atomic.check_output(out, 'mytool-cache-v1', overwrite=args.overwrite,
                              folder=True, inputs=[src])          # before any work
    fp = atomic.fingerprint_files([src])                           # what it is built from
    ...                                                            # the work
    with atomic.write_errors(out), atomic.atomic_folder(
            out, 'mytool-cache-v1', fp, overwrite=args.overwrite) as tmp:
        (tmp / 'a.npy').write_bytes(...)                           # marker written on success
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import tempfile
import threading
import zipfile
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence, Union

PathLike = Union[str, 'os.PathLike[str]']

MARKER = 'gdl_graphs.json'  # the marker of a folder we wrote (and the zip record of a file)
FINGERPRINT_PREFIX = 'b2:'  # blake2b, 128 bits, hex

__all__ = ['MARKER', 'OutputError', 'Fingerprint', 'fingerprint', 'fingerprint_files',
           'folder_files', 'write_marker', 'read_marker', 'is_ours', 'why_not_ours',
           'check_output', 'atomic_path', 'atomic_folder', 'write_torch', 'write_json',
           'write_errors', 'WriteError', 'os_error_of', 'remove_stale', 'swap', 'terminate_cleanly',
           'default_signals']


class OutputError(ValueError):
    """An output path that cannot be written without losing something; the message is one line
    naming the path and the fix."""

    def __init__(self, message: str):
        super().__init__(' '.join(str(message).split()))


# --- fingerprints -------------------------------------------------------------------------

class Fingerprint:
    """An incremental content hash (blake2b, 128 bits) of typed items: the same items in the
    same order give the same :meth:`hexdigest` on every machine and Python version.

    ``update`` takes ``bytes``, ``str``, ``int``, ``float``, ``bool``, ``None``, lists/tuples,
    dicts (keys sorted), numpy arrays and memory maps (dtype, shape and bytes, read in chunks:
    a memory-mapped array is never copied whole) and torch tensors (as numpy)."""

    CHUNK = 1 << 24

    def __init__(self):
        self._h = hashlib.blake2b(digest_size=16)

    def _tag(self, tag: bytes, payload: bytes = b'') -> None:
        self._h.update(tag + len(payload).to_bytes(8, 'little') + payload)

    def update(self, *items: Any) -> 'Fingerprint':
        for item in items:
            self._update(item)
        return self

    def _update(self, item: Any) -> None:
        if item is None:
            self._tag(b'N')
        elif isinstance(item, bool):
            self._tag(b'B', b'1' if item else b'0')
        elif isinstance(item, int):
            self._tag(b'I', str(item).encode())
        elif isinstance(item, float):
            self._tag(b'F', item.hex().encode())
        elif isinstance(item, str):
            self._tag(b'S', item.encode('utf-8', 'surrogatepass'))
        elif isinstance(item, (bytes, bytearray, memoryview)):
            self._tag(b'Y', bytes(item))
        elif isinstance(item, (list, tuple)):
            self._tag(b'L', str(len(item)).encode())
            for v in item:
                self._update(v)
        elif isinstance(item, dict):
            self._tag(b'D', str(len(item)).encode())
            for k in sorted(item, key=str):
                self._update(str(k))
                self._update(item[k])
        elif hasattr(item, 'detach') and hasattr(item, 'numpy'):  # a torch tensor
            self._array(item.detach().cpu().numpy())
        elif hasattr(item, 'dtype') and hasattr(item, 'shape'):  # numpy (or a memory map)
            self._array(item)
        else:
            raise TypeError(f'cannot fingerprint a {type(item).__name__}')

    def _array(self, a: Any) -> None:
        import numpy as np
        a = np.asarray(a)
        self._tag(b'A', f'{a.dtype.str}|{list(a.shape)}'.encode())
        if a.ndim == 0 or a.size == 0:
            self._h.update(np.ascontiguousarray(a).tobytes())
            return
        rows = max(1, self.CHUNK // max(1, a[0].nbytes if a.ndim > 1 else a.itemsize))
        for i in range(0, a.shape[0], rows):
            self._h.update(memoryview(np.ascontiguousarray(a[i:i + rows])).cast('B'))

    def update_file(self, path: PathLike, name: Optional[str] = None) -> 'Fingerprint':
        """Add a file: its ``name`` (default: none, only the content) and its bytes."""
        if name is not None:
            self._update(name)
        size = os.path.getsize(path)
        self._h.update(b'Z' + size.to_bytes(8, 'little'))
        with open(path, 'rb') as f:
            while True:
                block = f.read(self.CHUNK)
                if not block:
                    break
                self._h.update(block)
        return self

    def hexdigest(self) -> str:
        return FINGERPRINT_PREFIX + self._h.hexdigest()


def fingerprint(*items: Any) -> str:
    """The fingerprint (``'b2:<32 hex digits>'``) of ``items`` (see :class:`Fingerprint`)."""
    return Fingerprint().update(*items).hexdigest()


def fingerprint_files(paths: Iterable[PathLike], root: Optional[PathLike] = None,
                      cache: Optional[PathLike] = None) -> str:
    """The fingerprint of files' names (relative to ``root``, if given) and bytes, in the
    order given. ``cache``: a JSON file remembering each file's hash by (size, modification
    time, inode), so an unchanged large file is hashed once; a file that changed is hashed
    again (the cache is only ever a shortcut, never the truth about a changed file)."""
    memo: Dict[str, Any] = {}
    if cache is not None:
        try:
            with open(cache) as f:
                memo = json.load(f)
            memo = memo if isinstance(memo, dict) else {}
        except (OSError, ValueError):
            memo = {}
    total, changed = Fingerprint(), False
    for p in paths:
        p = pathlib.Path(p)
        name = p.relative_to(root).as_posix() if root is not None else None
        key = str(p.resolve())
        st = p.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = memo.get(key)
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
            digest = hit[1]
        else:
            digest = Fingerprint().update_file(p).hexdigest()
            memo[key], changed = [stamp, digest], True
        total.update(name, digest)
    if cache is not None and changed:
        try:
            with atomic_path(cache) as tmp:
                tmp.write_text(json.dumps(memo))
        except OSError:
            pass  # a cache that cannot be written only costs time
    return total.hexdigest()


# --- markers ------------------------------------------------------------------------------

def folder_files(folder: PathLike) -> Optional[Dict[str, int]]:
    """``{relative path: size}`` of every file under ``folder`` (the marker excluded), or
    ``None`` if it holds anything but plain files and folders (a symbolic link, a socket)."""
    folder = pathlib.Path(folder)
    out: Dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = pathlib.Path(dirpath) / name
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                return None
            rel = p.relative_to(folder).as_posix()
            if rel != MARKER:
                out[rel] = st.st_size
    return out


def write_marker(folder: PathLike, format: str, fingerprint: str, **fields: Any) -> dict:
    """Write ``folder/gdl_graphs.json``: ``format``, ``fingerprint``, ``fields`` and the list of
    every file under ``folder`` with its size (so :func:`is_ours` can tell that it holds
    nothing else). Call it last, when the folder is complete."""
    folder = pathlib.Path(folder)
    if not isinstance(format, str) or not format:
        raise ValueError('a marker needs a format name')
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ValueError('a marker needs a fingerprint (gdl_graphs.io.atomic.fingerprint)')
    files = folder_files(folder)
    if files is None:
        raise ValueError(f'{folder} holds a link or a special file: not an output folder')
    marker = {'format': format, 'fingerprint': fingerprint, **fields, 'files': files}
    _write_text(folder / MARKER, json.dumps(marker, indent=1, sort_keys=True))
    return marker


def _write_text(path: pathlib.Path, text: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _zip_marker(path: pathlib.Path) -> Optional[dict]:
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith('/' + MARKER) and n.count('/') == 1]
        if len(names) != 1:
            return None
        info = z.getinfo(names[0])
        if info.file_size > 1 << 20:
            return None
        return json.loads(z.read(names[0]).decode('utf-8'))


_PNG = b'\x89PNG\r\n\x1a\n'


def _png_marker(path: pathlib.Path) -> Optional[dict]:
    """The marker in a PNG's ``tEXt`` chunk named ``gdl_graphs.json`` (written with
    matplotlib's ``savefig(..., metadata={MARKER: json})``)."""
    with open(path, 'rb') as f:
        if f.read(8) != _PNG:
            return None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            size, kind = int.from_bytes(head[:4], 'big'), head[4:]
            if kind in (b'IDAT', b'IEND') or size > 1 << 20:
                return None
            data = f.read(size)
            f.read(4)  # crc
            if kind == b'tEXt' and data.startswith(MARKER.encode() + b'\0'):
                return json.loads(data[len(MARKER) + 1:].decode('latin-1'))


def read_marker(path: PathLike) -> Optional[dict]:
    """The marker of an output (a folder's ``gdl_graphs.json``, a torch file's record, a JSON
    file's top-level object, a PNG's text chunk), or ``None`` when there is none or it cannot
    be read. Never unpickles anything; never raises."""
    p = pathlib.Path(path)
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            m = p / MARKER
            if m.is_symlink() or not m.is_file() or m.stat().st_size > 64 << 20:
                return None
            out = json.loads(m.read_text(encoding='utf-8'))
        elif not stat.S_ISREG(st.st_mode):
            return None
        elif zipfile.is_zipfile(p):
            out = _zip_marker(p)
        elif p.suffix.lower() == '.png':
            out = _png_marker(p)
        elif st.st_size <= 256 << 20 and p.suffix.lower() == '.json':
            out = json.loads(p.read_text(encoding='utf-8'))
        else:
            return None
    except (OSError, ValueError, zipfile.BadZipFile, RuntimeError):
        return None
    if not isinstance(out, dict) or not isinstance(out.get('format'), str):
        return None
    return out


def _formats(format: Union[str, Sequence[str]]) -> tuple:
    return (format,) if isinstance(format, str) else tuple(format)


def why_not_ours(path: PathLike, format: Union[str, Sequence[str]],
                 folder: Optional[bool] = None, what: Optional[str] = None) -> Optional[str]:
    """``None`` when ``path`` (which exists) is one of our outputs of ``format`` (a name or a
    tuple of names) that holds nothing else; else why not, as a phrase completing
    ``"<path> is ..."``. ``folder``: whether a folder (True) or a file (False) is expected
    (default: either). ``what``: the expected output in words (``'a dataset folder'``)."""
    p = pathlib.Path(path)
    formats = _formats(format)
    what = what or f'a {formats[0]} {"folder" if folder else "file"} written by gdl_graphs'
    try:
        st = os.stat(p)
    except OSError:
        return 'a dangling symbolic link' if p.is_symlink() else 'missing'
    is_dir = stat.S_ISDIR(st.st_mode)
    if folder is True and not is_dir:
        return f'a file, not {what}'
    if folder is False and is_dir:
        return 'a folder'
    if not is_dir and not stat.S_ISREG(st.st_mode):
        return 'not a regular file'
    marker = read_marker(p)
    if marker is None:
        if is_dir:
            try:
                names = sorted(q.name for q in p.iterdir())
            except OSError as exc:
                return f'a folder that cannot be read ({exc.strerror})'
            return (f'a folder that holds other files ({", ".join(names[:3])}'
                    f'{", ..." if len(names) > 3 else ""})')
        return f'not {what} (it has no format marker)'
    if marker['format'] not in formats:
        return f'a {marker["format"]} output, not {what}'
    if not isinstance(marker.get('fingerprint'), str) or marker.get('writing'):
        return f'an incomplete {marker["format"]} output (no content fingerprint)'
    if is_dir:
        listed = marker.get('files')
        try:
            have = folder_files(p)
        except OSError as exc:
            return f'a folder that cannot be read ({exc.strerror})'
        if not isinstance(listed, dict) or have is None:
            return f'{what} that also holds links or special files'
        derived = [d.rstrip('/') for d in marker.get('derived') or [] if isinstance(d, str)]
        extra = sorted(k for k in set(have) - set(listed)
                       if not any(k == d or k.startswith(d + '/') for d in derived))
        if extra:
            return (f'{what} that also holds other files ({", ".join(extra[:3])}'
                    f'{", ..." if len(extra) > 3 else ""})')
        changed = sorted(k for k in listed if have.get(k) != listed[k])
        if changed:
            return f'{what} whose files were changed or removed since it was written ' \
                   f'({", ".join(changed[:3])})'
    return None


def is_ours(path: PathLike, format: Union[str, Sequence[str]],
            folder: Optional[bool] = None) -> bool:
    """Whether ``path`` is an output of ``format`` that we wrote and that holds nothing else
    (:func:`why_not_ours` says why not)."""
    return why_not_ours(path, format, folder) is None


def _relation(out: pathlib.Path, inp: pathlib.Path) -> Optional[str]:
    if out == inp:
        return 'is'
    if inp in out.parents:
        return 'is inside'
    if out in inp.parents:
        return 'contains'
    return None


def check_output(path: PathLike, format: Union[str, Sequence[str]], *, overwrite: bool = False,
                 folder: Optional[bool] = None, inputs: Sequence[PathLike] = (),
                 what: Optional[str] = None,
                 flag: str = 'overwrite=True (--overwrite)') -> pathlib.Path:
    """Check an output path before any work; return where to write (a symbolic link to one of
    our outputs resolves to its target).

    Raises :class:`OutputError` (one line, naming the fix) when ``path``
    - is, holds or is inside one of ``inputs``;
    - lies below something that is not a folder;
    - exists and ``overwrite`` is false (an empty folder, for a folder output, is taken);
    - exists and is not ours in ``format`` holding nothing else (:func:`why_not_ours`), even
      with ``overwrite``.

    Args:
        format: the format name (or names) the writer writes.
        folder: True for a folder output, False for a file, None either.
        what: the output in words, for messages (``'a partition folder written by
            gdl_graphs'``).
        flag: how the user asks to replace (the command line's flag).
    """
    p = pathlib.Path(os.path.abspath(path))
    what = what or f'a {_formats(format)[0]} {"folder" if folder else "output"} written by ' \
                   f'gdl_graphs'
    dest = p
    if p.is_symlink():
        dest = pathlib.Path(os.path.realpath(p))
        if not dest.exists():
            raise OutputError(f'{path} is a symbolic link to {dest}, which does not exist; '
                              f'refusing to write through it: remove the link or choose '
                              f'another output')
    for i in inputs:
        r = pathlib.Path(os.path.realpath(i))
        for o in {p, dest, pathlib.Path(os.path.realpath(p))}:
            how = _relation(o, r)
            if how is not None:
                raise OutputError(f'the output {path} {how} the input {i}; refusing to write '
                                  f'there (it would destroy the input): choose another output')
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f'cannot write {path}: {parent} is a file, not a folder; '
                                  f'choose another output')
            break
    if not dest.exists():
        return dest
    if folder is not False and dest.is_dir() and not p.is_symlink():
        try:
            if not any(dest.iterdir()):
                return dest  # an empty folder: nothing to lose
        except OSError:
            pass
    if not overwrite:
        raise OutputError(f'{path} exists; choose another output or pass {flag} to replace '
                          f'it')
    why = why_not_ours(dest, format, folder, what)
    if why is not None:
        shown = f'{path} (a link to {dest})' if dest != p else str(path)
        raise OutputError(f'{shown} is {why}; refusing to replace it even with '
                          f'{flag.split(" (")[-1].rstrip(")")}: remove it yourself or choose '
                          f'another output')
    return dest


def _check_replace(dest: pathlib.Path, format, folder: bool, overwrite: bool) -> None:
    """Right before a replacement: the same verdict as :func:`check_output` on ``dest``."""
    if not (dest.exists() or dest.is_symlink()):
        return
    if folder and dest.is_dir() and not dest.is_symlink():
        try:
            if not any(dest.iterdir()):
                return
        except OSError:
            pass
    if not overwrite:
        raise OutputError(f'{dest} appeared while it was being written; nothing was replaced: '
                          f'choose another output or pass overwrite=True (--overwrite)')
    why = why_not_ours(dest, format, folder)
    if why is not None:
        raise OutputError(f'{dest} changed while it was being written (it is {why}); nothing '
                          f'was replaced: remove it yourself or choose another output')


# --- writing ------------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(dest: pathlib.Path) -> str:
    return f'.{dest.name}.gdl{os.getpid()}-'


def _temp_pattern(name: str) -> 're.Pattern[str]':
    return re.compile(r'\.' + re.escape(name) + r'\.gdl(?P<pid>\d+)-[A-Za-z0-9_]+(\.[^/]*)?\.tmp')


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # cannot tell: keep it
    return True


def remove_stale(dest: PathLike) -> None:
    """Remove what killed writers of ``dest`` left next to it: temporary files named
    ``.NAME.gdl<pid>-*.tmp`` whose process is gone, and such folders when they carry our
    marker (a folder without one is left alone). Never raises."""
    dest = pathlib.Path(dest)
    pattern = _temp_pattern(dest.name)
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return
    for p in entries:
        m = pattern.fullmatch(p.name)
        if m is None or pid_alive(int(m.group('pid'))):
            continue
        try:
            if p.is_symlink() or p.is_file():
                p.unlink()
            elif read_marker(p) is None:
                continue
            elif p.name.endswith('.old.tmp') and not (dest.exists() or dest.is_symlink()) \
                    and why_not_ours(p, read_marker(p)['format'], True) is None:
                os.rename(p, dest)  # killed half-way through a swap: put the old one back
            else:
                shutil.rmtree(p)
        except OSError:
            pass


@contextlib.contextmanager
def atomic_path(dest: PathLike, suffix: str = '') -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only on success.

    An exception (or ``SIGTERM`` under :func:`terminate_cleanly`) removes the temporary file;
    the leftovers of a killed writer are removed by the next write of ``dest``. The caller
    checks ``dest`` first (:func:`check_output`)."""
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=suffix + '.tmp', dir=dest.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(dest: PathLike, format: str,
                  fingerprint: Union[str, Callable[[], str]], *,
                  overwrite: bool = False, **fields: Any) -> Iterator[pathlib.Path]:
    """Yield a temporary folder next to ``dest``; on success write its marker
    (:func:`write_marker` with ``format``, ``fingerprint`` and ``fields``), check ``dest``
    again (it may be replaced only if ours, with ``overwrite``, or empty) and exchange the two
    atomically; the old ``dest`` is then removed. On an exception the temporary folder is
    removed and ``dest`` is untouched. The yielded folder already holds a stamp
    (``gdl_graphs.json`` saying it is being written) so that the next writer can remove it if
    this process is killed; do not remove it. ``fingerprint`` may be a function, called when
    the folder is complete (e.g. to hash what was written)."""
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix='.tmp', dir=dest.parent))
    try:
        # a stamp that says "ours, being written": a killed writer's folder is removed later
        _write_text(tmp / MARKER, json.dumps({'format': format, 'writing': True}))
        yield tmp
        write_marker(tmp, format, fingerprint() if callable(fingerprint) else fingerprint,
                     **fields)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        _check_replace(dest, format, True, overwrite)
        if dest.exists() or dest.is_symlink():
            swap(tmp, dest)  # tmp now holds the old dest
        else:
            os.rename(tmp, dest)
    finally:
        if tmp.is_symlink() or tmp.is_file():
            tmp.unlink()
        elif tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _libc_renameat2():
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError, TypeError):
            pass
    return _renameat2


def swap(a: PathLike, b: PathLike) -> None:
    """Exchange the paths ``a`` and ``b`` (both exist): atomically where the OS can (Linux
    ``renameat2(RENAME_EXCHANGE)``), else with three renames that are undone on failure."""
    a, b = pathlib.Path(a), pathlib.Path(b)
    fn = _libc_renameat2()
    if fn:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(b))
    # b's old content waits under a temporary name (restored by remove_stale if we are killed)
    side = a.parent / (a.name[:-len('.tmp')] + '.old.tmp' if a.name.endswith('.tmp')
                       else a.name + '.old')
    os.rename(b, side)
    try:
        os.rename(a, b)
    except BaseException:
        os.rename(side, b)
        raise
    os.rename(side, a)


def os_error_of(exc: BaseException) -> Optional[OSError]:
    """The ``OSError`` behind ``exc`` (itself, or in its ``__cause__`` / ``__context__``
    chain), or ``None``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _first_error(exc: BaseException) -> BaseException:
    """What a library's follow-up ``RuntimeError`` hides: the first ``OSError``,
    ``SystemExit`` (``SIGTERM`` under :func:`terminate_cleanly`) or ``KeyboardInterrupt`` in
    its context chain, else ``exc`` itself."""
    seen, inner = set(), exc
    while inner is not None and id(inner) not in seen:
        if isinstance(inner, (OSError, SystemExit, KeyboardInterrupt)):
            return inner
        seen.add(id(inner))
        inner = inner.__cause__ or inner.__context__
    return exc


def write_torch(obj: Any, path: PathLike, format: Optional[str] = None,
                fingerprint: Union[None, str, Callable[[PathLike], str]] = None,
                **fields: Any) -> None:
    """``torch.save(obj, path)`` through a Python file, flushed to disk; with ``format`` and
    ``fingerprint``, the file carries our marker (a ``gdl_graphs.json`` record in its zip
    archive, which ``torch.load`` ignores). A full disk or a read-only folder is an
    ``OSError``: torch's zip writer raises a second, opaque ``RuntimeError`` from its
    ``__exit__`` when a write fails mid-file (or ``SIGTERM``'s ``SystemExit`` arrives); the
    ``OSError`` (``SystemExit``, ``KeyboardInterrupt``) behind it is raised instead.
    ``fingerprint`` may be a function of the written path (e.g. to hash its bytes). Write to a
    temporary path (:func:`atomic_path`), never onto the destination."""
    import torch
    try:
        with open(path, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        if format is not None:
            if callable(fingerprint):
                fingerprint = fingerprint(path)
            if not fingerprint:
                raise ValueError('a marker needs a fingerprint')
            marker = {'format': format, 'fingerprint': fingerprint, **fields}
            with zipfile.ZipFile(path, 'a') as z:
                prefix = z.namelist()[0].split('/')[0]
                z.writestr(f'{prefix}/{MARKER}', json.dumps(marker, sort_keys=True))
            with open(path, 'rb+') as f:
                os.fsync(f.fileno())
    except (RuntimeError, zipfile.BadZipFile) as exc:
        # torch's zip writer raises a second RuntimeError from its __exit__ when a write
        # failed or a signal arrived mid-file: raise what happened first
        first = _first_error(exc)
        if first is exc:
            raise
        raise first from None


def write_json(obj: dict, path: PathLike, format: str, fingerprint: str) -> pathlib.Path:
    """Write a JSON object atomically, with top-level ``"format"`` and ``"fingerprint"`` keys
    (its marker; :func:`read_marker`). The caller checks ``path`` first (:func:`check_output`)."""
    if not isinstance(obj, dict):
        raise ValueError('write_json writes a JSON object (a dict)')
    path = pathlib.Path(path)
    text = json.dumps({'format': format, 'fingerprint': fingerprint, **obj}, indent=1)
    with atomic_path(path) as tmp:
        _write_text(tmp, text + '\n')
    return path


class WriteError(OSError):
    """An output could not be written (``errno`` kept: ``ENOSPC``, ``EFBIG``, ``EACCES``...);
    its text is one line naming the output and saying that nothing was written."""

    def __str__(self) -> str:
        return str(self.strerror)


@contextlib.contextmanager
def write_errors(out: PathLike):
    """Turn an ``OSError`` raised while writing ``out`` (a full disk, a file-size limit, a
    read-only folder), or one hidden behind a library's ``RuntimeError``, into a
    :class:`WriteError` (an ``OSError``) whose text is one line that names ``out`` and says
    nothing was written (the writers have removed their temporary files)."""
    try:
        yield
    except WriteError:
        raise
    except (OSError, RuntimeError) as exc:
        err = os_error_of(exc)
        if err is None:
            raise
        what = err.strerror or str(err)
        raise WriteError(err.errno, f'cannot write {out}: {what}; nothing was written') from None


def _raise_exit(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


def terminate_cleanly() -> None:
    """Make ``SIGTERM`` and ``SIGHUP`` raise ``SystemExit(128 + signal)`` in this process (when
    their handler is the default and this is the main thread), so that ``finally`` blocks
    remove temporary outputs and the exit status is the shell's usual 143 / 129. A file-size
    limit (``SIGXFSZ``) becomes an ``OSError`` (``EFBIG``) in the writer instead of a kill."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ('SIGTERM', 'SIGHUP'):
        sig: Optional[int] = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _raise_exit)
    xfsz = getattr(signal, 'SIGXFSZ', None)
    if xfsz is not None and signal.getsignal(xfsz) == signal.SIG_DFL:
        signal.signal(xfsz, signal.SIG_IGN)


def default_signals() -> None:
    """Undo :func:`terminate_cleanly` (for worker processes)."""
    for name in ('SIGTERM', 'SIGHUP'):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is _raise_exit:
            signal.signal(sig, signal.SIG_DFL)
