"""Coarsening: cluster maps -> coarse graphs and pooled features; global pooling; the
clustering toolkit; multiscale hierarchies. The neighbour search (knn, radius, fps, voxels)
lives in :mod:`gdl_graphs.geometry`; its names here and the submodules ``neighbors``, ``fps``
and ``voxel`` are aliases kept for one release."""
from .core import Coarsened, coarsen, coarsen_data, consecutive, global_pool, pool, unpool
from .fps import fps
from .graclus import graclus, normalized_cut
from .hierarchy import (
                        Hierarchy,
                        avg_pool,
                        avg_pool_x,
                        build_hierarchy,
                        hierarchy_of,
                        max_pool,
                        max_pool_x,
)
from .interpolate import knn_interpolate
from .lattice import coarsen_lattice, lattice_global_pool, lattice_pool
from .mesh import MeshLevel, coarsen_mesh, mesh_pool, mesh_unpool
from .neighbors import knn, knn_graph, radius, radius_graph
from .voxel import grid_cluster, voxel_grid

__all__ = [
    'Coarsened', 'coarsen', 'coarsen_data', 'consecutive', 'global_pool', 'pool', 'unpool',
    'knn', 'knn_graph', 'radius', 'radius_graph', 'fps', 'grid_cluster', 'voxel_grid', 'graclus',
    'normalized_cut', 'knn_interpolate', 'Hierarchy', 'build_hierarchy', 'hierarchy_of',
    'max_pool', 'avg_pool', 'max_pool_x', 'avg_pool_x', 'coarsen_lattice', 'lattice_pool',
    'lattice_global_pool', 'MeshLevel', 'coarsen_mesh', 'mesh_pool', 'mesh_unpool',
]
