from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import LayerNorm, Linear

from ..core import check_node_features
from .attention_conv import AttentionConv

_ACTIVATIONS = {'relu': F.relu, 'gelu': F.gelu}


class TransformerBlock(torch.nn.Module):
    r"""A Transformer encoder block (Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
    https://arxiv.org/abs/1706.03762) on a graph: attention over the incoming edges of every
    node (:class:`AttentionConv`), then a node-wise feed-forward network, each with a residual
    connection and layer normalisation.

    .. math::
        \text{post-norm:}\quad \mathbf{y} = \mathrm{LN}_1(\mathbf{x} + \mathrm{Att}(\mathbf{x})),
        \quad \mathbf{x}' = \mathrm{LN}_2(\mathbf{y} + W_2\, \sigma(W_1 \mathbf{y}))

        \text{pre-norm:}\quad \mathbf{y} = \mathbf{x} + \mathrm{Att}(\mathrm{LN}_1 \mathbf{x}),
        \quad \mathbf{x}' = \mathbf{y} + W_2\, \sigma(W_1\, \mathrm{LN}_2 \mathbf{y})

    On the complete graph of each set (self-loops included) it equals
    ``torch.nn.TransformerEncoderLayer`` applied to every set (:meth:`from_torch`, dropout 0
    or eval mode); a tagged complete graph runs attention as ``scaled_dot_product_attention``.

    A plain module, not a message-passing layer: its only message passing is the inner
    :class:`AttentionConv` (``block.self_attn``), which receives the message-passing options
    given to the block (``flow``, ``kernel``, ``backend``, ``validate``, ...) and calls
    ``propagate``; PyG's hooks and explainers apply there (register them on
    ``block.self_attn``); ``block.flow`` reads its flow.

    Equivariance: permutation equivariant, like :class:`AttentionConv` (the feed-forward part
    and the norms act on every node alone).

    Args:
        d_model (int): Node features :math:`E`.
        nhead (int): Attention heads.
        dim_feedforward (int, optional): Hidden width of the feed-forward network. (default:
            :obj:`2048`)
        dropout (float, optional): Dropout of attention, residual branches and feed-forward
            (training only). (default: :obj:`0.0`)
        activation (str or callable, optional): ``'relu'``, ``'gelu'`` or a callable.
            (default: :obj:`"relu"`)
        layer_norm_eps (float, optional): LayerNorm epsilon. (default: :obj:`1e-05`)
        norm_first (bool, optional): Pre-norm (:obj:`True`) or post-norm (:obj:`False`, as
            torch). (default: :obj:`False`)
        bias (bool, optional): Biases of the linear maps and norms. (default: :obj:`True`)
        **kwargs (optional): Message-passing options of the attention (:class:`AttentionConv`:
            ``flow``, ``kernel``, ``backend``, ``validate``, ...).

    Shapes:
        - **input:** node features :math:`(N, E)`, edge indices :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(N, E)`
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0,
                 activation: Union[str, Callable[[Tensor], Tensor]] = 'relu',
                 layer_norm_eps: float = 1e-5, norm_first: bool = False, bias: bool = True,
                 **kwargs):
        super().__init__()
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f'unknown activation {activation!r}: use relu, gelu or a '
                                 f'callable')
            activation = _ACTIVATIONS[activation]
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.dropout, self.norm_first, self.activation = float(dropout), norm_first, activation
        self.self_attn = AttentionConv(d_model, nhead, bias=bias, dropout=dropout, **kwargs)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.reset_parameters()

    @property
    def flow(self) -> str:
        return self.self_attn.flow

    def reset_parameters(self) -> None:
        for m in (self.self_attn, self.linear1, self.linear2, self.norm1, self.norm2):
            m.reset_parameters()

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x

    def _sa(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self._drop(self.self_attn(x, edge_index))

    def _ff(self, x: Tensor) -> Tensor:
        return self._drop(self.linear2(self._drop(self.activation(self.linear1(x)))))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_node_features(x, channels=self.d_model)  # the attention checks edge_index
        if self.norm_first:
            x = x + self._sa(self.norm1(x), edge_index)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, edge_index))
        return self.norm2(x + self._ff(x))

    @classmethod
    def from_torch(cls, layer: torch.nn.TransformerEncoderLayer) -> 'TransformerBlock':
        """A copy of ``torch.nn.TransformerEncoderLayer`` with the same weights."""
        if not isinstance(layer, torch.nn.TransformerEncoderLayer):
            raise ValueError(f'from_torch expects torch.nn.TransformerEncoderLayer, got '
                             f'{type(layer).__name__}')
        attn = AttentionConv.from_torch(layer.self_attn)
        act = layer.activation
        if isinstance(act, torch.nn.ReLU):
            act = F.relu
        elif isinstance(act, torch.nn.GELU) and act.approximate == 'none':
            act = F.gelu
        w = layer.linear1.weight
        out = cls(attn.embed_dim, attn.num_heads, layer.linear1.out_features,
                  dropout=layer.dropout.p, activation=act, layer_norm_eps=layer.norm1.eps,
                  norm_first=layer.norm_first, bias=layer.linear1.bias is not None)
        out = out.to(device=w.device, dtype=w.dtype)
        out.self_attn = attn
        for name in ('linear1', 'linear2', 'norm1', 'norm2'):
            getattr(out, name).load_state_dict(getattr(layer, name).state_dict())
        out.train(layer.training)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.d_model}, nhead={self.nhead}, '
                f'dim_feedforward={self.dim_feedforward}, norm_first={self.norm_first})')
