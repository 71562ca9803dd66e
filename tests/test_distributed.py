"""Partitioned graphs on torch.distributed: the partition folder round-trips the graph, the
partitioned sampler draws exactly the single-process subgraphs, features / inference / the PyG
stores agree with the whole graph, a lost rank is one clear error, and the OGB script trains
under torchrun to the single-process accuracy. Two CPU ranks on loopback (gloo)."""
import datetime
import json
import os
import pathlib
import time

import pytest
import torch
from _ranks import free_port, run_ranks

pymetis = pytest.importorskip('pymetis')

from gdl_graphs.distributed import (  # noqa: E402
    DistFeatureStore,
    DistGraph,
    DistGraphStore,
    DistNeighborSampler,
    DistributedError,
    PartitionError,
    check_folder,
    dist_inference,
    load_part,
    partition_graph,
)
from gdl_graphs.distributed.planted import planted_partition  # noqa: E402
from gdl_graphs.loader import NeighborLoader, NeighborSampler  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / 'scripts'


def planted(n, feat=16, noise=1.0, seed=0):
    return planted_partition(n, num_features=feat, noise=noise, seed=seed)


def split_of(n, seed=0):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = int(0.6 * n), int(0.8 * n)
    return {'train': perm[:a], 'valid': perm[a:b], 'test': perm[b:]}


N = 600


@pytest.fixture(scope='module')
def parts(tmp_path_factory):
    base = tmp_path_factory.mktemp('parts')
    ei, x, y = planted(N)
    # a few duplicate edges and a self-loop: the CSR order must still match the sampler's
    ei = torch.cat([ei, ei[:, :5], torch.tensor([[3], [3]])], 1)
    out = {}
    for p in (1, 2):
        out[p] = partition_graph(str(base / f'p{p}'), 'ogbn-test', ei, x, y, split_of(N), p,
                                 progress=False)
    return ei, x, y, out


# ----------------------------------------------------------------------------- the folder

def test_partition_round_trip_and_balance(parts):
    ei, x, y, folders = parts
    meta = check_folder(folders[2], 'ogbn-test', 2)
    split = split_of(N)
    seen = torch.zeros(N, dtype=torch.long)
    edges = []
    for r in range(2):
        p = load_part(folders[2], r, 2)
        seen[p.nodes] += 1
        assert torch.equal(p.x, x[p.nodes]) and torch.equal(p.y, y[p.nodes])
        assert bool((p.nodes[1:] > p.nodes[:-1]).all())
        dst = torch.repeat_interleave(p.nodes, p.rowptr[1:] - p.rowptr[:-1])
        # every edge of the part is the edge_index column its eid names
        assert torch.equal(ei[0, p.eid], p.col) and torch.equal(ei[1, p.eid], dst)
        edges.append(p.eid)
        for k in ('train', 'valid', 'test'):
            mine = torch.isin(split[k], p.nodes)
            assert torch.equal(torch.sort(p.nodes[p.split[k]]).values,
                               torch.sort(split[k][mine]).values)
    assert bool((seen == 1).all())  # every node in exactly one part
    assert torch.equal(torch.sort(torch.cat(edges)).values, torch.arange(ei.size(1)))
    sizes = [q['nodes'] for q in meta['parts']]
    trains = [q['train'] for q in meta['parts']]
    assert max(sizes) <= 0.55 * N and max(trains) <= 0.55 * sum(trains)
    # METIS cuts far fewer edges than a random halving (which cuts about half)
    assert meta['edge_cut'] < 0.35 * ei.size(1)


def test_partition_refuses_and_leaves_nothing(parts, tmp_path, monkeypatch):
    ei, x, y, folders = parts
    with pytest.raises(PartitionError, match='exists; choose another output or pass '
                                             '--overwrite'):
        partition_graph(folders[2], 'ogbn-test', ei, x, y, split_of(N), 2, progress=False)
    other = tmp_path / 'notes'
    other.mkdir()
    (other / 'thesis.txt').write_text('mine')
    with pytest.raises(PartitionError, match=r'a folder that holds other files \(thesis.txt\)'):
        partition_graph(str(other), 'ogbn-test', ei, x, y, split_of(N), 2, overwrite=True,
                        progress=False)
    assert (other / 'thesis.txt').read_text() == 'mine'
    with pytest.raises(PartitionError, match='exceeds the'):
        partition_graph(str(tmp_path / 'x'), 'ogbn-test', ei, x[:1], y[:1], split_of(1), 2,
                        progress=False)
    # a failure while writing part 1 leaves neither the folder nor a temporary one
    import gdl_graphs.distributed.partition as P
    real, calls = P._save, []

    def failing(path, arr):
        calls.append(path)
        if 'part_1' in str(path):
            raise OSError(28, 'No space left on device')
        return real(path, arr)
    monkeypatch.setattr(P, '_save', failing)
    with pytest.raises(OSError):
        partition_graph(str(tmp_path / 'full'), 'ogbn-test', ei, x, y, split_of(N), 2,
                        progress=False)
    assert calls and sorted(os.listdir(tmp_path)) == ['notes']


