"""gdl_graphs: the Geometric Deep Learning blueprint on one message-passing core.

Every domain (grids, sets, sequences, graphs, groups, meshes) becomes a
:class:`torch_geometric.data.Data`; one core (:mod:`gdl_graphs.core`) runs every layer; local
pooling is graph coarsening (:mod:`gdl_graphs.coarsening`).
"""
__version__ = '0.1.0'

from . import core, coarsening, domains, nn, models, testing  # noqa: E402
from .convert import convert  # noqa: E402  (the Python twin of `gdl-graphs convert`)

__all__ = ['core', 'coarsening', 'domains', 'nn', 'models', 'testing', 'convert',
           '__version__']
