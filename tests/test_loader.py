"""The neighbour sampler and loader against brute-force expectations."""
import pytest
import torch
from torch_geometric.data import Data

from gdl_graphs.loader import NeighborLoader, NeighborSampler


def random_graph(n=40, e=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return ei, n


def in_neighbours(ei, node):
    return ei[0][ei[1] == node].tolist()


def check_output(ei, out, seeds, fanout):
    """Every property a sample must have, checked edge by edge."""
    node = out.node
    # seeds first, nodes distinct
    assert torch.equal(node[:len(seeds)], seeds)
    assert node.unique().numel() == node.numel()
    assert out.batch_size == len(seeds)
    assert sum(out.num_sampled_nodes) == node.numel()
    assert sum(out.num_sampled_edges) == out.edge.numel() == out.row.numel()
    # every sampled edge exists in the graph, with the right endpoints
    assert torch.equal(ei[0, out.edge], node[out.row])
    assert torch.equal(ei[1, out.edge], node[out.col])
    assert out.edge.unique().numel() == out.edge.numel()  # without replacement
    # hop by hop: targets are the previous hop's new nodes, fan-out respected
    offsets = torch.tensor([0] + out.num_sampled_nodes).cumsum(0)
    e0 = 0
    for h, k in enumerate(fanout):
        cols = out.col[e0:e0 + out.num_sampled_edges[h]]
        assert bool(((cols >= offsets[h]) & (cols < offsets[h + 1])).all())
        for t in range(int(offsets[h]), int(offsets[h + 1])):
            deg = len(in_neighbours(ei, int(node[t])))
            got = int((cols == t).sum())
            assert got == (deg if k < 0 else min(k, deg)), (h, t, got, deg)
        e0 += out.num_sampled_edges[h]
        # the nodes of hop h+1 are exactly the new sources of hop h's edges
        srcs = set(node[out.row[e0 - out.num_sampled_edges[h]:e0]].tolist())
        assert set(node[int(offsets[h + 1]):int(offsets[h + 2])].tolist()) == \
            srcs - set(node[:int(offsets[h + 1])].tolist())


@pytest.mark.parametrize('fanout', [[3], [4, 2], [-1, 2], [100, 100]])
def test_sample_properties(fanout):
    ei, n = random_graph()
    sampler = NeighborSampler(ei, n)
    seeds = torch.tensor([5, 0, 17, 33])
    out = sampler.sample(seeds, fanout, generator=torch.Generator().manual_seed(1))
    check_output(ei, out, seeds, fanout)


def test_full_neighbourhood_equals_brute_force_bfs():
    ei, n = random_graph(30, 120, seed=3)
    seeds = torch.tensor([2, 9])
    out = NeighborSampler(ei, n).sample(seeds, [-1, -1])
    hop1 = {j for s in seeds.tolist() for j in in_neighbours(ei, s)} - set(seeds.tolist())
    hop2 = {j for s in hop1 for j in in_neighbours(ei, s)} - hop1 - set(seeds.tolist())
    assert set(out.node.tolist()) == set(seeds.tolist()) | hop1 | hop2
    expected = {e for e in range(ei.size(1)) if int(ei[1, e]) in set(seeds.tolist()) | hop1}
    assert set(out.edge.tolist()) == expected
    # first-appearance order of the new nodes (deterministic, as PyG)
    first = []
    for j in ei[0, out.edge[:out.num_sampled_edges[0]]].tolist():
        if j not in first and j not in seeds.tolist():
            first.append(j)
    assert out.node[2:2 + len(first)].tolist() == first


def test_deterministic_with_generator_and_varies_without():
    ei, n = random_graph(60, 900, seed=1)
    sampler = NeighborSampler(ei, n)
    seeds = torch.arange(0, 60, 7)
    a = sampler.sample(seeds, [3, 3], generator=torch.Generator().manual_seed(7))
    b = sampler.sample(seeds, [3, 3], generator=torch.Generator().manual_seed(7))
    c = sampler.sample(seeds, [3, 3], generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.node, b.node) and torch.equal(a.edge, b.edge)
    assert not torch.equal(a.edge, c.edge)


def test_uniform_without_replacement():
    # 3000 centres with 10 in-edges each; every edge is kept with probability k / deg = 3 / 10
    c, d = 3000, 10
    src = torch.arange(c, c + c * d)
    dst = torch.arange(c).repeat_interleave(d)
    sampler = NeighborSampler(torch.stack([src, dst]), c + c * d)
    out = sampler.sample(torch.arange(c), [3], generator=torch.Generator().manual_seed(0))
    assert out.edge.numel() == 3 * c and out.edge.unique().numel() == 3 * c
    freq = torch.bincount(out.edge % d, minlength=d) / c  # by position in the list
    assert float((freq - 0.3).abs().max()) < 0.04  # 4.8 standard deviations


def test_replace_draws_k_per_node():
    ei = torch.stack([torch.arange(1, 4), torch.zeros(3, dtype=torch.long)])
    sampler = NeighborSampler(ei, 4, replace=True)
    out = sampler.sample(torch.tensor([0, 2]), [5], generator=torch.Generator().manual_seed(0))
    assert out.edge.numel() == 5  # node 2 has no in-edges
    assert torch.equal(ei[0, out.edge], out.node[out.row])


def test_loader_batches_cover_seeds_and_slice_attributes():
    ei, n = random_graph(50, 400, seed=2)
    data = Data(x=torch.randn(n, 4), y=torch.arange(n), edge_index=ei,
                edge_attr=torch.randn(ei.size(1), 2))
    mask = torch.zeros(n, dtype=torch.bool)
    mask[::3] = True
    loader = NeighborLoader(data, [4, 2], input_nodes=mask, batch_size=5, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
    seen = []
    for batch in loader:
        bs = batch.batch_size
        seen += batch.n_id[:bs].tolist()
        assert torch.equal(batch.x, data.x[batch.n_id])
        assert torch.equal(batch.y, batch.n_id)
        assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
        assert torch.equal(data.edge_index[:, batch.e_id], batch.n_id[batch.edge_index])
        assert torch.equal(mask.nonzero().view(-1)[batch.input_id], batch.n_id[:bs])
    assert sorted(seen) == mask.nonzero().view(-1).tolist()
    assert len(loader) == -(-int(mask.sum()) // 5)


def test_loader_reproducible_for_any_num_workers():
    ei, n = random_graph(50, 400, seed=4)
    data = Data(x=torch.randn(n, 3), edge_index=ei)

    def ids(workers):
        loader = NeighborLoader(data, [3, 3], batch_size=8, shuffle=True, num_workers=workers,
                                generator=torch.Generator().manual_seed(5))
        return [(b.n_id.tolist(), b.e_id.tolist()) for b in loader]

    assert ids(0) == ids(0)
    assert ids(0) == ids(2)


def test_trains_a_sage_model_like_pyg_neighborloader():
    from gdl_graphs.nn import SAGEConv
    ei, n = random_graph(40, 300, seed=5)
    data = Data(x=torch.randn(n, 8), y=torch.randint(0, 3, (n,)), edge_index=ei)
    conv1, conv2 = SAGEConv(8, 16), SAGEConv(16, 3)
    opt = torch.optim.Adam(list(conv1.parameters()) + list(conv2.parameters()), lr=0.01)
    for batch in NeighborLoader(data, [5, 5], batch_size=10, shuffle=True,
                                generator=torch.Generator().manual_seed(0)):
        h = conv2(conv1(batch.x, batch.edge_index).relu(), batch.edge_index)
        loss = torch.nn.functional.cross_entropy(h[:batch.batch_size], batch.y[:batch.batch_size])
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)


def test_bad_input():
    ei, n = random_graph()
    sampler = NeighborSampler(ei, n)
    with pytest.raises(ValueError, match='one fan-out per hop'):
        sampler.sample(torch.tensor([0]), 3)
    with pytest.raises(ValueError, match='fan-out is >= 0'):
        sampler.sample(torch.tensor([0]), [-2])
    with pytest.raises(ValueError, match='seeds must lie in'):
        sampler.sample(torch.tensor([n]), [2])
    with pytest.raises(ValueError, match='twice'):
        sampler.sample(torch.tensor([1, 1]), [2])
    with pytest.raises(ValueError, match='integer tensor'):
        sampler.sample(torch.tensor([0.5]), [2])
    with pytest.raises(ValueError, match=r'shape \[2, E\]'):
        NeighborSampler(ei.t(), n)
    data = Data(x=torch.randn(n, 2), edge_index=ei)
    with pytest.raises(ValueError, match='batch_size must be >= 1'):
        NeighborLoader(data, [2], batch_size=0)
    with pytest.raises(ValueError, match='mask has'):
        NeighborLoader(data, [2], input_nodes=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match='sets collate_fn itself'):
        NeighborLoader(data, [2], collate_fn=list)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_properties_and_is_deterministic():
    ei, n = random_graph(200, 3000, seed=6)
    sampler = NeighborSampler(ei.cuda(), n)
    seeds = torch.arange(0, 200, 9)
    g = torch.Generator(device='cuda')
    a = sampler.sample(seeds, [5, 3], generator=g.manual_seed(0))
    b = sampler.sample(seeds, [5, 3], generator=g.manual_seed(0))
    assert torch.equal(a.edge, b.edge)
    a.node, a.row, a.col, a.edge = a.node.cpu(), a.row.cpu(), a.col.cpu(), a.edge.cpu()
    check_output(ei, a, seeds, [5, 3])


def test_one_hop_loop_over_any_graph_store():
    """The hop loop on a store that answers from Python adjacency lists (brute force) gives the
    CSR sampler's subgraph, with either way of numbering the nodes."""
    from gdl_graphs.loader.neighbor import sample_hops
    g = torch.Generator().manual_seed(3)
    n = 60
    ei = torch.randint(0, n, (2, 400), generator=g)
    csr = NeighborSampler(ei, n)

    class ListStore:
        num_nodes = n

        def __init__(self):
            # rows in the CSR's order: by target, then source, then edge id
            order = sorted(range(ei.size(1)), key=lambda e: (int(ei[1, e]), int(ei[0, e]), e))
            self.rows = [[e for e in order if int(ei[1, e]) == v] for v in range(n)]

        def degree(self, nodes):
            return torch.tensor([len(self.rows[int(v)]) for v in nodes], dtype=torch.long)

        def neighbors(self, nodes, offsets):
            eids = torch.tensor([self.rows[int(v)][int(o)] for v, o in zip(nodes, offsets)],
                                dtype=torch.long)
            return ei[0].index_select(0, eids), eids

    store = ListStore()
    seeds = torch.randperm(n, generator=g)[:7]
    for fanout in ([3, 2], [-1, 4], [5, 5, 5]):
        want = csr.sample(seeds, fanout, torch.Generator().manual_seed(1))
        for dense in (True, False):
            got = sample_hops(store, seeds, fanout, False, torch.Generator().manual_seed(1),
                              dense_ids=dense)
            for key in ('node', 'row', 'col', 'edge'):
                assert torch.equal(getattr(got, key), getattr(want, key)), (fanout, dense, key)
            assert got.num_sampled_nodes == want.num_sampled_nodes
