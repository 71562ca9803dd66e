"""Outputs never destroy what a user has (issue 13, rows 11-13 and the weaker points of io):
a full disk, ``--overwrite`` onto an input or onto a folder that is not one of our datasets,
SIGTERM / SIGKILL while a dataset is written, a forged ``.npy`` header, option types, and a
``--help`` that does not load torch. Each case is first reproduced as the user met it."""
import errno
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from _files import images, one_error_line, snapshot, user_folder  # noqa: E402
from _files import run_cli as run  # noqa: E402
from torch_geometric.data import Data

from gdl_graphs.io import FormatError, GraphDataset, atomic, load_data, save_data, save_dataset
from gdl_graphs.io.data import is_dataset_folder, is_graph_file
from gdl_graphs.io.errors import read_npy

ROOT = pathlib.Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(13)


# --- row 12: --overwrite never deletes an input or a user's folder ---------------------------

def test_overwrite_the_input_folder_is_refused(tmp_path, capsys):
    mix = images(tmp_path / 'mix')
    (mix / 'notes.txt').write_text('mine')
    before = snapshot(mix)
    err = one_error_line(*run(capsys, 'convert', mix, '-o', mix, '--as', 'grid',
                              '--overwrite', '-q')[::2])
    assert 'is the input' in err and 'refusing' in err
    assert snapshot(mix) == before
    # an output inside the input, or one that contains it
    for out in (mix / 'out', mix / 'a' / 'b'):
        err = one_error_line(*run(capsys, 'convert', mix, '-o', out, '--as', 'grid',
                                  '--overwrite', '-q')[::2])
        assert 'is inside the input' in err
    err = one_error_line(*run(capsys, 'convert', mix, '-o', tmp_path, '--as', 'grid',
                              '--overwrite', '-q')[::2])
    assert 'contains the input' in err
    assert snapshot(mix) == before
    # the labels CSV is an input too
    (tmp_path / 'labels.csv').write_text(''.join(f'{i}.npy,{i % 2}\n' for i in range(3)))
    err = one_error_line(*run(capsys, 'convert', mix, '-o', tmp_path / 'labels.csv', '--as',
                              'grid', '--labels', tmp_path / 'labels.csv', '--overwrite',
                              '-q')[::2])
    assert 'is the input' in err and (tmp_path / 'labels.csv').read_text().startswith('0.npy')


def test_overwrite_the_input_file_is_refused(tmp_path, capsys):
    np.save(tmp_path / 'a.npy', np.ones((4, 4), np.float32))
    before = (tmp_path / 'a.npy').read_bytes()
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.npy',
                              '--as', 'grid', '--overwrite', '-q')[::2])
    assert 'is the input' in err and (tmp_path / 'a.npy').read_bytes() == before


def test_overwrite_a_user_folder_is_refused(tmp_path, capsys):
    images(tmp_path / 'imgs')
    notes = user_folder(tmp_path / 'notes')
    theirs = snapshot(notes)
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', notes, '--as', 'grid',
                              '--overwrite', '-q')[::2])
    assert 'a folder that holds other files (sub, thesis.txt)' in err
    assert 'refusing to replace it even with --overwrite' in err
    assert snapshot(notes) == theirs
    # a dataset folder the user added a file to is theirs now
    ds = tmp_path / 'ds'
    assert run(capsys, 'convert', tmp_path / 'imgs', '-o', ds, '--as', 'grid', '-q')[0] == 0
    assert is_dataset_folder(ds)
    for extra in (ds / 'README.txt', ds / 'processed' / 'plot.png'):
        extra.write_text('mine')
        before = snapshot(ds)
        one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', ds, '--as', 'grid',
                            '--overwrite', '-q')[::2])
        assert snapshot(ds) == before
        extra.unlink()
    # one of its files removed or changed: not ours as written either
    (ds / 'processed' / 'meta.json').unlink()
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', ds, '--as', 'grid',
                              '--overwrite', '-q')[::2])
    assert 'whose files were changed or removed since it was written (processed/meta.json)' \
        in err
    # a folder without our marker (gdl_graphs.json) is not ours either
    (ds / 'gdl_graphs.json').unlink()
    before = snapshot(ds)
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', ds, '--as', 'grid',
                              '--overwrite', '-q')[::2])
    assert 'a folder that holds other files (processed)' in err and snapshot(ds) == before
    # a file where a dataset folder goes, a folder where a graph file goes
    np.save(tmp_path / 'one.npy', np.ones((4, 4), np.float32))
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', tmp_path / 'one.npy',
                              '--as', 'grid', '--overwrite', '-q')[::2])
    assert 'a file, not a dataset folder' in err
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'one.npy', '-o', notes, '--as',
                              'grid', '--overwrite', '-q')[::2])
    assert 'is a folder; refusing' in err and snapshot(notes) == theirs
    # a user's file that is not a graph file
    (tmp_path / 'thesis.tex').write_text('\\documentclass{book}')
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'one.npy', '-o',
                              tmp_path / 'thesis.tex', '--as', 'grid', '--overwrite',
                              '-q')[::2])
    assert 'not a graph file written by gdl-graphs' in err
    assert (tmp_path / 'thesis.tex').read_text() == '\\documentclass{book}'


