"""Mini-batch loaders that need neither pyg-lib nor torch-sparse (CPU and CUDA)."""
from .link_neighbor import LinkNeighborLoader
from .neighbor import NeighborLoader, NeighborSampler, SamplerOutput
from .precollated import GraphBatch, PrecollatedGraphs

__all__ = ['GraphBatch', 'LinkNeighborLoader', 'NeighborLoader', 'NeighborSampler',
           'PrecollatedGraphs', 'SamplerOutput']
