"""gdl_graphs: the Geometric Deep Learning blueprint on one message-passing core.

Every domain (grids, sets, sequences, graphs, groups, meshes) becomes a
:class:`torch_geometric.data.Data`; one core (:mod:`gdl_graphs.core`) runs every layer; local
pooling is graph coarsening (:mod:`gdl_graphs.coarsening`).

The subpackages are imported on first use (``gdl_graphs.nn``, ``from gdl_graphs import core``),
so ``import gdl_graphs`` and the ``gdl-graphs --help`` command do not load torch.
"""
import importlib as _importlib
import warnings as _warnings

# PyG calls torch.jit.script when it is imported, which torch >= 2.14 reports as a
# FutureWarning on every script and command; the filter names that one message only
_warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated',
                         category=FutureWarning, module=r'torch\.jit\._script')

__version__ = '0.1.0'

from .convert import convert  # noqa: E402  (the Python twin of `gdl-graphs convert`; light)

_SUBPACKAGES = ('core', 'coarsening', 'domains', 'nn', 'models', 'testing')
__all__ = list(_SUBPACKAGES) + ['convert', '__version__']


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