def test_overwrite_replaces_our_own_outputs(tmp_path, capsys):
    imgs = images(tmp_path / 'imgs', 3)
    ds = tmp_path / 'ds'
    assert run(capsys, 'convert', imgs, '-o', ds, '--as', 'grid', '-q')[0] == 0
    assert len(GraphDataset(ds)) == 3
    (imgs / '2.npy').unlink()
    assert run(capsys, 'convert', imgs, '-o', ds, '--as', 'grid', '-q', '--overwrite')[0] == 0
    assert len(GraphDataset(ds)) == 2 and is_dataset_folder(ds)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ds', 'imgs']  # no leftovers
    assert run(capsys, 'convert', imgs / '0.npy', '-o', tmp_path / 'g.pt', '--as', 'grid',
               '-q')[0] == 0
    assert is_graph_file(tmp_path / 'g.pt')
    assert run(capsys, 'convert', imgs / '1.npy', '-o', tmp_path / 'g.pt', '--as', 'grid',
               '-q', '--overwrite')[0] == 0
    expected = torch.from_numpy(np.load(imgs / '1.npy')).reshape(-1, 1)
    assert torch.equal(load_data(tmp_path / 'g.pt').x, expected)


@pytest.mark.parametrize('exchange', [True, False])
def test_swap_exchanges_folders(tmp_path, monkeypatch, exchange):
    a, b = tmp_path / 'a', tmp_path / '.b.gdl1-x.tmp'
    a.mkdir()
    b.mkdir()
    (a / 'f').write_text('a')
    (b / 'f').write_text('b')
    if not exchange:  # the portable fallback: three renames
        monkeypatch.setattr(atomic, '_libc_renameat2', lambda: False)
    atomic.swap(b, a)
    assert (a / 'f').read_text() == 'b' and (b / 'f').read_text() == 'a'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.b.gdl1-x.tmp', 'a']


def test_swap_fallback_undoes_a_failed_rename(tmp_path, monkeypatch):
    a, b = tmp_path / 'a', tmp_path / '.b.gdl1-x.tmp'
    a.mkdir()
    b.mkdir()
    (a / 'f').write_text('old')
    monkeypatch.setattr(atomic, '_libc_renameat2', lambda: False)
    real, calls = os.rename, []

    def flaky(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the new folder cannot be moved into place
            raise OSError(errno.EIO, 'I/O error')
        real(src, dst)
    monkeypatch.setattr(atomic.os, 'rename', flaky)
    with pytest.raises(OSError):
        atomic.swap(b, a)
    assert (a / 'f').read_text() == 'old'


# --- row 11: a full disk ------------------------------------------------------------------

def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    imgs = images(tmp_path / 'imgs')
    ds = tmp_path / 'ds'
    assert run(capsys, 'convert', imgs, '-o', ds, '--as', 'grid', '-q')[0] == 0
    before = snapshot(ds)

    def full(obj, f, *args, **kwargs):
        f.write(b'PK\x03\x04 a bit')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, 'save', full)
    for argv in ([imgs, '-o', tmp_path / 'new'], [imgs, '-o', ds, '--overwrite'],
                 [imgs / '0.npy', '-o', tmp_path / 'g.pt']):
        err = one_error_line(*run(capsys, 'convert', *argv, '--as', 'grid', '-q')[::2])
        assert 'No space left on device' in err and 'nothing was written' in err
        assert str(argv[2]) in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ['ds', 'imgs']
        assert snapshot(ds) == before  # the old dataset is untouched


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='no /dev/full on this system')
def test_write_torch_reports_a_real_full_device():
    # torch.save(obj, path) turns ENOSPC into "unexpected pos ..." (a RuntimeError);
    # write_torch goes through a Python file and keeps the OSError
    with pytest.raises(OSError) as info:
        atomic.write_torch(torch.randn(1000), '/dev/full')
    assert info.value.errno == errno.ENOSPC


