"""OGB's molecule convolutions (``examples/graphproppred/mol/conv.py``) on the one core.

Both embed the bond features with ogb's ``BondEncoder`` (:class:`FeatureEncoder`, the same
parameters) inside the layer, as OGB's examples do, and keep OGB's parameter names
(``mlp``, ``eps``, ``bond_encoder``; ``linear``, ``root_emb``, ``bond_encoder``), so a
state dict of OGB's example layers loads unchanged (:meth:`from_ogb`). ogb is imported when a
layer is built, never at ``import gdl_graphs``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core import GDLConv, degree, plain
from ..core.validate import check_edge_index, check_node_features


class FeatureEncoder(torch.nn.Module):
    r"""ogb's ``AtomEncoder`` / ``BondEncoder``: one embedding table per integer feature
    column, summed, :math:`\mathbf{h} = \sum_c \mathbf{E}_c[\mathbf{x}_{:, c}]`.

    Same parameters and state dict as ogb's (``atom_embedding_list`` /
    ``bond_embedding_list``, Xavier-uniform initialised), computed as one lookup in the
    concatenated tables (offset indices) and one sum instead of one lookup and one addition
    per column.

    Args:
        emb_dim: the embedding width.
        kind: ``'atom'`` (9 columns) or ``'bond'`` (3 columns), sizes from
            ``ogb.utils.features``.
    """

    def __init__(self, emb_dim: int, kind: str = 'bond'):
        super().__init__()
        if kind not in ('atom', 'bond'):
            raise ValueError(f"kind must be 'atom' or 'bond', got {kind!r}")
        try:
            from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
        except ImportError:  # pragma: no cover - ogb is an install requirement
            raise ValueError('the OGB molecule layers need ogb: pip install ogb') from None
        dims = get_atom_feature_dims() if kind == 'atom' else get_bond_feature_dims()
        self.kind, self.dims = kind, list(dims)
        tables = torch.nn.ModuleList([torch.nn.Embedding(d, emb_dim) for d in dims])
        setattr(self, f'{kind}_embedding_list', tables)
        self.register_buffer('offset', torch.tensor([0] + list(dims[:-1])).cumsum(0),
                             persistent=False)
        self.reset_parameters()

    @property
    def tables(self) -> torch.nn.ModuleList:
        return getattr(self, f'{self.kind}_embedding_list')

    def reset_parameters(self) -> None:
        for emb in self.tables:
            torch.nn.init.xavier_uniform_(emb.weight.data)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) > len(self.dims) or x.is_floating_point():
            raise ValueError(f'{self.kind} features must be integers [rows, '
                             f'{len(self.dims)}] (ogb.utils.smiles2graph encoding), got '
                             f'{x.dtype} {list(x.shape)}')
        weight = torch.cat([emb.weight for emb in self.tables[:x.size(1)]], 0)
        return F.embedding_bag(x + self.offset[:x.size(1)], weight, mode='sum')

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.kind}, {self.tables[0].embedding_dim})'


def _bond_encoder(emb_dim: int) -> torch.nn.Module:
    return FeatureEncoder(emb_dim, 'bond')


def _check(x: Tensor, edge_index: Tensor, edge_attr: Tensor, emb_dim: int, name: str) -> None:
    check_node_features(x, channels=emb_dim)
    check_edge_index(edge_index, x.size(0))
    if not isinstance(edge_attr, Tensor) or edge_attr.dim() != 2 or \
            edge_attr.size(0) != edge_index.size(1) or edge_attr.is_floating_point():
        shape = list(edge_attr.shape) if isinstance(edge_attr, Tensor) else edge_attr
        raise ValueError(f'{name} needs integer bond features edge_attr [E, 3] (one row per '
                         f'edge, ogb.utils.smiles2graph encoding), got {shape}')


def _copy(out: torch.nn.Module, layer: torch.nn.Module) -> torch.nn.Module:
    ref = next(iter(layer.parameters()))
    out = out.to(device=ref.device, dtype=ref.dtype)
    try:
        out.load_state_dict(layer.state_dict(), strict=True)
    except RuntimeError as exc:
        raise ValueError(f'cannot load {type(layer).__name__} into {type(out).__name__}: '
                         f'{str(exc).splitlines()[0]}') from None
    return out


class MolGINConv(GDLConv):
    r"""OGB's molecule GIN layer: GIN with embedded bond features (Hu et al., "Strategies for
    Pre-training Graph Neural Networks", ICLR 2020, https://arxiv.org/abs/1905.12265; OGB's
    examples, https://arxiv.org/abs/2005.00687), on the one core.

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\Big( (1 + \epsilon)\, \mathbf{x}_i +
        \sum_{j \to i} \mathrm{ReLU}\big(\mathbf{x}_j + \mathrm{BondEncoder}(\mathbf{e}_{ji})
        \big) \Big)

    with OGB's ``MLP = Linear(C, 2C), BatchNorm1d(2C), ReLU, Linear(2C, C)`` and a learnable
    :math:`\epsilon` (initially 0). The message is not linear in :math:`\mathbf{x}_j`: it runs
    PyG's gather/message/scatter (``propagate``), as OGB's layer.

    Equivariance: permutation equivariant (node relabelling permutes the output rows; bond
    features travel with their edges).

    Args:
        emb_dim (int): The width :math:`C` of nodes and bond embeddings.

    Shapes:
        - **input:** node features :math:`(N, C)`, edge indices :math:`(2, E)`, integer bond
          features :math:`(E, 3)`
        - **output:** node features :math:`(N, C)`
    """

    def __init__(self, emb_dim: int, **kwargs):
        kwargs.setdefault('aggr', 'sum')
        super().__init__(**kwargs)
        self.emb_dim = int(emb_dim)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(emb_dim, 2 * emb_dim), torch.nn.BatchNorm1d(2 * emb_dim),
            torch.nn.ReLU(), torch.nn.Linear(2 * emb_dim, emb_dim))
        self.eps = torch.nn.Parameter(torch.zeros(1))
        self.bond_encoder = _bond_encoder(emb_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for m in self.mlp:
            if hasattr(m, 'reset_parameters'):
                m.reset_parameters()
        self.eps.data.zero_()
        self.bond_encoder.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        _check(x, edge_index, edge_attr, self.emb_dim, 'MolGINConv')
        out = self.propagate(edge_index, x=x, edge_attr=self.bond_encoder(edge_attr))
        return self.mlp((1 + self.eps) * x + out)

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        return F.relu(x_j + edge_attr)

    @classmethod
    def from_ogb(cls, layer: torch.nn.Module) -> 'MolGINConv':
        """A copy of OGB's example ``GINConv(emb_dim)`` (``mlp``, ``eps``, ``bond_encoder``)."""
        return _copy(cls(layer.mlp[0].in_features), layer)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.emb_dim}, {self.emb_dim})'


