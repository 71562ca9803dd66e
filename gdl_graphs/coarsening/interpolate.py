r"""k-NN interpolation for unpooling (PointNet++, Qi et al. 2017,
https://arxiv.org/abs/1706.02413), as ``torch_geometric.nn.knn_interpolate`` without pyg-lib.

.. math::
    \mathbf{f}(y) = \frac{\sum_{i=1}^k w(x_i) \mathbf{f}(x_i)}{\sum_{i=1}^k w(x_i)},
    \qquad w(x_i) = \frac{1}{\max(\|y - x_i\|^2, 10^{-16})},

over the ``k`` nearest points :math:`x_i` of :math:`y` (same example), found by the exact
:func:`gdl_graphs.coarsening.knn`. The weights are computed in float64 and normalised per
query before they meet ``x`` (the same quotient, without overflow at large magnitudes). The
weights are not differentiated (as in PyG); gradients flow to the features. A query without
any candidate point (an example with no coarse points) gets zeros.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..core import scatter
from ..core.validate import check_node_features
from ..geometry.search import knn

__all__ = ['knn_interpolate']


def knn_interpolate(x: Tensor, pos_x: Tensor, pos_y: Tensor,
                    batch_x: Optional[Tensor] = None, batch_y: Optional[Tensor] = None,
                    k: int = 3, num_workers: int = 1) -> Tensor:
    """Interpolate features ``x`` at ``pos_x`` onto ``pos_y``.

    Shapes: x ``[N, F]``, pos_x ``[N, D]``, pos_y ``[M, D]`` -> ``[M, F]``.
    """
    check_node_features(x, pos_x.size(0) if isinstance(pos_x, Tensor) else None, 'x')
    m = pos_y.size(0)
    with torch.no_grad():
        y_idx, x_idx = knn(pos_x, pos_y, k, batch_x=batch_x, batch_y=batch_y)
        # the weights in float64, divided by each query's largest one (so in (0, 1]): float32
        # positions of magnitude 1e20 (squared 1e40) or 1e-18 neither overflow nor vanish
        diff = pos_x[x_idx].double() - pos_y[y_idx].double()
        sq = (diff * diff).sum(dim=-1).clamp_min(1e-16)
        least = scatter(sq, y_idx, m, 'min')[y_idx]
        w = torch.where(torch.isinf(least), torch.ones_like(sq), least / sq)
        w = w / scatter(w, y_idx, m, 'sum')[y_idx]
    return scatter(x[x_idx] * w.to(x.dtype).unsqueeze(-1), y_idx, m, 'sum')
