"""Mini-batch loaders that need neither pyg-lib nor torch-sparse (CPU and CUDA)."""
from .link_neighbor import LinkNeighborLoader
from .neighbor import NeighborLoader, NeighborSampler, SamplerOutput

__all__ = ['LinkNeighborLoader', 'NeighborLoader', 'NeighborSampler', 'SamplerOutput']
