"""Partitioned node-level training on ``torch.distributed`` (gloo on CPU, nccl on CUDA).

- :func:`partition_graph` (METIS from ``pymetis``, the ``dist`` extra) writes one folder per
  part; :func:`load_part` loads the part of one rank.
- :class:`DistGraph`: a rank's part and batched requests (``all_to_all_single``) to the
  owners of the rest: degrees, adjacency, feature rows, an optional cache of hot remote nodes.
- :class:`DistNeighborSampler` / :class:`DistNeighborLoader`: the single-process sampler's
  subgraphs, exactly, with rows fetched across parts; :func:`dist_inference`: layer-wise
  full-neighbourhood inference with a halo exchange.
- :class:`DistFeatureStore` / :class:`DistGraphStore`: the part behind PyG's interfaces.

Nothing here imports pymetis until a partition is written.
"""
from .graph import DistGraph, DistributedError, lost_peer, run_collective
from .partition import (
                        FORMAT,
                        LocalPart,
                        PartitionError,
                        check_folder,
                        load_part,
                        metis,
                        partition_graph,
                        read_meta,
)
from .planted import planted_partition
from .sampler import DistNeighborLoader, DistNeighborSampler, dist_inference
from .store import DistFeatureStore, DistGraphStore

__all__ = ['DistGraph', 'DistributedError', 'lost_peer', 'run_collective', 'FORMAT',
           'LocalPart', 'PartitionError',
           'check_folder', 'load_part', 'metis', 'partition_graph', 'read_meta',
           'DistNeighborLoader', 'DistNeighborSampler', 'dist_inference', 'DistFeatureStore',
           'DistGraphStore', 'planted_partition']
