r"""Link decoders and the graph auto-encoders of Kipf and Welling, "Variational Graph
Auto-Encoders" (NIPS Bayesian Deep Learning workshop 2016, https://arxiv.org/abs/1611.07308),
on gdl_graphs layers.

- :class:`InnerProductDecoder`: :math:`p(A_{ij} = 1) = \sigma(\mathbf{z}_i^\top \mathbf{z}_j)`.
- :class:`HadamardMLPDecoder`: an MLP on :math:`\mathbf{z}_i \odot \mathbf{z}_j` (OGB's link
  baselines' ``LinkPredictor``).
- :class:`GAE`: encoder + decoder; ``recon_loss`` is the binary cross-entropy of positive pairs
  and negatives (drawn exactly by :func:`~gdl_graphs.link.negative_sampling` when not given).
- :class:`VGAE`: the encoder returns :math:`(\mu, \log\sigma)`; in training
  :math:`\mathbf{z} = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim \mathcal{N}(0, I)`
  (reparametrisation), in evaluation :math:`\mathbf{z} = \mu`; ``kl_loss`` is
  :math:`-\tfrac12 \operatorname{mean}_i \sum_d (1 + 2\log\sigma_{id} - \mu_{id}^2 -
  \sigma_{id}^2)`.

The losses are PyG's ``GAE`` / ``VGAE`` formulas term for term (same ``EPS``, same clamp of
:math:`\log\sigma` at 10), so the same weights give the same numbers and gradients.
:class:`GCNEncoder` and :class:`VariationalGCNEncoder` are the paper's two-layer GCN encoders
(32-16 in its experiments).

Equivariance: encoders are permutation equivariant; the decoders' pair scores are invariant
under a relabelling of the nodes applied to both ``z`` and the pairs.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module

from ..core import cached
from ..link.metrics import average_precision, roc_auc
from ..link.negative import NegativeSampler
from ..nn.gcn_conv import GCNConv
from .registry import register

EPS = 1e-15
MAX_LOGSTD = 10


def _pairs(z: Tensor, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f'the pairs to score must be [2, P], got {list(edge_index.shape)}')
    return z.index_select(0, edge_index[0]), z.index_select(0, edge_index[1])


class InnerProductDecoder(Module):
    r"""Inner product decoder: :math:`\sigma(\mathbf{z}_i^\top \mathbf{z}_j)` per pair.

    Shapes: z ``[N, D]``, edge_index ``[2, P]`` -> ``[P]``; ``forward_all``: ``[N, N]``.
    """

    def forward(self, z: Tensor, edge_index: Tensor, sigmoid: bool = True) -> Tensor:
        a, b = _pairs(z, edge_index)
        value = (a * b).sum(dim=1)
        return torch.sigmoid(value) if sigmoid else value

    def forward_all(self, z: Tensor, sigmoid: bool = True) -> Tensor:
        adj = z @ z.t()
        return torch.sigmoid(adj) if sigmoid else adj

    def reset_parameters(self) -> None:
        pass

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


class HadamardMLPDecoder(Module):
    r"""MLP on the Hadamard product: :math:`\mathrm{MLP}(\mathbf{z}_i \odot \mathbf{z}_j)`,
    ReLU and dropout between ``num_layers`` linear layers (OGB's ``LinkPredictor``).

    Shapes: z ``[N, D]``, edge_index ``[2, P]`` -> ``[P]`` (``out_channels=1``) or
    ``[P, C]``. ``forward_pair(a, b)`` scores given endpoint embeddings.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int = 1,
                 num_layers: int = 3, dropout: float = 0.0):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList([torch.nn.Linear(a, b)
                                         for a, b in zip(dims[:-1], dims[1:])])
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins:
            lin.reset_parameters()

    def forward_pair(self, a: Tensor, b: Tensor, sigmoid: bool = True) -> Tensor:
        x = a * b
        for lin in self.lins[:-1]:
            x = F.dropout(F.relu(lin(x)), self.dropout, self.training)
        x = self.lins[-1](x)
        if x.size(-1) == 1:
            x = x.view(-1)
        return torch.sigmoid(x) if sigmoid else x

    def forward(self, z: Tensor, edge_index: Tensor, sigmoid: bool = True) -> Tensor:
        return self.forward_pair(*_pairs(z, edge_index), sigmoid=sigmoid)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.lins[0].in_features}, '
                f'{self.lins[-1].out_features}, num_layers={len(self.lins)})')


