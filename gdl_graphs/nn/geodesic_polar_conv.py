from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch.nn import Linear, Parameter

from ..core import Adjacency, GDLConv, matmul, scatter
from ._common import check_patch_radius, relative_radius


class GeodesicPolarConv(GDLConv):
    r"""The intrinsic (geodesic polar) mesh convolution of Masci, Boscaini, Bronstein and
    Vandergheynst, "Geodesic convolutional neural networks on Riemannian manifolds"
    (ICCV workshops 2015, https://arxiv.org/abs/1501.06297), with MoNet-style Gaussian patch
    weights over the log-map polar coordinates (Monti et al. 2017,
    https://arxiv.org/abs/1611.08402) and angular max pooling, on the one core.

    The patch operator reads the neighbourhood of ``i`` in ``num_rho x num_theta`` polar bins
    ``b = (rho_k, theta_t)``, with :math:`d` the wrapped angle difference and
    :math:`\hat r_{ji}` the radius of ``j`` in ``i``'s patch: on geodesic disks
    (:func:`gdl_graphs.geodesics.geodesic_patches`; ``radius=data.radius`` to the constructor
    or to ``forward``, and for a mini-batch of patch graphs ``radius=batch.radius,
    batch=batch.batch``: one radius per graph) the geodesic distance over the disk radius,
    bins centred at :math:`\rho_k = (k + 1/2)/K`, width
    :math:`1/2K` (Masci et al.'s construction); on the 1-ring graph (``radius=None``) the edge
    length relative to the mean incoming edge length at ``i``, bins centred at ``0.5 .. 1.5``:

    .. math::
        w_b(j, i) = e^{-(\hat r_{ji} - \rho_k)^2 / 2\sigma_\rho^2}
                    e^{-d(\theta_{ji}, \theta_t)^2 / 2\sigma_\theta^2}, \qquad
        P_b(i) = \frac{\sum_{j \to i} w_b(j, i)\, \mathbf{x}_j}{\sum_{j \to i} w_b(j, i)}

        \mathbf{x}'_i = \max_{s = 0}^{T-1} \sum_{k, t} \mathbf{W}_{k, (t - s) \bmod T}^\top
        P_{k, t}(i) + \mathbf{W}_0^\top \mathbf{x}_i + \mathbf{b}

    (``T = num_theta``; the max over the ``T`` rotations of the filter makes the output
    independent of the origin of the angular coordinate). ``forward`` calls
    ``self.propagate``: ``message`` is :math:`w_b(j, i) \mathbf{x}_j` for every bin, the
    weights normalised over the patch first (the generic path, PyG's hooks and flow); the
    fused path (``message_and_aggregate``) runs one CSR product per bin over the graph's
    cached CSR, with no ``E x B x F`` tensor and no expanded adjacency kept with the graph.
    The ``T`` rotations of the filter are one matrix product (:meth:`rotation_max`).

    Equivariance: permutation equivariant; gauge invariant exactly for gauge changes that
    are multiples of :math:`2\pi/T` at every vertex (the bins permute cyclically) and
    approximately for others (the bins interpolate).

    Args:
        in_channels (int): Input features (scalars).
        out_channels (int): Output features (scalars).
        num_rho (int, optional): Radial bins, centred at ``0.5 .. 1.5`` mean edge lengths (``1``:
            one bin at ``1``). (default: :obj:`2`)
        num_theta (int, optional): Angular bins ``T``. (default: :obj:`8`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        radius (float or Tensor, optional): The default geodesic disk radius (a number or a
            tensor, as ``forward``'s); ``forward``'s ``radius`` overrides it.
            (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, edge indices :math:`(2, E)`, edge
          coordinates :math:`(r, \theta)` :math:`(E, 2)`, ``radius`` *(optional float: the geodesic
          disk radius, or per graph* :math:`(B)` *with* ``batch`` :math:`(N)`, *or per node*
          :math:`(N)` *)*
        - **output:** node features :math:`(N, F_{out})`
    """

    edge_list_only = True

    def __init__(self, in_channels: int, out_channels: int, num_rho: int = 2,
                 num_theta: int = 8, bias: bool = True, radius=None, **kwargs):
        super().__init__(aggr=self.fixed_aggr(kwargs, 'GeodesicPolarConv', 'sum',
                                              'its bins sum over the patch'), **kwargs)
        self.radius = check_patch_radius(radius, 'GeodesicPolarConv')
        if num_rho < 1 or num_theta < 1:
            raise ValueError(f'num_rho and num_theta must be >= 1, got {num_rho}, {num_theta}')
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.num_rho, self.num_theta = int(num_rho), int(num_theta)
        self.weight = Parameter(torch.empty(num_rho, num_theta, in_channels, out_channels))
        self.lin_root = Linear(in_channels, out_channels, bias=bias)
        rho = torch.linspace(0.5, 1.5, num_rho) if num_rho > 1 else torch.ones(1)
        self.register_buffer('rho', rho, persistent=False)
        self.sigma_rho = 1.0 / max(num_rho - 1, 1) if num_rho > 1 else 0.5
        self.sigma_theta = math.pi / num_theta
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        fan = self.in_channels * self.num_rho * self.num_theta
        torch.nn.init.normal_(self.weight, std=1.0 / math.sqrt(max(fan, 1)))
        self.lin_root.reset_parameters()

    def bin_weights(self, edge_coords: Tensor, target: Tensor, num_nodes: int,
                    radius=None, batch: Optional[Tensor] = None) -> Tensor:
        """Patch weights ``[E, num_rho, num_theta]`` (before normalisation)."""
        r, theta = edge_coords[:, 0], edge_coords[:, 1]
        t = torch.arange(self.num_theta, dtype=r.dtype, device=r.device) * \
            (2 * math.pi / self.num_theta)
        d = torch.atan2(torch.sin(theta.unsqueeze(-1) - t), torch.cos(theta.unsqueeze(-1) - t))
        wt = torch.exp(-0.5 * (d / self.sigma_theta) ** 2)                       # [E, T]
        rel = relative_radius(r, target, num_nodes, radius, batch, 'GeodesicPolarConv')
        if radius is None:
            centres, sigma = self.rho.to(r.dtype), self.sigma_rho
        else:
            k = self.num_rho
            centres = (torch.arange(k, dtype=r.dtype, device=r.device) + 0.5) / k
            sigma = 0.5 / k
        wr = torch.exp(-0.5 * ((rel.unsqueeze(-1) - centres) / sigma) ** 2)
        return wr.unsqueeze(-1) * wt.unsqueeze(1)

    def forward(self, x: Tensor, edge_index: Tensor, edge_coords: Optional[Tensor] = None,
                radius=None, batch: Optional[Tensor] = None) -> Tensor:
        if edge_coords is None:
            raise ValueError('GeodesicPolarConv needs edge_coords [E, 2] (r, theta): build '
                             'the graph with gdl_graphs.domains.mesh.mesh_to_graph or '
                             'geodesic_patches')
        self.check(x, edge_index, channels=self.in_channels)
        if edge_coords.shape != (edge_index.size(1), 2):
            raise ValueError(f'edge_coords must be [E, 2] with E = {edge_index.size(1)}, got '
                             f'{list(edge_coords.shape)}')
        n = x.size(0)
        target = edge_index[1] if self.flow == 'source_to_target' else edge_index[0]
        radius = self.radius if radius is None else radius
        nb = self.num_rho * self.num_theta
        w = self.bin_weights(edge_coords.to(x.dtype), target, n, radius, batch).reshape(-1, nb)
        # normalise each bin over the patch once per edge, not once per feature
        den = scatter(w, target, n, 'sum').clamp(min=torch.finfo(x.dtype).tiny)
        p = self.propagate(edge_index, x=x, bin_w=w / den[target], size=(n, n))
        patch = p.view(n, self.num_rho, self.num_theta, -1)
        return self.rotation_max(patch) + self.lin_root(x)

    def rotation_max(self, patch: Tensor) -> Tensor:
        r""":math:`\max_s \sum_{k,t} \mathbf{W}_{k,(t-s) \bmod T}^\top P_{k,t}`: the ``T``
        rotated filters stacked side by side, so all rotations are one matrix product."""
        n, t = patch.size(0), self.num_theta
        rolled = torch.stack([self.weight.roll(s, dims=1) for s in range(t)], 3)
        out = patch.reshape(n, -1) @ rolled.reshape(-1, t * self.out_channels)
        return out.view(n, t, self.out_channels).amax(1)

    def message(self, x_j: Tensor, bin_w: Tensor) -> Tensor:
        return (bin_w.unsqueeze(-1) * x_j.unsqueeze(1)).reshape(x_j.size(0), -1)

    def message_and_aggregate(self, adj: Adjacency, x: Tensor, bin_w: Tensor) -> Tensor:
        # one CSR product per bin over the graph's own cached CSR, the bin's weights as the
        # values: no expanded (E x bins) adjacency is built or kept with the graph
        return torch.cat([matmul(adj, x, w, 'sum') for w in bin_w.t()], 1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
                f'num_rho={self.num_rho}, num_theta={self.num_theta}'
                + ('' if self.radius is None or isinstance(self.radius, Tensor)
                   else f', radius={self.radius:g}') + ')')
