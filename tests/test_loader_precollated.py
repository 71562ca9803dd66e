"""PrecollatedGraphs.from_data_list: its batches are PyG's Batch.from_data_list of the same
graphs in the same order (repeats and empty graphs included)."""
import pytest
import torch
from torch_geometric.data import Batch, Data

from gdl_graphs.loader import PrecollatedGraphs


def _graphs(seed=0, count=12):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        n = 0 if i == 3 else int(torch.randint(1, 9, (1,), generator=g))
        e = 0 if n == 0 else int(torch.randint(0, 3 * n, (1,), generator=g))
        out.append(Data(x=torch.randn(n, 4, generator=g),
                        edge_index=torch.randint(0, max(n, 1), (2, e), generator=g),
                        y=torch.tensor([i % 3])))
    return out


@pytest.mark.parametrize('ids', [[0, 1, 2], [5, 3, 3, 11, 0], list(range(12))[::-1]])
def test_batches_equal_pyg_collation(ids):
    graphs = _graphs()
    got = PrecollatedGraphs.from_data_list(graphs).batch(torch.tensor(ids))
    want = Batch.from_data_list([graphs[i] for i in ids])
    assert torch.equal(got.x, want.x) and torch.equal(got.edge_index, want.edge_index)
    assert torch.equal(got.batch, want.batch) and torch.equal(got.y, want.y)
    assert got.num_graphs == want.num_graphs


def test_bad_lists_are_one_value_error():
    with pytest.raises(ValueError, match='got no graphs'):
        PrecollatedGraphs.from_data_list([])
    graphs = _graphs()
    graphs[4].y = None
    with pytest.raises(ValueError, match='^graph 4 lacks x, edge_index or y'):
        PrecollatedGraphs.from_data_list(graphs)
