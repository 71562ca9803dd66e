"""Layers, one per file; each defines message / aggregate / update on the one core."""
from .graph_conv import GraphConv
from .gcn_conv import GCNConv
from .sage_conv import SAGEConv
from .gin_conv import GINConv, GINEConv
from .gat_conv import GATConv
from .gatv2_conv import GATv2Conv
from .nn_conv import NNConv
from .virtual_node import VirtualNode
from .lattice_conv import LatticeConv
from .deepsets_conv import DeepSetsConv, DeepSetsReadout
from .attention_conv import AttentionConv
from .transformer_block import TransformerBlock
from .gated_recurrent_conv import GatedRecurrentConv

__all__ = ['GraphConv', 'GCNConv', 'SAGEConv', 'GINConv', 'GINEConv', 'GATConv', 'GATv2Conv',
           'NNConv', 'VirtualNode', 'LatticeConv', 'DeepSetsConv',
           'DeepSetsReadout', 'AttentionConv', 'TransformerBlock', 'GatedRecurrentConv']
