"""What writes, and when it replaces: every output is checked before any work, replaced only
when it is ours (a marker with its format and a content fingerprint) and holds nothing else,
and written atomically; a real full disk, SIGTERM mid-write and a rebuilt dataset under old
partitions are one clear line each. Each case is first reproduced as a user met it."""
import contextlib
import errno
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from _files import images, one_error_line, snapshot, user_folder  # noqa: E402
from _files import run_cli as run  # noqa: E402

from gdl_graphs.io import GraphDataset, atomic, load_data
from gdl_graphs.io.data import DATASET_FORMAT, is_dataset_folder, is_graph_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(13)


def env():
    e = dict(os.environ)
    e['PYTHONPATH'] = str(ROOT) + os.pathsep + e.get('PYTHONPATH', '')
    e['PYTHONDONTWRITEBYTECODE'] = '1'
    return e


# --- the API: fingerprints, markers, check_output -------------------------------------------

def test_fingerprint_is_of_content_and_type():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    fp = atomic.fingerprint(a)
    assert fp.startswith('b2:') and len(fp) == 3 + 32
    assert atomic.fingerprint(torch.from_numpy(a)) == fp  # a tensor is its numpy array
    assert atomic.fingerprint(np.asfortranarray(a)) == fp  # memory layout does not matter
    assert atomic.fingerprint(a.astype(np.int32)) != fp  # dtype does
    assert atomic.fingerprint(a.reshape(4, 3)) != fp  # shape does
    b = a.copy()
    b[2, 3] += 1
    assert atomic.fingerprint(b) != fp
    # items are framed: ('ab', 'c') is not ('a', 'bc'); 1 is not '1' nor True
    assert atomic.fingerprint('ab', 'c') != atomic.fingerprint('a', 'bc')
    assert len({atomic.fingerprint(v) for v in (1, '1', True, 1.0, None, b'1')}) == 6
    assert atomic.fingerprint({'b': 1, 'a': 2}) == atomic.fingerprint({'a': 2, 'b': 1})


def test_fingerprint_reads_large_arrays_in_chunks(tmp_path, monkeypatch):
    x = RNG.random((1000, 7)).astype(np.float32)
    whole = atomic.fingerprint(x)
    np.save(tmp_path / 'x.npy', x)
    mm = np.load(tmp_path / 'x.npy', mmap_mode='r')
    monkeypatch.setattr(atomic.Fingerprint, 'CHUNK', 100)  # 3 rows a chunk
    assert atomic.fingerprint(mm) == whole


def test_fingerprint_files_cache_sees_a_changed_file(tmp_path):
    a, b, cache = tmp_path / 'a.bin', tmp_path / 'b.bin', tmp_path / 'cache.json'
    a.write_bytes(b'x' * 100)
    b.write_bytes(b'y' * 100)
    fp = atomic.fingerprint_files([a, b], root=tmp_path, cache=cache)
    assert cache.is_file() and atomic.fingerprint_files([a, b], root=tmp_path) == fp
    assert atomic.fingerprint_files([a, b], root=tmp_path, cache=cache) == fp  # from the cache
    assert atomic.fingerprint_files([b, a], root=tmp_path) != fp  # order and names count
    os.utime(a, ns=(1, 1))
    a.write_bytes(b'x' * 99 + b'z')  # same size, new content and time: hashed again
    assert atomic.fingerprint_files([a, b], root=tmp_path, cache=cache) != fp


