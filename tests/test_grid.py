"""Grids as lattice graphs: image_to_graph / graph_to_image / ImageToGraph / tag_lattice."""
import io
import itertools

import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from gdl_graphs.core import plain, structure_of
from gdl_graphs.core.sparse import csr_order
from gdl_graphs.domains import ImageToGraph, graph_to_image, image_to_graph, tag_lattice


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('shape,dim', [
    ((3, 5, 7), None), ((2, 3, 5, 7), None), ((2, 3, 4, 5, 3), None),
    ((2, 3, 9), 1), ((3, 9), 1), ((3, 4, 5, 3), 3)])
@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_round_trip_is_exact(shape, dim, padding):
    img = torch.randn(shape, generator=gen(), dtype=torch.float64)
    data = image_to_graph(img, 3, 1, padding, dim=dim)
    d = dim or (2 if len(shape) <= 4 else 3)
    c = shape[-d - 1]
    assert data.x.shape == (img.numel() // c, c)
    out = graph_to_image(data.x, data)
    assert torch.equal(out, img)
    # x is the channels-last layout, raster order (b, i_1, ..., i_d)
    flat = img if img.dim() == d + 2 else img.unsqueeze(0)
    assert torch.equal(data.x, flat.movedim(1, -1).reshape(-1, c))


def test_round_trip_masked_fills_removed_pixels():
    img = torch.randn(2, 3, 5, 6, generator=gen(), dtype=torch.float64)
    mask = torch.rand(2, 5, 6, generator=gen(1)) > 0.3
    data = image_to_graph(img, mask=mask)
    assert data.num_nodes == int(mask.sum())
    index = structure_of(data.edge_index).meta['index']   # positions in the full lattice
    assert torch.equal(index, mask.reshape(-1).nonzero().view(-1))
    assert torch.equal(graph_to_image(data.x, data), img * mask.unsqueeze(1))
    assert torch.equal(graph_to_image(data.x, data, fill=-1.0)[~mask.unsqueeze(1).expand_as(img)],
                       torch.full((int((~mask).sum()) * 3,), -1.0, dtype=torch.float64))
    # a shared [H, W] mask applies to every image
    shared = image_to_graph(img, mask=mask[0])
    assert shared.num_nodes == 2 * int(mask[0].sum())


def brute_force_edges(sizes, k, r, padding):
    """(src, dst, type) triples by loops over pixels and taps (2-D)."""
    h, w = sizes
    out = set()
    for i, j in itertools.product(range(h), range(w)):
        for t, (a, b) in enumerate(itertools.product(range(k[0]), range(k[1]))):
            si, sj = i + (a - (k[0] - 1) // 2) * r[0], j + (b - (k[1] - 1) // 2) * r[1]
            if padding == 'circular':
                si, sj = si % h, sj % w
            elif not (0 <= si < h and 0 <= sj < w):
                continue
            out.add((si * w + sj, i * w + j, t))
    return out


@pytest.mark.parametrize('k,r', [((1, 1), (1, 1)), ((3, 3), (1, 1)), ((5, 3), (1, 2)),
                                 ((3, 5), (2, 1))])
@pytest.mark.parametrize('padding', ['zeros', 'circular'])
def test_edges_equal_brute_force(k, r, padding):
    sizes = (7, 6)
    data = image_to_graph(torch.zeros(1, *sizes), k, r, padding)
    got = {tuple(e) for e in torch.cat([plain(data.edge_index),
                                        data.edge_type.view(1, -1)]).t().tolist()}
    want = brute_force_edges(sizes, k, r, padding)
    assert got == want and data.edge_index.size(1) == len(want)   # no duplicate edges
    # in CSR order (by target, then source): the core builds its structures without a sort
    assert torch.equal(csr_order(data.edge_index, 42), torch.arange(len(want)))
    key = data.edge_index[1] * 42 + data.edge_index[0]
    assert bool((key[1:] > key[:-1]).all())


def test_offset_convention():
    """Type t = raster index of the kernel tap; source = target + delta_t; centre = self-loop."""
    data = image_to_graph(torch.zeros(1, 5, 5))
    ei, et = plain(data.edge_index), data.edge_type
    into_centre = ei[1] == 12                                  # pixel (2, 2)
    src = dict(zip(et[into_centre].tolist(), ei[0, into_centre].tolist()))
    assert src == {0: 6, 1: 7, 2: 8, 3: 11, 4: 12, 5: 13, 6: 16, 7: 17, 8: 18}
    # 1-D and 3-D: same rule
    d1 = image_to_graph(torch.zeros(1, 1, 5), 3, 2, dim=1)
    into = plain(d1.edge_index)[1] == 2
    assert dict(zip(d1.edge_type[into].tolist(), d1.edge_index[0, into].tolist())) == \
        {0: 0, 1: 2, 2: 4}
    d3 = image_to_graph(torch.zeros(1, 1, 3, 3, 3))
    into = plain(d3.edge_index)[1] == 13
    assert dict(zip(d3.edge_type[into].tolist(), d3.edge_index[0, into].tolist())) == \
        {t: t for t in range(27)}


def test_pos_convention():
    """pos = (x, y) = (column, row) with y pointing down (as ToSLIC); (col, row, depth) in 3-D."""
    data = image_to_graph(torch.zeros(2, 1, 3, 4, dtype=torch.float64))
    assert data.pos.dtype == torch.float64
    assert data.pos[:12].tolist() == [[c, r] for r in range(3) for c in range(4)]
    assert torch.equal(data.pos[12:], data.pos[:12])
    d3 = image_to_graph(torch.zeros(1, 1, 2, 3, 4), kernel_size=1)
    assert d3.pos[-1].tolist() == [3, 2, 1] and d3.pos[1].tolist() == [1, 0, 0]
    d1 = image_to_graph(torch.zeros(1, 4), dim=1)
    assert d1.pos.view(-1).tolist() == [0, 1, 2, 3]


def test_metadata_survives_save_and_tag_is_restored(tmp_path):
    img = torch.randn(2, 3, 6, 5, generator=gen())
    data = image_to_graph(img, kernel_size=(3, 5), dilation=(1, 1), padding='circular')
    tag = structure_of(data.edge_index)
    assert tag.kind == 'lattice'
    assert tag.meta == dict(shape=(2, 6, 5), kernel_size=(3, 5), dilation=(1, 1),
                            padding='circular')
    assert structure_of(data.to('cpu').edge_index) == tag
    buf = io.BytesIO()
    torch.save(data, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert structure_of(loaded['edge_index']) is None  # the tag does not pickle: the metadata
    assert structure_of(loaded.edge_index) == tag        # ... restores it on the first read
    assert torch.equal(loaded.lattice_shape, torch.tensor([[6, 5], [6, 5]]))
    assert torch.equal(loaded.lattice_kernel, torch.tensor([[3, 5], [3, 5]]))
    assert loaded.lattice_padding == ['circular', 'circular']
    assert structure_of(tag_lattice(Data(**loaded.to_dict())).edge_index) == tag  # plain Data
    assert torch.equal(graph_to_image(loaded.x, loaded), img)


def test_batch_equals_collated_single_images():
    img = torch.randn(3, 2, 4, 5, generator=gen())
    whole = image_to_graph(img)
    parts = [image_to_graph(im) for im in img]
    for p in parts:
        assert structure_of(p.edge_index).meta['shape'] == (1, 4, 5)
    collated = next(iter(DataLoader(parts, batch_size=3)))
    for key in ('x', 'edge_type', 'pos', 'batch', 'lattice_shape'):
        assert torch.equal(collated[key], whole[key]), key
    assert torch.equal(plain(collated.edge_index), plain(whole.edge_index))
    # a DataLoader batch of lattices is the batched lattice, structure included
    assert structure_of(collated.edge_index) == structure_of(whole.edge_index)
    assert structure_of(collated['edge_index']) is None  # the stored tensor stays plain
    assert isinstance(whole, Batch) and whole.num_graphs == 3
    assert torch.equal(graph_to_image(whole.x, whole), img)


def test_transform_twin_composes():
    img = torch.randn(2, 4, 5, generator=gen())
    t = T.Compose([ImageToGraph(kernel_size=3, padding='circular'), T.Cartesian(norm=False)])
    out = t(img)
    ref = image_to_graph(img, 3, padding='circular')
    assert torch.equal(out.x, ref.x) and torch.equal(out.edge_type, ref.edge_type)
    ei = plain(ref.edge_index)
    assert torch.equal(out.edge_attr, ref.pos[ei[0]] - ref.pos[ei[1]])  # source - target
    assert 'ImageToGraph(kernel_size=3' in repr(ImageToGraph())


def test_integer_images_keep_their_dtype():
    img = torch.randint(0, 255, (1, 4, 4), dtype=torch.uint8)
    data = image_to_graph(img)
    assert data.x.dtype == torch.uint8 and data.pos.is_floating_point()
    assert torch.equal(graph_to_image(data.x, data), img)


@pytest.mark.parametrize('kwargs,match', [
    (dict(images=torch.zeros(4, 4)), 'pass dim=1'),
    (dict(images=torch.zeros(1, 1, 1, 1, 1, 1)), '6 dimensions'),
    (dict(images=torch.zeros(1, 4, 4), dim=3), 'dim=3 expects'),
    (dict(images=torch.zeros(1, 4, 4), dim=4), 'dim must be 1, 2 or 3'),
    (dict(images=[[1.0]]), 'torch.Tensor'),
    (dict(images=torch.zeros(1, 6, 6), kernel_size=2), 'even'),
    (dict(images=torch.zeros(1, 6, 6), kernel_size=(3, 4)), 'even'),
    (dict(images=torch.zeros(1, 6, 6), kernel_size=(3, 3, 3)), '3 entries'),
    (dict(images=torch.zeros(1, 4, 6), kernel_size=11, padding='circular'), 'wraps at most'),
    (dict(images=torch.zeros(1, 6, 6), kernel_size=5, dilation=4, padding='circular'),
     'wraps at most'),
    (dict(images=torch.zeros(1, 6, 6), dilation=0), 'dilation'),
    (dict(images=torch.zeros(1, 6, 6), padding='reflect'), 'unknown padding'),
    (dict(images=torch.tensor([[[0.0, float('nan')], [0.0, 0.0]]]), kernel_size=1), 'NaN'),
    (dict(images=torch.zeros(1, 4, 4), mask=torch.ones(4, 4)), 'bool'),
    (dict(images=torch.zeros(1, 4, 4), mask=torch.ones(2, 4, 4, dtype=torch.bool)), 'mask has'),
    (dict(images=torch.zeros(0, 4, 4)), 'empty'),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_to_graph(**kwargs)


def test_graph_to_image_errors():
    data = image_to_graph(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match='N = 12'):
        graph_to_image(torch.zeros(11, 2), data)
    from torch_geometric.data import Data
    with pytest.raises(ValueError, match='image_to_graph'):
        graph_to_image(torch.zeros(3, 1), Data(x=torch.zeros(3, 1)))
    data.x = data.x[:5]
    with pytest.raises(ValueError, match='changed after image_to_graph'):
        graph_to_image(torch.zeros(5, 2), data)


def test_tag_lattice_refuses_other_graphs():
    data = image_to_graph(torch.zeros(1, 4, 4))
    data.edge_type = data.edge_type.flip(0)
    with pytest.raises(ValueError, match='rebuild it'):
        tag_lattice(data)
    masked = image_to_graph(torch.zeros(2, 1, 4, 4),
                            mask=torch.rand(2, 4, 4, generator=gen()) > 0.5)
    index = structure_of(masked.edge_index).meta['index']
    masked.edge_index = plain(masked.edge_index)
    assert torch.equal(structure_of(tag_lattice(masked).edge_index).meta['index'], index)
    masked.pixel = masked.pixel.flip(0)
    with pytest.raises(ValueError, match='rebuild it'):
        tag_lattice(masked)
    mixed = Batch.from_data_list([image_to_graph(torch.zeros(1, 4, 4)),
                                  image_to_graph(torch.zeros(1, 4, 5))])
    with pytest.raises(ValueError, match='different'):
        tag_lattice(mixed)


def test_a_lattice_dataset_saves_its_shape_not_its_edges(tmp_path):
    from gdl_graphs.io.data import GraphDataset, save_dataset
    from gdl_graphs.nn import LatticeConv
    imgs = torch.randn(40, 1, 12, 12, generator=gen())
    graphs = [image_to_graph(im) for im in imgs]
    save_dataset(graphs, tmp_path / 'ds')
    size = sum(f.stat().st_size for f in (tmp_path / 'ds').rglob('*') if f.is_file())
    assert size <= 1.5 * imgs.numel() * 4 + 64_000  # pixels plus a fixed overhead
    ds = GraphDataset(tmp_path / 'ds')
    for i in (0, 17, 39):  # rebuilt exactly as converted
        for key in ('x', 'edge_index', 'edge_type', 'pos', 'lattice_shape'):
            assert torch.equal(plain(ds[i][key] if key == 'x' else getattr(ds[i], key)),
                               plain(getattr(graphs[i], key))), key
    batch = next(iter(DataLoader(ds, batch_size=8)))
    conv = LatticeConv(1, 3, 3)
    out = conv(batch.x, batch.edge_index, batch.edge_type)
    assert conv.last_plan.kernel == 'conv'  # a batch from a DataLoader stays a lattice
    ref = conv.to_conv()(imgs[:8]).permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(out, ref, atol=1e-5)
    masked = image_to_graph(imgs[0], mask=torch.rand(12, 12, generator=gen()) > 0.3)
    save_dataset([masked], tmp_path / 'masked')  # a masked lattice keeps its edges
    back = GraphDataset(tmp_path / 'masked')[0]
    assert torch.equal(plain(back.edge_index), plain(masked.edge_index))


def test_a_batch_of_batched_lattices_keeps_its_structure():
    # PyG collates the per-graph padding lists of batched graphs into nested lists; reading
    # edge_index raised TypeError there
    from gdl_graphs.core import use_kernel
    from gdl_graphs.nn import LatticeConv
    b = image_to_graph(torch.randn(2, 3, 5, 4, dtype=torch.float64))
    bb = Batch.from_data_list([b, b])
    s = structure_of(bb.edge_index)
    assert s is not None and s.kind == 'lattice' and s.meta['shape'] == (4, 5, 4)
    conv = LatticeConv(3, 2, 3).double()
    out = conv(bb.x, bb.edge_index, bb.edge_type)
    assert conv.last_plan.kernel != 'generic'
    with use_kernel('generic'):
        ref = conv(bb.x, bb.edge_index, bb.edge_type)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
