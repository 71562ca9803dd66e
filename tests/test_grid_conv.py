"""LatticeConv equals nn.Conv1d/2d/3d on every kernel path; lattice symmetries via the harness."""
import pytest
import torch

import gdl_graphs.nn.lattice_conv as lattice_conv_module
from gdl_graphs.coarsening import coarsen_lattice
from gdl_graphs.core import use_kernel
from gdl_graphs.domains import graph_to_image, image_to_graph
from gdl_graphs.nn import LatticeConv
from gdl_graphs.testing import (
    Permutation,
    assert_close,
    assert_equivariant,
    assert_permutation_equivariant,
)
from gdl_graphs.testing.lattice import lattice_flip, lattice_rot90, lattice_shift

CONVS = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
SIZES = {1: (2, 11), 2: (2, 9, 10), 3: (1, 5, 6, 7)}    # (B, *sizes): odd, non-square
PATHS = ('auto', 'fused', 'generic')                     # dense, typed CSR, gather/scatter


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def make_conv(dim, k, r, padding, bias, c_in=2, c_out=3, seed=0):
    torch.manual_seed(seed)
    return CONVS[dim](c_in, c_out, k, padding=r * (k - 1) // 2, dilation=r, bias=bias,
                      padding_mode=padding).double()


def run_paths(layer, img, data, coarse=None):
    """{path: (output image, grad x, grad weight, grad bias)} for every kernel path."""
    out = {}
    for path in PATHS:
        x = data.x.detach().clone().requires_grad_()
        layer.zero_grad()
        with use_kernel(path):
            y = layer(x, data.edge_index, data.edge_type, coarse)
        (y * torch.arange(y.numel(), dtype=y.dtype).view_as(y).sin()).sum().backward()
        out[path] = (y, x.grad, layer.weight.grad.clone(),
                     None if layer.bias is None else layer.bias.grad.clone())
    return out


@pytest.mark.parametrize('dim', [1, 2, 3])
@pytest.mark.parametrize('k', [1, 3, 5])
@pytest.mark.parametrize('r', [1, 2])
@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_equals_torch_conv_forward_and_gradients(dim, k, r, padding):
    if dim == 3 and k == 5 and r == 2:
        pytest.skip('a 9-pixel stencil needs a large volume; dilation 2 is covered with k=3')
    bias = (k + r) % 2 == 0       # with and without bias across the sweep
    conv = make_conv(dim, k, r, padding, bias)
    layer = LatticeConv.from_conv(conv)
    img = torch.randn(SIZES[dim][0], 2, *SIZES[dim][1:], generator=gen(),
                      dtype=torch.float64, requires_grad=True)
    data = image_to_graph(img.detach(), k, r, padding, dim=dim)
    ref = conv(img)
    (ref * torch.arange(ref.numel(), dtype=ref.dtype).view_as(ref.movedim(1, -1))
     .movedim(-1, 1).sin()).sum().backward()
    for path, (y, gx, gw, gb) in run_paths(layer, img, data).items():
        assert_close(graph_to_image(y, data), ref, atol=1e-10, rtol=1e-10, name=path)
        assert_close(graph_to_image(gx, data), img.grad, atol=1e-10, rtol=1e-10,
                     name=f'{path} grad x')
        assert_close(gw, conv.weight.grad, atol=1e-10, rtol=1e-10, name=f'{path} grad w')
        if bias:
            assert_close(gb, conv.bias.grad, atol=1e-10, rtol=1e-10, name=f'{path} grad b')