def test_markers_of_folders_torch_files_and_json(tmp_path):
    fp = atomic.fingerprint('source')
    folder = tmp_path / 'out'
    with atomic.atomic_folder(folder, 'test-v1', fp, extra=3) as tmp:
        (tmp / 'sub').mkdir()
        (tmp / 'sub' / 'a.txt').write_text('abc')
    marker = atomic.read_marker(folder)
    assert marker['format'] == 'test-v1' and marker['fingerprint'] == fp
    assert marker['extra'] == 3 and marker['files'] == {'sub/a.txt': 3}
    assert atomic.is_ours(folder, 'test-v1', folder=True)
    assert not atomic.is_ours(folder, 'other-v1')
    (folder / 'sub' / 'b.txt').write_text('mine')
    assert 'also holds other files (sub/b.txt)' in atomic.why_not_ours(folder, 'test-v1')
    (folder / 'sub' / 'b.txt').unlink()
    (folder / 'sub' / 'a.txt').write_text('abcd')
    assert 'changed or removed' in atomic.why_not_ours(folder, 'test-v1')
    # a torch file: the marker is a record of its zip archive; torch.load ignores it
    with atomic.atomic_path(tmp_path / 'w.pt') as tmp:
        atomic.write_torch({'w': torch.arange(3)}, tmp, 'ckpt-v1', fp)
    assert atomic.read_marker(tmp_path / 'w.pt') == {'format': 'ckpt-v1', 'fingerprint': fp}
    assert torch.equal(torch.load(tmp_path / 'w.pt', weights_only=True)['w'], torch.arange(3))
    assert torch.equal(torch.load(tmp_path / 'w.pt', weights_only=True, mmap=True)['w'],
                       torch.arange(3))
    torch.save({'w': 1}, tmp_path / 'plain.pt')
    assert atomic.read_marker(tmp_path / 'plain.pt') is None
    atomic.write_json({'acc': 0.5}, tmp_path / 'r.json', 'results-v1', fp)
    assert json.loads((tmp_path / 'r.json').read_text()) == {
        'format': 'results-v1', 'fingerprint': fp, 'acc': 0.5}
    assert atomic.is_ours(tmp_path / 'r.json', 'results-v1', folder=False)


def test_check_output_refuses_what_is_not_ours(tmp_path):
    fp = atomic.fingerprint(0)
    check = atomic.check_output
    with atomic.atomic_folder(tmp_path / 'ours', 'test-v1', fp) as tmp:
        (tmp / 'a').write_text('a')
    user = user_folder(tmp_path / 'user', meta=True)
    (tmp_path / 'file.txt').write_text('mine')
    (tmp_path / 'empty').mkdir()
    assert check(tmp_path / 'new' / 'deep', 'test-v1', folder=True) == tmp_path / 'new' / 'deep'
    assert check(tmp_path / 'empty', 'test-v1', folder=True) == tmp_path / 'empty'
    with pytest.raises(atomic.OutputError, match='ours exists; choose another output or pass'):
        check(tmp_path / 'ours', 'test-v1', folder=True)
    assert check(tmp_path / 'ours', 'test-v1', folder=True, overwrite=True) == tmp_path / 'ours'
    with pytest.raises(atomic.OutputError, match=r'a folder that holds other files \(meta.json, '
                                                 r'sub, thesis.txt\); refusing to replace it '
                                                 r'even with --overwrite'):
        check(user, 'test-v1', folder=True, overwrite=True)
    with pytest.raises(atomic.OutputError, match='is a file, not a test-v1 folder'):
        check(tmp_path / 'file.txt', 'test-v1', folder=True, overwrite=True)
    with pytest.raises(atomic.OutputError, match='file.txt is a file, not a folder'):
        check(tmp_path / 'file.txt' / 'r.json', 'results-v1', folder=False)
    with pytest.raises(atomic.OutputError, match='a test-v1 output, not'):
        check(tmp_path / 'ours', 'other-v1', folder=True, overwrite=True)
    with pytest.raises(atomic.OutputError, match='the output .* is inside the input'):
        check(user / 'out', 'test-v1', folder=True, inputs=[user])
    # links: to one of ours, it is that output; to anything else, refused; dangling, refused
    os.symlink(tmp_path / 'ours', tmp_path / 'link')
    assert check(tmp_path / 'link', 'test-v1', folder=True, overwrite=True) == tmp_path / 'ours'
    os.symlink(user, tmp_path / 'ulink')
    with pytest.raises(atomic.OutputError, match=r'ulink \(a link to .*user\) is a folder that'):
        check(tmp_path / 'ulink', 'test-v1', folder=True, overwrite=True)
    os.symlink(tmp_path / 'gone', tmp_path / 'dangling')
    with pytest.raises(atomic.OutputError, match='which does not exist'):
        check(tmp_path / 'dangling', 'test-v1', folder=True, overwrite=True)
    os.symlink(user / 'thesis.txt', tmp_path / 'in-link')
    with pytest.raises(atomic.OutputError, match='is the input'):
        check(tmp_path / 'in-link', 'test-v1', folder=False, overwrite=True,
              inputs=[user / 'thesis.txt'])


