"""File readers and writers: every format written here, read back and compared exactly; safe
loading (nothing unpickled); atomic writes (no partial output)."""
import json
import pathlib
import struct

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data, InMemoryDataset

from gdl_graphs.io.data import GraphDataset, load, load_data, safe_load, save_data, save_dataset
from gdl_graphs.io.errors import FormatError
from gdl_graphs.io.graph import from_networkx_graph, read_graph
from gdl_graphs.io.image import read_image
from gdl_graphs.io.points import read_points
from gdl_graphs.io.sequence import read_sequence, read_set

RNG = np.random.default_rng(0)


def edge_set(ei):
    return set(map(tuple, ei.t().tolist()))


# --- images ------------------------------------------------------------------------------

@pytest.mark.parametrize('shape,chw', [((5, 7), (1, 5, 7)), ((5, 7, 3), (3, 5, 7)),
                                       ((3, 5, 7), (3, 5, 7)), ((5, 7, 4), (4, 5, 7))])
def test_npy_image_layouts(tmp_path, shape, chw):
    arr = RNG.random(shape).astype(np.float32)
    np.save(tmp_path / 'a.npy', arr)
    img = read_image(tmp_path / 'a.npy')
    assert img.dtype == torch.float32 and tuple(img.shape) == chw
    ref = arr[None] if arr.ndim == 2 else (arr if shape[0] == 3 else np.moveaxis(arr, -1, 0))
    assert torch.equal(img, torch.from_numpy(np.ascontiguousarray(ref)))


def test_npy_uint8_scaled_and_ambiguous(tmp_path):
    arr = RNG.integers(0, 256, (6, 8), dtype=np.uint8)
    np.save(tmp_path / 'u.npy', arr)
    assert torch.allclose(read_image(tmp_path / 'u.npy')[0],
                          torch.from_numpy(arr.astype(np.float32) / 255), atol=0)
    assert torch.equal(read_image(tmp_path / 'u.npy', scale=False)[0],
                       torch.from_numpy(arr.astype(np.float32)))
    np.save(tmp_path / 'amb.npy', np.zeros((3, 5, 3), np.float32))
    with pytest.raises(FormatError, match='channels_first'):
        read_image(tmp_path / 'amb.npy')
    assert read_image(tmp_path / 'amb.npy', channels_first=False).shape == (3, 3, 5)


@pytest.mark.parametrize('mode,channels', [('L', 1), ('RGB', 3), ('RGBA', 4)])
def test_png_roundtrip(tmp_path, mode, channels):
    Image = pytest.importorskip('PIL.Image')
    shape = (9, 11) if channels == 1 else (9, 11, channels)
    arr = RNG.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(arr, mode).save(tmp_path / 'a.png')
    img = read_image(tmp_path / 'a.png')
    ref = arr[None] if channels == 1 else np.moveaxis(arr, -1, 0)
    assert img.shape == (channels, 9, 11)
    assert torch.equal(img, torch.from_numpy(ref.astype(np.float32)) / 255)


def test_jpeg_and_mislabelled(tmp_path):
    Image = pytest.importorskip('PIL.Image')
    arr = np.full((8, 8, 3), (200, 30, 90), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / 'a.jpg', quality=100)
    img = read_image(tmp_path / 'a.jpg')
    assert img.shape == (3, 8, 8)
    assert (img * 255 - torch.tensor([200., 30., 90.]).view(3, 1, 1)).abs().max() < 3
    Image.fromarray(arr).save(tmp_path / 'png_named.jpg', format='PNG')
    with pytest.raises(FormatError, match=r'png_named.jpg: the content is PNG, not JPEG'):
        read_image(tmp_path / 'png_named.jpg')
    (tmp_path / 'text.png').write_text('hello')
    with pytest.raises(FormatError, match='text.png: cannot read the image'):
        read_image(tmp_path / 'text.png')


