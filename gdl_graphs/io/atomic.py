"""Writing outputs so that nothing a user has is lost or left half-written.

- Every output is built under a hidden temporary name next to its destination,
  ``.NAME.gdl<pid>-<random>[.ext].tmp``, and renamed into place only when complete; a folder
  replaces an old one by an atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two
  renames, undone on failure).
- The temporary name carries the writer's process id: a later write to the same destination
  removes the temporary leftovers of writers that are gone (a ``SIGKILL``, a power cut)
  (:func:`remove_stale`). A folder is removed only if it holds nothing but what our writer puts
  in a dataset folder.
- :func:`write_torch` writes through a Python file object, so a full disk is an ``OSError``
  (``ENOSPC``), not torch's opaque ``RuntimeError`` from its zip writer.
- :func:`terminate_cleanly` turns ``SIGTERM``/``SIGHUP`` into ``SystemExit(128 + signal)`` so
  the ``finally`` blocks of the writers remove their temporary files (the command installs it).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import pathlib
import re
import shutil
import signal
import tempfile
import threading
from typing import Any, Iterator, Optional, Union

PathLike = Union[str, 'os.PathLike[str]']

# what a dataset folder written by gdl_graphs holds (io.data.save_collated)
DATASET_FILES = frozenset({'data.pt', 'pre_transform.pt', 'pre_filter.pt', 'meta.json'})
DATASET_MARKER = 'meta.json'  # processed/meta.json: the file only our writer creates


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


def holds_only_dataset_files(folder: pathlib.Path, complete: bool = False) -> bool:
    """Whether ``folder`` holds nothing but a dataset folder's files (``processed/`` with
    ``data.pt``, ``pre_transform.pt``, ``pre_filter.pt``, ``meta.json``), i.e. removing it loses
    nothing a user put there. ``complete``: also require ``processed/data.pt`` and the marker
    ``processed/meta.json`` (a finished dataset, not a killed write)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        top = list(folder.iterdir())
        if any(p.name != 'processed' for p in top):
            return False
        if not top:
            return not complete
        proc = folder / 'processed'
        if proc.is_symlink() or not proc.is_dir():
            return False
        names = set()
        for p in proc.iterdir():
            if p.is_symlink() or not p.is_file() or p.name not in DATASET_FILES:
                return False
            names.add(p.name)
    except OSError:
        return False
    return not complete or {'data.pt', DATASET_MARKER} <= names


def remove_stale(dest: PathLike) -> None:
    """Remove what killed writers of ``dest`` left next to it: temporary files and folders
    named ``.NAME.gdl<pid>-*.tmp`` whose process is gone (folders only when they hold nothing
    but dataset files). Never raises."""
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
            elif p.name.endswith('.old.tmp') and not (dest.exists() or dest.is_symlink()) \
                    and holds_only_dataset_files(p, complete=True):
                os.rename(p, dest)  # killed half-way through a swap: put the old one back
            elif holds_only_dataset_files(p):
                shutil.rmtree(p)
        except OSError:
            pass


@contextlib.contextmanager
def atomic_path(dest: PathLike, suffix: str = '') -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only on success.

    An exception (or ``SIGTERM`` under :func:`terminate_cleanly`) removes the temporary file;
    the leftovers of a killed writer are removed by the next write of ``dest``.
    """
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
def atomic_folder(dest: PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary folder next to ``dest``; on success it replaces ``dest`` atomically
    (the old ``dest``, if any, is removed afterwards). On an exception it is removed."""
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix='.tmp', dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
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


def write_torch(obj: Any, path: PathLike) -> None:
    """``torch.save(obj, path)`` through a Python file, flushed to disk: a full disk or a
    read-only folder is an ``OSError`` (torch's writer turns it into an opaque RuntimeError
    when it opens the path itself)."""
    import torch
    with open(path, 'wb') as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def _raise_exit(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


def terminate_cleanly() -> None:
    """Make ``SIGTERM`` and ``SIGHUP`` raise ``SystemExit(128 + signal)`` in this process (when
    their handler is the default and this is the main thread), so that ``finally`` blocks
    remove temporary outputs and the exit status is the shell's usual 143 / 129."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ('SIGTERM', 'SIGHUP'):
        sig: Optional[int] = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _raise_exit)


def default_signals() -> None:
    """Undo :func:`terminate_cleanly` (for worker processes)."""
    for name in ('SIGTERM', 'SIGHUP'):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is _raise_exit:
            signal.signal(sig, signal.SIG_DFL)
