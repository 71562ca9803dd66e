"""Coarsening: cluster maps -> coarse graphs and pooled features; global pooling."""
from .core import Coarsened, coarsen, coarsen_data, consecutive, global_pool, pool, unpool

__all__ = ['Coarsened', 'coarsen', 'coarsen_data', 'consecutive', 'global_pool', 'pool',
           'unpool']
