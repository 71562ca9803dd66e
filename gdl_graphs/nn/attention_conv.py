from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter

from ..core import Adjacency, GDLConv, check_node_features
from ..core.dense import complete_attention


class AttentionConv(GDLConv):
    r"""Multi-head dot-product attention as message passing (Vaswani et al., "Attention Is All
    You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762): node :math:`i` attends to the
    nodes :math:`j` with an edge :math:`j \to i`.

    .. math::
        \mathbf{x}'_i = W_O \Big\Vert_{h=1}^{H} \sum_{j \to i}
        \operatorname{softmax}_{j \to i}\!\left(
        \frac{\langle W_Q^h \mathbf{x}_i, W_K^h \mathbf{x}_j \rangle}{\sqrt{d}}\right)
        W_V^h \mathbf{x}_j , \qquad d = E / H

    (with the biases of ``nn.MultiheadAttention``). On a general graph it is sparse attention
    (PyG's gather/message/scatter): per-edge scores, a segment softmax over the incoming edges
    of every node (the core's :meth:`attention_softmax`) and a sum. On the complete graph of each
    set (an ``edge_index``
    from :func:`gdl_graphs.domains.complete.complete_graph`, tagged ``'complete'``) the core
    dispatches inside ``propagate`` to one ``F.scaled_dot_product_attention`` call on the padded
    batch
    (:func:`gdl_graphs.core.dense.complete_attention`); both paths give the same numbers, and
    on the complete graph with self-loops the layer equals ``mha(X_b, X_b, X_b)`` for every set
    ``b`` (:meth:`from_torch`). A node without incoming edges gets :math:`W_O \mathbf{0}`.

    Equivariance: permutation equivariant (relabelling the nodes and the edges alike permutes
    the output rows); on complete graphs, equivariant to permutations within each set.

    Args:
        embed_dim (int): Node features :math:`E` (input and output).
        num_heads (int, optional): Heads :math:`H`; must divide ``embed_dim``. (default: :obj:`1`)
        bias (bool, optional): Biases of the input and output projections. (default: :obj:`True`)
        dropout (float, optional): Attention dropout (training only). (default: :obj:`0.0`)

    Shapes:
        - **input:** node features :math:`(N, E)`, edge indices :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(N, E)`
    """

    dense_kernels = {'complete': 'sdpa'}
    sparse_fused = False

    def __init__(self, embed_dim: int, num_heads: int = 1, bias: bool = True,
                 dropout: float = 0.0, **kwargs):
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(f'num_heads ({num_heads}) must be positive and divide embed_dim '
                             f'({embed_dim})')
        kwargs.setdefault('node_dim', 0)
        super().__init__(aggr=self.fixed_aggr(kwargs, 'AttentionConv', 'sum',
                                              'attention weights sum to one'), **kwargs)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.in_proj_weight = Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        torch.nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj.reset_parameters()
        if self.in_proj_bias is not None:
            torch.nn.init.zeros_(self.in_proj_bias)
            torch.nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_node_features(x, channels=self.embed_dim)
        if x.dim() != 2:
            raise ValueError(f'x must be [N, {self.embed_dim}], got {list(x.shape)}')
        n, h, d = x.size(0), self.num_heads, self.head_dim
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        out = self.propagate(edge_index, q=q.view(n, h, d), k=k.view(n, h, d),
                             v=v.view(n, h, d), size=(n, n))
        return self.out_proj(out.reshape(n, self.embed_dim))

    def message(self, q_i: Tensor, k_j: Tensor, v_j: Tensor, index: Tensor,
                size_i: Optional[int]) -> Tensor:
        score = (q_i * k_j).sum(-1) * (1.0 / math.sqrt(self.head_dim))      # [E, H]
        alpha = self.attention_softmax(score, index, size_i)
        if self.dropout > 0 and self.training:
            alpha = F.dropout(alpha, self.dropout)
        return v_j * alpha.unsqueeze(-1)

    def message_and_aggregate(self, adj: Adjacency, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        # the plan ran only on a complete graph per set (the converter vouches for the edges)
        meta = adj.structure.meta
        p = self.dropout if self.training else 0.0
        return complete_attention(q, k, v, meta['ptr'], meta.get('loops', True), p)

    @classmethod
    def from_torch(cls, mha: torch.nn.MultiheadAttention) -> 'AttentionConv':
        """A copy of ``torch.nn.MultiheadAttention`` with the same weights (self-attention:
        ``kdim == vdim == embed_dim``, no ``add_bias_kv``, no ``add_zero_attn``)."""
        if not isinstance(mha, torch.nn.MultiheadAttention):
            raise ValueError(f'from_torch expects torch.nn.MultiheadAttention, got '
                             f'{type(mha).__name__}')
        if not mha._qkv_same_embed_dim:
            raise ValueError('cannot convert MultiheadAttention with kdim/vdim != embed_dim: '
                             'self-attention on a graph uses one feature size')
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError('cannot convert MultiheadAttention with add_bias_kv or '
                             'add_zero_attn: they attend to a token that is not a node; add a '
                             'virtual node to the graph instead')
        w = mha.in_proj_weight
        out = cls(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None,
                  dropout=mha.dropout).to(device=w.device, dtype=w.dtype)
        with torch.no_grad():
            out.in_proj_weight.copy_(w)
            if mha.in_proj_bias is not None:
                out.in_proj_bias.copy_(mha.in_proj_bias)
            out.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.out_proj.bias is not None:
                out.out_proj.bias.copy_(mha.out_proj.bias)
        out.train(mha.training)
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.embed_dim}, num_heads={self.num_heads})'