class MolGCNConv(GDLConv):
    r"""OGB's molecule GCN layer: a GCN with embedded bond features and a learned root
    embedding (Kipf and Welling, ICLR 2017, https://arxiv.org/abs/1609.02907; OGB's
    examples, https://arxiv.org/abs/2005.00687), on the one core.

    .. math::
        \mathbf{h} = \mathbf{W}\mathbf{x} + \mathbf{b}, \qquad
        \mathbf{x}'_i = \sum_{j \to i} \frac{\mathrm{ReLU}\big(\mathbf{h}_j +
        \mathrm{BondEncoder}(\mathbf{e}_{ji})\big)}{\sqrt{d_j d_i}}
        + \frac{\mathrm{ReLU}(\mathbf{h}_i + \mathbf{r})}{d_i}

    with :math:`d_i = 1 + |\{e : \mathrm{source}(e) = i\}|` (OGB counts edges by source; the
    graphs are symmetric) and :math:`\mathbf{r}` the root embedding.

    Equivariance: permutation equivariant (node relabelling permutes the output rows).

    Args:
        emb_dim (int): The width :math:`C`.

    Shapes:
        - **input:** node features :math:`(N, C)`, edge indices :math:`(2, E)`, integer bond
          features :math:`(E, 3)`
        - **output:** node features :math:`(N, C)`
    """

    def __init__(self, emb_dim: int, **kwargs):
        kwargs.setdefault('aggr', 'sum')
        super().__init__(**kwargs)
        self.emb_dim = int(emb_dim)
        self.linear = torch.nn.Linear(emb_dim, emb_dim)
        self.root_emb = torch.nn.Embedding(1, emb_dim)
        self.bond_encoder = _bond_encoder(emb_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.linear.reset_parameters()
        self.root_emb.reset_parameters()
        self.bond_encoder.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        _check(x, edge_index, edge_attr, self.emb_dim, 'MolGCNConv')
        x = self.linear(x)
        src, dst = plain(edge_index)
        deg = degree(src, x.size(0), dtype=x.dtype) + 1
        dinv = deg.pow(-0.5)
        norm = dinv.index_select(0, src) * dinv.index_select(0, dst)
        out = self.propagate(edge_index, x=x, edge_attr=self.bond_encoder(edge_attr), norm=norm)
        return out + F.relu(x + self.root_emb.weight) / deg.view(-1, 1)

    def message(self, x_j: Tensor, edge_attr: Tensor, norm: Tensor) -> Tensor:
        return norm.view(-1, 1) * F.relu(x_j + edge_attr)

    @classmethod
    def from_ogb(cls, layer: torch.nn.Module) -> 'MolGCNConv':
        """A copy of OGB's example ``GCNConv(emb_dim)`` (``linear``, ``root_emb``,
        ``bond_encoder``)."""
        return _copy(cls(layer.linear.in_features), layer)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.emb_dim}, {self.emb_dim})'
