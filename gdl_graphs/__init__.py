"""gdl_graphs: the Geometric Deep Learning blueprint on one message-passing core.

Every domain (grids, sets, sequences, graphs, groups, meshes) becomes a
:class:`torch_geometric.data.Data`; one core (:mod:`gdl_graphs.core`) runs every layer; local
pooling is graph coarsening (:mod:`gdl_graphs.coarsening`).
"""
__version__ = '0.1.0'

from . import core, coarsening, nn, testing  # noqa: E402

__all__ = ['core', 'coarsening', 'nn', 'testing', '__version__']
