"""OGB link folders built from a graph: read back by ogb.linkproppred itself, positives
partitioning the edges, negatives never edges, one-line errors and nothing half-written."""
import os
import os.path as osp

import pytest
import torch

pytest.importorskip('ogb')

from gdl_graphs.datasets import DatasetError, build_link_dataset, evaluator_for, load_link_dataset  # noqa: E402


def graph(n=50, e=260, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return ei, n, torch.randn(n, 6, generator=g)


def canon(t, undirected=True):
    t = t.tolist() if torch.is_tensor(t) else t
    return {(min(a, b), max(a, b)) if undirected else (a, b) for a, b in t}


FAMILIES = [('ogbl-collab', dict(x=True), 'edge', True),
            ('ogbl-ddi', dict(), 'edge', True),
            ('ogbl-ppa', dict(x=True), 'edge', True),
            ('ogbl-citation2', dict(x=True, year=True, num_neg=15), 'source', False),
            ('ogbl-mymrr', dict(x=True, eval_metric='mrr', num_neg=7), 'source', True),
            ('ogbl-myhits', dict(eval_metric='hits@10'), 'edge', True)]


@pytest.mark.parametrize('name,kw,style,undirected', FAMILIES)
def test_built_folder_reads_in_ogb(tmp_path, name, kw, style, undirected):
    from ogb.linkproppred import PygLinkPropPredDataset
    ei, n, x = graph()
    args = dict(x=x if kw.get('x') else None, num_neg=kw.get('num_neg'),
                eval_metric=kw.get('eval_metric'))
    if kw.get('year'):
        args['node_year'] = torch.arange(n)
    build_link_dataset(str(tmp_path), name, ei, **args)
    ds = load_link_dataset(name, str(tmp_path))
    split = ds.split_edge
    edges = canon(ei.t(), undirected)
    if style == 'edge':
        pos = [canon(split[k]['edge'], undirected) for k in ('train', 'valid', 'test')]
        for k in ('valid', 'test'):
            neg = split[k]['edge_neg']
            assert neg.shape == split[k]['edge'].shape
            assert not canon(neg, undirected) & edges
    else:
        pos = [canon(torch.stack([split[k]['source_node'], split[k]['target_node']], 1),
                     undirected) for k in ('train', 'valid', 'test')]
        for k in ('valid', 'test'):
            s, neg = split[k]['source_node'], split[k]['target_node_neg']
            assert neg.shape == (s.numel(), kw['num_neg'])
            pairs = torch.stack([s.view(-1, 1).expand_as(neg), neg], -1).view(-1, 2)
            assert not bool((pairs[:, 0] == pairs[:, 1]).any())
            assert not canon(pairs, False) & set(map(tuple, ei.t().tolist()))
            if undirected:
                assert not canon(pairs, True) & edges
    # the positives partition the distinct edges; the graph holds the training edges only
    assert pos[0] | pos[1] | pos[2] == edges
    assert sum(map(len, pos)) == len(edges)
    data = ds[0]
    assert canon(data.edge_index.t(), undirected) == pos[0]
    assert data.num_nodes == n
    if kw.get('x'):
        torch.testing.assert_close(data.x, x)
    # ogb's own reader gives the same split
    kwargs = {}
    if name not in ('ogbl-collab', 'ogbl-ddi', 'ogbl-ppa', 'ogbl-citation2'):
        from gdl_graphs.datasets.ogb_utils import meta_info
        kwargs['meta_dict'] = meta_info(name, str(tmp_path))
    theirs = PygLinkPropPredDataset(name, str(tmp_path), **kwargs).get_edge_split()
    for k in split:
        for key in split[k]:
            assert torch.equal(torch.as_tensor(theirs[k][key]), split[k][key])
    ev = evaluator_for(ds)
    assert ev.eval_metric == (kw.get('eval_metric') or
                              {'ogbl-collab': 'hits@50', 'ogbl-ddi': 'hits@20',
                               'ogbl-ppa': 'hits@100', 'ogbl-citation2': 'mrr'}[name])


def test_given_split_and_collab_extras(tmp_path):
    ei, n, x = graph(30, 80)
    ei = torch.unique(torch.stack([ei.min(0)[0], ei.max(0)[0]]), dim=1)
    m = ei.size(1)
    given = {'train': torch.arange(0, m - 10), 'valid': torch.arange(m - 10, m - 5),
             'test': torch.arange(m - 5, m)}
    w = torch.arange(m).float()
    build_link_dataset(str(tmp_path), 'ogbl-collab', ei, x=x, split=given, edge_weight=w,
                       edge_year=torch.arange(m) + 2000)
    split = load_link_dataset('ogbl-collab', str(tmp_path)).split_edge
    lookup = {tuple(p): i for i, p in enumerate(ei.t().tolist())}
    for k, idx in given.items():
        assert canon(split[k]['edge']) == canon(ei[:, idx].t())
        got = [lookup[tuple(e)] for e in split[k]['edge'].tolist()]
        assert torch.equal(split[k]['weight'], w[got])
        assert torch.equal(split[k]['year'], torch.tensor(got) + 2000)


def test_build_errors_leave_nothing(tmp_path):
    ei, n, x = graph()
    root = str(tmp_path)
    cases = [(dict(frac=(0.9, 0.2, 0.1)), 'fractions'),
             (dict(frac=(1.0, 0.0, 0.0)), 'fractions'),
             (dict(edge_index=torch.tensor([[0, 1], [1, 99]]), num_nodes=10), 'refers to node'),
             (dict(name='ogbn-arxiv'), 'not a link'),
             (dict(name='ogbl-ddi', x=x), 'no node features'),
             (dict(name='ogbl-citation2', x=x), 'node_year'),
             (dict(name='ogbl-x', eval_metric='auc'), 'eval_metric')]
    for over, msg in cases:
        kw = dict(name='ogbl-mine', edge_index=ei, x=None)
        kw.update(over)
        with pytest.raises(DatasetError, match=msg) as info:
            build_link_dataset(root, kw.pop('name'), kw.pop('edge_index'), **kw)
        assert '\n' not in str(info.value)
    full = torch.tensor([[0, 0, 1], [1, 2, 2]])
    with pytest.raises(DatasetError, match='complete graph'):
        build_link_dataset(root, 'ogbl-tri', full, frac=(0.34, 0.33, 0.33))
    assert os.listdir(root) == []
    build_link_dataset(root, 'ogbl-mine', ei)
    with pytest.raises(DatasetError, match='exists'):
        build_link_dataset(root, 'ogbl-mine', ei)


def test_load_errors(tmp_path):
    ei, n, x = graph()
    root = str(tmp_path)
    with pytest.raises(DatasetError, match='no dataset folder'):
        load_link_dataset('ogbl-ddi', root)
    path = build_link_dataset(root, 'ogbl-ddi', ei)
    sdir = osp.join(path, 'split', 'target')
    good = torch.load(osp.join(sdir, 'valid.pt'))
    os.remove(osp.join(sdir, 'valid.pt'))
    with pytest.raises(DatasetError, match='lacks split/target/valid.pt'):
        load_link_dataset('ogbl-ddi', root)
    torch.save({'edge': good['edge'], 'edge_neg': good['edge_neg'][:, :1]},
               osp.join(sdir, 'valid.pt'))
    with pytest.raises(DatasetError, match=r'edge_neg is \[\d+, 1\], expected \[M, 2\]'):
        load_link_dataset('ogbl-ddi', root)
    torch.save({'edge': good['edge'] + 1000, 'edge_neg': good['edge_neg']},
               osp.join(sdir, 'valid.pt'))
    with pytest.raises(DatasetError, match='refers to node'):
        load_link_dataset('ogbl-ddi', root)
    torch.save({'edge': good['edge']}, osp.join(sdir, 'valid.pt'))
    with pytest.raises(DatasetError, match="lacks 'edge_neg'"):
        load_link_dataset('ogbl-ddi', root)
    p2 = build_link_dataset(root, 'ogbl-citation2', ei, x=x, node_year=torch.arange(n),
                            num_neg=5)
    f = osp.join(p2, 'split', 'time', 'test.pt')
    d = torch.load(f)
    d['target_node_neg'] = d['target_node_neg'][:-1]
    torch.save(d, f)
    with pytest.raises(DatasetError, match='one row per source node'):
        load_link_dataset('ogbl-citation2', root)