def test_a_folder_that_changes_while_written_is_not_replaced(tmp_path):
    fp = atomic.fingerprint(0)
    out = tmp_path / 'out'
    with atomic.atomic_folder(out, 'test-v1', fp) as tmp:
        (tmp / 'a').write_text('old')
    with pytest.raises(atomic.OutputError, match='changed while it was being written'):
        with atomic.atomic_folder(out, 'test-v1', fp, overwrite=True) as tmp:
            (tmp / 'a').write_text('new')
            (out / 'notes.txt').write_text('added meanwhile')
    assert (out / 'a').read_text() == 'old' and (out / 'notes.txt').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']


# --- --overwrite never replaces a folder that is not ours -----------------------------------

@pytest.fixture(scope='module')
def node_dataset(tmp_path_factory):
    """A small OGB-format node dataset (ogbn-products layout) built as a user would."""
    pytest.importorskip('ogb')
    pytest.importorskip('pymetis')
    from gdl_graphs.datasets import build_node_dataset
    from gdl_graphs.distributed.planted import planted_partition
    root = tmp_path_factory.mktemp('nodes')
    ei, x, y = planted_partition(300, num_features=64, seed=3)
    build_node_dataset(str(root), 'ogbn-products', ei, x, y)
    from gdl_graphs.datasets import load_dataset
    load_dataset('ogbn-products', str(root))  # processed by ogb once, as after a first run
    return root, (ei, x, y)


def partition_script(argv):
    from _scripts import run as run_script
    return run_script('partition', [str(a) for a in argv])


