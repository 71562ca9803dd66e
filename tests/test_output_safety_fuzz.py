"""Property tests of the two public writers, convert and partition: no sequence of bad paths
(inputs, files as parents, links, a user's folders and files, empty folders), existing outputs,
``overwrite`` flags and interruptions (a full disk, SIGTERM's SystemExit, Ctrl-C, at any write,
at the marker or at the swap) loses or changes a byte of anything but the output it was asked
to write, and that output is either as before or complete and ours."""
import contextlib
import errno
import os
import pathlib
import shutil
import tempfile
from unittest import mock

import numpy as np
import pytest
import torch
from _files import snapshot  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdl_graphs.convert import convert
from gdl_graphs.io import GraphDataset, atomic, load_data
from gdl_graphs.io.data import is_dataset_folder, is_graph_file

TARGETS = ('new', 'new.pt', 'ours', 'ours.pt', 'user', 'user.txt', 'user.txt/x', 'empty', 'in',
           'in/out', 'in/0.npy', 'link-ours', 'link-ours-pt', 'link-user', 'link-dangling',
           'link-in', '.', 'user/sub/new', 'parts', 'link-parts')
FAULTS = st.one_of(
    st.just(None),
    st.tuples(st.sampled_from(['write', 'swap', 'marker']), st.integers(0, 3),
              st.sampled_from(['disk', 'sigterm', 'ctrl-c'])))
OP = st.tuples(st.sampled_from(TARGETS), st.booleans(), st.booleans(), FAULTS)


def world(base: pathlib.Path) -> None:
    """Inputs, a user's files and folders, links, and one output of each kind of ours."""
    rng = np.random.default_rng(0)
    (base / 'in').mkdir()
    for i in range(2):
        np.save(base / 'in' / f'{i}.npy', rng.random((4, 5)).astype(np.float32))
    (base / 'user' / 'sub').mkdir(parents=True)
    (base / 'user' / 'meta.json').write_text('{"mine": true}')
    (base / 'user' / 'thesis.txt').write_text('four years of work')
    (base / 'user' / 'sub' / 'data.csv').write_text('1,2\n')
    (base / 'user.txt').write_text('notes')
    (base / 'empty').mkdir()
    convert(base / 'in', 'grid', base / 'ours', progress=False)
    convert(base / 'in' / '0.npy', 'grid', base / 'ours.pt')
    for name, target in (('link-ours', 'ours'), ('link-ours-pt', 'ours.pt'), ('link-user', 'user'),
                         ('link-dangling', 'nowhere'), ('link-in', 'in'),
                         ('link-parts', 'parts')):
        os.symlink(base / target, base / name)


def _raise(kind: str):
    if kind == 'disk':
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if kind == 'sigterm':
        raise SystemExit(143)
    raise KeyboardInterrupt


@contextlib.contextmanager
def faults(fault, write_target):
    """Make the ``k``-th write (after writing half a file), the marker or the swap fail."""
    if fault is None:
        yield
        return
    where, k, kind = fault
    count = [0]

    def wrap(real, path_arg):
        def fn(*args, **kwargs):
            count[0] += 1
            if count[0] > k:
                if path_arg is not None:  # half a file, then the failure
                    pathlib.Path(args[path_arg]).write_bytes(b'PK\3\4')
                _raise(kind)
            return real(*args, **kwargs)
        return fn
    if where == 'write':
        module, name, index = write_target
        patch = mock.patch.object(module, name, wrap(getattr(module, name), index))
    elif where == 'marker':
        patch = mock.patch.object(atomic, '_write_text', wrap(atomic._write_text, 0))
    else:
        patch = mock.patch.object(atomic, 'swap', wrap(atomic.swap, None))
    with patch:
        yield


def expected_ok(base: pathlib.Path, target: str, folder: bool, overwrite: bool,
                inputs, ours) -> bool:
    """The rule, written out: may ``target`` be written?"""
    p = base / target
    if p.is_symlink():
        if not p.exists():
            return False
        p = pathlib.Path(os.path.realpath(p))
    for i in inputs:
        i = pathlib.Path(os.path.realpath(i))
        if p == i or i in p.parents or p in i.parents:
            return False
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                return False
            break
    if not p.exists():
        return True
    if folder and p.is_dir() and not any(p.iterdir()):
        return True
    return overwrite and ours(p)


