"""Lifted lattices for C4 / D4: LiftingConv and GroupConv equal a dense p4 / p4m CNN built
here from rotated conv2d filters (Cohen & Welling 2016), and are exactly equivariant."""
import pytest
import torch
import torch.nn.functional as F

from gdl_graphs.coarsening import global_pool, pool
from gdl_graphs.coarsening.lattice import coarsen_lattice
from gdl_graphs.core import use_kernel
from gdl_graphs.domains import image_to_graph
from gdl_graphs.domains.group import (
    Group,
    group_filter_bank,
    group_pool,
    lift_cluster,
    lift_lattice,
    lifted_pool,
    lifting_filter_bank,
)
from gdl_graphs.nn import GroupConv, LiftingConv
from gdl_graphs.testing import assert_close, assert_equivariant
from gdl_graphs.testing.group import LatticeAction, lattice_actions

ORDER = {'C4': 4, 'D4': 8}


# ----------------------------------------------- an independent dense p4 / p4m CNN (reference)
def act(g, img):
    """Element g = r^k m^f on images: flip the columns (m), then rotate by k quarter turns."""
    k, f = g % 4, g // 4
    if f:
        img = torch.flip(img, dims=(-1,))
    return torch.rot90(img, k, dims=(-2, -1))


PATTERN = torch.arange(25.0).view(5, 5)


def compose(a, b, n):
    """The element c with act(c) = act(a) o act(b), found by acting on a generic pattern."""
    target = act(a, act(b, PATTERN))
    return next(c for c in range(n) if torch.equal(act(c, PATTERN), target))


def inverse(a, n):
    return next(c for c in range(n) if torch.equal(act(c, act(a, PATTERN)), PATTERN))


def dense_lift(img, w, b, group, padding='zeros'):
    n = ORDER[group]
    bank = torch.cat([act(g, w) for g in range(n)])              # [n * Cout, Cin, k, k]
    return conv(img, bank, None if b is None else b.repeat(n), padding)


def dense_group(fmap, w, b, group, padding='zeros'):
    """fmap [B, n * Cin, H, W] (channel s * Cin + i); w [Cout, Cin, n, k, k]."""
    n = ORDER[group]
    cout, cin, _, k, _ = w.shape
    banks = []
    for g in range(n):
        gi = inverse(g, n)
        wg = torch.stack([act(g, w[:, :, compose(gi, s, n)]) for s in range(n)], dim=1)
        banks.append(wg.reshape(cout, n * cin, k, k))              # [Cout, (s, Cin), k, k]
    return conv(fmap, torch.cat(banks), None if b is None else b.repeat(n), padding)


def conv(img, bank, bias, padding):
    p = bank.size(-1) // 2
    if padding == 'circular':
        return F.conv2d(F.pad(img, (p, p, p, p), mode='circular'), bank, bias)
    return F.conv2d(img, bank, bias, padding=p)


