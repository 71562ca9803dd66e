"""Link prediction pieces against PyG and brute force: negatives never edges, splits of PyG's
sizes without leakage, loader subgraphs equal to a brute-force neighbourhood, GAE/VGAE losses
and gradients equal to PyG's, metrics equal to scikit-learn's and OGB's."""
import pytest
import torch
from torch_geometric.data import Data

from gdl_graphs.link import (
    NegativeSampler,
    RandomLinkSplit,
    average_precision,
    batched_negative_sampling,
    hits_at_k,
    mrr,
    negative_sampling,
    roc_auc,
)
from gdl_graphs.loader import LinkNeighborLoader
from gdl_graphs.models import (
    GAE,
    VGAE,
    GCNEncoder,
    HadamardMLPDecoder,
    InnerProductDecoder,
    VariationalGCNEncoder,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_graph(n=30, e=120, seed=0):
    return torch.randint(0, n, (2, e), generator=gen(seed)), n


def pairs(t):
    return list(map(tuple, t.t().tolist()))


def undirected(n=30, e=80, seed=0):
    ei, _ = random_graph(n, e, seed)
    ei = ei[:, ei[0] != ei[1]]
    a, b = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    ei = torch.unique(torch.stack([a, b]), dim=1)
    return torch.cat([ei, ei.flip(0)], 1), n


# ---------------------------------------------------------------- negative sampling

@pytest.mark.parametrize('method', ['uniform', 'degree'])
@pytest.mark.parametrize('force_undirected', [False, True])
@pytest.mark.parametrize('num', [10, 400])  # rejection rounds; near-exhaustive (dense path)
def test_negatives_are_distinct_non_edges(method, force_undirected, num):
    ei, n = random_graph()
    out = negative_sampling(ei, n, num, method=method, force_undirected=force_undirected,
                            generator=gen(1))
    want = num // 2 * 2 if force_undirected else num
    assert out.shape == (2, want)
    edges = set(pairs(ei))
    got = pairs(out)
    assert not set(got) & edges
    assert all(a != b for a, b in got)
    assert len(set(got)) == len(got)
    if force_undirected:
        assert not {(b, a) for a, b in got} & edges
        half = want // 2
        assert torch.equal(out[:, :half], out[:, half:].flip(0))


def test_all_non_edges_can_be_drawn():
    ei, n = random_graph(8, 30)
    edges = set(pairs(ei))
    free = {(i, j) for i in range(n) for j in range(n) if i != j and (i, j) not in edges}
    out = negative_sampling(ei, n, len(free), generator=gen())
    assert set(pairs(out)) == free and out.size(1) == len(free)
    with pytest.raises(ValueError, match='only'):
        negative_sampling(ei, n, len(free) + 1)


@pytest.mark.parametrize('bitmap', [True, False])
def test_edge_test_and_first_occurrence_equal_brute_force(monkeypatch, bitmap):
    # both membership tests (a bitmap of the edges for a small pair population, a binary
    # search in the sorted keys otherwise) and the hashed first-occurrence mask, against
    # sets; the keys fill every bit of the bitmap's 64-bit words, bit 63 included
    from gdl_graphs.link import negative
    if not bitmap:
        monkeypatch.setattr(negative, 'BITMAP_LIMIT', 0)  # 300^2 pairs > 64 per edge
    ei, n = random_graph(300, 1000)
    sampler = NegativeSampler(ei, n)
    draws = torch.randint(0, n * n, (5000,), generator=gen(1))  # hashed first occurrence
    keys = torch.cat([draws, ei[0] * n + ei[1], draws[:700]])  # edges and repeats
    edges = set((ei[0] * n + ei[1])[ei[0] != ei[1]].tolist())  # self-loops are never kept
    assert sampler.graphs.is_edge(keys).tolist() == [k in edges for k in keys.tolist()]
    assert (sampler.graphs._bits is not None) == bitmap
    seen, first = set(), []
    for k in keys.tolist():
        first.append(k not in seen)
        seen.add(k)
    assert negative._first_occurrence(keys).tolist() == first


def test_uniform_negatives_are_uniform():
    ei, n = random_graph(6, 12)
    free = {(i, j) for i in range(n) for j in range(n) if i != j} - set(pairs(ei))
    sampler = NegativeSampler(ei, n)
    g = gen(3)
    counts = {p: 0 for p in free}
    for _ in range(2000):
        for p in pairs(sampler.sample(1, g)):
            counts[p] += 1
    expect = 2000 / len(free)
    assert max(abs(c - expect) for c in counts.values()) < 0.35 * expect


def test_degree_negatives_follow_degrees():
    # a hub with 100 out-edges and a path: the hub's share of negative sources is its exact
    # share of the degree-weighted non-edge mass, far above its uniform share
    n = 400
    hub = torch.stack([torch.zeros(100, dtype=torch.long), torch.arange(1, 101)])
    path = torch.stack([torch.arange(1, n - 1), torch.arange(2, n)])
    ei = torch.cat([hub, path], 1)
    sampler, g = NegativeSampler(ei, n, method='degree'), gen()
    out = torch.cat([sampler.sample(5, g) for _ in range(400)], 1)  # few per draw: ~ iid
    ws = torch.bincount(ei[0], minlength=n).double()
    wd = torch.bincount(ei[1], minlength=n).double()
    w = ws.view(-1, 1) * wd.view(1, -1)
    w.fill_diagonal_(0)
    w[ei[0], ei[1]] = 0
    expect = float(w[0].sum() / w.sum())
    share = float((out[0] == 0).double().mean())
    assert expect > 0.1 and abs(share - expect) < 0.02
    assert not bool((ws[out[0]] == 0).any()) and not bool((wd[out[1]] == 0).any())
    uni = negative_sampling(ei, n, 4000, generator=gen())
    assert float((uni[0] == 0).double().mean()) < 0.01


def test_bipartite_negatives():
    ei = torch.tensor([[0, 0, 1, 2], [0, 3, 1, 2]])
    out = negative_sampling(ei, (3, 4), 8, generator=gen())
    assert out.shape == (2, 8) and int(out[0].max()) < 3 and int(out[1].max()) < 4
    assert not set(pairs(out)) & set(pairs(ei))  # (i, i) is allowed: different node sets


def test_batched_negatives_stay_in_their_graph():
    sizes = [5, 9, 4, 12]
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    offs = [0, 5, 14, 18]
    parts = [random_graph(s, 2 * s, seed=k)[0] + o for k, (s, o) in enumerate(zip(sizes, offs))]
    ei = torch.cat(parts, 1)
    out = batched_negative_sampling(ei, batch, generator=gen())
    gsrc, gdst = batch[out[0]], batch[out[1]]
    assert torch.equal(gsrc, gdst)
    assert torch.equal(torch.bincount(gsrc, minlength=4), torch.bincount(batch[ei[0]]))
    assert bool((gsrc[1:] >= gsrc[:-1]).all())
    assert not set(pairs(out)) & set(pairs(ei))
    assert len(set(pairs(out))) == out.size(1)


def test_negative_sampling_errors():
    full = torch.stack(torch.meshgrid(torch.arange(5), torch.arange(5), indexing='ij'))
    full = full.reshape(2, -1)
    with pytest.raises(ValueError, match='complete graph'):
        negative_sampling(full, 5, 1)
    with pytest.raises(ValueError, match='refers to'):
        negative_sampling(torch.tensor([[0, 7]]).t(), 5, 1)
    with pytest.raises(ValueError, match='method'):
        negative_sampling(full, 5, 1, method='hash')
    with pytest.raises(ValueError, match='>= 0'):
        negative_sampling(full, 5, -1)


# ---------------------------------------------------------------- RandomLinkSplit

@pytest.mark.parametrize('kw', [dict(is_undirected=True), dict(is_undirected=False),
                                dict(is_undirected=True, split_labels=True),
                                dict(is_undirected=True, disjoint_train_ratio=0.3),
                                dict(num_val=5, num_test=7, neg_sampling_ratio=2.0),
                                dict(add_negative_train_samples=False)])
def test_split_matches_pyg_and_does_not_leak(kw):
    from torch_geometric.transforms import RandomLinkSplit as PyGSplit
    ei, n = undirected(40, 150)
    data = Data(edge_index=ei, num_nodes=n, x=torch.randn(n, 3),
                edge_attr=torch.arange(ei.size(1)).double())
    torch.manual_seed(5)
    ours = RandomLinkSplit(**kw)(data)
    torch.manual_seed(5)
    theirs = PyGSplit(**kw)(data)
    edges = set(pairs(ei))
    for a, b in zip(ours, theirs):
        assert set(a.keys()) == set(b.keys())
        for key in b.keys():
            assert a[key].shape == b[key].shape if torch.is_tensor(b[key]) else True, key
        # same permutation, same message-passing graphs and positives
        assert torch.equal(a.edge_index, b.edge_index)
        assert torch.equal(a.edge_attr, b.edge_attr)
        lab = 'pos_edge_label_index' if kw.get('split_labels') else 'edge_label_index'
        npos = int(b[lab.replace('_index', '')].gt(0).sum()) if lab == 'edge_label_index' \
            else b[lab].size(1)
        assert torch.equal(a[lab][:, :npos], b[lab][:, :npos])
        # negatives: non-edges of the whole graph, distinct
        if kw.get('split_labels'):
            neg = a.get('neg_edge_label_index', torch.zeros(2, 0, dtype=torch.long))
        else:
            neg = a.edge_label_index[:, a.edge_label == 0]
        assert not set(pairs(neg)) & edges
    train, val, test = ours
    lab = 'pos_edge_label_index' if kw.get('split_labels') else 'edge_label_index'

    def positives(d):
        if kw.get('split_labels'):
            return set(pairs(d.pos_edge_label_index))
        return set(pairs(d.edge_label_index[:, d.edge_label > 0]))

    # no leakage: a held-out pair is not in its own or an earlier message-passing graph (in
    # neither direction when undirected)
    for d, later in ((val, [train, val]), (test, [train, val, test])):
        held = positives(d)
        if kw.get('is_undirected'):
            held |= {(j, i) for i, j in held}
        for m in later:
            assert not held & set(pairs(m.edge_index))
    if kw.get('disjoint_train_ratio'):
        assert not positives(train) & set(pairs(train.edge_index))
    assert not positives(val) & positives(test)


def test_split_keeps_integer_labels_shifted():
    ei, n = undirected(20, 60)
    lab = torch.arange(ei.size(1)) % 3
    data = Data(edge_index=ei, num_nodes=n, edge_label=lab)
    train, _, _ = RandomLinkSplit(is_undirected=True, generator=gen())(data)
    pos = train.edge_label[train.edge_label > 0]
    assert pos.min() >= 1 and pos.max() <= 3


def test_split_errors():
    ei, n = undirected(10, 20)
    data = Data(edge_index=ei, num_nodes=n)
    for kw, msg in ((dict(num_val=1.5), 'outside'), (dict(num_val=0.0), 'outside'),
                    (dict(num_val=0.6, num_test=0.5), 'sum'),
                    (dict(num_val=-2), 'negative')):
        with pytest.raises(ValueError, match=msg):
            RandomLinkSplit(**kw)
    with pytest.raises(ValueError, match='no edges left'):
        RandomLinkSplit(num_val=100, num_test=100)(data)
    full = torch.stack(torch.meshgrid(torch.arange(4), torch.arange(4), indexing='ij'))
    full = full.reshape(2, -1)
    full = full[:, full[0] != full[1]]
    with pytest.raises(ValueError, match='complete graph'):
        RandomLinkSplit(is_undirected=True)(Data(edge_index=full, num_nodes=4))
    with pytest.raises(ValueError, match='refers to'):
        RandomLinkSplit()(Data(edge_index=torch.tensor([[0], [9]]), num_nodes=3))


# ---------------------------------------------------------------- LinkNeighborLoader

def brute_force(ei, seeds, hops):
    """Every in-edge of the nodes within ``hops - 1`` hops of ``seeds`` (fan-out -1)."""
    nodes, frontier, edges = set(seeds), set(seeds), set()
    for _ in range(hops):
        new = set()
        for e, (s, t) in enumerate(pairs(ei)):
            if t in frontier:
                edges.add(e)
                if s not in nodes:
                    new.add(s)
        nodes |= new
        frontier = new
    return nodes, edges


@pytest.mark.parametrize('ratio', [None, 1.0, 2.5])
def test_link_loader_full_fanout_equals_brute_force(ratio):
    ei, n = random_graph(40, 160)
    data = Data(edge_index=ei, num_nodes=n, x=torch.randn(n, 4), edge_attr=torch.randn(160, 2))
    seeds = ei[:, :30]
    loader = LinkNeighborLoader(data, [-1, -1], edge_label_index=seeds, batch_size=7,
                                shuffle=True, neg_sampling_ratio=ratio, generator=gen())
    seen = []
    forbidden = set(pairs(ei))
    for batch in loader:
        nid = batch.n_id
        lab = batch.edge_label
        pairs_g = nid[batch.edge_label_index]
        B = batch.input_id.numel()
        assert torch.equal(pairs_g[:, :B], seeds[:, batch.input_id])
        assert torch.equal(lab[:B], torch.ones(B))
        if ratio is not None:
            import math
            assert pairs_g.size(1) == B + math.ceil(B * ratio)
            assert not bool(lab[B:].any())
            assert not set(pairs(pairs_g[:, B:])) & forbidden
        ends = sorted(set(pairs_g.reshape(-1).tolist()))
        assert nid[:len(ends)].tolist() == ends  # seeds first, sorted as PyG
        nodes, edges = brute_force(ei, ends, 2)
        assert set(nid.tolist()) == nodes and nid.unique().numel() == nid.numel()
        assert set(batch.e_id.tolist()) == edges
        assert torch.equal(nid[batch.edge_index], ei[:, batch.e_id])
        assert torch.equal(batch.x, data.x[nid])
        assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
        seen.append(batch.input_id)
    assert sorted(torch.cat(seen).tolist()) == list(range(30))


def test_link_loader_fanout_and_labels():
    ei, n = random_graph(50, 400)
    data = Data(edge_index=ei, num_nodes=n)
    lab = torch.arange(20) % 2  # integer labels with 0: shifted, 0 means negative
    loader = LinkNeighborLoader(data, [3, 2], edge_label_index=ei[:, :20], edge_label=lab,
                                neg_sampling='binary', batch_size=20, generator=gen())
    batch = next(iter(loader))
    assert torch.equal(batch.edge_label[:20], lab + 1)
    assert torch.equal(batch.edge_label[20:], torch.zeros(20, dtype=torch.long))
    deg = torch.bincount(ei[1], minlength=n)
    nid = batch.n_id
    h0 = batch.num_sampled_nodes[0]
    tgt = batch.edge_index[1][:batch.num_sampled_edges[0]]
    for t in range(h0):
        assert int((tgt == t).sum()) == min(3, int(deg[nid[t]]))
    assert torch.equal(nid[batch.edge_index], ei[:, batch.e_id])
    # reproducible from the generator
    again = next(iter(LinkNeighborLoader(data, [3, 2], edge_label_index=ei[:, :20],
                                         edge_label=lab, neg_sampling='binary', batch_size=20,
                                         generator=gen())))
    assert torch.equal(again.n_id, nid) and torch.equal(again.edge_label_index,
                                                        batch.edge_label_index)


def test_link_loader_errors():
    ei, n = random_graph()
    data = Data(edge_index=ei, num_nodes=n)
    with pytest.raises(ValueError, match='edge_label has'):
        LinkNeighborLoader(data, [2], edge_label_index=ei[:, :5], edge_label=torch.ones(4))
    with pytest.raises(ValueError, match='refers to'):
        LinkNeighborLoader(data, [2], edge_label_index=torch.tensor([[0], [99]]))
    with pytest.raises(ValueError, match='triplet'):
        LinkNeighborLoader(data, [2], neg_sampling='triplet')


# ---------------------------------------------------------------- GAE / VGAE against PyG

def _pyg_encoders(in_channels, variational):
    from torch_geometric.nn import GCNConv

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(in_channels, 8)
            if variational:
                self.conv_mu, self.conv_logstd = GCNConv(8, 4), GCNConv(8, 4)
            else:
                self.conv2 = GCNConv(8, 4)

        def forward(self, x, ei):
            h = self.conv1(x, ei).relu()
            if variational:
                return self.conv_mu(h, ei), self.conv_logstd(h, ei)
            return self.conv2(h, ei)
    return Enc()


@pytest.mark.parametrize('variational', [False, True])
@pytest.mark.parametrize('training', [False, True])
def test_autoencoders_equal_pyg(variational, training):
    from torch_geometric.nn import GAE as PyGGAE
    from torch_geometric.nn import VGAE as PyGVGAE
    ei, n = undirected(25, 60)
    x = torch.randn(n, 5, dtype=torch.float64)
    neg = negative_sampling(ei, n, generator=gen())
    torch.manual_seed(0)
    theirs = (PyGVGAE if variational else PyGGAE)(_pyg_encoders(5, variational)).double()
    # bias=False: the paper's code exactly, no bias parameter left
    paper = VariationalGCNEncoder(5, 8, 4, bias=False) if variational else \
        GCNEncoder(5, 8, 4, bias=False)
    assert not [n for n, _ in paper.named_parameters() if n.endswith('bias')]
    enc = VariationalGCNEncoder(5, 8, 4, cached=False) if variational else \
        GCNEncoder(5, 8, 4, cached=False)
    ours = (VGAE if variational else GAE)(enc).double()
    ours.load_state_dict(theirs.state_dict())
    ours.train(training)
    theirs.train(training)
    losses = []
    for m in (ours, theirs):
        torch.manual_seed(7)
        z = m.encode(x, ei)
        loss = m.recon_loss(z, ei, neg)
        if variational:
            loss = loss + m.kl_loss() / n
        m.zero_grad()
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=1e-12)
    g_ours = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        torch.testing.assert_close(g_ours[name].grad, p.grad, rtol=1e-10, atol=1e-12)
    z = ours.encode(x, ei)
    auc, ap = ours.test(z, ei, neg)
    ref = theirs.test(theirs.encode(x, ei), ei, neg) if not training else (auc, ap)
    if not training:
        assert abs(auc - ref[0]) < 1e-12 and abs(ap - ref[1]) < 1e-12


