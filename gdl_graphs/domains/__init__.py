"""Domains: one module per domain, data -> torch_geometric.data.Data (+ a BaseTransform twin)."""
from .grid import ImageToGraph, graph_to_image, image_to_graph, tag_lattice
from .set import ToSet, set_to_graph
from .complete import CompleteGraph, complete_graph
from .sequence import (AddSinusoidalPE, PathGraph, graph_to_sequence, sequence_to_graph,
                       sinusoidal_positions)

__all__ = ['ImageToGraph', 'graph_to_image', 'image_to_graph', 'tag_lattice', 'ToSet',
           'set_to_graph', 'CompleteGraph', 'complete_graph', 'AddSinusoidalPE', 'PathGraph',
           'graph_to_sequence', 'sequence_to_graph', 'sinusoidal_positions']
