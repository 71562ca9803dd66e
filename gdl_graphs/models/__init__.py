"""Stacks of layers (CNN-as-graph, GNNs, DeepSets, GEM nets, ...) and a registry by name."""
from .autoencoder import (
                          GAE,
                          VGAE,
                          GCNEncoder,
                          HadamardMLPDecoder,
                          InnerProductDecoder,
                          VariationalGCNEncoder,
)
from .cnn import LatticeLeNet, torch_lenet
from .deepsets import DeepSets, PointNet
from .gem import GEMNet, NormGate
from .gnn import GNN
from .graclus_net import GraclusNet
from .link import LinkGNN
from .ogb import AtomGIN, MolGNN, MolNodeGNN, NodeGNN, mol_gnn
from .registry import available, create, get, register

__all__ = ['available', 'create', 'get', 'register', 'GNN', 'AtomGIN', 'MolGNN', 'MolNodeGNN',
           'NodeGNN', 'mol_gnn', 'LatticeLeNet', 'torch_lenet', 'DeepSets', 'PointNet',
           'GraclusNet', 'GEMNet', 'NormGate', 'GAE', 'VGAE', 'GCNEncoder',
           'VariationalGCNEncoder', 'InnerProductDecoder', 'HadamardMLPDecoder', 'LinkGNN']
