"""Sequence (and set) readers: CSV and NPY tables -> float32 ``[T, C]``.

A sequence file holds one time step per row and one channel per column (a CSV header, when
present, names the channels and is otherwise ignored); a 1-D NPY array is one channel. A set
file has the same layout, one element per row (:func:`read_set`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .errors import FormatError, PathLike, ext_of, read_npy, read_table

SEQUENCE_EXTENSIONS = ('.csv', '.tsv', '.txt', '.npy')


def read_matrix(path: PathLike) -> Tensor:
    """A numeric table (``.csv``, ``.tsv``, ``.txt`` or ``.npy``) -> float32 ``[R, C]``."""
    ext = ext_of(path)
    if ext == '.npy':
        arr = read_npy(path)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise FormatError(path, f'a table must be 1-D or 2-D ([T] or [T, C]), got shape '
                                    f'{list(arr.shape)}')
    elif ext in ('.csv', '.tsv', '.txt'):
        arr = read_table(path)[1]
    else:
        raise FormatError(path, f'unknown table extension {ext!r}; use one of '
                                f'{SEQUENCE_EXTENSIONS}')
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FormatError(path, f'an empty table (shape {list(arr.shape)})')
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def read_sequence(path: PathLike) -> Tensor:
    """A sequence: one time step per row, one channel per column -> float32 ``[T, C]``.

    Raises:
        FormatError: (a ``ValueError``) for a corrupt, truncated or mislabelled file.
    """
    return read_matrix(path)


def read_set(path: PathLike) -> Tensor:
    """A set: one element per row, one feature per column -> float32 ``[N, F]``."""
    return read_matrix(path)
