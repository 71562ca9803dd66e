"""Stacks of layers (CNN-as-graph, GNNs, ...) and a registry by name."""
from .registry import available, create, get, register
from .gnn import GNN
from .cnn import LatticeLeNet, torch_lenet
from .deepsets import DeepSets, PointNet

__all__ = ['available', 'create', 'get', 'register', 'GNN', 'LatticeLeNet', 'torch_lenet', 'DeepSets',
           'PointNet']