class GAE(Module):
    r"""Graph auto-encoder: ``encode`` with any encoder, ``decode`` pairs (default
    :class:`InnerProductDecoder`).

    .. math::
        \mathcal{L} = -\operatorname{mean}_{(i,j) \in E^+} \log(\sigma_{ij} + \epsilon)
        - \operatorname{mean}_{(i,j) \in E^-} \log(1 - \sigma_{ij} + \epsilon)

    Shapes: ``encode(...) -> z [N, D]``; ``decode(z, pairs [2, P]) -> [P]``.
    """

    def __init__(self, encoder: Module, decoder: Optional[Module] = None):
        super().__init__()
        self.encoder = encoder
        self.decoder = InnerProductDecoder() if decoder is None else decoder
        GAE.reset_parameters(self)

    def reset_parameters(self) -> None:
        for m in (self.encoder, self.decoder):
            if hasattr(m, 'reset_parameters'):
                m.reset_parameters()
            else:
                for child in m.children():
                    if hasattr(child, 'reset_parameters'):
                        child.reset_parameters()

    def forward(self, *args, **kwargs) -> Tensor:
        return self.encode(*args, **kwargs)

    def encode(self, *args, **kwargs) -> Tensor:
        return self.encoder(*args, **kwargs)

    def decode(self, *args, **kwargs) -> Tensor:
        return self.decoder(*args, **kwargs)

    def recon_loss(self, z: Tensor, pos_edge_index: Tensor,
                   neg_edge_index: Optional[Tensor] = None,
                   generator: Optional[torch.Generator] = None) -> Tensor:
        """Binary cross-entropy of the positive pairs and the negatives (one exact negative per
        positive, drawn from the non-edges of ``pos_edge_index``, when none are given)."""
        if neg_edge_index is None:
            neg_edge_index = self._negatives(pos_edge_index, z.size(0)).sample(
                pos_edge_index.size(1), generator=generator)
        p = pos_edge_index.size(1)
        # one decoder call for both sets: one gather (and one scatter back) per endpoint
        prob = self.decoder(z, torch.cat([pos_edge_index, neg_edge_index], 1), sigmoid=True)
        pos_loss = -torch.log(prob[:p] + EPS).mean()
        neg_loss = -torch.log(1 - prob[p:] + EPS).mean()
        return pos_loss + neg_loss

    def _negatives(self, edge_index: Tensor, num_nodes: int) -> NegativeSampler:
        """The sorted edge set of ``edge_index``, kept with the tensor while its content is the
        same (``core.cached``: storage, version and a content fingerprint), so a training loop
        sorts its graph once, and a buffer refilled behind torch's back is sorted again."""
        return cached((edge_index,), ('negative_sampler', int(num_nodes)),
                      lambda: NegativeSampler(edge_index, num_nodes))

    @torch.no_grad()
    def test(self, z: Tensor, pos_edge_index: Tensor,
             neg_edge_index: Tensor) -> Tuple[float, float]:
        """(ROC AUC, average precision) of the decoder's scores on positives vs negatives."""
        pos = self.decoder(z, pos_edge_index, sigmoid=True)
        neg = self.decoder(z, neg_edge_index, sigmoid=True)
        score = torch.cat([pos, neg])
        label = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
        return roc_auc(score, label), average_precision(score, label)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(encoder={self.encoder}, decoder={self.decoder})'