def test_partition_overwrite_keeps_a_folder_that_is_not_ours(node_dataset, tmp_path, capsys):
    root, _ = node_dataset
    # the folder: meta.json, thesis.txt and sub/ -- used to be deleted whole
    mine = user_folder(tmp_path / 'mine', meta=True)
    before = snapshot(mine)
    assert partition_script(['--root', root, '--num-parts', 2, '--out', mine, '--overwrite',
                             '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'a folder that holds other files (meta.json, sub, ' \
        'thesis.txt); refusing to replace it even with --overwrite' in err, err
    assert snapshot(mine) == before
    # our own partition folder is replaced; one a user added a file to is theirs
    parts = tmp_path / 'parts'
    assert partition_script(['--root', root, '--num-parts', 2, '--out', parts, '--quiet']) == 0
    assert partition_script(['--root', root, '--num-parts', 1, '--out', parts, '--overwrite',
                             '--quiet']) == 0
    assert json.loads((parts / 'meta.json').read_text())['num_parts'] == 1
    (parts / 'notes.txt').write_text('mine')
    before = snapshot(parts)
    assert partition_script(['--root', root, '--num-parts', 2, '--out', parts, '--overwrite',
                             '--quiet']) == 2
    assert 'also holds other files (notes.txt)' in capsys.readouterr().err
    assert snapshot(parts) == before
    # without --overwrite nothing existing is replaced; an empty folder is taken
    (tmp_path / 'empty').mkdir()
    assert partition_script(['--root', root, '--num-parts', 2, '--out', tmp_path / 'empty',
                             '--quiet']) == 0
    assert atomic.is_ours(tmp_path / 'empty', 'gdl_graphs-partitions-v1')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty', 'mine', 'parts']


# --- fingerprints of derived data: partitions of an older dataset are refused ---------------

def test_partitions_of_a_rebuilt_dataset_are_refused(node_dataset, tmp_path, capsys):
    from _scripts import run as run_script

    from gdl_graphs.datasets import build_node_dataset, dataset_fingerprint
    src, (ei, x, y) = node_dataset
    root = tmp_path / 'root'
    shutil.copytree(src, root)
    assert partition_script(['--root', root, '--num-parts', 1, '--out', tmp_path / 'old_parts',
                             '--quiet']) == 0
    old = dataset_fingerprint('ogbn-products', str(root))
    meta = json.loads((tmp_path / 'old_parts' / 'meta.json').read_text())
    assert meta['source'] == old
    # rebuilt: the same edges, new features and labels (same node and edge counts)
    g = torch.Generator().manual_seed(9)
    build_node_dataset(str(root), 'ogbn-products', ei, torch.randn(x.shape, generator=g),
                       torch.randint(0, int(y.max()) + 1, y.shape, generator=g), overwrite=True)
    new = dataset_fingerprint('ogbn-products', str(root))
    assert new != old
    capsys.readouterr()
    argv = ['--root', str(root), '--partitions', str(tmp_path / 'old_parts'), '--epochs', '1',
            '--runs', '1', '--quiet', '--device', 'cpu', '--out-dir', str(tmp_path / 'out')]
    assert run_script('ogbn_products', argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f'was cut from data with fingerprint {old}' in err
    assert f'has fingerprint {new}' in err and 'partition it again' in err
    assert not (tmp_path / 'out').exists()


def test_stale_processed_data_is_refused(node_dataset, tmp_path):
    from gdl_graphs.datasets import DatasetError, dataset_fingerprint, load_dataset
    src, _ = node_dataset
    root = tmp_path / 'root'
    shutil.copytree(src, root)
    ds = load_dataset('ogbn-products', str(root))  # ogb processes it; the source is recorded
    folder = pathlib.Path(root) / 'ogbn_products'
    record = json.loads((folder / 'processed' / 'gdl_source.json').read_text())
    assert record['fingerprint'] == ds.fingerprint == dataset_fingerprint('ogbn-products',
                                                                          str(root))
    load_dataset('ogbn-products', str(root))  # unchanged: loads
    # a raw file replaced by hand, processed/ kept: ogb would load the old arrays silently
    labels = folder / 'raw' / 'node-label.csv.gz'
    import pandas as pd
    y = pd.read_csv(labels, header=None).values
    pd.DataFrame((y + 1) % (y.max() + 1)).to_csv(labels, header=False, index=False,
                                                 compression='gzip')
    with pytest.raises(DatasetError, match=f"built from raw files with fingerprint "
                                           f"{record['fingerprint']}, but raw/ and split/ now "
                                           f"have fingerprint b2:"):
        load_dataset('ogbn-products', str(root))
    shutil.rmtree(folder / 'processed')  # the fix the message names
    assert load_dataset('ogbn-products', str(root)).fingerprint != record['fingerprint']


def test_partition_library_checks_the_source(tmp_path):
    pytest.importorskip('pymetis')
    from gdl_graphs.distributed import PartitionError, check_folder, partition_graph
    from gdl_graphs.distributed.planted import planted_partition
    ei, x, y = planted_partition(60, num_features=4, seed=1)
    split = {'train': torch.arange(0, 30), 'valid': torch.arange(30, 45),
             'test': torch.arange(45, 60)}
    out = partition_graph(str(tmp_path / 'p'), 'ogbn-x', ei, x, y, split, 2, progress=False)
    meta = check_folder(out, 'ogbn-x', 2)
    from gdl_graphs.distributed.partition import source_fingerprint
    assert meta['source'] == source_fingerprint(ei, x, y, split)
    assert check_folder(out, None, None, source=meta['source'])['source'] == meta['source']
    y2 = y.clone()
    y2[0] = (y2[0] + 1) % 2
    with pytest.raises(PartitionError, match='cut from data with fingerprint .* but the new '
                                             'labels has fingerprint'):
        check_folder(out, None, None, source=source_fingerprint(ei, x, y2, split),
                     source_name='the new labels')
    # a folder without a fingerprint (an older version's) is refused on use
    marker = json.loads((tmp_path / 'p' / 'gdl_graphs.json').read_text())
    del marker['fingerprint']
    (tmp_path / 'p' / 'gdl_graphs.json').write_text(json.dumps(marker))
    with pytest.raises(PartitionError, match='has no fingerprint of the data it was cut from'):
        check_folder(out, None, None)


# --- a real full disk ---------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(folder: pathlib.Path, kib: int = 256):
    """A folder on a real small file system (a tmpfs) where this machine lets us mount one;
    elsewhere a plain folder and a per-file size limit (RLIMIT_FSIZE, set in the child
    process) that makes the real writer fail mid-file, as a full disk does. Yields the
    ``preexec_fn`` for the child (None on a tmpfs)."""
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which('mount') and sys.platform.startswith('linux'):
        mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={kib}k', 'tmpfs',
                                  str(folder)], capture_output=True).returncode == 0

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024 // 4, resource.RLIM_INFINITY))
    try:
        yield None if mounted else limit
    finally:
        if mounted:
            subprocess.run(['umount', str(folder)], check=True)


RUN_ALL = textwrap.dedent('''
    import contextlib, io, json, sys
    sys.path.insert(0, 'scripts')
    from gdl_graphs.cli import main
    from gdl_graphs.io import atomic
    atomic.terminate_cleanly()  # as the command does: a file-size limit is EFBIG, not a kill
    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            if argv[0] == 'partition':
                import partition
                from gdl_graphs.experiments import cli
                rc = cli(partition.main, argv[1:])
            elif argv[0] == 'checkpoint':  # the torch writer every checkpoint goes through
                import torch
                try:
                    with atomic.write_errors(argv[1]), atomic.atomic_path(argv[1]) as tmp:
                        atomic.write_torch({'w': torch.randn(100000)}, tmp, 'ckpt-v1', 'b2:0')
                    rc = 0
                except OSError as exc:
                    print(f'{type(exc).__name__} {exc.errno}: {exc}', file=sys.stderr)
                    rc = 2
            else:
                rc = main(argv)
        results.append([rc, err.getvalue()])
    print(json.dumps(results))
''')


def run_all(commands, preexec):
    """Run gdl-graphs commands (or ``['partition', ...]``, ``['checkpoint', path]``) one after
    the other in one child process (under ``preexec``); their exit codes and stderr."""
    proc = subprocess.run([sys.executable, '-c', RUN_ALL,
                           json.dumps([[str(a) for a in c] for c in commands])], cwd=ROOT,
                          env=env(), preexec_fn=preexec, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def full_disk_line(rc, err, out):
    assert rc == 2, err
    err = err.strip()
    assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
    assert ('No space left on device' in err or 'File too large' in err) and str(out) in err
    assert 'nothing was written' in err and 'Errno' not in err and 'enforce fail' not in err
    return err


def test_a_real_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    small = images(tmp_path / 'small', 2, size=4)
    big = images(tmp_path / 'big', 3, size=200)  # 3 x 160 KB: more than the disk holds
    with small_disk(tmp_path / 'disk') as preexec:
        disk = tmp_path / 'disk'
        outs = [disk / 'ds', disk / 'new', disk / 'g.pt']
        results = run_all([['convert', small, '-o', disk / 'ds', '--as', 'grid', '-q'],
                           ['convert', big, '-o', outs[0], '--overwrite', '--as', 'grid', '-q'],
                           ['convert', big, '-o', outs[1], '--as', 'grid', '-q'],
                           ['convert', big / '0.npy', '-o', outs[2], '--as', 'grid', '-q']],
                          preexec)
        assert results[0][0] == 0, results[0]
        for (rc, err), out in zip(results[1:], outs):
            full_disk_line(rc, err, out)
        # the old dataset as it was, and nothing else
        assert sorted(os.listdir(disk)) == ['ds'] and is_dataset_folder(disk / 'ds')
        assert len(GraphDataset(disk / 'ds')) == 2


def test_a_real_full_disk_under_partition_and_the_checkpoint_writer(node_dataset, tmp_path):
    root, _ = node_dataset
    with small_disk(tmp_path / 'disk', kib=64) as preexec:
        disk = tmp_path / 'disk'
        (rc, err), (rc2, err2) = run_all(
            [['partition', '--root', root, '--num-parts', 2, '--out', disk / 'parts',
              '--quiet'], ['checkpoint', disk / 'ck.pt']], preexec)
        assert err.startswith('error: cannot write')
        full_disk_line(rc, err, disk / 'parts')
        # an OSError (ENOSPC / EFBIG), not torch's second RuntimeError from its zip writer
        assert err2.startswith(f'WriteError {errno.ENOSPC}') or \
            err2.startswith(f'WriteError {errno.EFBIG}'), err2
        full_disk_line(rc2, err2, disk / 'ck.pt')
        assert snapshot(disk) == {}


# --- SIGTERM while torch.save is writing ----------------------------------------------------

SLOW_SAVE = textwrap.dedent('''
    import io, pathlib, sys, time
    import gdl_graphs.io.atomic as A
    real_open = open
    class Slow(io.FileIO):  # a slow disk: torch.save is half-way through its zip archive
        writes = 0
        def write(self, b):
            Slow.writes += 1
            if Slow.writes == 3:
                pathlib.Path(sys.argv[1]).touch()
                time.sleep(120)
            return super().write(b)
    def slow_open(path, mode='r', *args, **kwargs):
        return Slow(path, 'wb') if mode == 'wb' else real_open(path, mode, *args, **kwargs)
    A.open = slow_open
    from gdl_graphs.cli import main
    sys.exit(main(sys.argv[2:]))
''')


def test_sigterm_inside_torch_save_exits_143_and_leaves_nothing(tmp_path):
    imgs = images(tmp_path / 'imgs', 3, size=30)
    procs = []
    for name, src, out in (('folder', imgs, 'ds'), ('file', imgs / '0.npy', 'g.pt')):
        (tmp_path / name).mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, '-c', SLOW_SAVE, str(tmp_path / name / 'ready'), 'convert',
             str(src), '-o', str(tmp_path / name / out), '--as', 'grid', '-q'], cwd=ROOT,
            env=env(), stderr=subprocess.PIPE, text=True))
    try:
        for proc, name in zip(procs, ('folder', 'file')):
            deadline = time.monotonic() + 240
            while not (tmp_path / name / 'ready').exists():
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert len(os.listdir(tmp_path / name)) == 2  # ready and the temporary output
            proc.send_signal(signal.SIGTERM)  # torch.save is half-way through its archive
            assert proc.wait(60) == 143
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, name in zip(procs, ('folder', 'file')):
        err = proc.stderr.read()
        proc.stderr.close()
        assert 'Traceback' not in err and 'RuntimeError' not in err, err
        assert os.listdir(tmp_path / name) == ['ready']


