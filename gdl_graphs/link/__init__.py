"""Link prediction on graphs: exact negative sampling and leakage-free edge splits.

The loader of seed edges is :class:`gdl_graphs.loader.LinkNeighborLoader`; the decoders and the
graph auto-encoders (GAE, VGAE) are in :mod:`gdl_graphs.models.autoencoder`.
"""
from .metrics import average_precision, hits_at_k, mrr, roc_auc
from .negative import DENSE_LIMIT, NegativeSampler, batched_negative_sampling, negative_sampling
from .split import RandomLinkSplit

__all__ = ['DENSE_LIMIT', 'NegativeSampler', 'RandomLinkSplit', 'average_precision',
           'batched_negative_sampling', 'hits_at_k', 'mrr', 'negative_sampling', 'roc_auc']
