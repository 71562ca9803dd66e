"""Stacks of layers (CNN-as-graph, GNNs, ...) and a registry by name."""
from .registry import available, create, get, register
from .gnn import GNN

__all__ = ['available', 'create', 'get', 'register', 'GNN']