# --- OBJ: only ASCII matters; indices as written ----------------------------------------------

def test_obj_with_a_latin1_comment_is_read(tmp_path):
    from gdl_graphs.io import read_mesh
    body = b'v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n'
    (tmp_path / 'cafe.obj').write_bytes(b'# caf\xe9\n' + body)  # Latin-1, not UTF-8
    (tmp_path / 'plain.obj').write_bytes(body)
    pos, face = read_mesh(tmp_path / 'cafe.obj')
    ref_pos, ref_face = read_mesh(tmp_path / 'plain.obj')
    assert torch.equal(pos, ref_pos) and torch.equal(face, ref_face)
    (tmp_path / 'name.obj').write_bytes(b'o Stra\xdfe\ng gr\xfcn\n' + body + b'f 1 2 4 # \xff\n')
    assert read_mesh(tmp_path / 'name.obj')[1].size(1) == 3
    (tmp_path / 'bad.obj').write_bytes(b'v 0 0 0\nv 1 \xe9 0\nv 0 1 0\nf 1 2 3\n')
    with pytest.raises(ValueError, match=r'bad.obj: line 2: a vertex needs three numbers'):
        read_mesh(tmp_path / 'bad.obj')


def test_obj_face_out_of_range_names_the_index_as_written(tmp_path, capsys):
    from gdl_graphs.io import read_mesh
    (tmp_path / 'f.obj').write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n')
    with pytest.raises(ValueError, match=r'f.obj: line 4: face index out of range: vertex 4 '
                                         r'referenced, but the file has 3 vertices'):
        read_mesh(tmp_path / 'f.obj')
    (tmp_path / 'slash.obj').write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1 2/2 3/3\n'
                                        'f 2/1 7/2 3/3\n')
    with pytest.raises(ValueError, match=r'line 5: face index out of range: vertex 7 '):
        read_mesh(tmp_path / 'slash.obj')
    (tmp_path / 'rel.obj').write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n')
    with pytest.raises(ValueError, match=r'line 4: face index out of range: relative vertex -4 '
                                         r'referenced, but only 3 vertices come before it'):
        read_mesh(tmp_path / 'rel.obj')
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'f.obj', '-o', tmp_path / 'f.pt',
                              '--as', 'mesh')[::2])
    assert 'vertex 4 referenced' in err and not (tmp_path / 'f.pt').exists()


