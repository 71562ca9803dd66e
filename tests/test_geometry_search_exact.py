"""knn / radius on every path (CPU k-d tree, the torch grid / brute force that CUDA runs)
against a brute-force reference of the documented definition: squared distances in float64
(after an exact power-of-two scaling), summed in the order of the dimensions, neighbours in
(distance, index) order. Random sizes, k, batches, duplicates, ties and the float32
magnitudes whose squared distances overflow (1e20) or underflow (1e-18)."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdl_graphs.coarsening import knn, knn_graph, radius, radius_graph
from gdl_graphs.domains.pointcloud import to_graph
from gdl_graphs.geometry import search as nb

# the CPU k-d tree (radius: the dual-tree pass of all pairs, or the k-bounded queries) and the
# torch grid / brute force that CUDA runs
METHODS = ['kdtree', 'kdtree-bounded', 'torch']


def _sq_table(x, y):
    """[M, N] float64 squared distances, exactly as defined (power-of-two scaled)."""
    x64, y64 = x.double(), y.double()
    m = max(float(x64.abs().max()) if len(x) else 0.0, float(y64.abs().max()) if len(y) else 0.0)
    s = 2.0 ** -math.floor(math.log2(m)) if m > 0 else 1.0
    x64, y64 = x64 * s, y64 * s
    d = torch.zeros(len(y), len(x), dtype=torch.float64)
    for j in range(x.size(1)):
        d += (y64[:, j:j + 1] - x64[:, j].unsqueeze(0)) ** 2
    return d, s


def reference(x, y, k, bx=None, by=None, r=None, self_excl=False):
    bx = torch.zeros(len(x), dtype=torch.long) if bx is None else bx
    by = torch.zeros(len(y), dtype=torch.long) if by is None else by
    d, s = _sq_table(x, y)
    ok = by.unsqueeze(1) == bx.unsqueeze(0)
    if self_excl:
        ok &= ~torch.eye(len(y), len(x), dtype=torch.bool)
    if r is not None:
        rs = r * s
        ok &= d <= rs * rs
    d = d.masked_fill(~ok, math.inf)
    order = torch.argsort(d, dim=1, stable=True)[:, :k]  # stable: ties by the smaller index
    keep = torch.isfinite(d.gather(1, order))
    rows = torch.arange(len(y)).unsqueeze(1).expand_as(order)
    return torch.stack([rows[keep], order[keep]])


def use(monkeypatch, method):
    monkeypatch.setattr(nb, '_CPU_METHOD', method.split('-')[0])
    monkeypatch.setattr(nb, '_PAIRS_MEAN', -math.inf if 'bounded' in method else math.inf)


@pytest.fixture(params=METHODS)
def method(request, monkeypatch):
    use(monkeypatch, request.param)
    return request.param


# ------------------------------------------------------------------------- distributions
CLOUDS = {  # uniform, Gaussian, unit sphere (a surface), a mixture of tight clusters
    'uniform': lambda n, g: torch.rand(n, 3, generator=g),
    'gaussian': lambda n, g: torch.randn(n, 3, generator=g),
    'sphere': lambda n, g: torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1),
    'clusters': lambda n, g: ((torch.randn(8, 3, generator=g) * 10)[
        torch.randint(0, 8, (n,), generator=g)] + 1e-3 * torch.randn(n, 3, generator=g)),
}


@pytest.mark.parametrize('kind', list(CLOUDS))
def test_distributions_equal_brute_force(kind, method):
    g = torch.Generator().manual_seed(len(kind))
    x = CLOUDS[kind](600, g)
    ref = reference(x, x, 16, self_excl=True)
    assert torch.equal(knn_graph(x, 16), ref.flip(0))
    # a radius with about 16 neighbours per point on average
    d, s = _sq_table(x, x)
    r = float(d.kthvalue(17, dim=1).values.sqrt().median()) / s
    assert torch.equal(radius_graph(x, r), reference(x, x, 32, r=r, self_excl=True).flip(0))


# ------------------------------------------------------------------------- hypothesis
@st.composite
def clouds(draw):
    n = draw(st.integers(0, 40))
    m = draw(st.integers(0, 25))
    dim = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    scale = draw(st.sampled_from([1.0, 1e20, 1e-18] + ([1e300, 1e-300]
                                                        if dtype == torch.float64 else [])))
    ints = draw(st.booleans())  # small integers: many ties and duplicates
    seed = draw(st.integers(0, 2 ** 31 - 1))
    batches = draw(st.integers(1, 3))
    g = torch.Generator().manual_seed(seed)
    if ints:
        x = torch.randint(-2, 3, (n, dim), generator=g).to(torch.float64)
        y = torch.randint(-2, 3, (m, dim), generator=g).to(torch.float64)
    else:
        x = torch.randn(n, dim, generator=g, dtype=torch.float64)
        y = torch.randn(m, dim, generator=g, dtype=torch.float64)
    x, y = (x * scale).to(dtype), (y * scale).to(dtype)
    bx = torch.randint(0, batches, (n,), generator=g)
    by = torch.randint(0, batches, (m,), generator=g)
    k = draw(st.integers(1, 8))
    return x, y, bx, by, k, scale


SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(clouds())
def test_knn_hypothesis(method, case):
    x, y, bx, by, k, _ = case
    assert torch.equal(knn(x, y, k, bx, by), reference(x, y, k, bx, by))
    for loop in (False, True):
        assert torch.equal(knn_graph(x, k, bx, loop=loop),
                           reference(x, x, k, bx, bx, self_excl=not loop).flip(0))
    assert torch.equal(knn_graph(x, k, bx, flow='target_to_source'),
                       reference(x, x, k, bx, bx, self_excl=True))


@SETTINGS
@given(clouds(), st.floats(0.1, 3.0))
def test_radius_hypothesis(method, case, rel):
    x, y, bx, by, k, scale = case
    r = rel * scale
    if isinstance(r, float) and not math.isfinite(r):
        return
    assert torch.equal(radius(x, y, r, bx, by, k), reference(x, y, k, bx, by, r=r))
    assert torch.equal(radius_graph(x, r, bx, max_num_neighbors=k),
                       reference(x, x, k, bx, bx, r=r, self_excl=True).flip(0))


def test_extreme_float32_magnitudes():
    """Points at 1e20 (squares overflow float32) and 1e-18 (squares underflow) get their
    neighbours: no empty graph, no ZeroDivisionError."""
    for s in (1e20, 1e-18):
        x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0)) * s
        ei = knn_graph(x, k=3)
        assert ei.size(1) == 30
        assert torch.equal(ei, reference(x, x, 3, self_excl=True).flip(0))
        d, sc = _sq_table(x, x)
        r = float(d.max().sqrt()) / sc  # covers every pair
        assert radius_graph(x, r).size(1) == 90
        assert to_graph(x, k=3).edge_index.size(1) == 30


def test_paths_agree_on_larger_batched_cloud(monkeypatch):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3000, 3, generator=g)
    b = torch.randint(0, 4, (3000,), generator=g)
    out = {}
    for m in METHODS:
        use(monkeypatch, m)
        out[m] = (knn_graph(x, 12, b), radius_graph(x, 0.3, b, max_num_neighbors=20),
                  radius(x, x[::3], 0.3, b, b[::3], max_num_neighbors=20))
    for m in METHODS[:-1]:
        assert all(torch.equal(a, b) for a, b in zip(out[m], out['torch']))


@pytest.mark.parametrize('scale', [1e20, 1e-18])
def test_cli_pointcloud_extreme_magnitudes(tmp_path, scale):
    """The CLI's --as pointcloud (through gdl_graphs.convert) on the same magnitudes."""
    import numpy as np

    from gdl_graphs.cli import main
    from gdl_graphs.io import load_data
    pos = np.random.default_rng(0).standard_normal((10, 3)) * scale
    np.savetxt(tmp_path / 'p.xyz', pos, fmt='%.17g')
    code = main(['convert', str(tmp_path / 'p.xyz'), '-o', str(tmp_path / 'p.pt'), '--as',
                 'pointcloud', '--k', '3'])
    assert code == 0
    d = load_data(tmp_path / 'p.pt')
    assert torch.equal(d.edge_index, reference(d.pos, d.pos, 3, self_excl=True).flip(0))
    assert d.edge_index.size(1) == 30


