"""File readers and writers (meshes, graphs, point clouds, ...); optional dependencies are
imported lazily inside the readers."""
from .mesh import read_mesh, write_mesh
from .errors import FormatError
from .image import read_image
from .points import read_points
from .graph import from_networkx_graph, read_graph
from .sequence import read_sequence, read_set
from .data import GraphDataset, load, load_data, safe_load, save_data, save_dataset
