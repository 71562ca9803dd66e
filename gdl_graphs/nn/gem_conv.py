from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import Parameter, ParameterDict

from ..core import Adjacency, GDLConv, cached, matmul, plain
from ..core.mesh import check_types, types_dim
from ._common import check_patch_radius, relative_radius


def radial_basis(r: Tensor, target: Tensor, num_nodes: int, num_radial: int, radius=None,
                 batch: Optional[Tensor] = None) -> Tensor:
    """Radial features ``[E, R]`` of the edge lengths (scale invariant, gauge invariant):
    ``R = 1`` gives the constant 1. Without ``radius``: Gaussians of width ``1 / (R - 1)``
    centred at ``0.5 .. 1.5`` of the length relative to the mean incoming edge length at the
    target; with the geodesic disk ``radius`` (a float, or per graph / node as
    :func:`gdl_graphs.nn._common.relative_radius` reads it): Gaussians of width ``1 / 2R``
    centred at ``(k + 1/2) / R`` of ``r / radius``."""
    if num_radial == 1:
        return r.new_ones(r.size(0), 1)
    rel = relative_radius(r, target, num_nodes, radius, batch, 'GEMConv')
    if radius is None:
        centers = torch.linspace(0.5, 1.5, num_radial, dtype=r.dtype, device=r.device)
        width = 1.0 / (num_radial - 1)
    else:
        centers = (torch.arange(num_radial, dtype=r.dtype, device=r.device) + 0.5) / num_radial
        width = 0.5 / num_radial
    return torch.exp(-0.5 * ((rel.unsqueeze(-1) - centers) / width) ** 2)


def split_types(x: Tensor, types: Sequence[int]) -> List[Optional[Tuple[Tensor, Tensor]]]:
    """Split a rho stack into ``[z_0, (re_1, im_1), ..., (re_M, im_M)]`` (``None`` where a
    multiplicity is zero); ``z_0`` is ``[N, c_0]``, each part ``[N, c_n]``."""
    out: list = [x[:, :types[0]] if types[0] else None]
    off = types[0]
    for c in types[1:]:
        if c == 0:
            out.append(None)
            continue
        z = x[:, off:off + 2 * c].reshape(x.size(0), c, 2)
        out.append((z[..., 0], z[..., 1]))
        off += 2 * c
    return out


def merge_types(parts: list, types: Sequence[int], num_nodes: int, like: Tensor) -> Tensor:
    """Inverse of :func:`split_types`; missing parts are zeros."""
    cols = []
    if types[0]:
        cols.append(parts[0] if parts[0] is not None else like.new_zeros(num_nodes, types[0]))
    for m, c in enumerate(types[1:], 1):
        if c == 0:
            continue
        if parts[m] is None:
            cols.append(like.new_zeros(num_nodes, 2 * c))
        else:
            re, im = parts[m]
            cols.append(torch.stack([re, im], -1).reshape(num_nodes, 2 * c))
    return torch.cat(cols, -1)


