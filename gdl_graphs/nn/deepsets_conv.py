from __future__ import annotations

from typing import Callable, Optional, Union

import torch
from torch import Tensor
from torch.nn import Linear

from ..core import check_node_features, segment
from ..core.config import check_backend
from ..core.dense import batch_to_ptr, expand_segments
from ._common import refuse_edge_options

POOLS = ('sum', 'mean', 'max')


def _activation(act: Union[str, Callable[[Tensor], Tensor], None]) -> Optional[Callable]:
    if act is None or callable(act):
        return act
    table = {'relu': torch.relu, 'tanh': torch.tanh, 'sigmoid': torch.sigmoid,
             'elu': torch.nn.functional.elu, 'gelu': torch.nn.functional.gelu}
    if act not in table:
        raise ValueError(f'unknown activation {act!r}: use one of {sorted(table)} or a callable')
    return table[act]


def _set_ptr(x: Tensor, batch: Optional[Tensor], num_sets: Optional[int]) -> Tensor:
    if batch is None:
        if num_sets not in (None, 1):
            raise ValueError(f'num_sets={num_sets} needs a batch vector')
        return torch.tensor([0, x.size(0)], device=x.device)
    return batch_to_ptr(batch, x.size(0), num_sets)


def _check_pool(pool: Optional[str], allow_none: bool) -> Optional[str]:
    pool = 'sum' if pool == 'add' else pool
    if pool is None and allow_none:
        return None
    if pool not in POOLS:
        extra = " or None (no set term: a shared MLP layer)" if allow_none else ''
        raise ValueError(f'unknown pool {pool!r}: use one of {POOLS}{extra}')
    return pool


class DeepSetsConv(torch.nn.Module):
    r"""The permutation-equivariant set layer of Zaheer et al., "Deep Sets" (NeurIPS 2017,
    https://arxiv.org/abs/1703.06114), on an edgeless graph.

    .. math::
        \mathbf{x}'_i = \sigma\Big(\boldsymbol{\Lambda} \mathbf{x}_i + \boldsymbol{\Gamma}
        \bigoplus_{j \in S(i)} \mathbf{x}_j\Big)

    where :math:`S(i)` is the set of element :math:`i` (its graph in the batch) and
    :math:`\bigoplus` is sum, mean or max. The set reduction is one segment reduction over the
    sorted batch vector (``gdl_graphs.core.segment``): no edge is built, no ``n^2`` term exists.
    With ``pool=None`` the set term is dropped and the layer is the shared per-element MLP layer
    of PointNet (Qi et al. 2017).

    Why not ``propagate``: a set is an edgeless graph plus a readout; ``propagate`` reduces over
    edges, and expressing the set term with edges would build the ``n^2`` complete graph (or a
    star through a virtual node) that this layer exists to avoid. So PyG's edge conventions do
    not apply: there is no ``edge_index`` and no propagate/message hook to fire, so this is a
    plain ``torch.nn.Module``, and message-passing options (``flow``, ``kernel``, ``aggr``) are
    refused with a ValueError.

    Equivariance: permutation equivariant (permuting the elements within each set permutes the
    output rows alike); the sets of a batch never interact.

    Args:
        in_channels (int): Element features :math:`F_{in}`.
        out_channels (int): Output features :math:`F_{out}`.
        pool (str, optional): The pooling of the set, ``'sum'``, ``'mean'``, ``'max'`` or
            :obj:`None` (no pooled term). (default: :obj:`"sum"`)
        bias (bool, optional): Learn a bias (in :math:`\boldsymbol{\Lambda}`). (default:
            :obj:`True`)
        act (str or callable, optional): The activation :math:`\sigma`: :obj:`None` (identity),
            ``'relu'``, ``'tanh'``, ... or a callable. (default: :obj:`None`)
        backend (str, optional): The backend of the core's segment reduction (see
            :func:`gdl_graphs.core.segment`). (default: :obj:`"torch"`)

    Shapes:
        - **input:** element features :math:`(N, F_{in})`, set index ``batch`` :math:`(N)`
          *(optional, sorted; default: one set)*
        - **output:** element features :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, pool: Optional[str] = 'sum',
                 bias: bool = True, act: Union[str, Callable[[Tensor], Tensor], None] = None,
                 backend: str = 'torch', **kwargs):
        refuse_edge_options('DeepSetsConv', kwargs)
        super().__init__()
        self.pool = _check_pool(pool, allow_none=True)
        self.backend = check_backend(backend)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.act = _activation(act)
        self.lin_self = Linear(in_channels, out_channels, bias=bias)
        self.lin_pool = None if self.pool is None else Linear(in_channels, out_channels,
                                                              bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_self.reset_parameters()
        if self.lin_pool is not None:
            self.lin_pool.reset_parameters()

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                num_sets: Optional[int] = None) -> Tensor:
        """``x`` ``[N, F_in]``, ``batch`` ``[N]`` (sorted), ``num_sets`` (to count trailing
        empty sets) -> ``[N, F_out]``."""
        check_node_features(x, channels=self.in_channels)
        out = self.lin_self(x)
        if self.pool is not None:
            ptr = _set_ptr(x, batch, num_sets)
            pooled = self.lin_pool(segment(x, ptr, self.pool, self.backend))  # [B, F_out]
            out = out + expand_segments(pooled, ptr)                     # [N, F_out]
        return out if self.act is None else self.act(out)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'pool={self.pool})')


class DeepSetsReadout(torch.nn.Module):
    r"""The invariant readout of a set: one reduction per set of the batch,

    .. math::
        \mathbf{h}_b = \bigoplus_{i \in S_b} \mathbf{x}_i ,

    run as a segment reduction over the sorted batch vector (Zaheer et al. 2017,
    https://arxiv.org/abs/1703.06114: :math:`\rho(\sum_i \phi(x_i))`; PointNet uses max).
    Like :class:`DeepSetsConv` it has no edges: a plain ``torch.nn.Module`` that refuses
    message-passing options.

    Equivariance: permutation invariant (any permutation within each set leaves it unchanged).

    Args:
        pool (str, optional): ``'sum'``, ``'mean'`` or ``'max'``. (default: :obj:`"sum"`)
        backend (str, optional): The backend of the core's segment reduction (see
            :func:`gdl_graphs.core.segment`). (default: :obj:`"torch"`)

    Shapes:
        - **input:** element features :math:`(N, F)`, set index ``batch`` :math:`(N)` *(optional,
          sorted; default: one set)*
        - **output:** set features :math:`(B, F)`
    """

    def __init__(self, pool: str = 'sum', backend: str = 'torch', **kwargs):
        refuse_edge_options('DeepSetsReadout', kwargs)
        super().__init__()
        self.pool = _check_pool(pool, allow_none=False)
        self.backend = check_backend(backend)

    def reset_parameters(self) -> None:
        """Nothing to reset (no parameters); here for PyG's protocol."""

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                num_sets: Optional[int] = None) -> Tensor:
        check_node_features(x)
        return segment(x, _set_ptr(x, batch, num_sets), self.pool, self.backend)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(pool={self.pool})'
