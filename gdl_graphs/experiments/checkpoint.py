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

import os.path as osp
from typing import Any, Dict, Iterable, Optional, Tuple

import torch

from .errors import UserError

CHECKPOINT_FORMAT = 'gdl_graphs-ogb-checkpoint-v1'
RESULTS_FORMAT = 'gdl_graphs-results-v1'


def _fingerprint(state: Dict[str, Any]) -> str:
    # what a checkpoint or results file is built from: the command and its configuration
    from ..io.atomic import fingerprint
    return fingerprint(state.get('script'), state.get('config'))


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    """Write ``state`` (a dict of tensors and plain values) to ``path`` atomically, with our
    marker (:data:`CHECKPOINT_FORMAT` and the fingerprint of its command and configuration). A
    full disk is a one-line ``OSError`` and leaves the previous checkpoint as it was."""
    from ..io.atomic import atomic_path, write_errors, write_torch
    with write_errors(path), atomic_path(path) as tmp:
        write_torch(state, tmp, CHECKPOINT_FORMAT, _fingerprint(state))


def write_results(results: Dict[str, Any], path: str) -> None:
    """Write a results JSON atomically, with our marker (:data:`RESULTS_FORMAT`), so that a
    later run may replace it (``--overwrite``)."""
    from ..io.atomic import write_errors, write_json
    results = {k: v for k, v in results.items() if k not in ('format', 'fingerprint')}
    with write_errors(path):
        write_json(results, path, RESULTS_FORMAT, _fingerprint(results))


def read_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path``, or ``None`` when it is not one of ours (no marker, another
    format, unreadable)."""
    from ..io.atomic import is_ours
    if not is_ours(path, CHECKPOINT_FORMAT, folder=False):
        return None
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:
        return None
    return state if isinstance(state, dict) else None


def check_folder_path(path: str, option: str) -> None:
    """A folder option (``--out-dir``) that exists as a file, or lies under a file, fails in
    one line."""
    if osp.exists(path) and not osp.isdir(path):
        raise UserError(f'{option} {path} is a file, not a folder: choose another {option}')
    parent = osp.dirname(osp.abspath(path))
    while not osp.exists(parent) and osp.dirname(parent) != parent:
        parent = osp.dirname(parent)
    if osp.exists(parent) and not osp.isdir(parent):
        raise UserError(f'{option} {path}: {parent} is a file, not a folder: choose another '
                        f'{option}')


def check_outputs(checkpoint: Optional[str], results: Optional[str], resume: bool,
                  overwrite: bool) -> None:
    """The writer rule (:func:`gdl_graphs.io.atomic.check_output`), checked before any work:
    a path below a file, a folder, or an existing file that is not ours fails at once (even
    with ``--overwrite``: a text file given as ``--checkpoint`` is never replaced); one of
    ours is replaced only with ``--resume`` or ``--overwrite``."""
    from ..io.atomic import OutputError, check_output, why_not_ours
    for option, path, fmt, what, flag in (
            ('--checkpoint', checkpoint, CHECKPOINT_FORMAT, 'a checkpoint of these commands',
             '--resume or --overwrite'),
            ('--results', results, RESULTS_FORMAT, 'a results file of these commands',
             '--resume or --overwrite')):
        if path is None:
            continue
        try:
            if osp.lexists(path) and not osp.isdir(path):
                why = why_not_ours(path, fmt, folder=False, what=what)
                if why is not None:  # whatever the flags: never ours to replace
                    raise OutputError(f'{path} is {why}; it is left as it is: choose another '
                                      f'{option}')
            if osp.isdir(path):
                raise OutputError(f'{path} is a folder: give {option} a file path')
            check_output(path, fmt, overwrite=overwrite or resume,
                         folder=False, what=what, flag=flag)
        except OutputError as exc:
            raise UserError(f'{option}: {exc}') from None


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
