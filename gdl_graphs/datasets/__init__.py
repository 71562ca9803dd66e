"""Datasets: safe OGB loading and a builder of OGB-format folders from user data.

Nothing here imports ogb or rdkit at import time; they load when a function needs them.
"""
from .builder import (build_graph_dataset, build_node_dataset, build_smiles_dataset,
                      random_split, scaffold_split)
from .link import build_link_dataset, load_link_dataset
from .ogb_utils import (DatasetError, allow_pyg_classes, check_processed, dataset_fingerprint,
                        dataset_path, evaluator_for, load_dataset, load_node_arrays)

__all__ = ['DatasetError', 'allow_pyg_classes', 'check_processed', 'dataset_fingerprint',
           'dataset_path', 'evaluator_for', 'load_dataset', 'load_node_arrays',
           'build_graph_dataset', 'build_node_dataset', 'build_smiles_dataset', 'random_split',
           'scaffold_split', 'build_link_dataset', 'load_link_dataset']
