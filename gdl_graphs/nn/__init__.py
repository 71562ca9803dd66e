"""Layers, one per file; each defines message / aggregate / update on the one core."""
# graphs
from .graph_conv import GraphConv
from .gcn_conv import GCNConv
from .sage_conv import SAGEConv
from .gin_conv import GINConv, GINEConv
from .gat_conv import GATConv
from .gatv2_conv import GATv2Conv
from .nn_conv import NNConv
from .virtual_node import VirtualNode
from .ogb_mol_conv import MolGCNConv, MolGINConv
# grids
from .lattice_conv import LatticeConv
# sets, sequences, Transformers
from .deepsets_conv import DeepSetsConv, DeepSetsReadout
from .attention_conv import AttentionConv
from .transformer_block import TransformerBlock
from .gated_recurrent_conv import GatedRecurrentConv
# groups
from .lifting_conv import LiftingConv
from .group_conv import GroupConv
from .egnn_conv import EGNNConv
# meshes and gauges
from .gem_conv import GEMConv
from .regular_nonlinearity import RegularNonlinearity
from .geodesic_polar_conv import GeodesicPolarConv

__all__ = [
    'GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GINEConv', 'GATConv', 'GATv2Conv', 'NNConv',
    'VirtualNode', 'MolGCNConv', 'MolGINConv', 'LatticeConv', 'DeepSetsConv', 'DeepSetsReadout',
    'AttentionConv', 'TransformerBlock', 'GatedRecurrentConv', 'LiftingConv', 'GroupConv',
    'EGNNConv', 'GEMConv', 'RegularNonlinearity', 'GeodesicPolarConv',
]
