"""The library's run loop: random state round trips, resume to the identical result, --epochs
on resume, the writer rule for checkpoints and results, the distributed context on two ranks,
a rank dying inside DDP's all-reduce (one line naming --resume) and torchrun restarting a group
that lost a rank to exactly the uninterrupted result."""
import contextlib
import io
import json
import os
import pathlib
import random
import subprocess
import sys

import _ddp_job
import numpy as np
import pytest
import torch
from _ranks import free_port, run_ranks

from gdl_graphs.experiments import (
    DistContext,
    UserError,
    cli,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from gdl_graphs.experiments.checkpoint import read_checkpoint

JOB = pathlib.Path(_ddp_job.__file__)
RESULT = 'ddp_job_synthetic_mlp'


def _draws(gen):
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random(),
            torch.rand(2, generator=gen).tolist())


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    seed_everything(5)
    gen = torch.Generator().manual_seed(9)
    _draws(gen)
    save_checkpoint({'rng': rng_state(gen)}, str(tmp_path / 'c.ckpt'))
    want = _draws(gen)
    seed_everything(77)
    gen2 = torch.Generator().manual_seed(1)
    state = read_checkpoint(str(tmp_path / 'c.ckpt'))  # weights_only=True reads it
    set_rng_state(state['rng'], gen2)
    assert _draws(gen2) == want


def job(argv, capsys=None):
    rc = cli(_ddp_job.main, argv)
    err = capsys.readouterr().err.strip() if capsys is not None else ''
    return rc, err


def one_line(err, needle):
    assert len(err.splitlines()) == 1 and 'Traceback' not in err and needle in err, err


def test_resume_is_the_uninterrupted_run_and_epochs_are_honoured(tmp_path, capsys):
    full, part = tmp_path / 'full', tmp_path / 'part'
    assert job(['--out-dir', str(full), '--quiet'], capsys)[0] == 0
    assert job(['--out-dir', str(part), '--quiet', '--stop-after', '3'], capsys)[0] == 3
    assert sorted(os.listdir(part)) == [f'{RESULT}.ckpt']
    assert job(['--out-dir', str(part), '--quiet', '--resume'], capsys)[0] == 0
    a = json.loads((full / f'{RESULT}.json').read_text())
    b = json.loads((part / f'{RESULT}.json').read_text())
    assert a['runs'][0]['curve'] == b['runs'][0]['curve'] and len(a['runs'][0]['curve']) == 4
    assert a['config']['epochs'] == 4
    # --epochs below the checkpoint's epoch: refused, nothing changes
    short = tmp_path / 'short'
    assert job(['--out-dir', str(short), '--quiet', '--epochs', '6', '--stop-after', '5'],
               capsys)[0] == 3
    ckpt = short / f'{RESULT}.ckpt'
    before = ckpt.read_bytes()
    rc, err = job(['--out-dir', str(short), '--quiet', '--epochs', '3', '--resume'], capsys)
    assert rc == 2
    one_line(err, 'is at epoch 5 of run 0, past --epochs 3')
    assert ckpt.read_bytes() == before and sorted(os.listdir(short)) == [ckpt.name]
    # raised: the run continues to the new count and the config says so
    assert job(['--out-dir', str(short), '--quiet', '--epochs', '7', '--resume'], capsys)[0] == 0
    res = json.loads((short / f'{RESULT}.json').read_text())
    assert res['config']['epochs'] == 7 and len(res['runs'][0]['curve']) == 7
    longer = tmp_path / 'longer'
    assert job(['--out-dir', str(longer), '--quiet', '--epochs', '7'], capsys)[0] == 0
    assert json.loads((longer / f'{RESULT}.json').read_text())['runs'] == res['runs'][:1] or \
        json.loads((longer / f'{RESULT}.json').read_text())['runs'][0]['curve'] == \
        res['runs'][0]['curve']


def test_writer_rule_for_checkpoint_and_results(tmp_path, capsys):
    out = tmp_path / 'out'
    assert job(['--out-dir', str(out), '--quiet', '--epochs', '1'], capsys)[0] == 0
    # our files: replaced only when asked
    rc, err = job(['--out-dir', str(out), '--quiet', '--epochs', '1'], capsys)
    assert rc == 2
    one_line(err, 'pass --resume or --overwrite to replace it')
    assert job(['--out-dir', str(out), '--quiet', '--epochs', '1', '--overwrite'],
               capsys)[0] == 0
    # a text file given as --checkpoint is never overwritten, not even with --overwrite
    notes = tmp_path / 'notes.txt'
    notes.write_text('my notes')
    for extra in ([], ['--overwrite'], ['--resume']):
        rc, err = job(['--out-dir', str(tmp_path / 'o2'), '--quiet', '--checkpoint', str(notes)]
                      + extra, capsys)
        assert rc == 2 and notes.read_text() == 'my notes'
        one_line(err, 'is not a checkpoint of these commands')
    # the same for a results file that is not ours
    rc, err = job(['--out-dir', str(tmp_path / 'o3'), '--quiet', '--results', str(notes),
                   '--overwrite'], capsys)
    assert rc == 2 and notes.read_text() == 'my notes'
    one_line(err, 'is not a results file of these commands')
    # paths through a file fail at start, before any work
    for argv, needle in ((['--results', str(notes / 'r.json')], 'is a file, not a folder'),
                         (['--out-dir', str(notes / 'y')], 'is a file, not a folder'),
                         (['--out-dir', str(notes)], 'is a file, not a folder'),
                         (['--checkpoint', str(notes / 'c.ckpt')], 'is a file, not a folder')):
        rc, err = job(argv + ['--quiet'], capsys)
        assert rc == 2
        one_line(err, needle)
    assert not (tmp_path / 'o2').exists() and not (tmp_path / 'o3').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt', 'out']


