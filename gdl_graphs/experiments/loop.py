"""The run loop: seeds, epochs, evaluation, checkpoints after every epoch, ``--resume``, and
the results JSON.

A trainer supplies three functions and :func:`run_experiment` does the rest::

    def setup_run(run: int) -> RunState: ...           # model, optimizer, loader generator
    def train_epoch(state, run: int, epoch: int) -> float: ...   # the mean training loss
    def evaluate(state) -> dict: ...                   # {'train': .., 'valid': .., 'test': ..}

    return run_experiment(args, script='my_task', model_name='gin', config=config, ctx=ctx,
                          metric='acc', setup_run=setup_run, train_epoch=train_epoch,
                          evaluate=evaluate)

What it guarantees:

- run ``r`` is seeded with ``--seed + r`` (:func:`~gdl_graphs.experiments.seed_everything`);
- after every epoch rank 0 writes a checkpoint atomically: model, optimizer, every rank's
  random state (torch, CUDA, numpy, Python, the loader's generator), the record of the run so
  far and the finished runs;
- ``--resume`` checks that the checkpoint belongs to the same command, model and options,
  restores it and continues to exactly the result of an uninterrupted run (bit for bit on the
  same machine). ``--epochs`` is part of the stored configuration; on resume it may be raised
  (the run continues to the new count) but not lowered below the checkpoint's epoch;
- a rank restarted by ``torchrun --max-restarts N`` resumes by itself from the checkpoint its
  own job wrote (``TORCHELASTIC_RUN_ID``);
- a rank whose peer dies inside a collective (DDP's gradient all-reduce, a feature request)
  stops with one line that names ``--resume``;
- the results JSON (per run: best valid, its test, best epoch, the curve, epoch times, peak
  memory; mean and std over runs) is written atomically once at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .checkpoint import (
    check_folder_path,
    check_outputs,
    load_checkpoint,
    load_into,
    output_paths,
    read_checkpoint,
    save_checkpoint,
    write_results,
)
from .context import DistContext
from .errors import UserError
from .rng import rng_state, seed_everything, set_rng_state

STOPPED = 3  # exit status of a run stopped on purpose (``--stop-after``), to be resumed


@dataclass
class RunState:
    """What one run trains: the model (maybe wrapped in DDP), its optimizer, the generator its
    loader draws from (saved and restored with the checkpoint) and anything else the trainer
    keeps (``extra``: loaders, samplers, schedulers)."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: Optional[torch.Generator] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def std(xs: List[float]) -> float:
    """The sample standard deviation (ddof=1); 0 for fewer than two values."""
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def peak_memory(device: torch.device) -> Dict[str, Any]:
    """``{'peak_memory_bytes', 'peak_memory_kind'}``: CUDA's peak allocation, else the
    process's peak resident set."""
    if device.type == 'cuda':
        return {'peak_memory_bytes': int(torch.cuda.max_memory_allocated(device)),
                'peak_memory_kind': 'cuda max_memory_allocated'}
    try:
        import resource
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 1 if sys.platform == 'darwin' else 1024
        return {'peak_memory_bytes': int(rss * scale), 'peak_memory_kind': 'cpu max RSS'}
    except ImportError:  # pragma: no cover - Windows
        return {'peak_memory_bytes': None, 'peak_memory_kind': 'unavailable'}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) \
        else model


def elastic_job() -> Optional[str]:
    """``torchrun``'s job id when this process is a restart of a failed group, else ``None``."""
    if int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0) > 0:
        return os.environ.get('TORCHELASTIC_RUN_ID')
    return None