def test_read_only_target_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip('running as root: a read-only folder is still writable, cannot test')
    images(tmp_path / 'imgs')
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = one_error_line(*run(capsys, 'convert', tmp_path / 'imgs', '-o', locked / 'ds',
                                  '--as', 'grid', '-q')[::2])
        assert 'Permission denied' in err and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


# --- row 13: SIGTERM cleans up; what SIGKILL leaves is removed by the next run ---------------

CHILD = textwrap.dedent('''
    import pathlib, sys, time
    import gdl_graphs.io.data as D
    real = D.write_torch
    def slow(obj, path):
        real(obj, path)
        pathlib.Path(sys.argv[1]).touch()  # data.pt is (half) written: tell the parent
        time.sleep(120)
    D.write_torch = slow
    from gdl_graphs.cli import main
    sys.exit(main(sys.argv[2:]))
''')


def start_writer(folder):
    """A ``gdl-graphs convert`` of ``folder/imgs`` to ``folder/ds`` that stops while writing."""
    images(folder / 'imgs')
    return subprocess.Popen(
        [sys.executable, '-c', CHILD, str(folder / 'ready'), 'convert', str(folder / 'imgs'),
         '-o', str(folder / 'ds'), '--as', 'grid', '-q'], cwd=ROOT, stderr=subprocess.PIPE,
        text=True)


# a writer killed with SIGKILL can do nothing: the writer alone (no torch) is enough
KILLED = textwrap.dedent('''
    import pathlib, sys, time
    from gdl_graphs.io.atomic import atomic_folder
    with atomic_folder(sys.argv[2], 'gdl_graphs-dataset-v1', 'b2:0') as tmp:
        (tmp / 'processed').mkdir()
        (tmp / 'processed' / 'data.pt').write_bytes(b'PK half a dataset')
        pathlib.Path(sys.argv[1]).touch()
        time.sleep(120)
''')


def start_light_writer(folder):
    folder.mkdir()
    return subprocess.Popen([sys.executable, '-c', KILLED, str(folder / 'ready'),
                             str(folder / 'ds')], cwd=ROOT, stderr=subprocess.PIPE, text=True)


def wait_until_writing(proc, folder):
    deadline = time.monotonic() + 180
    while not (folder / 'ready').exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, 'the writer never started writing'
        time.sleep(0.05)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('.'))


def test_sigterm_and_sigkill_while_writing(tmp_path):
    term, kill = tmp_path / 'term', tmp_path / 'kill'
    procs = [start_writer(term), start_light_writer(kill)]
    try:
        for proc, folder in zip(procs, (term, kill)):
            wait_until_writing(proc, folder)
            assert len(leftovers(folder)) == 1  # the temporary folder being written
        procs[0].send_signal(signal.SIGTERM)
        procs[1].kill()
        assert procs[0].wait(60) == 143
        assert procs[1].wait(60) == -signal.SIGKILL
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert 'Traceback' not in procs[0].stderr.read()
    for proc in procs:
        proc.stderr.close()
    assert leftovers(term) == [] and not (term / 'ds').exists()  # SIGTERM: cleaned up

    stale = leftovers(kill)  # SIGKILL leaves what the issue saw
    assert len(stale) == 1 and stale[0].startswith('.ds.gdl')
    assert (kill / stale[0] / 'processed' / 'data.pt').is_file()
    # a temporary folder of a live writer, and a dead one's folder holding a user's file, stay
    live = kill / f'.ds.gdl{os.getpid()}-alive.tmp'
    (live / 'processed').mkdir(parents=True)
    odd = kill / f'.ds.gdl{procs[1].pid}-odd.tmp'
    odd.mkdir()
    (odd / 'mine.txt').write_text('not ours')
    save_dataset([Data(x=torch.ones(2, 1))], kill / 'ds')  # the next run removes the rest
    assert len(GraphDataset(kill / 'ds')) == 1
    assert leftovers(kill) == sorted([live.name, odd.name])


def test_killed_half_way_through_a_swap_restores_the_old_dataset(tmp_path):
    out = save_dataset([Data(x=torch.ones(3, 1))], tmp_path / 'ds')
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    # the portable swap moved the old dataset aside and was killed before the new one arrived
    aside = tmp_path / f'.ds.gdl{dead.pid}-abc.old.tmp'
    os.rename(out, aside)
    save_data(Data(x=torch.ones(1, 1)), tmp_path / 'other.pt')  # another output: untouched
    assert aside.exists()
    atomic.remove_stale(out)
    assert len(GraphDataset(out)) == 1 and GraphDataset(out)[0].num_nodes == 3
    assert leftovers(tmp_path) == []