def check_step(base, before, target, folder, ok, raised, valid):
    after = snapshot(base)
    if raised is not None or not ok:
        assert not ok or raised is not None
        assert after == before, (target, raised)  # nothing changed, nothing left behind
        return
    # only the target changed (through a link: its target) and it is complete and ours
    p = base / target
    real = pathlib.Path(os.path.realpath(p)) if p.is_symlink() else p
    rel = real.relative_to(base).as_posix()
    inside = (lambda k: k == rel or k.startswith(rel + '/'))
    assert {k: v for k, v in after.items() if not inside(k)} == \
        {k: v for k, v in before.items() if not inside(k)}, target
    assert valid(real), target


def run_ops(ops, write, ours, valid, inputs_of, write_target, is_folder):
    base = pathlib.Path(tempfile.mkdtemp(prefix='gdl-fuzz-'))
    try:
        world(base)
        user = {k: v for k, v in snapshot(base).items()
                if k.split('/')[0] in ('user', 'user.txt', 'in')}
        for target, single, overwrite, fault in ops:
            folder = is_folder(single)
            inputs = inputs_of(base, single)
            before = snapshot(base)
            ok = expected_ok(base, target, folder, overwrite, inputs, lambda p: ours(p, single))
            raised = None
            try:
                with faults(fault, write_target):
                    write(base, target, single, overwrite)
            except (ValueError, OSError, SystemExit, KeyboardInterrupt) as exc:
                raised = exc
            if ok and fault is None:
                assert raised is None, (target, single, overwrite, raised)
            if not ok:
                assert isinstance(raised, ValueError), (target, single, overwrite, raised)
            check_step(base, before, target, folder, ok, raised, lambda p: valid(p, single))
            now = snapshot(base)
            assert all(now.get(k) == v for k, v in user.items())  # not a byte lost
    finally:
        shutil.rmtree(base)


# --- convert --------------------------------------------------------------------------------

def convert_write(base, target, single, overwrite):
    src = base / 'in' / '0.npy' if single else base / 'in'
    convert(src, 'grid', base / target, overwrite=overwrite, progress=False)


def convert_ours(p, single):
    return is_graph_file(p) if single else is_dataset_folder(p)


def convert_valid(p, single):
    if single:
        return is_graph_file(p) and load_data(p).num_nodes == 20
    return is_dataset_folder(p) and len(GraphDataset(p)) == 2


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(OP, min_size=1, max_size=4))
def test_convert_never_loses_a_byte(ops):
    import gdl_graphs.io.data as D
    run_ops(ops, convert_write, convert_ours, convert_valid,
            lambda base, single: [base / 'in' / '0.npy'] if single else [base / 'in'],
            (D, 'write_torch', 1), lambda single: not single)


# --- partition ------------------------------------------------------------------------------

GRAPH = {}


def graph():
    if not GRAPH:
        from gdl_graphs.distributed.planted import planted_partition
        ei, x, y = planted_partition(40, num_features=4, seed=5)
        split = {'train': torch.arange(0, 20), 'valid': torch.arange(20, 30),
                 'test': torch.arange(30, 40)}
        GRAPH.update(ei=ei, x=x, y=y, split=split)
    return GRAPH


def partition_write(base, target, single, overwrite):
    from gdl_graphs.distributed import partition_graph
    g = graph()
    partition_graph(str(base / target), 'ogbn-test', g['ei'], g['x'], g['y'], g['split'],
                    1 + int(single), overwrite=overwrite, progress=False)


def partition_ours(p, single):
    return atomic.is_ours(p, 'gdl_graphs-partitions-v1', folder=True)


def partition_valid(p, single):
    from gdl_graphs.distributed import check_folder
    return partition_ours(p, single) and \
        check_folder(str(p), 'ogbn-test', 1 + int(single))['num_nodes'] == 40


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(OP, min_size=1, max_size=4))
def test_partition_never_loses_a_byte(ops):
    pytest.importorskip('pymetis')
    import gdl_graphs.distributed.partition as P
    # partitions are folders only: `single` picks the number of parts (1 or 2)
    run_ops(ops, partition_write, partition_ours, partition_valid, lambda base, single: [],
            (P, '_save', 0), lambda single: True)