def prepare_outputs(args: argparse.Namespace, stem: str) -> Tuple[str, str, bool]:
    """``(results, checkpoint, resume)`` for ``args``, checked before any work: an output
    folder that is a file, a path through a file, or an existing file that is not ours (or
    ours without ``--resume``/``--overwrite``) is a one-line :class:`UserError`. A rank that
    ``torchrun`` restarted resumes the checkpoint its own job wrote."""
    check_folder_path(args.out_dir, '--out-dir')
    results, ckpt = output_paths(args.out_dir, args.results, args.checkpoint, stem)
    resume = bool(args.resume)
    job = elastic_job()
    if job is not None and not resume and os.path.isfile(ckpt):
        state = read_checkpoint(ckpt)
        resume = state is not None and state.get('job') == job
    check_outputs(ckpt, results, resume, getattr(args, 'overwrite', False))
    return results, ckpt, resume


def _resume_epochs(state: Dict[str, Any], epochs: int, path: str) -> None:
    old = state.get('config', {}).get('epochs')
    if old is not None and old != epochs and state.get('finished'):
        raise UserError(f'--resume: {path} holds runs finished with --epochs {old}; resume '
                        f'with --epochs {old} (or start again with --overwrite)')
    cur = state.get('current')
    if cur is not None and cur['epoch'] > epochs:
        raise UserError(f"--resume: {path} is at epoch {cur['epoch']} of run {cur['run']}, "
                        f"past --epochs {epochs}; resume with --epochs {cur['epoch']} or more "
                        f"(or start again with --overwrite)")


