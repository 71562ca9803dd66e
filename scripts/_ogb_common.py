"""What the three OGB scripts share: options, distributed setup, checkpoints, the run loop,
the results JSON and one-line errors.

A script supplies ``setup_run(run) -> RunState`` (model, optimizer, loader generator),
``train_epoch(state, epoch) -> loss`` and ``evaluate(state) -> {'train', 'valid', 'test'}``;
:func:`run_experiment` does the rest:

- seeds every run from ``--seed + run``;
- writes a checkpoint atomically (temporary file + ``os.replace``) after every epoch: model,
  optimizer, every RNG state (torch, CUDA, numpy, python, the loader's generator; per rank),
  the best epoch so far and the finished runs;
- ``--resume`` checks that the checkpoint was written for the same model and training
  options, restores it and continues to the result an uninterrupted run gives;
- writes the results JSON (per run: best valid, its test, epoch times, peak memory; mean and
  std over runs) atomically at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

FORMAT = 'gdl_graphs-ogb-checkpoint-v1'


class UserError(ValueError):
    """A mistake in the command line or the files it names: reported as one line."""


# ----------------------------------------------------------------------------- options

def base_parser(description: str, dataset: str, epochs: int, runs: int, lr: float,
                batch_size: Optional[int]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--dataset', default=dataset)
    p.add_argument('--root', default='datasets', help='data root (default: datasets/)')
    p.add_argument('--device', default=None,
                   help='cpu, cuda, cuda:1 (default: cuda when available)')
    p.add_argument('--epochs', type=int, default=epochs)
    p.add_argument('--runs', type=int, default=runs)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--lr', type=float, default=lr)
    if batch_size is not None:
        p.add_argument('--batch-size', type=int, default=batch_size)
    p.add_argument('--num-workers', type=int, default=0)
    p.add_argument('--out-dir', default='runs', help='where results and checkpoints go')
    p.add_argument('--results', default=None, help='results JSON (default: in --out-dir)')
    p.add_argument('--checkpoint', default=None, help='checkpoint (default: in --out-dir)')
    p.add_argument('--resume', action='store_true', help='continue from --checkpoint')
    p.add_argument('--download', action='store_true',
                   help='download an official OGB dataset whose folder is missing')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.add_argument('--stop-after', type=int, default=None, help=argparse.SUPPRESS)
    return p


def check_args(args: argparse.Namespace) -> None:
    for key in ('epochs', 'runs'):
        if getattr(args, key) < 1:
            raise UserError(f'--{key} must be >= 1, got {getattr(args, key)}')
    if getattr(args, 'batch_size', 1) < 1:
        raise UserError(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.num_workers < 0:
        raise UserError(f'--num-workers must be >= 0, got {args.num_workers}')
    if not (0 < args.lr < math.inf):
        raise UserError(f'--lr must be a finite number > 0, got {args.lr}')
    for key, low in _AT_LEAST.items():
        value = getattr(args, key, None)
        if value is not None and value < low:
            raise UserError(f'--{key.replace("_", "-")} must be >= {low}, got {value}')
    for key in _RATIOS:
        value = getattr(args, key, None)
        if value is not None and not (0 <= value < 1):
            raise UserError(f'--{key.replace("_", "-")} is a probability in [0, 1), got '
                            f'{value}')
    if args.device is not None:
        check_device(args.device)


# the size options of the three scripts and their smallest value (OGB's molecule GNN needs
# two layers); dropout-like options are probabilities in [0, 1)
_AT_LEAST = {'num_layer': 2, 'num_layers': 1, 'emb_dim': 1, 'hidden_channels': 1,
             'eval_batch_size': 1, 'cache_size': 0}
_RATIOS = ('drop_ratio', 'dropout')


def check_device(text: str) -> None:
    """Only ``cpu``, ``cuda`` and ``cuda:N``: the scripts train nowhere else (``mps``, ``meta``
    and others fail deep inside torch)."""
    head, _, index = text.partition(':')
    if head not in ('cpu', 'cuda') or (index and not index.isdigit()) or \
            (head == 'cpu' and index):
        raise UserError(f'--device {text!r} is not supported: use cpu, cuda or cuda:N')


def paths(args: argparse.Namespace, script: str, model: str):
    stem = f'{script}_{args.dataset}_{model}'
    results = args.results or osp.join(args.out_dir, stem + '.json')
    ckpt = args.checkpoint or osp.join(args.out_dir, stem + '.ckpt')
    return results, ckpt


# ----------------------------------------------------------------------------- distributed

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device('cpu')

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def gather(self, obj: Any) -> List[Any]:
        if not self.active:
            return [obj]
        out: List[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def any(self, flag: bool) -> bool:
        if not self.active:
            return flag
        t = torch.tensor([int(flag)], device=self.device if self.device.type == 'cuda'
                         else 'cpu')
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def close(self) -> None:
        if self.active and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def setup_device(args: argparse.Namespace, allow_distributed: bool,
                 timeout_s: Optional[float] = None) -> Dist:
    """The device and, under ``torchrun`` (``WORLD_SIZE > 1``), the process group: gloo on
    CPU, nccl on CUDA; rank ``r`` uses ``cuda:LOCAL_RANK``."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    want = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if want.startswith('cuda') and not torch.cuda.is_available():
        raise UserError(f'--device {want}: CUDA is not available here; use --device cpu')
    check_device(want)
    device = torch.device(want)
    if world <= 1:
        return Dist(0, 1, device)
    if not allow_distributed:
        raise UserError('this script runs in one process: start it without torchrun')
    rank = int(os.environ['RANK'])
    if device.type == 'cuda':
        device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
        torch.cuda.set_device(device)
    kwargs = {}
    if timeout_s is not None:  # a collective waits at most this long for a lost rank
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=float(timeout_s))
    torch.distributed.init_process_group('nccl' if device.type == 'cuda' else 'gloo', **kwargs)
    return Dist(rank, world, device)