def to_nodes(fmap, n):  # [B, n * C, H, W] -> lifted nodes [B H W n, C]
    b, nc, h, w = fmap.shape
    return fmap.permute(0, 2, 3, 1).reshape(b * h * w * n, nc // n)


def to_fmap(x, n, shape):  # lifted nodes -> [B, n * C, H, W]
    b, h, w = shape
    return x.reshape(b, h, w, n * x.size(1)).permute(0, 3, 1, 2)


def setup(group, size, b=2, cin=3, padding='zeros', seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(b, cin, size, size, generator=g, dtype=torch.float64)
    data = image_to_graph(img, kernel_size=3, padding=padding)
    return img, data, lift_lattice(data, group)


KERNELS = ['auto', 'fused', 'generic']


# ------------------------------------------------------------------------------- equality
@pytest.mark.parametrize('group', ['C4', 'D4'])
@pytest.mark.parametrize('size,padding', [(7, 'zeros'), (6, 'circular')])
def test_lifting_and_group_conv_equal_dense_cnn(group, size, padding):
    torch.manual_seed(0)
    n = ORDER[group]
    img, data, lifted = setup(group, size, padding=padding)
    lift = LiftingConv(3, 4, 3, group).double()
    gconv = GroupConv(4, 2, 3, group).double()
    ref1 = dense_lift(img, lift.weight, lift.bias, group, padding)
    ref2 = dense_group(torch.relu(ref1), gconv.weight, gconv.bias, group, padding)
    assert_close(lift.filter_bank(), torch.cat([act(g, lift.weight) for g in range(n)]),
                 atol=0.0)
    for kernel in KERNELS:
        with use_kernel(kernel):
            h = lift(data.x, lifted.lift_edge_index, lifted.lift_edge_type)
            assert_close(h, to_nodes(ref1, n), atol=1e-12, name=f'lift {kernel}')
            out = gconv(torch.relu(h), lifted.edge_index, lifted.edge_type)
            assert_close(out, to_nodes(ref2, n), atol=1e-12, name=f'group {kernel}')


@pytest.mark.parametrize('group', ['C4', 'D4'])
def test_gradients_equal_dense_cnn(group):
    torch.manual_seed(1)
    n = ORDER[group]
    img, data, lifted = setup(group, 5, b=1, cin=2)
    lift = LiftingConv(2, 3, 3, group).double()
    gconv = GroupConv(3, 2, 3, group).double()
    target = torch.randn(25 * n, 2, dtype=torch.float64)
    grads = {}
    for kernel in ('dense-reference', 'auto', 'fused'):
        for p in (*lift.parameters(), *gconv.parameters()):
            p.grad = None
        x = data.x.clone().requires_grad_()
        if kernel == 'dense-reference':
            fm = dense_lift(x.T.reshape(1, 2, 5, 5), lift.weight, lift.bias, group)
            out = to_nodes(dense_group(torch.tanh(fm), gconv.weight, gconv.bias, group), n)
        else:
            with use_kernel(kernel):
                h = lift(x, lifted.lift_edge_index, lifted.lift_edge_type)
                out = gconv(torch.tanh(h), lifted.edge_index, lifted.edge_type)
        (out * target).sum().backward()
        grads[kernel] = [x.grad] + [p.grad for p in (*lift.parameters(), *gconv.parameters())]
    for kernel in ('auto', 'fused'):
        assert_close(tuple(grads[kernel]), tuple(grads['dense-reference']), atol=1e-12)


def test_filter_banks_and_from_conv():
    torch.manual_seed(2)
    c = torch.nn.Conv2d(3, 5, 3, padding=1).double()
    lift = LiftingConv.from_conv(c, 'D4')
    img, data, lifted = setup('D4', 6)
    h = lift(data.x, lifted.lift_edge_index, lifted.lift_edge_type)
    # the identity element reproduces the conv itself
    assert_close(h.view(2, 6, 6, 8, 5)[:, :, :, 0].permute(0, 3, 1, 2), c(img), atol=1e-12)
    w = torch.randn(4, 3, 8, 3, 3, dtype=torch.float64)
    bank = group_filter_bank(w, 'D4')
    assert bank.shape == (32, 24, 3, 3)
    assert_close(lifting_filter_bank(c.weight, 'C4')[5:10], torch.rot90(c.weight, 1, (-2, -1)),
                 atol=0.0)
    assert 'GroupConv(3, 4, kernel_size=3, group=D4)' == repr(GroupConv(3, 4, 3, 'D4'))
    assert 'group=C4' in repr(lift.__class__(3, 5))


# --------------------------------------------------------------------------- equivariance
@pytest.mark.parametrize('group', ['C4', 'D4'])
@pytest.mark.parametrize('size,padding', [(7, 'zeros'), (8, 'zeros'), (7, 'circular')])
def test_exact_equivariance(group, size, padding):
    torch.manual_seed(3)
    img, data, lifted = setup(group, size, b=1, padding=padding)
    shape = (1, size, size)
    lift = LiftingConv(3, 4, 3, group).double()
    gconv = GroupConv(4, 4, 3, group).double()
    li, lt, gi, gt = (lifted.lift_edge_index, lifted.lift_edge_type, lifted.edge_index,
                      lifted.edge_type)
    h = torch.relu(lift(data.x, li, lt))
    for a in lattice_actions(group, shape):
        # the pixel action is the image rotation / flip, read through image_to_graph
        assert_close(a.pixels(data.x), image_to_graph(act(a.element, img), 3).x, atol=0.0)
        for kernel in ('auto', 'generic') if a.element in (1, 5) else ('auto',):
            with use_kernel(kernel):
                assert_equivariant(lift, (data.x, li, lt), lambda t: (a.pixels(t[0]), *t[1:]),
                                   a.lifted, atol=1e-10, rtol=1e-10)
                assert_equivariant(gconv, (h, gi, gt), lambda t: (a.lifted(t[0]), *t[1:]),
                                   a.lifted, atol=1e-10, rtol=1e-10)
        pooled = lambda x: group_pool(gconv(x, gi, gt), group)  # noqa: E731
        assert_equivariant(pooled, (h,), lambda t: (a.lifted(t[0]),), a.pixels, atol=1e-10)
        readout = lambda x: global_pool(pooled(x), data.batch, 'mean')  # noqa: E731
        assert_equivariant(readout, (h,), lambda t: (a.lifted(t[0]),), lambda y: y, atol=1e-10)
    # teeth: the rotation without the shift along the group axis is not a symmetry
    a = LatticeAction(group, 1, shape)
    perm = a.pixel_permutation().perm

    def no_shift(x):
        return x.view(-1, ORDER[group], 4)[perm].reshape(-1, 4)
    with pytest.raises(AssertionError):
        assert_equivariant(gconv, (h, gi, gt), lambda t: (no_shift(t[0]), *t[1:]), no_shift)


@pytest.mark.parametrize('group', ['C4', 'D4'])
def test_group_tables_match_image_action(group):
    g = Group(group)
    n = g.order
    for a in range(n):
        assert int(g.inverse[a]) == inverse(a, n)
        for b in range(n):
            assert int(g.table[a, b]) == compose(a, b, n)
            assert torch.equal(g.act_image(int(g.table[a, b]), PATTERN),
                               g.act_image(a, g.act_image(b, PATTERN)))
    # the lifted actions form a representation: act(a) act(b) = act(ab)
    shape = (1, 4, 4)
    x = torch.randn(16 * n, 2, dtype=torch.float64)
    for a in range(n):
        for b in range(n):
            ab = int(g.table[a, b])
            lhs = LatticeAction(group, a, shape).lifted(LatticeAction(group, b, shape).lifted(x))
            assert torch.equal(lhs, LatticeAction(group, ab, shape).lifted(x))


# ------------------------------------------------------------------------- pooling / coarsening
@pytest.mark.parametrize('group', ['C4', 'D4'])
def test_lifted_pool_equals_max_pool_and_is_equivariant(group):
    n = ORDER[group]
    img, data, lifted = setup(group, 8)
    x = torch.randn(2 * 64 * n, 3, dtype=torch.float64)
    coarse = coarsen_lattice(data, 2)
    for reduce, fn in (('max', F.max_pool2d), ('mean', F.avg_pool2d)):
        out = lifted_pool(x, coarse, group, reduce)
        assert_close(out, to_nodes(fn(to_fmap(x, n, (2, 8, 8)), 2), n), atol=1e-12)
        cl = lift_cluster(coarse.cluster, group)
        assert_close(pool(x, cl, 2 * 16 * n, reduce), out, atol=1e-12)
    clifted = lift_lattice(coarse, group)
    assert clifted.num_nodes == 2 * 16 * n and clifted.edge_type.max() < 9 * n
    for a in lattice_actions(group, (2, 8, 8)):
        ac = LatticeAction(group, a.element, (2, 4, 4))
        assert_equivariant(lambda t: lifted_pool(t, coarse, group), (x,),
                           lambda t: (a.lifted(t[0]),), ac.lifted, atol=1e-12)
    assert_close(group_pool(x, group, 'mean'), x.view(-1, n, 3).mean(1))
    assert_close(group_pool(x, group), pool(x, torch.arange(x.size(0)) // n, 128, 'max'))


def test_lift_transform():
    from gdl_graphs.domains.group import LiftLattice
    img, data, lifted = setup('D4', 5)
    out = LiftLattice('D4')(data)
    assert out.pixel_x is data.x and out.num_nodes == 2 * 25 * 8 and out.group == 'D4'
    assert torch.equal(out.edge_type, lifted.edge_type)
    assert torch.equal(out.batch, data.batch.repeat_interleave(8))
    assert repr(LiftLattice('C4')) == "LiftLattice('C4')"


def test_masked_lattice_runs_on_typed_path():
    img = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[0, 0] = False
    data = image_to_graph(img, 3, mask=mask)
    lifted = lift_lattice(data, 'C4')
    full = lift_lattice(image_to_graph(img, 3), 'C4')
    lift = LiftingConv(2, 3).double()
    h = lift(data.x, lifted.lift_edge_index, lifted.lift_edge_type)
    ref = lift(image_to_graph(img, 3).x, full.lift_edge_index, full.lift_edge_type)
    # pixels away from the removed corner see the same neighbourhood
    assert_close(h.view(24, 4, 3)[-5:], ref.view(25, 4, 3)[-5:], atol=1e-12)


# ------------------------------------------------------------------------------- bad input
def test_bad_input():
    rect = image_to_graph(torch.randn(1, 2, 5, 6), 3)
    with pytest.raises(ValueError, match='non-square lattice'):
        lift_lattice(rect, 'C4')
    with pytest.raises(ValueError, match='rotations act on square'):
        LatticeAction('C4', 1, (1, 5, 6))
    with pytest.raises(ValueError, match='unknown group'):
        lift_lattice(image_to_graph(torch.randn(1, 2, 5, 5), 3), 'C8')
    with pytest.raises(ValueError, match='not square'):
        lift_lattice(image_to_graph(torch.randn(1, 2, 5, 5), (3, 1)), 'D4')
    with pytest.raises(ValueError, match='group lattices are 2-D'):
        lift_lattice(image_to_graph(torch.randn(1, 2, 5, 5, 5), 3), 'C4')
    with pytest.raises(ValueError, match='no lattice metadata'):
        from torch_geometric.data import Data
        lift_lattice(Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=3), 'C4')
    img, data, lifted = setup('C4', 5)
    with pytest.raises(ValueError, match="lifted to C4 but the layer is a D4"):
        LiftingConv(3, 2, group='D4').double()(data.x, lifted.lift_edge_index,
                                                 lifted.lift_edge_type)
    with pytest.raises(ValueError, match='runs on the lift edges|refers to source node'):
        LiftingConv(3, 2).double()(data.x, lifted.edge_index, lifted.edge_type)
    with pytest.raises(ValueError, match='kernel_size'):
        LiftingConv(3, 2, 5).double()(data.x, lifted.lift_edge_index, lifted.lift_edge_type)
    with pytest.raises(ValueError, match='lifted features'):
        GroupConv(3, 2).double()(data.x[:7], lifted.edge_index, lifted.edge_type)
    with pytest.raises(ValueError, match='x has 3 channels'):
        GroupConv(4, 2).double()(torch.zeros(200, 3, dtype=torch.float64), lifted.edge_index,
                                 lifted.edge_type)
    with pytest.raises(ValueError, match='even'):
        GroupConv(4, 2, 4)
    with pytest.raises(ValueError, match='only square kernels'):
        LiftingConv.from_conv(torch.nn.Conv2d(2, 3, (3, 1), padding=(1, 0)))
    with pytest.raises(ValueError, match='lifted features'):
        group_pool(torch.zeros(5, 2), 'C4')


def test_group_conv_on_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip('CUDA not available')
    img, data, lifted = setup('D4', 6)
    lift, gconv = LiftingConv(3, 4, 3, 'D4').double(), GroupConv(4, 2, 3, 'D4').double()
    ref = gconv(lift(data.x, lifted.lift_edge_index, lifted.lift_edge_type), lifted.edge_index,
                lifted.edge_type)
    lc, gc = lift.cuda(), gconv.cuda()
    out = gc(lc(data.x.cuda(), lifted.lift_edge_index.cuda(), lifted.lift_edge_type.cuda()),
             lifted.edge_index.cuda(), lifted.edge_type.cuda())
    assert_close(out.cpu(), ref, atol=1e-10)