class VGAE(GAE):
    r"""Variational graph auto-encoder: the encoder returns ``(mu, logstd)``; ``encode``
    samples :math:`\mathbf{z} = \mu + e^{\log\sigma} \odot \epsilon` in training (``mu`` in
    evaluation) and keeps ``mu`` / ``logstd`` for :meth:`kl_loss`. Train on
    ``recon_loss(z, pos) + kl_loss() / N`` (the paper's ELBO per node)."""

    def reparametrize(self, mu: Tensor, logstd: Tensor) -> Tensor:
        if self.training:
            return mu + torch.randn_like(logstd) * torch.exp(logstd)
        return mu

    def encode(self, *args, **kwargs) -> Tensor:
        mu, logstd = self.encoder(*args, **kwargs)
        self.mu, self.logstd = mu, logstd.clamp(max=MAX_LOGSTD)
        return self.reparametrize(self.mu, self.logstd)

    def kl_loss(self, mu: Optional[Tensor] = None, logstd: Optional[Tensor] = None) -> Tensor:
        if mu is None:
            if getattr(self, 'mu', None) is None:
                raise ValueError('kl_loss() without mu / logstd needs a call of encode first')
            mu = self.mu
        logstd = self.logstd if logstd is None else logstd.clamp(max=MAX_LOGSTD)
        return -0.5 * torch.mean(torch.sum(1 + 2 * logstd - mu ** 2 - logstd.exp() ** 2, dim=1))


class GCNEncoder(Module):
    r"""The paper's GAE encoder: :math:`\mathbf{Z} = \hat{A}\,\mathrm{ReLU}(\hat{A} X W_0) W_1`
    (two :class:`~gdl_graphs.nn.GCNConv`, ``hidden_channels`` then ``out_channels``), plus a
    bias per layer as in PyG's autoencoder example; ``bias=False`` is the paper's code exactly.

    Shapes: x ``[N, F]``, edge_index ``[2, E]`` -> ``[N, out_channels]``."""

    def __init__(self, in_channels: int, hidden_channels: int = 32, out_channels: int = 16,
                 cached: bool = True, bias: bool = True):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels, cached=cached, bias=bias)
        self.conv2 = GCNConv(hidden_channels, out_channels, cached=cached, bias=bias)

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


class VariationalGCNEncoder(Module):
    r"""The paper's VGAE encoder: a shared first GCN layer, then two GCN heads,
    :math:`\mu = \hat{A} H W_\mu`, :math:`\log\sigma = \hat{A} H W_\sigma` with
    :math:`H = \mathrm{ReLU}(\hat{A} X W_0)`.

    A bias per layer as in PyG's example; ``bias=False`` is the paper's code exactly.

    Shapes: x ``[N, F]``, edge_index ``[2, E]`` -> ``([N, out], [N, out])``."""

    def __init__(self, in_channels: int, hidden_channels: int = 32, out_channels: int = 16,
                 cached: bool = True, bias: bool = True):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels, cached=cached, bias=bias)
        self.conv_mu = GCNConv(hidden_channels, out_channels, cached=cached, bias=bias)
        self.conv_logstd = GCNConv(hidden_channels, out_channels, cached=cached, bias=bias)

    def reset_parameters(self) -> None:
        for conv in (self.conv1, self.conv_mu, self.conv_logstd):
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> List[Tensor]:
        h = self.conv1(x, edge_index).relu()
        return self.conv_mu(h, edge_index), self.conv_logstd(h, edge_index)


def gae(in_channels: int, hidden_channels: int = 32, out_channels: int = 16,
        variational: bool = False) -> GAE:
    """The paper's model: a GCN (V)GAE with an inner product decoder."""
    if variational:
        return VGAE(VariationalGCNEncoder(in_channels, hidden_channels, out_channels))
    return GAE(GCNEncoder(in_channels, hidden_channels, out_channels))


register('gae', gae)
register('vgae', lambda in_channels, hidden_channels=32, out_channels=16:
         gae(in_channels, hidden_channels, out_channels, variational=True))