# ----------------------------------------------------------------------------- RNG and files

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state(generator: Optional[torch.Generator]) -> Dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {'torch': torch.get_rng_state(), 'python': random.getstate(),
           'numpy': [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                     float(cached)]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out['cuda'] = torch.cuda.get_rng_state_all()
    if generator is not None:
        out['loader'] = generator.get_state()
    return out


def set_rng_state(state: Dict[str, Any], generator: Optional[torch.Generator]) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(_tuples(state['python']))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if generator is not None and 'loader' in state:
        generator.set_state(state['loader'])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary sibling, then ``os.replace``: never a partial file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def atomic_json(obj: Any, path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'w') as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str, script: str, config: Dict[str, Any]) -> Dict[str, Any]:
    """Read a checkpoint and check it belongs to this script, model and training options."""
    if not osp.isfile(path):
        raise UserError(f'--resume: no checkpoint at {path} (start without --resume, or pass '
                        f'--checkpoint)')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:
        raise UserError(f'--resume: {path} is not a readable checkpoint '
                        f'({type(exc).__name__}); delete it and start again') from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise UserError(f'--resume: {path} is not a checkpoint of the gdl_graphs OGB scripts')
    if state.get('script') != script:
        raise UserError(f"--resume: {path} was written by {state.get('script')}, not "
                        f"{script}")
    old = state.get('config', {})
    diff = [k for k in config if old.get(k) != config[k]]
    if diff:
        k = diff[0]
        raise UserError(f'--resume: {path} was written for another model or training setup '
                        f'({k}={old.get(k)!r}, now {config[k]!r}); use its options or another '
                        f'--checkpoint')
    return state


def load_into(module: torch.nn.Module, state: Dict[str, Any], what: str, path: str) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:120]
        raise UserError(f'--resume: the {what} in {path} does not fit this model ({first}); '
                        f'use its options or another --checkpoint') from None


# ----------------------------------------------------------------------------- the run loop

@dataclass
class RunState:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: Optional[torch.Generator] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def peak_memory(device: torch.device) -> Dict[str, Any]:
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


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, 'module') else model


