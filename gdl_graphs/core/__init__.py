"""The one message-passing core: base layer, kernels, structure caches, validation.

Only this package calls scatter / segment / index_add / sparse kernels (a test enforces it).
"""
from .conv import (
                   KERNELS,
                   Adjacency,
                   GDLConv,
                   check_edge_type,
                   get_kernel,
                   matmul,
                   propagate_linear,
                   propagate_typed,
                   set_kernel,
                   sparse_to_edge_index,
                   typed_matmul,
                   use_kernel,
)
from .scatter import (
                   available_backends,
                   degree,
                   get_backend,
                   scatter,
                   segment,
                   set_backend,
                   softmax,
                   use_backend,
)
from .sparse import CSR, csr_of, csr_order, spmm
from .structure import Structure, annotate, cached, plain, structure_of
from .validate import (
                   check_edge_index,
                   check_finite,
                   check_index,
                   check_node_features,
                   set_validation,
                   validation,
)

__all__ = [
    'GDLConv', 'Adjacency', 'matmul', 'typed_matmul', 'check_edge_type', 'sparse_to_edge_index',
    'KERNELS', 'get_kernel', 'set_kernel', 'use_kernel', 'propagate_linear',
    'propagate_typed', 'scatter', 'segment', 'softmax', 'degree', 'available_backends',
    'get_backend', 'set_backend', 'use_backend', 'CSR', 'csr_of', 'csr_order', 'spmm', 'Structure',
    'annotate', 'cached', 'plain', 'structure_of', 'check_edge_index',
    'check_finite', 'check_index', 'check_node_features', 'set_validation', 'validation',
]