# --- messages in the command line's words; -o a link to our dataset ----------------------------

def test_info_on_an_image_does_not_suggest_unsafe_loading(tmp_path, capsys):
    pytest.importorskip('PIL')
    from PIL import Image
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / 'img.png')
    err = one_error_line(*run(capsys, 'info', tmp_path / 'img.png')[::2])
    assert 'weights_only' not in err and 'it looks like a PNG image' in err
    assert 'gdl-graphs convert' in err


def test_no_repair_names_the_flag(tmp_path, capsys):
    (tmp_path / 'dup.obj').write_text('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 3\n')
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'dup.obj', '-o', tmp_path / 'm.pt',
                              '--as', 'mesh', '--no-repair')[::2])
    assert '1 duplicate faces' in err and 'leave out --no-repair' in err
    assert 'repair=True' not in err
    np.save(tmp_path / 'a.npy', np.ones((3, 3), np.float32))
    assert run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as',
               'grid', '-q')[0] == 0
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt',
                              '--as', 'grid', '-q')[::2])
    assert 'pass --overwrite' in err and 'overwrite=True' not in err


def test_output_link_to_our_dataset_is_that_dataset(tmp_path, capsys):
    imgs = images(tmp_path / 'imgs', 3)
    store = tmp_path / 'store'
    store.mkdir()
    assert run(capsys, 'convert', imgs, '-o', store / 'ds', '--as', 'grid', '-q')[0] == 0
    os.symlink(store / 'ds', tmp_path / 'link')
    (imgs / '2.npy').unlink()
    assert run(capsys, 'convert', imgs, '-o', tmp_path / 'link', '--as', 'grid', '-q',
               '--overwrite')[0] == 0
    assert (tmp_path / 'link').is_symlink() and len(GraphDataset(tmp_path / 'link')) == 2
    assert is_dataset_folder(store / 'ds') and sorted(os.listdir(store)) == ['ds']
    # a link to a graph file of ours, likewise; a link to a user's folder is refused
    assert run(capsys, 'convert', imgs / '0.npy', '-o', store / 'g.pt', '--as', 'grid',
               '-q')[0] == 0
    os.symlink(store / 'g.pt', tmp_path / 'g-link.pt')
    assert run(capsys, 'convert', imgs / '1.npy', '-o', tmp_path / 'g-link.pt', '--as', 'grid',
               '-q', '--overwrite')[0] == 0
    assert is_graph_file(store / 'g.pt') and (tmp_path / 'g-link.pt').is_symlink()
    assert torch.equal(load_data(store / 'g.pt').x,
                       torch.from_numpy(np.load(imgs / '1.npy')).reshape(-1, 1))
    mine = user_folder(tmp_path / 'mine', meta=True)
    os.symlink(mine, tmp_path / 'mine-link')
    before = snapshot(mine)
    err = one_error_line(*run(capsys, 'convert', imgs, '-o', tmp_path / 'mine-link', '--as',
                              'grid', '-q', '--overwrite')[::2])
    assert 'a link to' in err and 'holds other files' in err and snapshot(mine) == before