class GEMConv(GDLConv):
    r"""The gauge-equivariant mesh convolution of de Haan, Weiler, Cohen and Welling, "Gauge
    Equivariant Mesh CNNs: Anisotropic convolutions on geometric graphs" (ICLR 2021,
    https://arxiv.org/abs/2003.05425), exact, on the one core.

    Features are stacks of SO(2) irreps rho_0 .. rho_M (multiplicities ``in_types`` /
    ``out_types``, layout of :mod:`gdl_graphs.core.mesh`); a rho_n feature is a complex number
    ``z``. For an edge ``j -> i`` with log-map angle :math:`\theta_{ji}` and transport angle
    :math:`g_{ji}` (from :func:`gdl_graphs.domains.mesh.mesh_to_graph`), the neighbour's
    feature is parallel-transported, :math:`\tilde z_n = e^{i n g_{ji}} z_{n,j}`, and the
    kernel is the general real-linear gauge-equivariant kernel of :math:`\theta`, times a
    radial profile :math:`\phi_r`:

    .. math::
        w_{m,i} = S_m z_{m,i} + \bigoplus_{j \to i} \sum_{r} \phi_r(r_{ji}) \sum_n
        e^{i m \theta_{ji}} \bigl(A^{r}_{mn}\, e^{-i n \theta_{ji}} \tilde z_{n,j}
        + B^{r}_{mn}\, \overline{e^{-i n \theta_{ji}} \tilde z_{n,j}}\bigr)

    with complex matrices :math:`A, B` (real for ``m = n = 0``, :math:`B = 0` where ``n = 0``;
    for ``m = 0`` the real part is taken), the self-interaction :math:`S_m` (complex, ``m = n``
    only: the kernel at the vertex itself cannot depend on an angle) and a bias on rho_0.
    Every term is a node-wise linear map of ``x`` (one matrix product per output order)
    followed by a sum over edges of per-edge phases :math:`\phi_r\,e^{i(m\theta + k(g -
    \theta))}` times node features: for each output order one ``propagate`` (a
    fused CSR product on the core) over an expanded edge list ``(j, source) -> (i, re/im)``
    whose values depend on the geometry only and are cached per graph. No ``E x F`` message
    and no ``E x F x F`` kernel tensor is built on that (fused) path. ``forward`` calls
    ``self.propagate`` once per output order; ``message`` (the generic path, taken e.g. when a
    PyG message hook is registered) computes the same sum per edge. Any edges with log map
    and transport work: the 1-ring of :func:`~gdl_graphs.domains.mesh.mesh_to_graph` or the
    multi-ring geodesic disks of :func:`~gdl_graphs.domains.mesh.geodesic_patches`.

    Equivariance: exactly gauge equivariant: rotating every frame by its own angle
    :math:`a_i` (:func:`gdl_graphs.domains.mesh.change_gauge`) maps the output rho_m parts to
    :math:`e^{-i m a_i} w_{m,i}`; rho_0 outputs are gauge invariant, hence invariant to
    isometries of the mesh; permutation equivariant.

    Args:
        in_types (sequence of int): Multiplicities ``(c_0, ..., c_M)`` of the input irreps.
        out_types (sequence of int): Multiplicities of the output irreps.
        num_radial (int, optional): Radial basis functions of the edge length relative to the mean
            incoming edge length (``1``: angular kernel only, as in the paper's 1-ring).
            (default: :obj:`1`)
        aggr (str, optional): ``'mean'`` or ``'sum'``. (default: :obj:`"mean"`)
        bias (bool, optional): Learn a bias on the rho_0 outputs. (default: :obj:`True`)
        radius (float or Tensor, optional): The default geodesic disk radius of the patches
            (``data.radius``); ``forward``'s overrides it. Radial functions then measure the
            edge length relative to it. (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(N, c_0 + 2 (c_1 + \dots + c_M))`, edge indices
          :math:`(2, E)`, edge coordinates :math:`(r, \theta)` :math:`(E, 2)`, connection angles
          :math:`(E)`, ``radius`` *(optional: a float, per graph* :math:`(B)` *with*
          ``batch`` :math:`(N)`, *or per node* :math:`(N)` *)*
        - **output:** node features :math:`(N, d_0 + 2 (d_1 + \dots + d_{M'}))`
    """

    edge_list_only = True

    def __init__(self, in_types: Sequence[int], out_types: Sequence[int], num_radial: int = 1,
                 aggr: str = 'mean', bias: bool = True, radius=None, **kwargs):
        if aggr not in ('mean', 'sum', 'add'):
            raise ValueError(f"GEMConv aggregates with 'mean' or 'sum', got {aggr!r}")
        super().__init__(aggr='sum' if aggr == 'add' else aggr, **kwargs)
        self.radius = check_patch_radius(radius, 'GEMConv')
        self.in_types = check_types(in_types, 'in_types')
        self.out_types = check_types(out_types, 'out_types')
        if int(num_radial) < 1:
            raise ValueError(f'num_radial must be >= 1, got {num_radial}')
        self.num_radial = int(num_radial)
        self.in_channels = types_dim(self.in_types)
        self.out_channels = types_dim(self.out_types)
        self.weight = ParameterDict()
        self.self_weight = ParameterDict()
        r = self.num_radial
        for m, d in enumerate(self.out_types):
            for n, c in enumerate(self.in_types):
                if c == 0 or d == 0:
                    continue
                last = () if m == n == 0 else ((2,) if m == 0 or n == 0 else (4,))
                self.weight[f'{m}_{n}'] = Parameter(torch.empty(r, d, c, *last))
            if m < len(self.in_types) and self.in_types[m] and d:
                last = () if m == 0 else (2,)
                self.self_weight[str(m)] = Parameter(torch.empty(d, self.in_types[m], *last))
        self.bias = Parameter(torch.empty(self.out_types[0])) if bias and self.out_types[0] \
            else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        fan = max(1, sum(self.in_types)) * (self.num_radial + 1)
        for p in list(self.weight.values()) + list(self.self_weight.values()):
            torch.nn.init.normal_(p, std=1.0 / math.sqrt(fan))
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    # ------------------------------------------------------------------ plan

    def _sources(self, m: int) -> List[Tuple[int, int, int, int]]:
        """The node-level linear maps feeding output order ``m``: ``(r, n, sign, part)`` with
        ``part`` 0 = real, 1 = imaginary part of the complex term ``A z_n`` (sign +1) or
        ``B conj(z_n)`` (sign -1) of radial function ``r``."""
        out = []
        for r in range(self.num_radial):
            for n, c in enumerate(self.in_types):
                if c == 0 or f'{m}_{n}' not in self.weight:
                    continue
                signs = (1,) if (m == 0 or n == 0) else (1, -1)
                parts = (0,) if m == n == 0 else (0, 1)
                out += [(r, n, sg, pt) for sg in signs for pt in parts]
        return out

    def _in_rows(self, n: int, re_rows: Tensor, im_rows: Optional[Tensor]) -> Tensor:
        """Place ``[c_n, d]`` maps of the real / imaginary input parts of order ``n`` into a
        ``[D_in, d]`` matrix (rows of the interleaved input layout)."""
        d = re_rows.size(-1)
        off = self.in_types[0] + 2 * sum(self.in_types[1:n]) if n else 0
        block = re_rows if n == 0 else torch.stack([re_rows, im_rows], 1).reshape(-1, d)
        z = re_rows.new_zeros
        return torch.cat([z(off, d), block, z(self.in_channels - off - block.size(0), d)], 0)

    def _source_matrix(self, m: int, src: Tuple[int, int, int, int]) -> Tensor:
        r, n, sign, part = src
        w = self.weight[f'{m}_{n}'][r]
        if m == 0 and n == 0:
            return self._in_rows(0, w.t(), None)
        if n == 0:                                   # A z_0, A complex
            return self._in_rows(0, w[..., part].t(), None)
        if m == 0:
            ar, ai = w[..., 0].t(), w[..., 1].t()
        else:
            k = 0 if sign > 0 else 2
            ar, ai = w[..., k].t(), w[..., k + 1].t()
        if sign > 0:     # (ar + i ai)(zr + i zi): re = ar zr - ai zi, im = ai zr + ar zi
            return self._in_rows(n, ar, -ai) if part == 0 else self._in_rows(n, ai, ar)
        # (br + i bi)(zr - i zi): re = br zr + bi zi, im = bi zr - br zi
        return self._in_rows(n, ar, ai) if part == 0 else self._in_rows(n, ai, -ar)

    def _self_matrix(self) -> Optional[Tensor]:
        if len(self.self_weight) == 0:
            return None
        dev = next(iter(self.self_weight.values()))
        out = dev.new_zeros(self.in_channels, self.out_channels)
        for key, s in self.self_weight.items():
            m = int(key)
            ri = self.in_types[0] + 2 * sum(self.in_types[1:m]) if m else 0
            ro = self.out_types[0] + 2 * sum(self.out_types[1:m]) if m else 0
            if m == 0:
                out[ri:ri + s.size(1), ro:ro + s.size(0)] = s.t()
                continue
            sr, si = s[..., 0].t(), s[..., 1].t()             # [c, d]
            # rows (a, zr/zi), cols (b, re/im): re = sr zr - si zi, im = si zr + sr zi
            blk = torch.stack([torch.stack([sr, si], -1), torch.stack([-si, sr], -1)], 1)
            c, d = sr.shape
            out[ri:ri + 2 * c, ro:ro + 2 * d] = blk.reshape(2 * c, 2 * d)
        return out

    def _phases(self, m: int, edge_index: Tensor, edge_coords: Tensor, connection: Tensor,
                num_nodes: int, dtype: torch.dtype, radius=None,
                batch: Optional[Tensor] = None) -> Tensor:
        """Per-edge values ``[E, S, P]`` for output order ``m`` (geometry only, built once per
        graph and cached on its tensors): the phase of source ``s`` for output part ``p``
        (``P = 1`` for ``m = 0``, else real and imaginary parts), times the radial profile
"""
        sources = self._sources(m)
        # the radius is part of the geometry: a number in the key, tensors by identity
        radii = tuple(t for t in (radius, batch) if isinstance(t, Tensor))
        key = ('gem', m, tuple(sources), self.num_radial, dtype, num_nodes,
               self.flow, None if isinstance(radius, Tensor) else radius, len(radii))

        def build():
            dst = edge_index[1] if self.flow == 'source_to_target' else edge_index[0]
            theta = edge_coords[:, 1].to(dtype)
            psi = connection.to(dtype) - theta
            rad = radial_basis(edge_coords[:, 0].to(dtype), dst, num_nodes, self.num_radial,
                               radius, batch)
            cols = []
            for r, n, sign, part in sources:
                phase = m * theta + sign * n * psi
                c, sn = rad[:, r] * torch.cos(phase), rad[:, r] * torch.sin(phase)
                # (c + i s)(Qr + i Qi): re = c Qr - s Qi, im = s Qr + c Qi
                vals = [c if part == 0 else -sn]
                if m > 0:
                    vals.append(sn if part == 0 else c)
                cols.append(torch.stack(vals, -1))
            return torch.stack(cols, 1)                                  # [E, S, P]

        return cached((edge_index, edge_coords, connection) + radii, key, build)

    # ------------------------------------------------------------------ forward

    def forward(self, x: Tensor, edge_index: Tensor, edge_coords: Optional[Tensor] = None,
                connection: Optional[Tensor] = None, radius=None,
                batch: Optional[Tensor] = None) -> Tensor:
        """Geometry (``edge_coords``, ``connection``, ``radius``) is treated as constant: the
        per-graph phase tables are cached on these tensors and receive no gradient. ``radius``
        (default: the constructor's) and ``batch`` scale the radial basis by the geodesic
        disk radius of every node's graph (``radius=batch.radius, batch=batch.batch`` for a
        mini-batch of patch graphs)."""
        if edge_coords is None or connection is None:
            raise ValueError('GEMConv needs edge_coords [E, 2] and connection [E]: build the '
                             'graph with gdl_graphs.domains.mesh.mesh_to_graph or '
                             'geodesic_patches')
        self.check(x, edge_index, channels=self.in_channels)
        num_edges = edge_index.size(1)
        if edge_coords.shape != (num_edges, 2) or connection.shape != (num_edges,):
            raise ValueError(f'edge_coords must be [E, 2] and connection [E] with E = '
                             f'{num_edges}, got {list(edge_coords.shape)} and '
                             f'{list(connection.shape)}')
        n = x.size(0)
        radius = check_patch_radius(self.radius if radius is None else radius, 'GEMConv')
        w_self = self._self_matrix()
        out = x.new_zeros(n, self.out_channels) if w_self is None else x @ w_self
        parts = []
        for m, d in enumerate(self.out_types):
            if d == 0:
                continue
            sources = self._sources(m)
            width = d if m == 0 else 2 * d
            if not sources:
                parts.append(x.new_zeros(n, width))
                continue
            phase = self._phases(m, plain(edge_index), edge_coords, connection, n, x.dtype,
                                 radius, batch)
            w = torch.cat([self._source_matrix(m, s) for s in sources], 1)   # [D_in, S d]
            q = x @ w                                                        # [N, S d]
            y = self.propagate(edge_index, q=q, phase=phase, size=(n, n))    # [N, P d]
            parts.append(y if m == 0 else y.view(n, 2, d).transpose(1, 2).reshape(n, 2 * d))
        out = out + torch.cat(parts, 1)
        if self.bias is not None:
            out = torch.cat([out[:, :self.out_types[0]] + self.bias,
                             out[:, self.out_types[0]:]], 1)
        return out

    def message(self, q_j: Tensor, phase: Tensor) -> Tensor:
        """``sum_s phase[e, s, p] q_j[e, s]`` -> ``[E, P d]``."""
        e, num_s, num_p = phase.shape
        return torch.einsum('esp,esd->epd', phase, q_j.view(e, num_s, -1)).reshape(e, -1)

    def message_and_aggregate(self, adj: Adjacency, q: Tensor, phase: Tensor) -> Tensor:
        """The same sum as one CSR product over the expanded edges ``(j, s) -> (i, p)``
        (cached per graph): no ``E x F`` message is built."""
        num_e, num_s, num_p = phase.shape

        def build():
            sp = torch.arange(num_s * num_p, device=adj.src.device)
            src = (adj.src.unsqueeze(1) * num_s + sp // num_p).reshape(-1)
            dst = (adj.dst.unsqueeze(1) * num_p + sp % num_p).reshape(-1)
            ei = torch.stack([src, dst])
            return Adjacency(ei, ei[0], ei[1], adj.num_src * num_s, adj.num_dst * num_p)
        big = cached((adj.key,), ('gem_expanded', num_s, num_p, adj.flow, adj.num_src,
                                  adj.num_dst), build)
        y = matmul(big, q.reshape(adj.num_src * num_s, -1), phase.reshape(-1), 'sum')
        y = y.view(adj.num_dst, -1)
        if self.aggr == 'mean':  # each target's expanded row holds S entries per edge
            rowptr = adj.csr().rowptr
            y = y / (rowptr[1:] - rowptr[:-1]).clamp(min=1).to(y.dtype).unsqueeze(-1)
        return y

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(in_types={self.in_types}, '
                f'out_types={self.out_types}, num_radial={self.num_radial}, aggr={self.aggr})')
