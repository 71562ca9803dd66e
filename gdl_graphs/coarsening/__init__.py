"""Coarsening: cluster maps -> coarse graphs and pooled features; global pooling."""
from .core import Coarsened, coarsen, coarsen_data, consecutive, global_pool, pool, unpool
from .lattice import coarsen_lattice, lattice_global_pool, lattice_pool

__all__ = ['Coarsened', 'coarsen', 'coarsen_data', 'consecutive', 'global_pool', 'pool',
           'unpool', 'coarsen_lattice', 'lattice_pool', 'lattice_global_pool']
