"""Experiments as library code: the run loop, seeds and random state, atomic checkpoints and
results files, the distributed context and the trainers behind ``scripts/``.

The pieces a new trainer uses (the OGB and link-prediction commands are built on them):

- :func:`base_parser`, :func:`check_args`, :func:`parse_fanout`: the shared options;
- :func:`init_context` -> :class:`DistContext`: device, rank, world size and the collectives
  (gloo on CPU, nccl on CUDA under ``torchrun``), one error agreed on by every rank;
- :class:`RunState` and :func:`run_experiment`: seeds, epochs, a checkpoint after every epoch,
  ``--resume`` to the uninterrupted result, the results JSON;
- :func:`seed_everything`, :func:`rng_state`, :func:`set_rng_state`;
- :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`write_results`,
  :func:`check_outputs`: files written atomically and replaced only when they are ours;
- :func:`cli`: a command's ``main`` with one-line errors (exit status 2);
- :class:`UserError`: a mistake of the user, reported in one line.

The trainers (each the whole of one script): :mod:`~gdl_graphs.experiments.ogb`
(molecules, full-batch and sampled node classification),
:mod:`~gdl_graphs.experiments.partitioned` (:class:`PartitionedNodeTrainer`),
:mod:`~gdl_graphs.experiments.tu` (GIN's 10-fold protocol) and
:mod:`~gdl_graphs.experiments.planetoid` (GCN and GAT). They are imported on first use.
"""
from .checkpoint import (
    CHECKPOINT_FORMAT,
    RESULTS_FORMAT,
    check_outputs,
    load_checkpoint,
    output_paths,
    save_checkpoint,
    write_results,
)
from .context import DistContext, check_device, init_context
from .errors import UserError, cli
from .loop import RunState, peak_memory, prepare_outputs, run_experiment, std, unwrap
from .options import base_parser, check_args, parse_fanout
from .rng import rng_state, seed_everything, set_rng_state

__all__ = ['CHECKPOINT_FORMAT', 'RESULTS_FORMAT', 'check_outputs', 'load_checkpoint',
           'output_paths', 'save_checkpoint', 'write_results', 'DistContext', 'check_device',
           'init_context', 'UserError', 'cli', 'RunState', 'peak_memory', 'prepare_outputs',
           'run_experiment', 'std', 'unwrap', 'base_parser', 'check_args', 'parse_fanout',
           'rng_state', 'seed_everything', 'set_rng_state']
