"""Checkpoints and results files: written atomically, replaced only when they are ours.

- :func:`save_checkpoint` / :func:`write_results` write through :mod:`gdl_graphs.io.atomic`
  (a temporary sibling renamed into place): a crash, a full disk or ``SIGKILL`` never leaves a
  partial file, and the previous checkpoint stays readable until the new one is complete.
- :func:`check_outputs`, called before any work, applies one rule: an existing checkpoint or
  results file is replaced only when it is one these commands wrote (its format marker says
  so) and the user asked for it (``--resume`` or ``--overwrite``); anything else (a text
  file, a folder, a checkpoint of another tool) is never touched; a path through a file fails
  at once, in one line.
- :func:`load_checkpoint` checks that a checkpoint belongs to this command and to the same
  model and training options before a run continues from it.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Any, Dict, Iterable, Optional, Tuple

import torch

from .errors import UserError

CHECKPOINT_FORMAT = 'gdl_graphs-ogb-checkpoint-v1'
RESULTS_FORMAT = 'gdl_graphs-results-v1'


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    """Write ``state`` (a dict of tensors and plain values) to ``path`` atomically; the format
    marker is added."""
    from ..io.atomic import atomic_path, write_torch
    with atomic_path(path) as tmp:
        write_torch(dict(state, format=CHECKPOINT_FORMAT), tmp)


def write_results(results: Dict[str, Any], path: str) -> None:
    """Write a results JSON atomically, with the format marker that lets a later run replace
    it (``--overwrite``)."""
    from ..io.atomic import atomic_path
    text = json.dumps(dict(results, format=RESULTS_FORMAT), indent=1)
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def read_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path``, or ``None`` when it is not one of ours (unreadable, another
    format)."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:
        return None
    if not isinstance(state, dict) or state.get('format') != CHECKPOINT_FORMAT:
        return None
    return state


def is_our_results(path: str) -> bool:
    """Whether ``path`` is a results JSON written by :func:`write_results`."""
    try:
        with open(path) as f:
            return json.load(f).get('format') == RESULTS_FORMAT
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return False


def _through_file(path: str) -> Optional[str]:
    """The first existing ancestor of ``path`` that is not a folder, if any."""
    parent = osp.dirname(osp.abspath(path))
    while parent and not osp.exists(parent):
        up = osp.dirname(parent)
        if up == parent:
            break
        parent = up
    return parent if osp.exists(parent) and not osp.isdir(parent) else None


def check_folder_path(path: str, option: str) -> None:
    """A folder option (``--out-dir``) that exists as a file, or lies under a file, fails in
    one line."""
    if osp.exists(path) and not osp.isdir(path):
        raise UserError(f'{option} {path} is a file, not a folder: choose another {option}')
    bad = _through_file(osp.join(path, 'x'))
    if bad is not None:
        raise UserError(f'{option} {path}: {bad} is a file, not a folder: choose another '
                        f'{option}')


def check_outputs(checkpoint: Optional[str], results: Optional[str], resume: bool,
                  overwrite: bool) -> None:
    """The writer rule, checked before any work (see the module docstring)."""
    for option, path in (('--checkpoint', checkpoint), ('--results', results)):
        if path is None:
            continue
        bad = _through_file(path)
        if bad is not None:
            raise UserError(f'{option} {path}: {bad} is a file, not a folder: choose another '
                            f'{option}')
        if osp.isdir(path):
            raise UserError(f'{option} {path} is a folder: give a file path')
    if checkpoint is not None and (osp.exists(checkpoint) or osp.islink(checkpoint)):
        if read_checkpoint(checkpoint) is None:
            raise UserError(f'--checkpoint {checkpoint} exists and is not a checkpoint of these '
                            f'commands; it is left as it is: choose another --checkpoint')
        if not (resume or overwrite):
            raise UserError(f'--checkpoint {checkpoint} exists: pass --resume to continue it or '
                            f'--overwrite to start again')
    if results is not None and (osp.exists(results) or osp.islink(results)):
        if not is_our_results(results):
            raise UserError(f'--results {results} exists and is not a results file of these '
                            f'commands; it is left as it is: choose another --results')
        if not (resume or overwrite):
            raise UserError(f'--results {results} exists: pass --overwrite to replace it')


def load_checkpoint(path: str, script: str, config: Dict[str, Any],
                    may_change: Iterable[str] = ('epochs',)) -> Dict[str, Any]:
    """Read a checkpoint and check it belongs to ``script`` and to the same ``config`` (the
    keys in ``may_change`` may differ: the caller checks them)."""
    if not osp.isfile(path):
        raise UserError(f'--resume: no checkpoint at {path} (start without --resume, or pass '
                        f'--checkpoint)')
    state = read_checkpoint(path)
    if state is None:
        raise UserError(f'--resume: {path} is not a readable checkpoint of these commands; '
                        f'choose another --checkpoint')
    if state.get('script') != script:
        raise UserError(f"--resume: {path} was written by {state.get('script')}, not "
                        f"{script}")
    old = state.get('config', {})
    skip = set(may_change)
    diff = [k for k in config if k not in skip and old.get(k) != config[k]]
    if diff:
        k = diff[0]
        raise UserError(f'--resume: {path} was written for another model or training setup '
                        f'({k}={old.get(k)!r}, now {config[k]!r}); use its options or another '
                        f'--checkpoint')
    return state


def load_into(module: Any, state: Dict[str, Any], what: str, path: str) -> None:
    """``module.load_state_dict(state)``; a mismatch is a one-line :class:`UserError`."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:120]
        raise UserError(f'--resume: the {what} in {path} does not fit this model ({first}); '
                        f'use its options or another --checkpoint') from None


def output_paths(out_dir: str, results: Optional[str], checkpoint: Optional[str],
                 stem: str) -> Tuple[str, str]:
    """``(results, checkpoint)``: the given paths, or ``<out_dir>/<stem>.json`` / ``.ckpt``."""
    return (results or osp.join(out_dir, stem + '.json'),
            checkpoint or osp.join(out_dir, stem + '.ckpt'))
