"""Domains: one module per domain, data -> torch_geometric.data.Data (+ a BaseTransform twin)."""
from .complete import CompleteData, CompleteGraph, complete_graph
from .grid import ImageToGraph, LatticeData, graph_to_image, image_to_graph, tag_lattice
from .group import Group, LiftLattice, group_pool, lift_lattice, lifted_pool
from .mesh import ChangeGauge, MeshToGraph, change_gauge, mesh_to_graph
from .pointcloud import PointCloudToGraph
from .pointcloud import to_graph as pointcloud_to_graph
from .sequence import (
                       AddSinusoidalPE,
                       PathGraph,
                       graph_to_sequence,
                       sequence_to_graph,
                       sinusoidal_positions,
)
from .set import ToSet, set_to_graph
from .sphere import icosahedral_rotations, icosphere

__all__ = [
    'ImageToGraph', 'LatticeData', 'graph_to_image', 'image_to_graph', 'tag_lattice', 'ToSet',
    'set_to_graph', 'CompleteData', 'CompleteGraph', 'complete_graph', 'AddSinusoidalPE',
    'PathGraph', 'graph_to_sequence',
    'sequence_to_graph', 'sinusoidal_positions', 'Group', 'LiftLattice', 'group_pool',
    'lift_lattice', 'lifted_pool', 'PointCloudToGraph', 'pointcloud_to_graph',
    'icosahedral_rotations', 'icosphere', 'ChangeGauge', 'MeshToGraph', 'change_gauge',
    'mesh_to_graph',
]