# --- a [3, 3] face tensor ---------------------------------------------------------------------

def test_a_3x3_face_tensor_warns_once_which_layout_was_read():
    from gdl_graphs.domains.mesh import mesh_to_graph
    pos = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
                       dtype=torch.float64)
    rows = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 1]])  # [F, 3]: each row a triangle
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('default')
        for _ in range(3):
            data = mesh_to_graph(pos, rows.t())
    hits = [w for w in caught if 'shape [3, 3]' in str(w.message)]
    assert len(hits) == 1 and "read in PyG's [3, F] layout" in str(hits[0].message)
    assert 'pass face.t()' in str(hits[0].message) and hits[0].filename == __file__
    assert sorted(map(sorted, data.face.t().tolist())) == sorted(map(sorted, rows.tolist()))
    with warnings.catch_warnings():  # both layouts give the same triangles: nothing to say
        warnings.simplefilter('error')
        sym = torch.tensor([[0, 1, 2], [1, 3, 4], [2, 4, 3]])
        assert torch.equal(sym, sym.t())
        mesh_to_graph(pos, sym)
        mesh_to_graph(pos, torch.tensor([[0, 1], [1, 3], [2, 2]]))  # [3, 2]: no doubt


def test_dataset_marker_is_written_last_and_lists_every_file(tmp_path, capsys):
    imgs = images(tmp_path / 'imgs', 3)
    assert run(capsys, 'convert', imgs, '-o', tmp_path / 'ds', '--as', 'grid', '-q')[0] == 0
    marker = atomic.read_marker(tmp_path / 'ds')
    assert marker['format'] == DATASET_FORMAT
    assert sorted(marker['files']) == ['processed/data.pt', 'processed/meta.json',
                                       'processed/pre_filter.pt', 'processed/pre_transform.pt']
    # the fingerprint is of the inputs: the same files give the same one, a changed one not
    first = marker['fingerprint']
    assert run(capsys, 'convert', imgs, '-o', tmp_path / 'ds2', '--as', 'grid', '-q')[0] == 0
    assert atomic.read_marker(tmp_path / 'ds2')['fingerprint'] == first
    code, out, _ = run(capsys, 'info', tmp_path / 'ds2')  # shown by info
    assert code == 0 and f'built from: {first}' in out
    np.save(imgs / '1.npy', np.zeros((5, 6), np.float32))
    assert run(capsys, 'convert', imgs, '-o', tmp_path / 'ds', '--as', 'grid', '-q',
               '--overwrite')[0] == 0
    assert atomic.read_marker(tmp_path / 'ds')['fingerprint'] != first


