"""The lattice LeNet equals its torch.nn twin; the grid tour row trains it on the digits."""
import copy

import pytest
import torch

from gdl_graphs.core import use_kernel
from gdl_graphs.domains import image_to_graph
from gdl_graphs.models import LatticeLeNet, create, torch_lenet
from gdl_graphs.testing import assert_close


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('size,channels,pool', [((8, 8), (4, 6), 2), ((9, 11), (3,), 2),
                                                ((11, 10), (4, 5), 3)])
def test_logits_and_gradients_equal_the_twin(size, channels, pool):
    torch.manual_seed(0)
    model = LatticeLeNet(2, 5, size, channels, hidden=7, pool=pool).double()
    twin = model.to_torch()
    assert isinstance(twin, torch.nn.Sequential)
    img = torch.randn(3, 2, *size, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img)
    ref = twin(img)
    ref.square().sum().backward()
    for kernel in ('auto', 'fused', 'generic'):
        model.zero_grad()
        with use_kernel(kernel):
            out = model(data)
        assert_close(out, ref, atol=1e-10, rtol=1e-10, name=kernel)
        out.square().sum().backward()
        # the twin's gradients, mapped to the graph model's layout by from_torch
        grads = copy.deepcopy(twin)
        with torch.no_grad():
            for g, p in zip(grads.parameters(), twin.parameters()):
                g.copy_(p.grad)
        mapped = LatticeLeNet.from_torch(grads, size)
        for (name, p), q in zip(model.named_parameters(), mapped.parameters()):
            assert_close(p.grad, q, atol=1e-10, rtol=1e-10, name=f'{kernel} grad {name}')


def test_from_torch_round_trip():
    torch.manual_seed(1)
    twin = torch_lenet(1, 10, (8, 8)).double()
    model = LatticeLeNet.from_torch(twin, (8, 8))
    img = torch.randn(4, 1, 8, 8, generator=gen(), dtype=torch.float64)
    assert_close(model(image_to_graph(img)), twin(img))
    back = model.to_torch()
    for a, b in zip(twin.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    assert isinstance(create('lattice-lenet', image_size=(8, 8)), LatticeLeNet)


def test_bad_input_is_a_clear_error():
    model = LatticeLeNet(1, 10, (8, 8))
    with pytest.raises(ValueError, match='expects'):
        model(image_to_graph(torch.zeros(2, 1, 8, 9)))
    with pytest.raises(ValueError, match='no mask'):
        model(image_to_graph(torch.zeros(2, 1, 8, 8), mask=torch.rand(8, 8, generator=gen()) > .5))
    with pytest.raises(ValueError, match='too small'):
        LatticeLeNet(1, 10, (3, 3))
    with pytest.raises(ValueError, match='check image_size'):
        LatticeLeNet.from_torch(torch_lenet(1, 10, (8, 8)), (12, 12))
    with pytest.raises(ValueError, match='from_torch expects'):
        LatticeLeNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)), (8, 8))


def test_tour_row_trains_the_digits_cnn():
    pytest.importorskip('sklearn')
    from gdl_graphs.tour import grid
    row = grid.run()
    assert row.ok, row
    assert row.error <= 1e-10
    acc = float(row.result.split('acc ')[1].split()[0])
    assert acc >= 0.95, row.result