def test_dense_kernel_dispatch_follows_the_structure(monkeypatch):
    """Dense conv on full lattices and on masks keeping >= 1/4 of the pixels; typed otherwise."""
    calls = []
    real = lattice_conv_module.dense_conv
    monkeypatch.setattr(lattice_conv_module, 'dense_conv',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    layer = LatticeConv(2, 3, 3)
    img = torch.randn(2, 2, 8, 8, generator=gen())
    full = image_to_graph(img)
    dense_mask = torch.rand(8, 8, generator=gen(1)) > 0.2
    sparse_mask = torch.zeros(8, 8, dtype=torch.bool)
    sparse_mask[::3, ::2] = True                       # 12 of 64 pixels
    for data, dense in [(full, True), (image_to_graph(img, mask=dense_mask), True),
                        (image_to_graph(img, mask=sparse_mask), False)]:
        calls.clear()
        ref = layer(data.x, data.edge_index, data.edge_type)
        assert len(calls) == int(dense)
        for path in ('fused', 'generic'):
            with use_kernel(path):
                assert_close(layer(data.x, data.edge_index, data.edge_type), ref, atol=1e-5,
                             rtol=1e-5, name=path)
        assert len(calls) == int(dense)


@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_masked_lattice_equals_conv_of_the_zero_filled_image(padding):
    """Removed pixels send no messages: the conv of the image with them zeroed, at kept pixels."""
    conv = make_conv(2, 3, 1, padding, True)
    layer = LatticeConv.from_conv(conv)
    img = torch.randn(2, 2, 7, 8, generator=gen(), dtype=torch.float64)
    mask = torch.rand(2, 7, 8, generator=gen(3)) > 0.25
    data = image_to_graph(img, padding=padding, mask=mask)
    ref = conv(img * mask.unsqueeze(1)) * mask.unsqueeze(1)
    outs = run_paths(layer, img, data)
    for path, (y, gx, gw, gb) in outs.items():
        assert_close(graph_to_image(y, data), ref, name=path)
        assert_close(gx, outs['generic'][1], name=f'{path} grad x')
        assert_close(gw, outs['generic'][2], name=f'{path} grad w')


@pytest.mark.parametrize('stride,size', [(2, (7, 8)), (3, (7, 5)), ((2, 3), (9, 7))])
def test_stride_is_conv_then_lattice_coarsening(stride, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, stride=stride, padding=1).double()
    layer = LatticeConv.from_conv(conv)
    img = torch.randn(2, 2, *size, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img)
    coarse = coarsen_lattice(data, stride, ceil_mode=True, kernel_size=1)
    ref = conv(img)
    for path in PATHS:
        with use_kernel(path):
            y = layer(data.x, data.edge_index, data.edge_type, coarse)
        assert_close(graph_to_image(y, coarse), ref, name=path)
    with pytest.raises(ValueError, match='ceil_mode=True'):
        layer(data.x, data.edge_index, data.edge_type)
    with pytest.raises(ValueError, match='ceil_mode=True'):
        layer(data.x, data.edge_index, data.edge_type,
              coarsen_lattice(data, stride, kernel_size=1))
    assert layer.to_conv().stride == conv.stride


def test_from_conv_to_conv_round_trip():
    conv = torch.nn.Conv3d(2, 4, (3, 1, 5), padding=(2, 0, 4), dilation=(2, 1, 2),
                           padding_mode='circular').double()
    layer = LatticeConv.from_conv(conv)
    assert layer.dim == 3 and layer.kernel_size == (3, 1, 5) and layer.dilation == (2, 1, 2)
    assert layer.weight.dtype == torch.float64
    back = layer.to_conv('circular')
    for a, b in zip(conv.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    assert back.padding == conv.padding and back.padding_mode == 'circular'
    # the state dict is nn.Conv's: load one into the other
    fresh = LatticeConv(2, 4, (3, 1, 5), dilation=(2, 1, 2)).double()
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(fresh.weight, conv.weight)
    same = torch.nn.Conv2d(1, 1, 3, padding='same', bias=False)
    assert LatticeConv.from_conv(same).bias is None
    assert 'LatticeConv(2, 4, kernel_size=(3, 1, 5), dilation=(2, 1, 2))' == repr(layer)


@pytest.mark.parametrize('conv,match', [
    (torch.nn.Conv2d(2, 2, 3, padding=1, groups=2), 'groups'),
    (torch.nn.Conv2d(2, 2, 3, padding=0), 'padding'),
    (torch.nn.Conv2d(2, 2, 3, padding=1, padding_mode='reflect'), 'reflect'),
    (torch.nn.Conv2d(2, 2, 2, padding=1), 'even'),
    (torch.nn.Linear(2, 2), 'Conv1d/2d/3d'),
])
def test_from_conv_refuses_what_is_not_a_lattice_conv(conv, match):
    with pytest.raises(ValueError, match=match):
        LatticeConv.from_conv(conv)


def test_bad_input_is_a_clear_error():
    data = image_to_graph(torch.randn(1, 3, 5, 5, generator=gen()))
    layer = LatticeConv(3, 4, 3)
    with pytest.raises(ValueError, match='3 channels but the layer expects 2'):
        LatticeConv(2, 4, 3)(data.x, data.edge_index, data.edge_type)
    with pytest.raises(ValueError, match='kernel_size'):
        LatticeConv(3, 4, 5)(data.x, data.edge_index, data.edge_type)
    with pytest.raises(ValueError, match='dilation'):
        LatticeConv(3, 4, 3, dilation=2)(data.x, data.edge_index, data.edge_type)
    with pytest.raises(ValueError, match='rows'):
        layer(data.x[:-1], data.edge_index, data.edge_type)
    with pytest.raises(ValueError, match='edge_type'):      # typed path: a 5x5 graph, 3x3 layer
        g5 = image_to_graph(torch.randn(1, 3, 5, 5, generator=gen()), kernel_size=5)
        with use_kernel('fused'):
            layer(g5.x, g5.edge_index, g5.edge_type)
    with pytest.raises(ValueError, match='even'):
        LatticeConv(3, 4, 4)
    with pytest.raises(ValueError, match='dim'):
        LatticeConv(3, 4, 3, dim=4)


@pytest.mark.parametrize('dim', [1, 2, 3])
def test_translation_equivariance_on_the_circular_lattice(dim):
    conv = make_conv(dim, 3, 1, 'circular', True)
    layer = LatticeConv.from_conv(conv)
    shape = {1: (2, 9), 2: (2, 6, 7), 3: (1, 5, 6, 4)}[dim]
    img = torch.randn(shape[0], 2, *shape[1:], generator=gen(), dtype=torch.float64)
    data = image_to_graph(img, padding='circular', dim=dim)
    act = lattice_shift(shape, tuple(range(1, dim + 1)))
    # the action is torch.roll of the image
    assert torch.equal(graph_to_image(act.nodes(data.x), data),
                       torch.roll(img, tuple(range(1, dim + 1)), tuple(range(2, dim + 2))))
    for path in PATHS:
        with use_kernel(path):
            assert_equivariant(lambda x: layer(x, data.edge_index, data.edge_type), (data.x,),
                               lambda ins: (act.nodes(ins[0]),), act.nodes)


def test_zero_padding_breaks_translation_equivariance():
    """The harness can fail: shifts are not a symmetry of the zero-padded lattice."""
    layer = LatticeConv(2, 3, 3).double()
    data = image_to_graph(torch.randn(1, 2, 6, 6, generator=gen(), dtype=torch.float64))
    act = lattice_shift((1, 6, 6), (1, 0))
    with pytest.raises(AssertionError, match='equivariance'):
        assert_equivariant(lambda x: layer(x, data.edge_index, data.edge_type), (data.x,),
                           lambda ins: (act.nodes(ins[0]),), act.nodes)


@pytest.mark.parametrize('make_act', [
    lambda s: lattice_rot90(s, 1), lambda s: lattice_rot90(s, 3), lambda s: lattice_rot90(s, 2),
    lambda s: lattice_flip(s, -1), lambda s: lattice_flip(s, (-2, -1))])
@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_rotations_and_flips_map_to_the_rotated_kernel(make_act, padding):
    conv = make_conv(2, 3, 1, padding, True)
    layer = LatticeConv.from_conv(conv)
    shape = (2, 5, 5)
    img = torch.randn(2, 2, 5, 5, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img, padding=padding)
    act = make_act(shape)
    assert torch.equal(graph_to_image(act.nodes(data.x), data), act.image(img))
    moved = LatticeConv.from_conv(conv)
    with torch.no_grad():
        moved.weight.copy_(act.kernel(layer.weight))
    for path in PATHS:
        with use_kernel(path):
            assert_close(moved(act.nodes(data.x), data.edge_index, data.edge_type),
                         act.nodes(layer(data.x, data.edge_index, data.edge_type)), name=path)
    # the relabelled graph is the lattice of the moved image once edge types follow the offsets
    moved_graph = act.data(data)
    new_type = act.edge_types((3, 3)).argsort()[moved_graph.edge_type]
    got = {tuple(e) for e in torch.cat([moved_graph.edge_index, new_type.view(1, -1)]).t().tolist()}
    ref = image_to_graph(act.image(img), padding=padding)
    want = {tuple(e) for e in torch.cat([ref.edge_index.as_subclass(torch.Tensor),
                                         ref.edge_type.view(1, -1)]).t().tolist()}
    assert got == want


def test_permutation_equivariance_on_a_masked_lattice():
    layer = LatticeConv(2, 3, 3).double()
    img = torch.randn(2, 2, 6, 5, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img, mask=torch.rand(2, 6, 5, generator=gen(2)) > 0.2)
    for path in ('fused', 'generic'):
        with use_kernel(path):
            assert_permutation_equivariant(layer, data,
                                           lambda m, d: m(d.x, d.edge_index, d.edge_type))


def test_rotation_needs_a_square_lattice():
    with pytest.raises(ValueError, match='square'):
        lattice_rot90((1, 4, 5))
    with pytest.raises(ValueError, match='shifts'):
        lattice_shift((1, 4, 5), (1, 2, 3))
    assert isinstance(lattice_rot90((1, 4, 5), 2), Permutation)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_equals_cpu():
    conv = make_conv(2, 3, 1, 'zeros', True)
    layer = LatticeConv.from_conv(conv)
    img = torch.randn(2, 2, 9, 10, generator=gen(), dtype=torch.float64)
    mask = torch.rand(2, 9, 10, generator=gen(1)) > 0.1
    for m in (None, mask):
        data = image_to_graph(img, mask=m)
        ref = layer(data.x, data.edge_index, data.edge_type)
        gpu, dg = layer.cuda(), data.cuda()
        for path in PATHS:
            with use_kernel(path):
                out = gpu(dg.x, dg.edge_index, dg.edge_type)
            assert_close(out.cpu(), ref, name=path)
        layer = layer.cpu()
