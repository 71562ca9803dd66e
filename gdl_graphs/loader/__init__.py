"""Mini-batch loaders that need neither pyg-lib nor torch-sparse (CPU and CUDA)."""
from .neighbor import NeighborLoader, NeighborSampler, SamplerOutput

__all__ = ['NeighborLoader', 'NeighborSampler', 'SamplerOutput']