def test_folder_checks_name_the_problem(parts, tmp_path):
    import shutil
    _, _, _, folders = parts
    with pytest.raises(PartitionError, match='partitions of ogbn-test, not ogbn-products'):
        check_folder(folders[2], 'ogbn-products', 2)
    with pytest.raises(PartitionError, match='holds 2 parts but 3 rank'):
        check_folder(folders[2], None, 3)
    bad = tmp_path / 'bad'
    shutil.copytree(folders[2], bad)
    os.remove(bad / 'part_1' / 'col.npy')
    with pytest.raises(PartitionError, match='lacks part_1/col.npy'):
        load_part(str(bad), 1, 2)
    load_part(str(bad), 0, 2)  # a machine may hold only its own parts
    with pytest.raises(PartitionError, match='lacks part_1/col.npy'):
        check_folder(str(bad), None, 2)
    shutil.rmtree(bad)
    shutil.copytree(folders[2], bad)
    with open(bad / 'part_0' / 'x.npy', 'r+b') as f:
        f.truncate(100)
    with pytest.raises(PartitionError, match='damaged'):
        load_part(str(bad), 0, 2)
    with pytest.raises(PartitionError, match='no meta.json'):
        check_folder(str(tmp_path), None, None)


# ----------------------------------------------------------------------------- one part, no group

@pytest.mark.parametrize('replace', [False, True])
def test_one_part_sampler_equals_single_process(parts, replace):
    ei, x, _, folders = parts
    graph = DistGraph(load_part(folders[1], 0, 1))
    dist_s, ref = DistNeighborSampler(graph, replace), NeighborSampler(ei, N, replace=replace)
    for trial, fanout in enumerate([[4, 3], [-1, 2], [0, 5], [6, 4, 3]]):
        seeds = torch.randperm(N, generator=torch.Generator().manual_seed(trial))[:37]
        a = dist_s.sample(seeds, fanout, torch.Generator().manual_seed(trial))
        b = ref.sample(seeds, fanout, torch.Generator().manual_seed(trial))
        for key in ('node', 'row', 'col', 'edge'):
            assert torch.equal(getattr(a, key), getattr(b, key)), key
        assert (a.num_sampled_nodes, a.num_sampled_edges) == \
            (b.num_sampled_nodes, b.num_sampled_edges)
    with pytest.raises(ValueError, match='twice'):
        dist_s.sample(torch.tensor([1, 1]), [2])
    with pytest.raises(ValueError, match='must lie in'):
        dist_s.sample(torch.tensor([N]), [2])


def _reference_inference(model, ei, x):
    from torch_geometric.data import Data
    loader = NeighborLoader(Data(x=x, edge_index=ei, num_nodes=N), [-1], batch_size=128)
    return model.inference(x, loader)


# ----------------------------------------------------------------------------- two ranks

