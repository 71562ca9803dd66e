"""Property test of the run loop's two writers, the checkpoint and the results file: no
sequence of runs with bad paths (a user's files, folders, a file as parent, links), existing
outputs, --resume / --overwrite and interruptions (a full disk, SIGTERM's SystemExit, Ctrl-C,
while a file is half written or at the rename) loses or changes a byte of anything but the
outputs asked for, and each of those is either as before or a complete file of ours."""
import contextlib
import errno
import os
import pathlib
import shutil
import tempfile
from unittest import mock

import _ddp_job
from _files import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdl_graphs.experiments import CHECKPOINT_FORMAT, RESULTS_FORMAT, cli
from gdl_graphs.io import atomic

CKPTS = ('new.ckpt', 'ours.ckpt', 'user.txt', 'user.txt/c.ckpt', 'user', 'link-ours',
         'link-user', 'link-dangling', 'sub/new.ckpt')
RESULTS = ('new.json', 'ours.json', 'user.json', 'user.txt/r.json', 'user', 'link-user-json')
FAULT = st.one_of(st.just(None), st.tuples(st.sampled_from(['write', 'rename']),
                                           st.integers(0, 2),
                                           st.sampled_from(['disk', 'sigterm', 'ctrl-c'])))
OP = st.tuples(st.sampled_from(CKPTS), st.sampled_from(RESULTS), st.booleans(), st.booleans(),
               FAULT)


def world(base: pathlib.Path) -> None:
    (base / 'user').mkdir()
    (base / 'user' / 'thesis.txt').write_text('four years of work')
    (base / 'user.txt').write_text('notes')
    (base / 'user.json').write_text('{"format": "mine", "acc": 1}')
    assert job(base, 'ours.ckpt', 'ours.json', False, False) == 0
    for name, target in (('link-ours', 'ours.ckpt'), ('link-user', 'user.txt'),
                         ('link-dangling', 'nowhere'), ('link-user-json', 'user.json')):
        os.symlink(base / target, base / name)


def job(base, ckpt, results, resume, overwrite):
    argv = ['--out-dir', str(base / 'runs'), '--checkpoint', str(base / ckpt), '--results',
            str(base / results), '--epochs', '1', '--quiet']
    argv += ['--resume'] * resume + ['--overwrite'] * overwrite
    with contextlib.redirect_stdout(open(os.devnull, 'w')), \
            contextlib.redirect_stderr(open(os.devnull, 'w')):
        return cli(_ddp_job.main, argv)


def _raise(kind):
    if kind == 'disk':
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if kind == 'sigterm':
        raise SystemExit(143)
    raise KeyboardInterrupt


@contextlib.contextmanager
def faults(fault):
    """The k-th write fails half-way through its file, or the k-th rename into place."""
    if fault is None:
        yield
        return
    where, k, kind = fault
    count = [0]
    if where == 'write':
        real = atomic.write_torch

        def write_torch(obj, path, *a, **kw):
            count[0] += 1
            if count[0] > k:
                with open(path, 'wb') as f:
                    f.write(b'PK\x03\x04 half a zip')
                _raise(kind)
            return real(obj, path, *a, **kw)
        with mock.patch.object(atomic, 'write_torch', write_torch):
            yield
    else:
        real = os.replace

        def replace(a, b):
            count[0] += 1
            if count[0] > k:
                _raise(kind)
            return real(a, b)
        with mock.patch.object(atomic.os, 'replace', replace):
            yield


def _ours(path: pathlib.Path, fmt: str) -> bool:
    return atomic.is_ours(path, fmt, folder=False)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(OP, min_size=1, max_size=3))
def test_no_sequence_of_runs_loses_a_users_byte(ops):
    base = pathlib.Path(tempfile.mkdtemp())
    try:
        world(base)
        for ckpt, results, resume, overwrite, fault in ops:
            before = snapshot(base)
            with faults(fault):
                try:
                    job(base, ckpt, results, resume, overwrite)
                except SystemExit:
                    pass
            after = snapshot(base)
            targets = set()
            for name in (ckpt, results):
                p = base / name
                real = pathlib.Path(os.path.realpath(p))
                targets.add(real.relative_to(base.resolve()).as_posix()
                            if str(real).startswith(str(base.resolve())) else name)
            runs = {k for k in after if k == 'runs' or k.startswith('runs/')}
            for key in set(before) | set(after):
                if key in targets or key in runs or key == 'sub':
                    continue
                # nothing else appears, disappears or changes (temporary files included)
                assert before.get(key) == after.get(key), (ops, key)
            for key, fmt in ((ckpt, CHECKPOINT_FORMAT), (results, RESULTS_FORMAT)):
                p = base / key
                real = pathlib.Path(os.path.realpath(p))
                rel = real.relative_to(base.resolve()).as_posix() \
                    if str(real).startswith(str(base.resolve())) else key
                if before.get(rel) != after.get(rel):
                    # changed: it was ours or absent, and is now a complete file of ours
                    assert rel not in before or _ours(real, fmt) or before[rel] is None
                    assert _ours(real, fmt), (ops, rel)
            # a user's files are never touched
            assert (base / 'user' / 'thesis.txt').read_text() == 'four years of work'
            assert (base / 'user.txt').read_text() == 'notes'
            assert (base / 'user.json').read_text() == '{"format": "mine", "acc": 1}'
            assert not [p for p in base.rglob('*.tmp')], ops
    finally:
        shutil.rmtree(base, ignore_errors=True)
