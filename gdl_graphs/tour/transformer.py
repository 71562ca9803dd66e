"""Transformer row: attention on complete graphs is nn.TransformerEncoderLayer.

Check: a ragged batch of sets, each made a complete graph (``complete_graph``, self-loops
included, tagged so attention runs as ``scaled_dot_product_attention`` on the padded batch);
``TransformerBlock.from_torch(layer)`` must give ``layer(X_b)`` for every set ``b`` (float64).

Example: a graph Transformer on Zachary's karate club. A Transformer sees a complete graph, so
the graph's structure enters as node features, PyG's positional encodings:
``AddLaplacianEigenvectorPE`` (the first non-trivial Laplacian eigenvectors; their signs are
arbitrary, so a model trained on many graphs should flip them at random, which this transductive
example on one graph does not need) and ``AddRandomWalkPE`` (return probabilities of 1..k-step
random walks). One block on the complete graph, a linear head, four labelled members.
"""
from __future__ import annotations

import torch

from . import Row

ORDER = 25


def _check() -> float:
    from ..core import plain
    from ..domains.complete import complete_graph
    from ..domains.set import set_to_graph
    from ..nn import TransformerBlock

    torch.manual_seed(0)
    sets = [torch.randn(n, 16, dtype=torch.float64) for n in (7, 1, 12, 4, 9)]
    data = set_to_graph(sets)
    edge_index = complete_graph(data.batch, ptr=data.ptr)
    err = 0.0
    for norm_first in (False, True):
        layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True,
                                                 norm_first=norm_first).double()
        block = TransformerBlock.from_torch(layer)
        ref = torch.cat([layer(s.unsqueeze(0)).squeeze(0) for s in sets])
        for ei in (edge_index, plain(edge_index)):  # dense dispatch and sparse path
            err = max(err, (block(data.x, ei) - ref).abs().max().item())
    return err


def _run(steps: int = 100) -> Row:
    import torch_geometric.transforms as T
    from torch_geometric.data import Data

    from ..domains.complete import complete_graph
    from ..nn import TransformerBlock
    from .graph import karate_club

    err = _check()

    torch.manual_seed(0)
    _, edge_index, y = karate_club()
    n = y.numel()
    data = Data(edge_index=edge_index, num_nodes=n)
    data = T.AddLaplacianEigenvectorPE(4, is_undirected=True)(data)
    data = T.AddRandomWalkPE(8)(data)
    # eigenvectors have unit norm: scale to unit mean square per entry, like the RW features
    lap = data.laplacian_eigenvector_pe.float() * n ** 0.5
    rw = data.random_walk_pe.float()
    complete = complete_graph(num_nodes=n)

    dim = 32
    embed = torch.nn.Linear(12, dim)
    block = TransformerBlock(dim, 4, 64, norm_first=True)
    head = torch.nn.Linear(dim, 2)
    params = [*embed.parameters(), *block.parameters(), *head.parameters()]

    def forward(lap_pe):
        return head(block(embed(torch.cat([lap_pe, rw], dim=-1)), complete))

    train = torch.zeros(n, dtype=torch.bool)
    train[[0, 33, 1, 32]] = True
    opt = torch.optim.Adam(params, lr=0.01, weight_decay=5e-4)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(lap)[train], y[train])
        loss.backward()
        opt.step()
    block.eval()
    with torch.no_grad():
        acc = (forward(lap).argmax(-1)[~train] == y[~train]).float().mean().item()
    return Row('transformer', f'complete per set; karate K{n}', 'TransformerBlock',
               'max |ours - TransformerEncoderLayer|', err, 1e-10,
               f'karate acc {acc:.2f} (4 labels, LapPE+RWPE)')


def run(steps: int = 100) -> Row:
    """The row (the tour runs it on one thread); ``steps`` of training."""
    return _run(steps)