def _two_ranks(rank, folder, init, result_dir):
    torch.distributed.init_process_group('gloo', init_method=init, rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=20))
    from gdl_graphs.models.ogb import NodeGNN
    ei, x, y = planted(N)
    ei = torch.cat([ei, ei[:, :5], torch.tensor([[3], [3]])], 1)
    graph = DistGraph(load_part(folder, rank, 2))
    out = {}
    # 1. the sampler: seeds anywhere (own and remote nodes), every fan-out kind
    for replace in (False, True):
        sampler, ref = DistNeighborSampler(graph, replace), NeighborSampler(ei, N, replace=replace)
        for trial, fanout in enumerate([[5, 3], [-1, 2], [8, 4, 2]]):
            g = torch.Generator().manual_seed(10 * trial + rank)
            seeds = torch.randperm(N, generator=g)[:25 + 9 * rank]  # ranks differ in size
            a = sampler.sample(seeds, fanout, torch.Generator().manual_seed(trial))
            b = ref.sample(seeds, fanout, torch.Generator().manual_seed(trial))
            for key in ('node', 'row', 'col', 'edge'):
                assert torch.equal(getattr(a, key), getattr(b, key)), (rank, replace, key)
            assert a.num_sampled_nodes == b.num_sampled_nodes
            assert torch.equal(graph.features(a.node), x[a.node])
    # 2. an empty request on one rank still pairs with the other's
    ids = torch.arange(0, N, 7) if rank == 0 else torch.zeros(0, dtype=torch.long)
    assert torch.equal(graph.features(ids), x[ids])
    # 3. the cache serves hot remote rows: same rows, fewer bytes
    probe = torch.arange(N)
    before = graph.bytes_received
    graph.features(probe)
    uncached = graph.bytes_received - before
    out['cached'] = graph.build_cache(40)
    before = graph.bytes_received
    assert torch.equal(graph.features(probe), x)
    out['bytes'] = (uncached, graph.bytes_received - before)
    out['feature_rows'] = graph.feature_rows
    # 4. PyG's interfaces
    fs, gs = DistFeatureStore(graph), DistGraphStore(graph)
    pick = torch.randperm(N, generator=torch.Generator().manual_seed(rank))[:50]
    assert torch.equal(fs.get_tensor(group_name=None, attr_name='x', index=pick), x[pick])
    assert torch.equal(fs.get_tensor(group_name=None, attr_name='y', index=pick),
                       y[pick])
    assert fs.get_tensor_size(group_name=None, attr_name='x') == (N, x.size(1))
    src, dst = gs.get_edge_index(('node', 'to', 'node'), 'coo')
    mine = torch.isin(ei[1], graph.part.nodes)
    assert torch.equal(torch.sort(src * N + dst).values,
                       torch.sort(ei[0, mine] * N + ei[1, mine]).values)
    # 5. layer-wise inference with a halo exchange = single-process inference
    torch.manual_seed(0)
    model = NodeGNN(x.size(1), 8, 4, 2, 0.5, 'sage', batch_norm=False).eval()
    got = dist_inference(model, graph, batch_size=64)
    want = _reference_inference(model, ei, x)[graph.part.nodes]
    out['inference_err'] = float((got - want).abs().max())
    # 6. a rank that dies mid-epoch: the other gets one clear error, quickly
    torch.distributed.barrier()
    if rank == 1:
        os._exit(0)
    t = time.perf_counter()
    try:
        graph.features(torch.arange(N))
        out['death'] = None
    except DistributedError as exc:
        out['death'] = (str(exc), time.perf_counter() - t)
    torch.save(out, os.path.join(result_dir, f'rank{rank}.pt'))


def test_two_ranks_sampler_features_cache_stores_inference_death(parts, tmp_path):
    _, x, _, folders = parts
    run_ranks(_two_ranks, (folders[2], f'file://{tmp_path}/store', str(tmp_path)))
    out = torch.load(tmp_path / 'rank0.pt')
    assert out['cached'] == 40 and out['feature_rows'] <= 0.55 * N + 40
    uncached, cached = out['bytes']
    assert cached < uncached
    assert out['inference_err'] < 1e-5
    msg, seconds = out['death']
    assert 'rank 0: the feature request failed' in msg and '--resume' in msg
    assert len(msg.splitlines()) == 1 and seconds < 20


# ----------------------------------------------------------------------------- the scripts

def _script(name, argv):
    from _scripts import run
    return run(name, argv)


NODES = 1500
TRAIN = ['--epochs', '4', '--runs', '1', '--quiet', '--device', 'cpu', '--hidden-channels', '32',
         '--num-layers', '2', '--num-neighbors', '6,4', '--batch-size', '128', '--lr', '0.01',
         '--eval-batch-size', '512']


@pytest.fixture(scope='module')
def products(tmp_path_factory):
    pytest.importorskip('ogb')
    from gdl_graphs.datasets import build_node_dataset
    root = tmp_path_factory.mktemp('products')
    ei, x, y = planted(NODES, feat=100, noise=1.5, seed=1)
    build_node_dataset(str(root), 'ogbn-products', ei, x, y)
    for p in (1, 2):
        assert _script('partition', ['--root', str(root), '--num-parts', str(p), '--out',
                                     str(root / f'parts{p}'), '--quiet']) == 0
    return root


def _result(folder):
    return json.loads((folder / 'ogbn_products_ogbn-products_sage.json').read_text())