def test_stale_temporary_files_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    stale = tmp_path / f'.g.pt.gdl{dead.pid}-k2j3.tmp'
    stale.write_bytes(b'PK half')
    other = tmp_path / f'.h.pt.gdl{dead.pid}-k2j3.tmp'  # another destination's: not ours
    other.write_bytes(b'PK half')
    save_data(Data(x=torch.ones(2, 1)), tmp_path / 'g.pt')
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, 'g.pt']


# --- weaker points ------------------------------------------------------------------------

def forged_npy(path, shape, payload=16):
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    header += ' ' * (63 - (10 + len(header)) % 64) + '\n'
    path.write_bytes(b'\x93NUMPY\x01\x00' + len(header).to_bytes(2, 'little')
                     + header.encode('latin1') + b'\0' * payload)
    return path


def test_npy_header_is_checked_against_the_file_size(tmp_path, capsys):
    path = forged_npy(tmp_path / 'big.npy', (10 ** 10,))  # 37 GiB claimed, 16 bytes held
    with pytest.raises(FormatError, match=r'big.npy: corrupt NPY file: the header says shape '
                                          r'\(10000000000,\) of float32 \(40000000000 bytes\) '
                                          r'but the file holds 16 bytes'):
        read_npy(path)
    err = one_error_line(*run(capsys, 'convert', path, '-o', tmp_path / 'g.pt', '--as',
                              'grid')[::2])
    assert 'the header says shape' in err
    assert read_npy(forged_npy(tmp_path / 'ok.npy', (2, 2))).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(FormatError, match='the file holds 12 bytes'):
        read_npy(forged_npy(tmp_path / 'short.npy', (2, 2), payload=12))


@pytest.mark.parametrize('option, expected', [
    ('kernel_size=abc', "option kernel_size='abc' for --as grid: expected an integer or "
                        "integers separated by commas"),
    ('kernel_size=3.5', "option kernel_size='3.5'"),
    ('kernel_size=3,x', "option kernel_size='3,x'"),
    ('scale=maybe', "option scale='maybe' for --as grid: expected true or false"),
    ('padding=7', "option padding='7' for --as grid: expected a word"),
])
def test_option_errors_show_the_whole_value_and_the_type(tmp_path, capsys, option, expected):
    np.save(tmp_path / 'a.npy', np.ones((5, 5), np.float32))
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt',
                              '--as', 'grid', '-O', option)[::2])
    assert expected in err
    assert not (tmp_path / 'a.pt').exists()


def test_option_types_accept_what_the_converter_takes(tmp_path, capsys):
    np.save(tmp_path / 'a.npy', np.ones((7, 7), np.float32))
    assert run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as', 'grid',
               '-O', 'kernel_size=3,5', '-O', 'scale=false', '-q')[0] == 0
    assert load_data(tmp_path / 'a.pt').lattice_kernel.tolist() == [[3, 5]]
    np.savetxt(tmp_path / 'p.xyz', RNG.random((6, 3)))
    err = one_error_line(*run(capsys, 'convert', tmp_path / 'p.xyz', '-o', tmp_path / 'p.pt',
                              '--as', 'pointcloud', '-O', 'k=abc')[::2])
    assert "option k='abc' for --as pointcloud: expected an integer or none" in err
    assert run(capsys, 'convert', tmp_path / 'p.xyz', '-o', tmp_path / 'p.pt', '--as',
               'pointcloud', '-O', 'r=0.5', '-q')[0] == 0


def test_help_does_not_import_torch():
    proc = subprocess.run([sys.executable, '-X', 'importtime', '-m', 'gdl_graphs.cli', '--help'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and 'usage: gdl-graphs' in proc.stdout
    modules = {line.split('|')[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith('import time:')}
    assert 'gdl_graphs.convert' in modules  # the probe sees our imports
    heavy = sorted(m for m in modules if m.split('.')[0] in ('torch', 'torch_geometric', 'numpy'))
    assert heavy == []
    # and a command still works from a fresh process
    proc = subprocess.run([sys.executable, '-m', 'gdl_graphs.cli', 'convert', '--help'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and '--overwrite' in proc.stdout
