"""Every public coarsening function on random inputs (shapes, dtypes, extreme magnitudes,
NaN/inf, empty tensors, out-of-range indices): a result or a ValueError naming the problem,
never another exception."""
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

import gdl_graphs.coarsening as C
from gdl_graphs.domains.grid import image_to_graph

FUZZ = settings(max_examples=25, deadline=None)
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
MAGNITUDES = [1.0, 1e20, 1e-18, 1e-40, 3e38]


def result_or_value_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        assert str(e), f'{fn.__name__} raised an empty ValueError'
        return None


@st.composite
def floats(draw, rows=None, cols=None):
    """A float tensor [rows, cols] (sizes drawn when None), any float dtype, any magnitude,
    sometimes a NaN or an infinity, sometimes the wrong rank or an integer dtype."""
    rows = draw(st.integers(0, 12)) if rows is None else rows
    cols = draw(st.integers(0, 4)) if cols is None else cols
    seed = draw(st.integers(0, 2 ** 31 - 1))
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    t = t * draw(st.sampled_from(MAGNITUDES))
    if draw(st.booleans()):  # duplicates
        t = torch.cat([t, t])[:max(rows, 0)] if rows else t
    bad = draw(st.sampled_from(['none'] * 6 + ['nan', 'inf', 'int', 'rank']))
    if bad in ('nan', 'inf') and t.numel():
        t.view(-1)[0] = math.nan if bad == 'nan' else math.inf
    t = t.to(draw(st.sampled_from(FLOATS)))
    if bad == 'int':
        t = t.clamp(-5, 5).long()
    if bad == 'rank':
        t = t.reshape(-1)
    return t


@st.composite
def index(draw, length, high):
    """An index vector of ``length`` entries below ``high`` (sometimes out of range,
    negative, of a float dtype or of the wrong length)."""
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    n = max(length + draw(st.sampled_from([0, 0, 0, 0, -1, 1])), 0)
    i = torch.randint(0, max(high, 1), (n,), generator=g)
    bad = draw(st.sampled_from(['none'] * 6 + ['neg', 'big', 'float', 'int32']))
    if bad == 'neg' and n:
        i[0] = -1
    if bad == 'big' and n:
        i[0] = high + 3
    if bad == 'float':
        i = i.float()
    if bad == 'int32':
        i = i.int()
    return i


@FUZZ
@given(st.data())
def test_neighbour_search(data):
    x = data.draw(floats())
    y = data.draw(floats(cols=x.size(1) if x.dim() == 2 and data.draw(st.booleans()) else None))
    n = x.size(0) if x.dim() else 0
    bx = data.draw(st.none() | index(n, 3))
    by = data.draw(st.none() | index(y.size(0) if y.dim() else 0, 3))
    k = data.draw(st.sampled_from([1, 3, 16, 0, -2, 2.5]))
    r = data.draw(st.sampled_from([0.5, 1e20, 1e-18, 0.0, -1.0, math.inf, math.nan]))
    cosine = data.draw(st.booleans())
    out = result_or_value_error(C.knn, x, y, k, bx, by, cosine=cosine)
    if out is not None:
        assert out.dtype == torch.long and out.dim() == 2 and out.size(0) == 2
    for fn, args in ((C.knn_graph, (x, k, bx)), (C.radius, (x, y, r, bx, by)),
                     (C.radius_graph, (x, r, bx)), (C.fps, (x, bx)),
                     (C.voxel_grid, (x, r, bx)), (C.grid_cluster, (x, r))):
        out = result_or_value_error(fn, *args)
        if out is not None:
            assert out.dtype == torch.long
    feats = data.draw(floats(rows=n))
    result_or_value_error(C.knn_interpolate, feats, x, y, bx, by, k=k if k != 2.5 else 3)
    result_or_value_error(C.fps, x, bx, ratio=data.draw(st.sampled_from([1.0, 0.3, 0.0, 2.0])))


