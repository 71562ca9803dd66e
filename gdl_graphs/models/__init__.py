"""Stacks of layers (CNN-as-graph, GNNs, DeepSets, GEM nets, ...) and a registry by name."""
from .registry import available, create, get, register
from .gnn import GNN
from .ogb import MolGNN, MolNodeGNN, NodeGNN, mol_gnn
from .cnn import LatticeLeNet, torch_lenet
from .deepsets import DeepSets, PointNet
from .graclus_net import GraclusNet
from .gem import GEMNet, NormGate

__all__ = ['available', 'create', 'get', 'register', 'GNN', 'MolGNN', 'MolNodeGNN', 'NodeGNN',
           'mol_gnn', 'LatticeLeNet', 'torch_lenet', 'DeepSets', 'PointNet', 'GraclusNet',
           'GEMNet', 'NormGate']