# ----------------------------------------------------------------------------- two ranks

def _env(rank, world, port):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port), OMP_NUM_THREADS='1')
    torch.set_num_threads(1)


def _context_rank(rank, port, out_dir):
    _env(rank, 2, port)
    from gdl_graphs.experiments import init_context
    ctx = init_context('cpu', timeout_s=30)
    out = {'gather': ctx.gather({'rank': rank, 'payload': list(range(rank + 1))}),
           'any': (ctx.any(rank == 1), ctx.any(False))}
    try:
        ctx.agree('part 1 is missing' if rank == 1 else None)
        out['agree'] = None
    except UserError as exc:
        out['agree'] = str(exc)
    out['traffic'] = ctx.traffic
    ctx.close()
    torch.save(out, os.path.join(out_dir, f'ctx{rank}.pt'))


def test_dist_context_one_and_two_ranks(tmp_path):
    one = DistContext()
    assert one.gather(3) == [3] and one.any(True) and not one.any(False)
    with pytest.raises(UserError, match='^part 9 is missing$'):
        one.agree('part 9 is missing')
    one.agree(None)
    run_ranks(_context_rank, (free_port(), str(tmp_path)))
    outs = [torch.load(tmp_path / f'ctx{r}.pt') for r in range(2)]
    for r, out in enumerate(outs):
        assert out['gather'] == [{'rank': 0, 'payload': [0]}, {'rank': 1, 'payload': [0, 1]}]
        assert out['any'] == (True, False)
        assert out['agree'] == 'rank 1: part 1 is missing'  # the same error on both ranks
        assert out['traffic']['gather'][0] > 0 and out['traffic']['gather'][1] > 0
    # what one rank sent the other received (two flag exchanges of 8 bytes each)
    assert outs[0]['traffic']['any'] == outs[1]['traffic']['any'] == [16, 16]
    assert outs[0]['traffic']['gather'][0] == outs[1]['traffic']['gather'][1]
    assert outs[1]['traffic']['gather'][0] == outs[0]['traffic']['gather'][1]


def _job_rank(rank, port, argv, out_dir):
    _env(rank, 2, port)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli(_ddp_job.main, argv)
    pathlib.Path(out_dir, f'rc{rank}').write_text(str(rc))
    pathlib.Path(out_dir, f'err{rank}').write_text(err.getvalue())


def _two_ranks(argv, out_dir, timeout=120):
    """Both ranks as forked processes; their exit codes (each waited for on its own)."""
    import multiprocessing as mp
    port = free_port()
    procs = [mp.get_context('fork').Process(target=_job_rank, args=(r, port, argv, str(out_dir)))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
    return [p.exitcode for p in procs]


def test_rank_dying_in_the_all_reduce_leaves_one_line(tmp_path):
    argv = ['--out-dir', str(tmp_path / 'out'), '--quiet', '--die-at', '2:1:1',
            '--die-quietly']
    assert _two_ranks(argv, tmp_path) == [0, 1]  # rank 1 exits (1) in epoch 2 on purpose
    assert (tmp_path / 'rc0').read_text() == '2'
    lines = (tmp_path / 'err0').read_text().strip().splitlines()
    err = '\n'.join(x for x in lines if not x.startswith('run 00 epoch'))  # progress lines
    one_line(err, 'rank 0: training (the gradient all-reduce')
    assert '--resume' in err
    ckpt = read_checkpoint(str(tmp_path / 'out' / f'{RESULT}.ckpt'))
    assert ckpt['current']['epoch'] == 1  # the last complete epoch, ready to resume


def test_torchrun_restart_after_a_killed_rank_gives_the_uninterrupted_result(tmp_path):
    ref = tmp_path / 'ref'
    assert _two_ranks(['--out-dir', str(ref), '--quiet'], tmp_path) == [0, 0]
    assert [(tmp_path / f'rc{r}').read_text() for r in range(2)] == ['0', '0']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(JOB.parents[1]), os.environ.get('PYTHONPATH',
                                                                               '')]))
    out, marker = tmp_path / 'elastic', tmp_path / 'died'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           '--max-restarts=1', '--monitor-interval=0.2', str(JOB), '--out-dir', str(out),
           '--quiet', '--die-at', f'3:2:1:{marker}']
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists()  # rank 1 was killed (SIGKILL) in epoch 3, and the group restarted
    a = json.loads((ref / f'{RESULT}.json').read_text())
    b = json.loads((out / f'{RESULT}.json').read_text())
    assert a['world_size'] == b['world_size'] == 2
    assert a['runs'][0]['curve'] == b['runs'][0]['curve']  # every loss and metric, bit for bit
    assert (a['test_mean'], a['valid_mean']) == (b['test_mean'], b['valid_mean'])