@FUZZ
@given(st.data())
def test_graph_coarsening(data):
    n = data.draw(st.integers(0, 10))
    a, b = data.draw(index(8, n)), data.draw(index(8, n))
    m = min(a.numel(), b.numel())
    ei = torch.stack([a[:m], b[:m]]) if data.draw(st.booleans()) else a
    w = data.draw(st.none() | floats(rows=m, cols=1).map(lambda t: t.reshape(-1)))
    num = data.draw(st.sampled_from([n, n + 1, 0, -1]))
    cluster = data.draw(index(n, max(n, 1)))
    x = data.draw(floats(rows=n))
    pos = data.draw(st.none() | floats(rows=n))
    batch = data.draw(st.none() | index(n, 2))
    result_or_value_error(C.graclus, ei, w, num)
    result_or_value_error(C.normalized_cut, ei, w, num)
    result_or_value_error(C.consecutive, cluster)
    result_or_value_error(C.coarsen, cluster, ei, num, None, pos, batch)
    reduce = data.draw(st.sampled_from(['max', 'mean', 'sum', 'min', 'median']))
    result_or_value_error(C.pool, x, cluster, None, reduce)
    result_or_value_error(C.unpool, x, cluster)
    result_or_value_error(C.global_pool, x, batch, reduce)
    result_or_value_error(C.max_pool_x, cluster, x, batch)
    result_or_value_error(C.avg_pool_x, cluster, x, batch)
    d = Data(x=x, edge_index=ei, pos=pos, batch=batch, num_nodes=n)
    result_or_value_error(C.max_pool, cluster, d)
    result_or_value_error(C.avg_pool, cluster, d)
    result_or_value_error(C.coarsen_data, d, cluster)
    method = data.draw(st.sampled_from(['graclus', 'voxel', 'fps', 'bogus']))
    size = data.draw(st.sampled_from([None, 0.5, 1e-20, -1.0]))
    result_or_value_error(C.build_hierarchy, ei, num, pos, batch, levels=2, method=method,
                          size=size)
    result_or_value_error(C.hierarchy_of, d, levels=data.draw(st.sampled_from([1, 2, 0])),
                          method=method)


@FUZZ
@given(st.data())
def test_lattice_coarsening(data):
    h, w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    img = torch.randn(1, data.draw(st.integers(1, 3)), h, w) * data.draw(
        st.sampled_from(MAGNITUDES[:3]))
    g = result_or_value_error(image_to_graph, img,
                              kernel_size=data.draw(st.sampled_from([1, 3])))
    if g is None:  # a stencil wider than the image
        return
    stride = data.draw(st.sampled_from([1, 2, 3, 0, (2, 1), 9]))
    coarse = result_or_value_error(C.coarsen_lattice, g, stride=stride,
                                   ceil_mode=data.draw(st.booleans()))
    x = data.draw(st.sampled_from(['ok', 'short', 'nan'])).replace('ok', '')
    feats = g.x if not x else (g.x[:-1] if x == 'short' else g.x * math.nan)
    if coarse is not None:
        reduce = data.draw(st.sampled_from(['max', 'mean', 'sum', 'bogus']))
        result_or_value_error(C.lattice_pool, feats, coarse, reduce)
    result_or_value_error(C.lattice_global_pool, feats, g,
                          data.draw(st.sampled_from(['mean', 'max', 'sum', 'bogus'])))


_TORUS = None


def _torus():
    global _TORUS
    if _TORUS is None:
        from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
        _TORUS = mesh_to_graph(*torus_mesh(6, 4))
    return _TORUS


@FUZZ
@given(st.data())
def test_mesh_coarsening(data):
    from gdl_graphs.core.mesh import types_dim
    mesh = _torus()
    ratio = data.draw(st.sampled_from([0.25, 1.0, 1e-9, 0.0, 1.5, math.nan]))
    level = result_or_value_error(C.coarsen_mesh, mesh, ratio=ratio,
                                  random_start=data.draw(st.booleans()))
    if level is None:
        return
    types = data.draw(st.sampled_from([(0,), (0, 1), (1, 2), (-1,), ()]))
    width = types_dim(types) if types and min(types) >= 0 else 3
    rows = mesh.num_nodes + data.draw(st.sampled_from([0, 0, -1]))
    x = data.draw(floats(rows=rows, cols=width))
    pooled = result_or_value_error(C.mesh_pool, x, level, types,
                                   data.draw(st.sampled_from(['mean', 'max', 'bogus'])))
    if pooled is not None:
        result_or_value_error(C.mesh_unpool, pooled, level, types)
