"""File readers and writers (meshes, images, point clouds, graphs, sequences, PyG datasets);
optional dependencies are imported lazily inside the readers. Every reader error is a
:class:`FormatError` (a ``ValueError``) that names the file and the problem."""
from .errors import FormatError
from .mesh import read_mesh, write_mesh
from .image import read_image
from .points import read_points
from .graph import from_networkx_graph, read_graph
from .sequence import read_sequence, read_set
from .data import GraphDataset, load, load_data, safe_load, save_data, save_dataset

__all__ = ['FormatError', 'read_mesh', 'write_mesh', 'read_image', 'read_points',
           'from_networkx_graph', 'read_graph', 'read_sequence', 'read_set', 'GraphDataset',
           'load', 'load_data', 'safe_load', 'save_data', 'save_dataset']
