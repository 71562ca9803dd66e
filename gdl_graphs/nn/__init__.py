"""Layers, one per file; each defines message / aggregate / update on the one core."""
# graphs
from .attention_conv import AttentionConv

# sets, sequences, Transformers
from .deepsets_conv import DeepSetsConv, DeepSetsReadout
from .egnn_conv import EGNNConv
from .gat_conv import GATConv
from .gated_recurrent_conv import GatedRecurrentConv
from .gatv2_conv import GATv2Conv
from .gcn_conv import GCNConv

# meshes and gauges
from .gem_conv import GEMConv
from .geodesic_polar_conv import GeodesicPolarConv
from .gin_conv import GINConv, GINEConv
from .graph_conv import GraphConv
from .group_conv import GroupConv

# grids
from .lattice_conv import LatticeConv

# groups
from .lifting_conv import LiftingConv
from .nn_conv import NNConv
from .ogb_mol_conv import MolGCNConv, MolGINConv
from .regular_nonlinearity import RegularNonlinearity
from .sage_conv import SAGEConv
from .transformer_block import TransformerBlock
from .virtual_node import VirtualNode

__all__ = [
    'GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GINEConv', 'GATConv', 'GATv2Conv', 'NNConv',
    'VirtualNode', 'MolGCNConv', 'MolGINConv', 'LatticeConv', 'DeepSetsConv', 'DeepSetsReadout',
    'AttentionConv', 'TransformerBlock', 'GatedRecurrentConv', 'LiftingConv', 'GroupConv',
    'EGNNConv', 'GEMConv', 'RegularNonlinearity', 'GeodesicPolarConv',
]