@pytest.mark.parametrize('method', ['kdtree', 'torch'])
def test_radius_far_below_the_data_scale_keeps_coincident_points(method, monkeypatch):
    # r * r underflows to 0 in float64: coincident points are still within r
    monkeypatch.setattr(nb, "_CPU_METHOD", method)
    x = torch.zeros(2, 1, dtype=torch.float64)
    assert torch.equal(radius_graph(x, 1e-300, max_num_neighbors=1),
                       torch.tensor([[1, 0], [0, 1]]))
    assert torch.equal(radius(x[:1], x[:1], 1e-300), torch.tensor([[0], [0]]))
    far = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    assert radius_graph(far, 1e-300).size(1) == 0


def test_same_graphs_as_torch_cluster_on_distinct_points():
    """torch-cluster, where it is installed, gives the same edge sets on distinct points (it
    orders a row's neighbours its own way, and asks k + 1 and drops self-loops)."""
    torch_cluster = pytest.importorskip('torch_cluster')
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2000, 3, generator=g, dtype=torch.float64)
    b = torch.randint(0, 3, (2000,), generator=g).sort().values

    def edges(ei):
        return sorted(map(tuple, ei.t().tolist()))

    assert edges(knn_graph(x, 12, b)) == edges(torch_cluster.knn_graph(x, 12, b))
    d, _ = _sq_table(x, x)
    vals = d[d > 0].unique()                        # sorted
    i = 15_000 + int(vals[15_001:16_001].sub(vals[15_000:16_000]).argmax())
    r2 = float(vals[i] + vals[i + 1]) / 2          # a radius in the widest gap there
    assert ((d - r2).abs() < 1e-9 * r2).sum() == 0  # no pair on the rim
    r = math.sqrt(r2)
    assert edges(radius_graph(x, r, b, max_num_neighbors=2000)) == \
        edges(torch_cluster.radius_graph(x, r, b, max_num_neighbors=2000))