def test_dataset_builder_overwrite_keeps_a_folder_that_is_not_ours(tmp_path):
    pytest.importorskip('ogb')
    from gdl_graphs.datasets import (
        DatasetError,
        build_node_dataset,
        dataset_fingerprint,
        load_dataset,
    )
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 1])
    split = {'train': [0], 'valid': [1], 'test': [2]}
    # a user's folder under the dataset's name was deleted whole by overwrite=True
    mine = user_folder(tmp_path / 'ogbn_mine', meta=True)
    before = snapshot(mine)
    with pytest.raises(DatasetError, match=r'holds other files \(meta.json, sub, thesis.txt\); '
                                           r'refusing to replace it even with --overwrite'):
        build_node_dataset(str(tmp_path), 'ogbn-mine', ei, x, y, split=split, overwrite=True)
    assert snapshot(mine) == before
    # a folder built here is replaced, also after ogb processed it (derived data)
    build_node_dataset(str(tmp_path), 'ogbn-ours', ei, x, y, split=split)
    assert load_dataset('ogbn-ours', str(tmp_path)).fingerprint == \
        atomic.read_marker(tmp_path / 'ogbn_ours')['fingerprint']
    assert (tmp_path / 'ogbn_ours' / 'processed').is_dir()
    build_node_dataset(str(tmp_path), 'ogbn-ours', ei, x, 1 - y, split=split, overwrite=True)
    assert not (tmp_path / 'ogbn_ours' / 'processed').exists()
    assert atomic.read_marker(tmp_path / 'ogbn_ours')['fingerprint'] == \
        dataset_fingerprint('ogbn-ours', str(tmp_path))
    (tmp_path / 'ogbn_ours' / 'notes.txt').write_text('mine')
    with pytest.raises(DatasetError, match=r'also holds other files \(notes.txt\)'):
        build_node_dataset(str(tmp_path), 'ogbn-ours', ei, x, y, split=split, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ogbn_mine', 'ogbn_ours']


def test_plot_never_replaces_its_input_or_a_users_file(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    from torch_geometric.data import Data

    from gdl_graphs.io import save_data
    save_data(Data(x=torch.rand(4, 1), edge_index=torch.tensor([[0, 1], [1, 2]])),
              tmp_path / 'g.pt')
    graph = (tmp_path / 'g.pt').read_bytes()
    (tmp_path / 'thesis.tex').write_text('\\documentclass{book}')
    # the input itself (it was replaced by a PNG), and a user's file, with or without the flag
    err = one_error_line(*run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'g.pt',
                              '--overwrite')[::2])
    assert 'is the input' in err and (tmp_path / 'g.pt').read_bytes() == graph
    err = one_error_line(*run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'thesis.tex')
                         [::2])
    assert 'exists; choose another output or pass --overwrite' in err
    err = one_error_line(*run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'thesis.tex',
                              '--overwrite')[::2])
    assert 'not a picture written by gdl-graphs plot (it has no format marker)' in err
    assert (tmp_path / 'thesis.tex').read_text() == '\\documentclass{book}'
    # its own picture: replaced with --overwrite only
    assert run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'p.png')[0] == 0
    assert atomic.read_marker(tmp_path / 'p.png')['format'] == 'gdl_graphs-plot-v1'
    assert run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'p.png')[0] == 2
    assert run(capsys, 'plot', tmp_path / 'g.pt', '-o', tmp_path / 'p.png', '--overwrite')[0] == 0
    assert sorted(os.listdir(tmp_path)) == ['g.pt', 'p.png', 'thesis.tex']
