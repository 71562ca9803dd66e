"""Every public converter of ``gdl_graphs.domains`` (except ``mesh_to_graph``, tested with its
reader) on random inputs: shapes (empty ones included), dtypes, extreme magnitudes, NaN and
infinities, odd option values. Each call returns a result that holds together (indices in range,
one feature row per node) or raises a ValueError naming the problem; never another exception."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from gdl_graphs import domains as D
from gdl_graphs.domains import group as G

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8,
          torch.int64, torch.bool]
MAGNITUDES = [0.0, 1e-300, 1e-30, 1.0, 1e4, 1e30, 1e300]


@st.composite
def tensors(draw, min_rank=0, max_rank=4, max_side=5, dtypes=DTYPES, specials=True):
    rank = draw(st.integers(min_rank, max_rank))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(rank))
    dtype = draw(st.sampled_from(dtypes))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    values = torch.randn(shape, generator=g, dtype=torch.float64) * draw(st.sampled_from(
        MAGNITUDES))
    if specials and values.numel() and draw(st.booleans()):
        k = draw(st.integers(0, values.numel() - 1))
        values.view(-1)[k] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    if dtype == torch.bool:
        return values > 0
    if not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        return values.nan_to_num(0).clamp(info.min, info.max).to(dtype)
    return values.to(dtype)


ints = st.one_of(st.integers(-2, 7), st.tuples(st.integers(-1, 5), st.integers(-1, 5)),
                 st.sampled_from([0.5, True, 'abc', (3, 3, 3), (), None]))


def value_error_or(fn, *args, **kwargs):
    """Call ``fn``: its result, or ``None`` when it refused the input with a ValueError."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        assert str(exc), 'a ValueError must say what is wrong'
        return None


def check_graph(data, num_nodes=None):
    assert isinstance(data, Data)
    n = data.num_nodes
    if num_nodes is not None:
        assert n == num_nodes
    ei = data.edge_index
    assert ei.dtype == torch.long and ei.dim() == 2 and ei.size(0) == 2
    if ei.numel():
        assert int(ei.min()) >= 0 and int(ei.max()) < n
    if data.get('x') is not None:
        assert data.x.size(0) == n
    if data.get('edge_type') is not None:
        assert data.edge_type.numel() == ei.size(1)
    if data.get('batch') is not None:
        assert data.batch.numel() == n


@SETTINGS
@given(images=tensors(min_rank=1, max_rank=5, max_side=5), kernel=ints, dilation=ints,
       padding=st.sampled_from(['zeros', 'circular', 'reflect', 3]),
       dim=st.sampled_from([None, 1, 2, 3, 0, 4]), use_mask=st.booleans())
def test_image_to_graph(images, kernel, dilation, padding, dim, use_mask):
    mask = None
    if use_mask and images.dim() >= 2:
        mask = torch.rand(images.shape[-2:]) > 0.3
    out = value_error_or(D.image_to_graph, images, kernel, dilation, padding, mask, dim)
    if out is None:
        return
    check_graph(out)
    assert out.x.dtype == images.dtype
    if mask is None:
        assert out.num_nodes * out.x.size(1) == images.numel()
        back = value_error_or(D.graph_to_image, out.x, out)
        assert back is not None
        assert torch.equal(back.reshape(-1), images.reshape(-1)) or back.is_floating_point()
    tagged = D.tag_lattice(out.clone())
    assert torch.equal(tagged.edge_index, out.edge_index)


@SETTINGS
@given(x=tensors(min_rank=0, max_rank=3), image=tensors(min_rank=3, max_rank=3, max_side=4,
                                                        dtypes=[torch.float32], specials=False))
def test_graph_to_image_on_wrong_features(x, image):
    data = value_error_or(D.image_to_graph, image, 3)
    if data is None:
        return
    out = value_error_or(D.graph_to_image, x, data)
    if out is not None:
        assert out.shape[-2:] == image.shape[-2:]


@SETTINGS
@given(features=tensors(min_rank=0, max_rank=3), as_list=st.booleans(),
       batch=st.one_of(st.none(), tensors(min_rank=1, max_rank=2,
                                          dtypes=[torch.int64, torch.float32, torch.bool])),
       pos=st.one_of(st.none(), tensors(min_rank=1, max_rank=2)))
def test_set_to_graph(features, as_list, batch, pos):
    if as_list and features.dim() >= 1:
        features = list(features.unbind(0))
    out = value_error_or(D.set_to_graph, features, batch, pos)
    if out is not None:
        check_graph(out)
        assert out.edge_index.size(1) == 0


@SETTINGS
@given(x=tensors(min_rank=0, max_rank=3), as_list=st.booleans(),
       lengths=st.one_of(st.none(), st.lists(st.integers(-1, 4), max_size=4),
                         tensors(min_rank=0, max_rank=2, dtypes=[torch.int64, torch.float32])))
def test_sequence_to_graph(x, as_list, lengths):
    if as_list and x.dim() >= 1:
        x = list(x.unbind(0))
    out = value_error_or(D.sequence_to_graph, x, lengths)
    if out is None:
        return
    check_graph(out)
    ptr = out.get('ptr')
    if ptr is not None:
        back = value_error_or(D.graph_to_sequence, out.x, ptr)
        assert back is not None


