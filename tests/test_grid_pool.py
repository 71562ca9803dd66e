"""Lattice coarsening and pooling equal max_pool / avg_pool / adaptive pooling."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from gdl_graphs.coarsening import coarsen_lattice, lattice_global_pool, lattice_pool
from gdl_graphs.core import plain, structure_of, use_kernel
from gdl_graphs.domains import graph_to_image, image_to_graph
from gdl_graphs.nn import LatticeConv
from gdl_graphs.testing import assert_close

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('dim,shape,stride', [
    (1, (2, 3, 11), 2), (2, (2, 3, 7, 9), 2), (2, (2, 3, 7, 8), 3), (2, (1, 3, 9, 7), (2, 3)),
    (3, (1, 2, 5, 7, 6), 2)])
@pytest.mark.parametrize('ceil_mode', [False, True])
@pytest.mark.parametrize('reduce', ['max', 'mean'])
def test_pooling_equals_torch(dim, shape, stride, ceil_mode, reduce):
    img = torch.randn(shape, generator=gen(), dtype=torch.float64, requires_grad=True)
    data = image_to_graph(img.detach(), kernel_size=1, dim=dim)
    coarse = coarsen_lattice(data, stride, ceil_mode=ceil_mode)
    fn = MAX[dim] if reduce == 'max' else AVG[dim]
    ref = fn(img, stride, stride, 0, ceil_mode=ceil_mode)
    weights = torch.randn(ref.shape, generator=gen(1), dtype=torch.float64)
    (ref * weights).sum().backward()
    for kernel in ('auto', 'generic'):
        x = data.x.detach().clone().requires_grad_()
        out = lattice_pool(x, coarse, reduce, kernel=kernel)
        got = graph_to_image(out, coarse)
        assert_close(got, ref, name=kernel)
        (got * weights).sum().backward()
        assert_close(graph_to_image(x.grad, data), img.grad, name=f'{kernel} grad')


def test_dense_pool_only_on_tagged_lattices(monkeypatch):
    import gdl_graphs.coarsening.lattice as mod
    calls = []
    real = mod.dense_pool
    monkeypatch.setattr(mod, 'dense_pool', lambda *a, **k: calls.append(1) or real(*a, **k))
    data = image_to_graph(torch.randn(2, 3, 6, 6, generator=gen()))
    coarse = coarsen_lattice(data, 2)
    lattice_pool(data.x, coarse)
    assert calls == [1]
    lattice_pool(data.x, coarse, 'sum')
    with use_kernel('generic'):
        lattice_pool(data.x, coarse)
    assert calls == [1]


@pytest.mark.parametrize('padding', ['zeros', 'circular'])
@pytest.mark.parametrize('ceil_mode', [False, True])
def test_coarse_graph_is_the_lattice_of_the_coarse_image(padding, ceil_mode):
    data = image_to_graph(torch.randn(2, 3, 7, 9, generator=gen()), kernel_size=3, dilation=1,
                          padding=padding)
    coarse = coarsen_lattice(data, 2, ceil_mode=ceil_mode)
    size = (4, 5) if ceil_mode else (3, 4)
    ref = image_to_graph(torch.zeros(2, 1, *size), padding=padding)
    for key in ('edge_type', 'pos', 'batch', 'lattice_shape', 'lattice_kernel',
                'lattice_dilation'):
        assert torch.equal(coarse[key], ref[key]), key
    assert torch.equal(plain(coarse.edge_index), plain(ref.edge_index))
    meta = dict(structure_of(coarse.edge_index).meta)
    assert meta.pop('pool') == dict(fine_shape=(2, 7, 9), stride=(2, 2), ceil_mode=ceil_mode)
    assert meta == structure_of(ref.edge_index).meta
    # cluster: block of every fine pixel; floor mode drops the last row and column
    rows, cols = torch.meshgrid(torch.arange(7), torch.arange(9), indexing='ij')
    want = (rows // 2) * size[1] + cols // 2
    dropped = (rows // 2 >= size[0]) | (cols // 2 >= size[1])
    want = torch.where(dropped, torch.full_like(want, 2 * size[0] * size[1]), want).reshape(-1)
    assert torch.equal(coarse.cluster[:63], want)
    # select: the first pixel of every block
    assert coarse.select[:size[1]].tolist() == [2 * j for j in range(size[1])]


def test_layers_stack_on_the_coarse_lattice():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    layer = LatticeConv.from_conv(conv)
    img = torch.randn(2, 3, 9, 8, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img)
    coarse = coarsen_lattice(data, 2)
    for kernel in ('auto', 'generic'):
        with use_kernel(kernel):
            x = lattice_pool(data.x, coarse)
            y = layer(x, coarse.edge_index, coarse.edge_type)
        assert_close(graph_to_image(y, coarse), conv(F.max_pool2d(img, 2)), name=kernel)


def test_global_pooling_equals_adaptive_pooling():
    img = torch.randn(3, 4, 5, 7, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img)
    assert_close(lattice_global_pool(data.x, data, 'mean'),
                 F.adaptive_avg_pool2d(img, 1).flatten(1))
    assert_close(lattice_global_pool(data.x, data, 'max'),
                 F.adaptive_max_pool2d(img, 1).flatten(1))
    single = image_to_graph(img[0])
    assert_close(lattice_global_pool(single.x, single, 'mean'),
                 F.adaptive_avg_pool2d(img[:1], 1).flatten(1))


def test_masked_lattice_pools_over_kept_pixels():
    img = torch.randn(2, 2, 7, 6, generator=gen(), dtype=torch.float64)
    mask = torch.rand(2, 7, 6, generator=gen(5)) > 0.6
    mask[0, :2, :2] = False                       # one block of image 0 entirely removed
    data = image_to_graph(img, mask=mask)
    coarse = coarsen_lattice(data, 2)
    assert 'pool' not in structure_of(coarse.edge_index).meta and coarse.get('select') is None
    out = graph_to_image(lattice_pool(data.x, coarse, 'max'), coarse, fill=float('-inf'))
    kept = graph_to_image(torch.ones(coarse.num_nodes, 1, dtype=torch.float64), coarse)
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        block = mask[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        vals = img[b, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2][:, block]
        assert bool(kept[b, 0, i, j]) == bool(block.any())
        if block.any():
            assert torch.equal(out[b, :, i, j], vals.max(dim=1).values)
    assert not bool(kept[0, 0, 0, 0])
    # the coarse masked lattice is image_to_graph of the coarse image with the block mask
    ref = image_to_graph(torch.zeros(2, 1, 3, 3), mask=kept[:, 0] > 0)
    assert torch.equal(coarse.edge_index, ref.edge_index)
    assert torch.equal(coarse.edge_type, ref.edge_type)
    # layers stack on it: every kernel path of LatticeConv agrees on the coarse masked lattice
    layer = LatticeConv(2, 3, 3).double()
    pooled = lattice_pool(data.x, coarse, 'max')
    outs = {}
    for kernel in ('auto', 'fused', 'generic'):
        with use_kernel(kernel):
            outs[kernel] = layer(pooled, coarse.edge_index, coarse.edge_type)
    assert_close(outs['auto'], outs['generic'])
    assert_close(outs['fused'], outs['generic'])


def test_bad_input_is_a_clear_error():
    data = image_to_graph(torch.randn(1, 2, 5, 5, generator=gen()))
    with pytest.raises(ValueError, match='ceil_mode=True'):
        coarsen_lattice(data, 6)
    assert coarsen_lattice(data, 2).num_nodes == 4  # a 3x3 stencil on a 2x2 lattice: zeros
    with pytest.raises(ValueError, match='positive'):
        coarsen_lattice(data, 0)
    coarse = coarsen_lattice(data, 2, kernel_size=1)
    with pytest.raises(ValueError, match='unknown lattice pooling'):
        lattice_pool(data.x, coarse, 'median')
    with pytest.raises(ValueError, match='coarsen_lattice'):
        lattice_pool(data.x, data)
    with pytest.raises(ValueError, match='rows'):
        lattice_pool(data.x[:-1], coarse)
    from torch_geometric.data import Data
    with pytest.raises(ValueError, match='image_to_graph'):
        coarsen_lattice(Data(x=torch.zeros(4, 1)), 2)