def run_experiment(args: argparse.Namespace, script: str, model_name: str,
                   config: Dict[str, Any], dist: Dist, metric: str, higher_is_better: bool,
                   setup_run: Callable[[int], RunState],
                   train_epoch: Callable[[RunState, int, int], float],
                   evaluate: Callable[[RunState], Dict[str, float]],
                   info: Optional[Dict[str, Any]] = None) -> int:
    results_path, ckpt_path = paths(args, script, model_name)
    ckpt = load_checkpoint(ckpt_path, script, config) if args.resume else None
    finished: List[Dict[str, Any]] = list(ckpt['finished']) if ckpt else []
    done_in_this_call = 0
    start_run = len(finished)
    for run in range(start_run, args.runs):
        seed_everything(args.seed + run)
        st = setup_run(run)
        rec: Dict[str, Any] = {'run': run, 'best_valid': None, 'test': None,
                               'best_epoch': None, 'epoch_times': [], 'curve': []}
        start_epoch = 1
        if ckpt is not None and ckpt.get('current') is not None and \
                ckpt['current']['run'] == run:
            cur = ckpt['current']
            load_into(_unwrap(st.model), cur['model'], 'model', ckpt_path)
            load_into(st.optimizer, cur['optimizer'], 'optimizer state', ckpt_path)
            rngs = cur['rng']
            set_rng_state(rngs[dist.rank] if dist.rank < len(rngs) else rngs[0], st.generator)
            rec = dict(cur['record'])
            rec['epoch_times'], rec['curve'] = list(rec['epoch_times']), list(rec['curve'])
            start_epoch = cur['epoch'] + 1
        ckpt = None
        for epoch in range(start_epoch, args.epochs + 1):
            if args.stop_after is not None and done_in_this_call >= args.stop_after:
                if dist.main:
                    print(f'stopped after {done_in_this_call} epoch(s); continue with --resume',
                          file=sys.stderr)
                return 3
            t0 = time.perf_counter()
            loss = train_epoch(st, run, epoch)
            seconds = time.perf_counter() - t0
            res = evaluate(st)
            rec['epoch_times'].append(seconds)
            rec['curve'].append([epoch, float(loss), res['train'], res['valid'], res['test']])
            best = rec['best_valid']
            if best is None or (res['valid'] > best if higher_is_better else res['valid'] < best):
                rec.update(best_valid=res['valid'], test=res['test'], best_epoch=epoch)
            done_in_this_call += 1
            rngs = dist.gather(rng_state(st.generator))
            if dist.main:
                print(f'run {run:02d} epoch {epoch:03d}  loss {loss:.4f}  train {res["train"]:.4f}'
                      f'  valid {res["valid"]:.4f}  test {res["test"]:.4f}  ({seconds:.1f}s)',
                      file=sys.stderr if args.quiet else sys.stdout, flush=True)
                atomic_save({'format': FORMAT, 'script': script, 'config': config,
                             'finished': finished,
                             'current': {'run': run, 'epoch': epoch, 'record': rec,
                                         'model': _unwrap(st.model).state_dict(),
                                         'optimizer': st.optimizer.state_dict(), 'rng': rngs}},
                            ckpt_path)
            dist.barrier()
        rec.update(peak_memory(dist.device))
        finished.append(rec)
        if dist.main:
            atomic_save({'format': FORMAT, 'script': script, 'config': config,
                         'finished': finished, 'current': None}, ckpt_path)
        dist.barrier()
    if dist.main:
        valid = [r['best_valid'] for r in finished]
        test = [r['test'] for r in finished]
        out = {'script': script, 'dataset': args.dataset, 'model': model_name,
               'metric': metric, 'config': config, 'world_size': dist.world,
               'device': str(dist.device), 'torch': torch.__version__, 'runs': finished,
               'valid_mean': float(np.mean(valid)), 'valid_std': _std(valid),
               'test_mean': float(np.mean(test)), 'test_std': _std(test)}
        out.update(info or {})
        atomic_json(out, results_path)
        print(f'{model_name} on {args.dataset}: valid {metric} {out["valid_mean"]:.4f} '
              f'+- {out["valid_std"]:.4f}, test {out["test_mean"]:.4f} +- '
              f'{out["test_std"]:.4f} over {len(finished)} run(s) -> {results_path}')
    return 0


def _std(xs: List[float]) -> float:
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def cli(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Run ``main`` and turn the user's mistakes into one line on stderr (exit code 2)."""
    from gdl_graphs.datasets import DatasetError
    from gdl_graphs.distributed import DistributedError, PartitionError
    try:
        return main(argv)
    except (UserError, DatasetError, PartitionError, DistributedError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted: continue with --resume', file=sys.stderr)
        return 130
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def finite(x: float) -> float:
    return float(x) if math.isfinite(x) else float('nan')
