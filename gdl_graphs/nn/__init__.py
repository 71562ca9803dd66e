"""Layers, one per file; each defines message / aggregate / update on the one core."""
from .graph_conv import GraphConv

__all__ = ['GraphConv']