def _script_rank(rank, world, port, argv, rc_dir):
    """One rank of the script, started as torchrun starts it (env:// on loopback)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port), OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = _script('ogbn_products', argv)
    pathlib.Path(rc_dir, f'rc{rank}').write_text(str(rc))
    pathlib.Path(rc_dir, f'err{rank}').write_text(err.getvalue())


def test_two_ranks_reach_single_process_accuracy(products, tmp_path):
    root = products
    assert _script('ogbn_products', ['--root', str(root), '--out-dir', str(tmp_path / 'one')]
                   + TRAIN) == 0
    single = _result(tmp_path / 'one')
    # the same global batch (2 x 64 = 128) as the single process: the same number of steps
    argv = ['--root', str(root), '--partitions', str(root / 'parts2'), '--out-dir',
            str(tmp_path / 'two'), '--dist-timeout', '60'] + TRAIN + ['--batch-size', '64']
    run_ranks(_script_rank, (2, free_port(), argv, str(tmp_path)), timeout=240)
    assert [(tmp_path / f'rc{r}').read_text() for r in range(2)] == ['0', '0']
    two = _result(tmp_path / 'two')
    assert two['world_size'] == 2 and [r['rank'] for r in two['ranks']] == [0, 1]
    rows = [r['feature_rows'] for r in two['ranks']]
    assert sum(rows) == NODES and max(rows) <= 0.65 * NODES
    for r in two['ranks']:
        assert r['edges'] > 0 and r['peak_memory_bytes'] > 0
        assert r['bytes_sent'] > 0 and r['bytes_received'] > 0
    assert sum(r['bytes_sent'] for r in two['ranks']) == \
        sum(r['bytes_received'] for r in two['ranks'])
    assert single['test_mean'] > 0.6  # the task is learnable, not a coin flip
    assert abs(two['test_mean'] - single['test_mean']) <= 0.03, (two['test_mean'],
                                                                 single['test_mean'])


def test_partitioned_resume_and_bad_input(products, tmp_path, capsys):
    root = products
    base = ['--root', str(root), '--partitions', str(root / 'parts1')] + TRAIN
    full, part = tmp_path / 'full', tmp_path / 'part'
    assert _script('ogbn_products', base + ['--out-dir', str(full), '--epochs', '2']) == 0
    assert _script('ogbn_products', base + ['--out-dir', str(part), '--epochs', '2',
                                            '--stop-after', '1']) == 3
    assert _script('ogbn_products', base + ['--out-dir', str(part), '--epochs', '2',
                                            '--resume']) == 0
    a, b = _result(full), _result(part)
    assert a['runs'][0]['curve'] == b['runs'][0]['curve']
    assert a['world_size'] == 1 and a['ranks'][0]['feature_rows'] == NODES
    capsys.readouterr()

    def one_line(argv, match):
        out = tmp_path / 'bad'
        assert _script('ogbn_products', argv + ['--out-dir', str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and match in err, err
        assert not out.exists()
    one_line(['--root', str(root), '--partitions', str(root / 'parts2')] + TRAIN,
             'holds 2 parts but 1 rank(s) started')
    one_line(['--root', str(root), '--dataset', 'ogbn-arxiv', '--partitions',
              str(root / 'parts1')] + TRAIN, 'partitions of ogbn-products, not ogbn-arxiv')
    one_line(['--root', str(root), '--partitions', str(tmp_path)] + TRAIN, 'no meta.json')
    one_line(base + ['--cache-size', '-1'], '--cache-size must be >= 0')
    from gdl_graphs.datasets import build_node_dataset
    ei, x, y = planted(NODES + 10, feat=100, seed=2)  # another graph under the same name
    build_node_dataset(str(tmp_path / 'other'), 'ogbn-products', ei, x, y)
    one_line(['--root', str(tmp_path / 'other'), '--partitions', str(root / 'parts1')] + TRAIN,
             'was cut from data with fingerprint')
    assert _script('partition', ['--root', str(root), '--num-parts', '0', '--out',
                                 str(tmp_path / 'p0')]) == 2
    assert 'num-parts must be >= 1' in capsys.readouterr().err


def test_two_ranks_missing_part_one_error_on_every_rank(products, tmp_path):
    import shutil

    bad = tmp_path / 'parts2'
    shutil.copytree(products / 'parts2', bad)
    os.remove(bad / 'part_1' / 'x.npy')
    argv = ['--root', str(products), '--partitions', str(bad), '--out-dir',
            str(tmp_path / 'out'), '--dist-timeout', '30'] + TRAIN
    run_ranks(_script_rank, (2, free_port(), argv, str(tmp_path)), timeout=240)
    for r in range(2):  # rank 0 has its part, yet stops with rank 1's error
        assert (tmp_path / f'rc{r}').read_text() == '2'
        err = (tmp_path / f'err{r}').read_text().strip()
        assert len(err.splitlines()) == 1 and 'rank 1:' in err and 'lacks part_1/x.npy' in err
    assert not (tmp_path / 'out').exists()