def test_decoders():
    z = torch.randn(6, 4, dtype=torch.float64)
    pe = torch.tensor([[0, 1, 2], [3, 4, 5]])
    ip = InnerProductDecoder()
    torch.testing.assert_close(ip(z, pe), torch.sigmoid((z[pe[0]] * z[pe[1]]).sum(1)))
    torch.testing.assert_close(ip.forward_all(z)[pe[0], pe[1]], ip(z, pe))
    mlp = HadamardMLPDecoder(4, 8, num_layers=2).double().eval()
    h = (z[pe[0]] * z[pe[1]])
    ref = mlp.lins[1](mlp.lins[0](h).relu()).view(-1)
    torch.testing.assert_close(mlp(z, pe, sigmoid=False), ref)
    # invariant under a relabelling applied to z and the pairs
    perm = torch.randperm(6, generator=gen())
    inv = torch.argsort(perm)
    torch.testing.assert_close(mlp(z[perm], inv[pe]), mlp(z, pe))
    assert 'HadamardMLPDecoder(4, 1' in repr(mlp)


# ---------------------------------------------------------------- metrics

def test_metrics_equal_sklearn_and_ogb():
    from sklearn.metrics import average_precision_score, roc_auc_score
    g = gen(2)
    score = torch.randint(0, 6, (200,), generator=g).double()  # many ties
    label = torch.randint(0, 2, (200,), generator=g)
    assert abs(roc_auc(score, label) - roc_auc_score(label, score)) < 1e-12
    assert abs(average_precision(score, label) - average_precision_score(label, score)) < 1e-12
    s2 = torch.rand(300, generator=g, dtype=torch.float64)
    assert abs(average_precision(s2, label.repeat(2)[:300])
               - average_precision_score(label.repeat(2)[:300], s2)) < 1e-12
    ogb = pytest.importorskip('ogb.linkproppred')
    pos = torch.randint(0, 20, (50,), generator=g).float()
    neg = torch.randint(0, 20, (80,), generator=g).float()
    for name, k in (('ogbl-collab', 50), ('ogbl-ddi', 20), ('ogbl-ppa', 100)):
        ref = ogb.Evaluator(name).eval({'y_pred_pos': pos, 'y_pred_neg': neg})[f'hits@{k}']
        assert hits_at_k(pos, neg, k) == ref
    negm = torch.randint(0, 20, (50, 30), generator=g).float()
    ref = ogb.Evaluator('ogbl-citation2').eval({'y_pred_pos': pos, 'y_pred_neg': negm})
    assert abs(mrr(pos, negm) - float(ref['mrr_list'].mean())) < 1e-6


