"""File readers and writers (meshes, images, point clouds, graphs, sequences, PyG datasets);
optional dependencies are imported lazily inside the readers. Every reader error is a
:class:`FormatError` (a ``ValueError``) that names the file and the problem.

The readers are imported on first use, so importing :class:`FormatError` loads neither torch
nor PyG (the command line stays fast for ``--help``)."""
import importlib as _importlib

from .errors import FormatError

_WHERE = {
    'read_mesh': 'mesh', 'write_mesh': 'mesh', 'read_image': 'image', 'read_points': 'points',
    'from_networkx_graph': 'graph', 'read_graph': 'graph', 'read_sequence': 'sequence',
    'read_set': 'sequence', 'GraphDataset': 'data', 'load': 'data', 'load_data': 'data',
    'safe_load': 'data', 'save_data': 'data', 'save_dataset': 'data',
}

__all__ = ['FormatError', 'read_mesh', 'write_mesh', 'read_image', 'read_points',
           'from_networkx_graph', 'read_graph', 'read_sequence', 'read_set', 'GraphDataset',
           'load', 'load_data', 'safe_load', 'save_data', 'save_dataset']


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(_importlib.import_module(f'{__name__}.{module}'), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