def _guarded(ctx: DistContext, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``; under several ranks a failed collective inside it (a peer died in DDP's
    all-reduce) becomes one line naming ``--resume``."""
    if not ctx.is_distributed:
        return fn()
    from ..distributed import DistributedError, lost_peer
    try:
        return fn()
    except DistributedError:
        raise
    except RuntimeError as exc:
        if _transport_failure(exc):
            raise lost_peer(what, exc) from None
        raise


def _transport_failure(exc: RuntimeError) -> bool:
    backend_error = getattr(torch.distributed, 'DistBackendError', ())
    if backend_error and isinstance(exc, backend_error):
        return True
    text = str(exc)
    return any(s in text for s in ('Connection closed by peer', 'Connection reset by peer',
                                   'Broken pipe', 'gloo', 'NCCL', 'Timed out', 'timed out'))


def run_experiment(args: argparse.Namespace, *, script: str, model_name: str,
                   config: Dict[str, Any], ctx: DistContext, metric: str,
                   setup_run: Callable[[int], RunState],
                   train_epoch: Callable[[RunState, int, int], float],
                   evaluate: Callable[[RunState], Dict[str, float]],
                   higher_is_better: bool = True, info: Optional[Dict[str, Any]] = None,
                   outputs: Optional[Tuple[str, str, bool]] = None) -> int:
    """Train ``args.runs`` runs of ``args.epochs`` epochs; return the exit status (0, or
    :data:`STOPPED` after ``--stop-after`` epochs).

    Args:
        args: a :func:`~gdl_graphs.experiments.base_parser` namespace (``epochs``, ``runs``,
            ``seed``, ``resume``, ``overwrite``, ``out_dir``, ``results``, ``checkpoint``,
            ``dataset``, ``quiet``, ``stop_after``).
        script: the command's name (checked on resume; part of the default file names).
        model_name: the model's name (part of the default file names).
        config: the options a resumed run must share (``epochs`` is added).
        ctx: the :class:`~gdl_graphs.experiments.DistContext`.
        metric: the name of the metric ``evaluate`` returns.
        setup_run, train_epoch, evaluate: the trainer (see the module docstring).
        higher_is_better: how the best validation epoch is chosen.
        info: extra entries of the results JSON (filled in by the trainer as it runs).
        outputs: :func:`prepare_outputs`'s answer when the caller checked them earlier.
    """
    stem = f'{script}_{args.dataset}_{model_name}'
    results_path, ckpt_path, resume = outputs or prepare_outputs(args, stem)
    config = dict(config, epochs=args.epochs)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(ckpt_path, script, config)
        _resume_epochs(ckpt, args.epochs, ckpt_path)
    job = os.environ.get('TORCHELASTIC_RUN_ID')
    finished: List[Dict[str, Any]] = list(ckpt['finished']) if ckpt else []
    done = 0
    out_stream = sys.stderr if args.quiet else sys.stdout

    def save(current: Optional[Dict[str, Any]]) -> None:
        save_checkpoint({'script': script, 'config': config, 'job': job,
                         'finished': finished, 'current': current}, ckpt_path)

    for run in range(len(finished), args.runs):
        seed_everything(args.seed + run)
        st = setup_run(run)
        rec: Dict[str, Any] = {'run': run, 'best_valid': None, 'test': None,
                               'best_epoch': None, 'epoch_times': [], 'curve': []}
        start = 1
        cur = ckpt.get('current') if ckpt is not None else None
        if cur is not None and cur['run'] == run:
            load_into(unwrap(st.model), cur['model'], 'model', ckpt_path)
            load_into(st.optimizer, cur['optimizer'], 'optimizer state', ckpt_path)
            rngs = cur['rng']
            set_rng_state(rngs[ctx.rank] if ctx.rank < len(rngs) else rngs[0], st.generator)
            rec = dict(cur['record'])
            rec['epoch_times'], rec['curve'] = list(rec['epoch_times']), list(rec['curve'])
            start = cur['epoch'] + 1
        ckpt = None
        for epoch in range(start, args.epochs + 1):
            if args.stop_after is not None and done >= args.stop_after:
                if ctx.is_main:
                    print(f'stopped after {done} epoch(s); continue with --resume',
                          file=sys.stderr)
                return STOPPED
            t0 = time.perf_counter()
            loss = _guarded(ctx, 'training (the gradient all-reduce or a data request)',
                            lambda: train_epoch(st, run, epoch))
            seconds = time.perf_counter() - t0
            res = _guarded(ctx, 'evaluation', lambda: evaluate(st))
            rec['epoch_times'].append(seconds)
            rec['curve'].append([epoch, float(loss), res['train'], res['valid'], res['test']])
            best = rec['best_valid']
            if best is None or (res['valid'] > best if higher_is_better else res['valid'] < best):
                rec.update(best_valid=res['valid'], test=res['test'], best_epoch=epoch)
            done += 1
            rngs = ctx.gather(rng_state(st.generator))
            if ctx.is_main:
                print(f'run {run:02d} epoch {epoch:03d}  loss {loss:.4f}  train {res["train"]:.4f}'
                      f'  valid {res["valid"]:.4f}  test {res["test"]:.4f}  ({seconds:.1f}s)',
                      file=out_stream, flush=True)
                save({'run': run, 'epoch': epoch, 'record': rec,
                      'model': unwrap(st.model).state_dict(),
                      'optimizer': st.optimizer.state_dict(), 'rng': rngs})
            ctx.barrier()
        rec.update(peak_memory(ctx.device))
        finished.append(rec)
        if ctx.is_main:
            save(None)
        ctx.barrier()
    if ctx.is_main:
        valid = [r['best_valid'] for r in finished]
        test = [r['test'] for r in finished]
        out = {'script': script, 'dataset': args.dataset, 'model': model_name,
               'metric': metric, 'config': config, 'world_size': ctx.world_size,
               'device': str(ctx.device), 'torch': torch.__version__, 'runs': finished,
               'valid_mean': float(np.mean(valid)), 'valid_std': std(valid),
               'test_mean': float(np.mean(test)), 'test_std': std(test)}
        out.update(info or {})
        write_results(out, results_path)
        print(f'{model_name} on {args.dataset}: valid {metric} {out["valid_mean"]:.4f} '
              f'+- {out["valid_std"]:.4f}, test {out["test_mean"]:.4f} +- '
              f'{out["test_std"]:.4f} over {len(finished)} run(s) -> {results_path}')
    return 0