def test_retry_bound_is_enforced():
    # a sampler that believes every draw is a non-edge (about half are) falls short in one
    # round and says so instead of looping
    n = 20
    pairs_ = torch.tensor([(i, j) for i in range(n) for j in range(n) if i != j]).t()
    ei = pairs_[:, torch.randperm(pairs_.size(1), generator=gen())[:170]]
    sampler = NegativeSampler(ei, n, max_rounds=1)
    assert 0.5 <= sampler.accept < 0.6
    sampler.accept = 1.0
    with pytest.raises(RuntimeError, match='in 1 rounds'):
        sampler.sample(52, gen())
    assert NegativeSampler(ei, n, max_rounds=16).sample(52, gen()).size(1) == 52


def test_gae_negatives_follow_a_refilled_edge_buffer():
    # the sampler is cached with the tensor; refilling its memory through numpy (which torch
    # does not see: same storage, shape and version) must not reuse the old edge set
    n = 6
    first = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    ei = first.clone()
    model = GAE(torch.nn.Identity())
    model._negatives(ei, n)
    version = ei._version
    ei.numpy()[:] = [[0, 0, 0, 0], [5, 4, 3, 2]]
    assert ei._version == version
    new_edges = {(0, 5), (0, 4), (0, 3), (0, 2)}
    g = torch.Generator().manual_seed(0)
    neg = model._negatives(ei, n).sample(20, generator=g)   # 20 of the 26 non-edges
    assert not {tuple(e) for e in neg.t().tolist()} & new_edges
