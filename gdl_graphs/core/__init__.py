"""The one message-passing core: base layer, kernel plans, kernels, structure, validation.

Only this package calls scatter / segment / index_add / sparse kernels (a test enforces it).
What a layer author uses is exported here; the kernels' plumbing stays in the submodules.
"""
from .config import KERNELS, use_backend, use_kernel, validation
from .conv import (
    Adjacency,
    GDLConv,
    Plan,
    attention_matmul,
    check_edge_type,
    matmul,
    propagate_linear,
    propagate_typed,
    sparse_to_edge_index,
    typed_matmul,
)
from .scatter import available_backends, degree, scatter, segment, softmax
from .structure import Structure, annotate, cached, mark_derived, plain, structure_of
from .validate import check_edge_index, check_finite, check_index, check_node_features

__all__ = [
    'GDLConv', 'Plan', 'Adjacency', 'matmul', 'typed_matmul', 'attention_matmul',
    'propagate_linear', 'propagate_typed', 'check_edge_type', 'sparse_to_edge_index', 'KERNELS',
    'use_kernel',
    'use_backend', 'validation', 'scatter', 'segment', 'softmax', 'degree',
    'available_backends', 'Structure', 'annotate', 'plain', 'structure_of', 'cached',
    'mark_derived',
    'check_edge_index', 'check_finite', 'check_index', 'check_node_features',
]