@SETTINGS
@given(time=st.one_of(st.integers(-3, 50), tensors(min_rank=0, max_rank=2)),
       dim=st.one_of(st.integers(-2, 9), st.sampled_from([0.5, None, 'a'])))
def test_sinusoidal_positions(time, dim):
    out = value_error_or(D.sinusoidal_positions, time, dim)
    if out is not None:
        assert out.size(-1) == dim and bool(torch.isfinite(out).all())


@SETTINGS
@given(batch=st.one_of(st.none(), tensors(min_rank=0, max_rank=2,
                                          dtypes=[torch.int64, torch.float32, torch.bool])),
       num_nodes=st.one_of(st.none(), st.integers(-2, 12), st.sampled_from([2.5, 'x'])),
       loops=st.booleans(), sort=st.booleans())
def test_complete_graph(batch, num_nodes, loops, sort):
    if sort and batch is not None and batch.dtype == torch.int64 and batch.dim() == 1:
        batch = batch.abs().sort().values
    ei = value_error_or(D.complete_graph, batch, num_nodes, loops)
    if ei is None:
        return
    n = batch.numel() if batch is not None else num_nodes
    assert ei.dtype == torch.long and ei.size(0) == 2
    if ei.numel():
        assert int(ei.min()) >= 0 and int(ei.max()) < n
    if batch is None:
        assert ei.size(1) == n * n - (0 if loops else n)


@SETTINGS
@given(side=st.integers(1, 6), height=st.integers(1, 6), batch=st.integers(1, 2),
       kernel=st.sampled_from([1, 3, 5]), group=st.sampled_from(['C4', 'D4', 'C2', 7]),
       x=tensors(min_rank=0, max_rank=3, max_side=8),
       reduce=st.sampled_from(['max', 'mean', 'sum', 'min', 'median']))
def test_lift_lattice_and_group_pool(side, height, batch, kernel, group, x, reduce):
    img = torch.randn(batch, 2, height, side) if batch > 1 else torch.randn(2, height, side)
    data = value_error_or(D.image_to_graph, img, kernel)
    if data is None:
        return
    lifted = value_error_or(D.lift_lattice, data, group)
    if lifted is not None:
        check_graph(lifted)
        assert lifted.num_nodes == data.num_nodes * (4 if group == 'C4' else 8)
        assert int(lifted.lift_edge_index[0].max()) < data.num_nodes
    out = value_error_or(D.group_pool, x, group, reduce)
    if out is not None:
        assert out.size(0) * (4 if group == 'C4' else 8) == x.size(0)
        assert out.size(1) == x.size(1)
    cl = value_error_or(G.lift_cluster, torch.arange(3), group)
    if cl is not None:
        assert cl.numel() == 3 * (4 if group == 'C4' else 8)


@SETTINGS
@given(weight=tensors(min_rank=0, max_rank=5, max_side=3, dtypes=[torch.float32,
                                                                  torch.float64]),
       group=st.sampled_from(['C4', 'D4', 'X']), dilation=st.integers(-1, 2))
def test_filter_banks(weight, group, dilation):
    for fn in (G.lifting_filter_bank, G.group_filter_bank):
        out = value_error_or(fn, weight, group, dilation)
        if out is not None:
            assert out.dtype == weight.dtype and out.dim() == 4


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(subdivisions=st.one_of(st.integers(-2, 3), st.sampled_from([1.5, True, '1', None])),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.float16, torch.int64]))
def test_icosphere_and_rotations(subdivisions, dtype):
    data = value_error_or(D.icosphere, subdivisions, dtype)
    if data is not None:
        check_graph(data)
        assert bool(torch.isfinite(data.pos).all())
    if dtype == torch.float64:
        out = value_error_or(D.icosahedral_rotations, subdivisions)
        if out is not None:
            rots, perms = out
            assert rots.shape == (60, 3, 3) and perms.size(0) == 60


@SETTINGS
@given(pos=tensors(min_rank=1, max_rank=3, max_side=6),
       k=st.one_of(st.none(), st.integers(-1, 8)),
       r=st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 1e30, math.inf, math.nan])),
       loop=st.booleans())
def test_pointcloud_to_graph(pos, k, r, loop):
    out = value_error_or(D.pointcloud_to_graph, pos, k=k, r=r, loop=loop)
    if out is not None:
        check_graph(out, pos.size(0))


@pytest.mark.parametrize('transform, data', [
    (lambda: D.ImageToGraph(3), Data(x=torch.randn(5, 5))),
    (lambda: D.ToSet(), Data(x=torch.randn(0, 3))),
    (lambda: D.PathGraph(), Data(x=torch.randn(0, 3))),
    (lambda: D.CompleteGraph(), Data(x=torch.randn(0, 3))),
    (lambda: D.AddSinusoidalPE(4), Data(x=torch.randn(0, 3))),
])
def test_transforms_on_odd_data(transform, data):
    out = value_error_or(transform(), data)
    if out is not None:
        assert isinstance(out, (Data, Batch))
