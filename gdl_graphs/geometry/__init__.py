"""Point search: exact k-NN and radius search (k-d tree, grid, brute force), farthest-point
sampling and voxel grids, on CPU and CUDA without pyg-lib or torch-cluster, with the public
validators every search uses (:mod:`gdl_graphs.geometry.validate`)."""
from .fps import fps
from .search import knn, knn_graph, radius, radius_graph
from .validate import check_batch, check_k, check_points, check_r
from .voxel import grid_cluster, voxel_grid

__all__ = ['knn', 'knn_graph', 'radius', 'radius_graph', 'fps', 'grid_cluster', 'voxel_grid',
           'check_points', 'check_batch', 'check_k', 'check_r']
