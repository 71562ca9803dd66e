"""Domains: one module per domain, data -> torch_geometric.data.Data (+ a BaseTransform twin)."""
from .grid import ImageToGraph, graph_to_image, image_to_graph, tag_lattice

__all__ = ['ImageToGraph', 'graph_to_image', 'image_to_graph', 'tag_lattice']
