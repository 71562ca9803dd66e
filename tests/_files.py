"""Helpers of the tests that check what writers do to a user's files: the command line's exit
code and error line, a byte-for-byte snapshot of a folder, and the files a user has."""
import os
import pathlib

import numpy as np

from gdl_graphs.cli import main


def run_cli(capsys, *argv):
    """``gdl-graphs ARGV``: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(code, err):
    """An error as promised: exit code 2 and one line, no traceback."""
    assert code == 2, err
    assert err.count('\n') == 1 and 'Traceback' not in err, err
    return err


def snapshot(folder: pathlib.Path) -> dict:
    """Every path under ``folder`` (links not followed) with its bytes, its link target, or
    None for a folder."""
    out = {}
    for p in sorted(folder.rglob('*')):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = ('link', os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = None
    return out


def images(folder: pathlib.Path, n: int = 3, size: int = 5, seed: int = 13) -> pathlib.Path:
    """``n`` small ``.npy`` images (``size x size + 1``) in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(folder / f'{i}.npy', rng.random((size, size + 1)).astype(np.float32))
    return folder


def user_folder(folder: pathlib.Path, meta: bool = False) -> pathlib.Path:
    """A user's folder: a thesis and a subfolder (and, with ``meta``, a ``meta.json``: the
    folder a partition writer once took for its own)."""
    (folder / 'sub').mkdir(parents=True)
    if meta:
        (folder / 'meta.json').write_text('{"mine": true}')
    (folder / 'thesis.txt').write_text('four years of work')
    (folder / 'sub' / 'data.csv').write_text('1,2\n')
    return folder