def test_truncated_png(tmp_path):
    Image = pytest.importorskip('PIL.Image')
    Image.fromarray(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / 'a.png')
    blob = (tmp_path / 'a.png').read_bytes()
    (tmp_path / 't.png').write_bytes(blob[:len(blob) // 2])
    with pytest.raises(FormatError, match='t.png'):
        read_image(tmp_path / 't.png')


class Boom:
    """Unpickling this runs code: the readers must never do it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_npy_never_unpickles(tmp_path):
    marker = tmp_path / 'pwned'
    arr = np.empty(1, dtype=object)
    arr[0] = Boom(marker)
    np.save(tmp_path / 'evil.npy', arr, allow_pickle=True)
    with pytest.raises(FormatError, match='evil.npy: NPY array of dtype object .pickled'):
        read_image(tmp_path / 'evil.npy')
    with pytest.raises(FormatError, match='evil.npy'):
        read_points(tmp_path / 'evil.npy')
    assert not marker.exists()


def test_pt_never_unpickles(tmp_path):
    marker = tmp_path / 'pwned'
    torch.save({'x': Boom(marker)}, tmp_path / 'evil.pt')
    with pytest.raises(FormatError, match='evil.pt: holds Python objects other than tensors'):
        load_data(tmp_path / 'evil.pt')
    with pytest.raises(FormatError, match='evil.pt'):
        load(tmp_path / 'evil.pt')
    assert not marker.exists()
    # the same inside a dataset folder
    root = tmp_path / 'ds'
    (root / 'processed').mkdir(parents=True)
    torch.save((Boom(marker), {}), root / 'processed' / 'data.pt')
    with pytest.raises(FormatError, match='data.pt'):
        GraphDataset(root)
    assert not marker.exists()


# --- point clouds ------------------------------------------------------------------------

def cloud(n=7, f=2):
    return RNG.random((n, 3)).astype(np.float32), RNG.random((n, f)).astype(np.float32)


def test_xyz_csv_npy_points(tmp_path):
    pos, feat = cloud()
    table = np.concatenate([pos, feat], 1)
    np.savetxt(tmp_path / 'a.xyz', table, fmt='%.9g')
    np.savetxt(tmp_path / 'a.csv', table, fmt='%.9g', delimiter=',')
    np.save(tmp_path / 'a.npy', table)
    for name in ('a.xyz', 'a.csv', 'a.npy'):
        p, x = read_points(tmp_path / name)
        assert torch.equal(p, torch.from_numpy(pos)) and torch.equal(x, torch.from_numpy(feat))
    # a header names the position columns in any order
    cols = np.stack([feat[:, 0], pos[:, 2], pos[:, 0], pos[:, 1]], 1)
    np.savetxt(tmp_path / 'h.csv', cols, fmt='%.9g', delimiter=',', header='intensity,z,x,y',
               comments='')
    p, x = read_points(tmp_path / 'h.csv')
    assert torch.equal(p, torch.from_numpy(pos)) and torch.equal(x[:, 0], torch.from_numpy(
        feat[:, 0]))
    np.savetxt(tmp_path / 'only.xyz', pos, fmt='%.9g')
    assert read_points(tmp_path / 'only.xyz')[1] is None


def test_points_errors_name_line(tmp_path):
    (tmp_path / 'a.xyz').write_text('0 0 0\n1 2\n')
    with pytest.raises(FormatError, match=r'a.xyz: line 2 has 2 column\(s\), expected 3'):
        read_points(tmp_path / 'a.xyz')
    (tmp_path / 'b.csv').write_text('x,y,z\n0,0,0\n1,abc,2\n')
    with pytest.raises(FormatError, match=r"b.csv: line 3: 'abc' is not a number"):
        read_points(tmp_path / 'b.csv')
    (tmp_path / 'c.xyz').write_text('0 0 nan\n')
    with pytest.raises(FormatError, match='non-finite'):
        read_points(tmp_path / 'c.xyz')
    (tmp_path / 'd.xyz').write_text('0 0\n1 1\n')
    with pytest.raises(FormatError, match='at least 3'):
        read_points(tmp_path / 'd.xyz')


def write_ply(path, pos, feat, fmt, faces_first=False):
    n = len(pos)
    faces = [[0, 1, 2], [1, 2, 3]]
    head = ['ply', f'format {fmt} 1.0', 'comment made by a test']
    vert = [f'element vertex {n}', 'property float x', 'property float y', 'property float z',
            'property double quality', 'property uchar red']
    face = [f'element face {len(faces)}', 'property list uchar int vertex_indices']
    head += (face + vert) if faces_first else (vert + face)
    head += ['end_header']
    body = b''
    red = (feat[:, 1] * 255).astype(np.uint8)
    if fmt == 'ascii':
        vlines = ''.join(f'{a!r} {b!r} {c!r} {q!r} {r}\n' for (a, b, c), q, r in
                         zip(pos.tolist(), feat[:, 0].astype(np.float64).tolist(), red))
        flines = ''.join(f'3 {a} {b} {c}\n' for a, b, c in faces)
        body = ((flines + vlines) if faces_first else (vlines + flines)).encode()
    else:
        o = '<' if fmt == 'binary_little_endian' else '>'
        vb = b''.join(struct.pack(o + 'fffdB', *p, float(q), int(r)) for p, q, r in
                      zip(pos.tolist(), feat[:, 0].tolist(), red))
        fb = b''.join(struct.pack(o + 'B3i', 3, *f) for f in faces)
        body = (fb + vb) if faces_first else (vb + fb)
    path.write_bytes(('\n'.join(head) + '\n').encode() + body)
    return red


@pytest.mark.parametrize('fmt', ['ascii', 'binary_little_endian', 'binary_big_endian'])
@pytest.mark.parametrize('faces_first', [False, True])
def test_ply_points(tmp_path, fmt, faces_first):
    pos, feat = cloud(5)
    red = write_ply(tmp_path / 'a.ply', pos, feat, fmt, faces_first)
    p, x = read_points(tmp_path / 'a.ply')
    assert torch.equal(p, torch.from_numpy(pos))
    assert torch.equal(x[:, 0], torch.from_numpy(feat[:, 0]))
    assert torch.equal(x[:, 1], torch.from_numpy(red.astype(np.float32)))


def test_ply_truncated_and_mislabelled(tmp_path):
    pos, feat = cloud(50)
    write_ply(tmp_path / 'a.ply', pos, feat, 'binary_little_endian')
    blob = (tmp_path / 'a.ply').read_bytes()
    (tmp_path / 't.ply').write_bytes(blob[:len(blob) // 2])
    with pytest.raises(FormatError, match=r't.ply: truncated: the header declares 50 vertices'):
        read_points(tmp_path / 't.ply')
    with open(tmp_path / 'npy.ply', 'wb') as f:
        np.save(f, pos)
    with pytest.raises(FormatError, match="npy.ply: not a PLY file"):
        read_points(tmp_path / 'npy.ply')


# --- graphs -------------------------------------------------------------------------------

def attributed_graph(directed=False):
    g = nx.DiGraph() if directed else nx.Graph()
    for i in range(6):
        g.add_node(f'n{i}', weight=float(i), feat=float(2 * i), name=f'node {i}')
    for u, v, w in [(0, 1, 0.5), (1, 2, 1.5), (2, 0, 2.5), (3, 4, 3.5), (4, 4, 4.5)]:
        g.add_edge(f'n{u}', f'n{v}', weight=w)
    return g


def check_attributed(data, directed=False):
    assert data.num_nodes == 6
    assert torch.equal(data.x, torch.tensor([[2. * i, float(i)] for i in range(6)]))  # feat,wt
    want = {(0, 1), (1, 2), (2, 0), (3, 4), (4, 4)}
    if not directed:
        want |= {(v, u) for u, v in want}
    assert edge_set(data.edge_index) == want and data.edge_index.size(1) == len(want)
    w = {(u, v): a for (u, v), a in zip(data.edge_index.t().tolist(),
                                         data.edge_attr.view(-1).tolist())}
    assert w[(3, 4)] == 3.5 and w[(4, 4)] == 4.5
    if not directed:
        assert w[(4, 3)] == 3.5


@pytest.mark.parametrize('directed', [False, True])
def test_graphml_gml_json(tmp_path, directed):
    g = attributed_graph(directed)
    nx.write_graphml(g, tmp_path / 'g.graphml')
    check_attributed(read_graph(tmp_path / 'g.graphml'), directed)
    nx.write_gml(g, tmp_path / 'g.gml')
    check_attributed(read_graph(tmp_path / 'g.gml'), directed)
    (tmp_path / 'g.json').write_text(json.dumps(nx.node_link_data(g, edges='links')))
    check_attributed(read_graph(tmp_path / 'g.json'), directed)


def test_networkx_roundtrip():
    from torch_geometric.utils import to_networkx
    g = nx.karate_club_graph()
    data = from_networkx_graph(g)
    assert data.num_nodes == 34 and data.edge_index.size(1) == 2 * g.number_of_edges()
    back = to_networkx(data, to_undirected=True)
    assert set(map(frozenset, back.edges)) == set(map(frozenset, g.edges))
    assert data.edge_attr.shape == (156, 1)  # karate's 'weight'


def test_edge_lists(tmp_path):
    (tmp_path / 'a.edgelist').write_text('# comment\n0 1\n1 2\n2 0\n5 5\n')
    d = read_graph(tmp_path / 'a.edgelist')
    assert d.num_nodes == 6  # integer names are indices: nodes 3 and 4 are isolated
    assert edge_set(d.edge_index) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2), (5, 5)}
    d = read_graph(tmp_path / 'a.edgelist', directed=True)
    assert edge_set(d.edge_index) == {(0, 1), (1, 2), (2, 0), (5, 5)}
    (tmp_path / 'b.csv').write_text('source,target,weight\nalice,bob,1.5\nbob,carol,2\n'
                                    'bob,alice,1.5\n')
    d = read_graph(tmp_path / 'b.csv')
    assert d.num_nodes == 3 and d.edge_index.size(1) == 4  # a->b listed twice: kept once
    assert sorted(d.edge_attr.view(-1).tolist()) == [1.5, 1.5, 2.0, 2.0]
    (tmp_path / 'c.tsv').write_text('0\t1\t1.0\n1\t2\n')
    with pytest.raises(FormatError, match=r'c.tsv: line 2 has 2 fields, expected 3'):
        read_graph(tmp_path / 'c.tsv')
    (tmp_path / 'd.edges').write_text('0 1 x\n')
    with pytest.raises(FormatError, match='line 1: an edge attribute is not a number'):
        read_graph(tmp_path / 'd.edges')
    with pytest.raises(ValueError, match='directed= applies to edge lists only'):
        read_graph(tmp_path / 'g.graphml', directed=True)


def test_graph_format_errors(tmp_path):
    (tmp_path / 'a.graphml').write_text('<graphml><graph><node id="a"')
    with pytest.raises(FormatError, match='a.graphml: cannot parse the graph'):
        read_graph(tmp_path / 'a.graphml')
    (tmp_path / 'b.json').write_text('[1, 2, 3]')
    with pytest.raises(FormatError, match="b.json: not node-link JSON"):
        read_graph(tmp_path / 'b.json')
    (tmp_path / 'c.gml').write_text('graph [ node [ id 0 ] edge [ source 0 target 7 ] ]')
    with pytest.raises(FormatError, match='c.gml: cannot parse the graph'):
        read_graph(tmp_path / 'c.gml')


# --- sequences and sets -------------------------------------------------------------------

def test_sequences_and_sets(tmp_path):
    seq = RNG.random((9, 2)).astype(np.float32)
    np.savetxt(tmp_path / 's.csv', seq, fmt='%.9g', delimiter=',', header='a,b', comments='')
    np.save(tmp_path / 's.npy', seq)
    np.save(tmp_path / 'one.npy', seq[:, 0])
    for name in ('s.csv', 's.npy'):
        assert torch.equal(read_sequence(tmp_path / name), torch.from_numpy(seq))
        assert torch.equal(read_set(tmp_path / name), torch.from_numpy(seq))
    assert read_sequence(tmp_path / 'one.npy').shape == (9, 1)
    np.save(tmp_path / 'cube.npy', np.zeros((2, 2, 2)))
    with pytest.raises(FormatError, match=r'cube.npy: a table must be 1-D or 2-D'):
        read_sequence(tmp_path / 'cube.npy')
    (tmp_path / 'e.csv').write_text('a,b\n')
    with pytest.raises(FormatError, match='e.csv: a header but no data rows'):
        read_sequence(tmp_path / 'e.csv')


def test_large_table_fast_path_matches(tmp_path):
    table = RNG.random((300, 4))
    np.savetxt(tmp_path / 'big.csv', table, fmt='%.17g', delimiter=',')
    assert torch.equal(read_set(tmp_path / 'big.csv'), torch.from_numpy(table.astype(
        np.float32)))
    lines = (tmp_path / 'big.csv').read_text().splitlines()
    lines[250] = '1,2,3'
    (tmp_path / 'bad.csv').write_text('\n'.join(lines))
    with pytest.raises(FormatError, match=r'bad.csv: line 251 has 3 column\(s\), expected 4'):
        read_set(tmp_path / 'bad.csv')


# --- writers ------------------------------------------------------------------------------

def graphs(n=5):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        k = 3 + i
        out.append(Data(x=torch.randn(k, 2, generator=g),
                        edge_index=torch.randint(0, k, (2, 2 * k), generator=g),
                        y=torch.tensor([i % 2])))
    return out


def same(a, b):
    assert set(a.keys()) == set(b.keys())
    for key in a.keys():
        if isinstance(b[key], str):
            assert a[key] == b[key], key
        elif isinstance(b[key], int):  # PyG's collation turns an int into a tensor [1]
            assert torch.as_tensor(a[key]).view(-1).tolist() == [b[key]], key
        else:
            assert torch.equal(a[key], b[key]), key


def test_save_load_data(tmp_path):
    d = graphs(1)[0]
    save_data(d, tmp_path / 'g.pt')
    same(load_data(tmp_path / 'g.pt'), d)
    same(torch.load(tmp_path / 'g.pt', weights_only=False), d)  # PyG's own format
    same(load(tmp_path / 'g.pt'), d)
    with pytest.raises(ValueError, match='save_data needs a torch_geometric Data'):
        save_data({'x': 1}, tmp_path / 'bad.pt')


def test_dataset_roundtrip_and_pyg_layout(tmp_path):
    data_list = graphs()
    root = save_dataset(data_list, tmp_path / 'ds', {'classes': ['even', 'odd']})
    assert sorted(p.name for p in (root / 'processed').iterdir()) == [
        'data.pt', 'meta.json', 'pre_filter.pt', 'pre_transform.pt']
    ds = GraphDataset(root)
    assert len(ds) == 5 and ds.classes == ['even', 'odd']
    for a, b in zip(ds, data_list):
        same(a, b)

    class Mine(InMemoryDataset):  # any PyG dataset with the standard layout opens it
        @property
        def processed_file_names(self):
            return ['data.pt']

        def process(self):
            raise AssertionError('must not reprocess')

        def __init__(self, root):
            super().__init__(root, log=False)
            self.load(self.processed_paths[0])

    for a, b in zip(Mine(str(root)), data_list):
        same(a, b)
    same(load(root / 'processed' / 'data.pt')[3], data_list[3])
    with pytest.raises(ValueError, match='exists; choose another output'):
        save_dataset(data_list, root)
    save_dataset(data_list[:2], root, overwrite=True)
    assert len(GraphDataset(root)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ['ds']  # no temporary leftovers


def test_writers_leave_no_partial_output(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', broken)
    with pytest.raises(OSError, match='disk full'):
        save_data(graphs(1)[0], tmp_path / 'g.pt')
    with pytest.raises(OSError, match='disk full'):
        save_dataset(graphs(), tmp_path / 'ds')
    assert list(tmp_path.iterdir()) == []


def test_corrupt_datasets(tmp_path):
    root = save_dataset(graphs(), tmp_path / 'ds')
    path = root / 'processed' / 'data.pt'
    blob = path.read_bytes()
    path.write_bytes(blob[:len(blob) // 2])
    with pytest.raises(FormatError, match=r'data.pt: not a loadable PyG file'):
        GraphDataset(root)
    data, slices = InMemoryDataset.collate(graphs())
    slices['x'] = slices['x'].clone()
    slices['x'][-1] += 3
    torch.save((data.to_dict(), slices, Data), path)
    with pytest.raises(FormatError, match="the slices of 'x' end at"):
        GraphDataset(root)
    with pytest.raises(FormatError, match='not a dataset folder'):
        GraphDataset(tmp_path / 'nothing')
    torch.save([1, 2], tmp_path / 'list.pt')
    with pytest.raises(FormatError, match='list.pt: holds a list'):
        load(tmp_path / 'list.pt')
    assert safe_load(tmp_path / 'list.pt') == [1, 2]


def test_merge_collated_equals_one_collate():
    from gdl_graphs.io.data import collate, merge_collated
    g = torch.Generator().manual_seed(1)
    data_list = []
    for i in range(7):
        k = 2 + i % 3
        data_list.append(Data(x=torch.randn(k, 2, generator=g),
                              edge_index=torch.randint(0, k, (2, i), generator=g),
                              face=torch.randint(0, k, (3, 1), generator=g),
                              shape=torch.tensor([[k, 1]]), tag=f't{i}', count=i,
                              num_nodes=k))
    whole = collate(data_list)
    for cuts in ([1], [3, 4], [1, 1, 5], [2, 2, 2, 1]):
        parts, start = [], 0
        for c in cuts + [7 - sum(cuts)] if sum(cuts) < 7 else cuts:
            parts.append(collate(data_list[start:start + c]))
            start += c
        data, slices = merge_collated(parts)
        assert set(data) == set(whole[0]) and set(slices) == set(whole[1])
        for key, value in whole[0].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(data[key], value), key
            else:
                assert data[key] == value, key
        for key, value in whole[1].items():
            assert torch.equal(slices[key], value), key
    ds = GraphDataset.from_collated(data, slices)
    for a, b in zip(ds, data_list):
        same(a, b)
    with pytest.raises(ValueError, match='different attributes'):
        merge_collated([collate(data_list[:2]), collate([Data(x=torch.ones(1, 2))])])
