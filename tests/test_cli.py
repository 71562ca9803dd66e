"""``gdl-graphs convert / info / plot`` and ``gdl_graphs.convert``: small files of every format
written here, converted with the command and the function, the graphs checked (counts,
attributes, equality with the domain converter), errors as exit code 2 and one line."""
import json
import pathlib
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import torch
from _files import run_cli as run  # noqa: E402

from gdl_graphs.convert import convert, domain_options, parse_value
from gdl_graphs.info import info, structure_name
from gdl_graphs.io import FormatError, GraphDataset, load, load_data
from gdl_graphs.testing.euclidean import assert_nearest_neighbours

RNG = np.random.default_rng(1)


def same(a, b):
    assert set(a.keys()) == set(b.keys()), (sorted(a.keys()), sorted(b.keys()))
    for key in a.keys():
        va, vb = a[key], b[key]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va.as_subclass(torch.Tensor), vb.as_subclass(torch.Tensor)), key
        else:
            assert va == vb, key


# --- one file per domain: command == function == the domain's converter -------------------

def test_grid_png_and_npy(tmp_path, capsys):
    Image = pytest.importorskip('PIL.Image')
    from gdl_graphs.domains.grid import graph_to_image, image_to_graph
    arr = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / 'a.png')
    code, out, err = run(capsys, 'convert', tmp_path / 'a.png', '-o', tmp_path / 'a.pt',
                         '--as', 'grid', '--kernel-size', 3, '--padding', 'circular')
    assert code == 0 and 'wrote' in out and err == ''
    data = load_data(tmp_path / 'a.pt')
    img = torch.from_numpy(np.moveaxis(arr, -1, 0).astype(np.float32)) / 255
    same(data, image_to_graph(img, kernel_size=3, padding='circular'))
    same(data, convert(tmp_path / 'a.png', 'grid', kernel_size=3, padding='circular'))
    assert data.num_nodes == 30 and data.edge_index.size(1) == 9 * 30  # torus: 9 taps each
    assert torch.equal(graph_to_image(data.x, data), img)  # the image round trip
    np.save(tmp_path / 'b.npy', np.zeros((4, 7), np.float32))
    d = convert(tmp_path / 'b.npy', 'grid', kernel_size=3)
    # zero padding: offset (dy, dx) keeps (4 - |dy|) * (7 - |dx|) edges
    assert d.num_nodes == 28 and d.edge_index.size(1) == sum(
        (4 - abs(dy)) * (7 - abs(dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert structure_name(d) == 'lattice'


def test_set_and_sequence(tmp_path, capsys):
    from gdl_graphs.domains.sequence import sequence_to_graph
    from gdl_graphs.domains.set import set_to_graph
    table = RNG.random((7, 3)).astype(np.float32)
    np.savetxt(tmp_path / 't.csv', table, fmt='%.9g', delimiter=',')
    np.save(tmp_path / 't.npy', table)
    for name in ('t.csv', 't.npy'):
        code, _, _ = run(capsys, 'convert', tmp_path / name, '-o', tmp_path / 'set.pt', '--as',
                         'set', '--overwrite')
        assert code == 0
        same(load_data(tmp_path / 'set.pt'), set_to_graph(torch.from_numpy(table)))
        code, _, _ = run(capsys, 'convert', tmp_path / name, '-o', tmp_path / 'seq.pt', '--as',
                         'sequence', '--overwrite')
        seq = load_data(tmp_path / 'seq.pt')
        same(seq, sequence_to_graph(torch.from_numpy(table)))
        assert seq.edge_index.tolist() == [list(range(6)), list(range(1, 7))]
    assert structure_name(load_data(tmp_path / 'set.pt')) == 'edgeless'
    assert structure_name(load_data(tmp_path / 'seq.pt')) == 'path'


def test_graph_formats(tmp_path, capsys):
    g = nx.les_miserables_graph()  # 77 nodes, weighted
    nx.write_graphml(g, tmp_path / 'g.graphml')
    nx.write_gml(g, tmp_path / 'g.gml')
    (tmp_path / 'g.json').write_text(json.dumps(nx.node_link_data(g, edges='edges')))
    nx.write_edgelist(g, tmp_path / 'g.edgelist', data=['weight'])
    ref = None
    for name in ('g.graphml', 'g.gml', 'g.json', 'g.edgelist'):
        code, _, err = run(capsys, 'convert', tmp_path / name, '-o', tmp_path / f'{name}.pt',
                           '--as', 'graph')
        assert code == 0, err
        d = load_data(tmp_path / f'{name}.pt')
        assert d.num_nodes == 77 and d.edge_index.size(1) == 2 * g.number_of_edges()
        assert d.edge_attr.shape == (2 * g.number_of_edges(), 1)
        edges = sorted(zip(d.edge_index[0].tolist(), d.edge_index[1].tolist(),
                           d.edge_attr.view(-1).tolist()))
        if name == 'g.edgelist':  # names numbered by first appearance: compare degrees
            assert sorted(torch.bincount(d.edge_index[0]).tolist()) == sorted(
                dict(g.degree).values())
            continue
        ref = ref or edges
        assert edges == ref
    code, _, _ = run(capsys, 'convert', tmp_path / 'g.edgelist', '-o', tmp_path / 'dir.pt',
                     '--as', 'graph', '--directed')
    assert load_data(tmp_path / 'dir.pt').edge_index.size(1) == g.number_of_edges()


def test_mesh_obj_off_ply(tmp_path, capsys):
    from gdl_graphs.domains.mesh import mesh_to_graph, sphere_mesh
    from gdl_graphs.io import read_mesh, write_mesh
    pos, face = sphere_mesh(5, 8)
    ref = None
    for name, binary in (('m.obj', False), ('m.off', False), ('m.ply', True)):
        write_mesh(tmp_path / name, pos, face, binary=binary)
        code, _, err = run(capsys, 'convert', tmp_path / name, '-o', tmp_path / f'{name}.pt',
                           '--as', 'mesh')
        assert code == 0, err
        d = load_data(tmp_path / f'{name}.pt')
        same(d, mesh_to_graph(*read_mesh(tmp_path / name)))
        assert d.num_nodes == pos.size(0) and d.face.size(1) == face.size(1)
        assert structure_name(d) == 'mesh with gauges'
        ref = ref or d
        assert torch.allclose(d.connection, ref.connection, atol=1e-5)


def test_pointcloud(tmp_path, capsys):
    pc = pytest.importorskip('gdl_graphs.domains.pointcloud')
    pos = RNG.random((40, 3)).astype(np.float32)
    feat = RNG.random((40, 1)).astype(np.float32)
    np.savetxt(tmp_path / 'p.xyz', np.concatenate([pos, feat], 1), fmt='%.9g')
    code, _, err = run(capsys, 'convert', tmp_path / 'p.xyz', '-o', tmp_path / 'p.pt', '--as',
                       'pointcloud', '--k', 4)
    assert code == 0, err
    d = load_data(tmp_path / 'p.pt')
    same(d, pc.to_graph(torch.from_numpy(pos), torch.from_numpy(feat), k=4))
    assert torch.equal(d.pos, torch.from_numpy(pos)) and torch.equal(d.x, torch.from_numpy(feat))
    assert d.edge_index.size(1) == 40 * 4  # k neighbours per point
    # each point's 4 sources are its 4 nearest other points (up to near-ties)
    assert_nearest_neighbours(d.pos, d.edge_index, 4)
    code, _, err = run(capsys, 'convert', tmp_path / 'p.xyz', '-o', tmp_path / 'q.pt', '--as',
                       'pointcloud')
    assert code == 2 and '--as pointcloud needs a neighbourhood' in err
    r = convert(tmp_path / 'p.xyz', 'pointcloud', r=0.3)
    same(r, pc.to_graph(torch.from_numpy(pos), torch.from_numpy(feat), r=0.3))


# --- folders: datasets with labels ----------------------------------------------------------

def image_folder(root, classes=('cat', 'dog'), per_class=3, size=(5, 6)):
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            np.save(root / c / f'{i}.npy', RNG.random(size).astype(np.float32))
    return root


def test_folder_with_class_subfolders(tmp_path, capsys):
    src = image_folder(tmp_path / 'imgs')
    code, out, err = run(capsys, 'convert', src, '-o', tmp_path / 'ds', '--as', 'grid')
    assert code == 0 and 'wrote' in out and '6/6' in err  # the progress bar
    ds = GraphDataset(tmp_path / 'ds')
    assert len(ds) == 6 and ds.classes == ['cat', 'dog']
    assert ds._data.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.meta['files'][3] == 'dog/0.npy' and ds.meta['domain'] == 'grid'
    from gdl_graphs.domains.grid import image_to_graph
    img = torch.from_numpy(np.load(src / 'dog' / '0.npy'))[None]
    ref = image_to_graph(img)
    ref.y = torch.tensor([1])
    same(ds[3], ref)
    fn = convert(src, 'grid', progress=False)  # the function, nothing written
    assert len(fn) == 6 and torch.equal(fn._data.x, ds._data.x)
    code, out, _ = run(capsys, 'info', tmp_path / 'ds')
    assert code == 0
    assert 'dataset of 6 graphs (--as grid)' in out
    assert 'nodes per graph: min 30  mean 30.0  max 30' in out
    assert 'structure: lattice (6)' in out
    assert 'labels: 2 classes: cat (3), dog (3)' in out
    assert 'x                 float32 [30, 1]' in out


def test_workers_give_the_same_dataset(tmp_path, capsys):
    src = image_folder(tmp_path / 'imgs', per_class=5)
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'w', '--as', 'grid',
                       '--workers', 2, '-q')
    assert code == 0 and err == ''  # --quiet: no progress bar
    a, b = GraphDataset(tmp_path / 'w'), convert(src, 'grid', progress=False)
    assert len(a) == len(b) == 10
    for i in range(10):
        same(a[i], b[i])


def test_labels_csv(tmp_path, capsys):
    src = tmp_path / 'seqs'
    src.mkdir()
    for i in range(4):
        np.savetxt(src / f's{i}.csv', RNG.random((3 + i, 2)), delimiter=',')
    (tmp_path / 'labels.csv').write_text('file,label\ns0.csv,up\ns1,down\ns2.csv,up\n'
                                         's3.csv,up\n')
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'ds', '--as', 'sequence',
                       '--labels', tmp_path / 'labels.csv', '-q')
    assert code == 0, err
    ds = GraphDataset(tmp_path / 'ds')
    assert ds.classes == ['down', 'up'] and ds._data.y.tolist() == [1, 0, 1, 1]
    assert [d.num_nodes for d in ds] == [3, 4, 5, 6]
    (tmp_path / 'num.csv').write_text('s0.csv,0.5\ns1.csv,1\ns2.csv,2\ns3.csv,3\n')
    reg = convert(src, 'sequence', labels=tmp_path / 'num.csv', progress=False)
    assert reg._data.y.dtype == torch.float32 and reg._data.y.tolist() == [0.5, 1, 2, 3]
    info_text = info(reg)
    assert info_text['labels'] == {'kind': 'regression', 'min': 0.5, 'max': 3.0}


def test_mislabelled_inputs_exit_2_with_one_line(tmp_path, capsys):
    src = image_folder(tmp_path / 'imgs')
    (tmp_path / 'miss.csv').write_text('cat/0.npy,a\ncat/1.npy,a\ncat/2.npy,b\ndog/0.npy,b\n'
                                       'dog/1.npy,b\n')
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'o1', '--as', 'grid',
                       '--labels', tmp_path / 'miss.csv', '-q')
    assert code == 2 and err.count('\n') == 1
    assert err.startswith('gdl-graphs convert: error: ') and 'dog/2.npy: has no label in' in err
    (tmp_path / 'extra.csv').write_text('cat/0.npy,a\nbird/9.npy,a\n')
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'o2', '--as', 'grid',
                       '--labels', tmp_path / 'extra.csv', '-q')
    assert code == 2 and "extra.csv: line 2: 'bird/9.npy' is not one of the input files" in err
    np.save(src / 'loose.npy', np.zeros((5, 6), np.float32))
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'o3', '--as', 'grid', '-q')
    assert code == 2 and 'loose.npy: is not in a class subfolder' in err
    (src / 'loose.npy').unlink()
    (src / 'dog' / '1.npy').write_bytes(b'\x93NUMPY garbage')  # a corrupt file in the folder
    code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'o4', '--as', 'grid', '-q',
                       '--workers', 2)
    assert code == 2 and 'dog/1.npy: corrupt NPY file' in err and err.count('\n') == 1
    np.save(src / 'dog' / '1.npy', np.zeros((5, 6, 3), np.float32))  # RGB among greyscale
    for workers in (0, 2):
        code, _, err = run(capsys, 'convert', src, '-o', tmp_path / 'o5', '--as', 'grid', '-q',
                           '--workers', workers)
        assert code == 2 and err.count('\n') == 1
        assert "dog/1.npy: gives x = ('float32', ['*', 3]), but" in err
        assert "gives ('float32', ['*', 1]); the files of a folder must agree" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['extra.csv', 'imgs', 'miss.csv']


def test_errors_from_a_subprocess_have_no_traceback(tmp_path):
    (tmp_path / 'bad.ply').write_bytes(b'ply\nformat ascii 1.0\nelement vertex 3\n'
                                       b'property float x\nend_header\n1\n')
    argv = ['convert', str(tmp_path / 'bad.ply'), '-o', str(tmp_path / 'out.pt'), '--as',
            'pointcloud', '--k', '2']
    proc = subprocess.run([sys.executable, '-m', 'gdl_graphs'] + argv, capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
    assert 'bad.ply' in proc.stderr and not (tmp_path / 'out.pt').exists()


def test_options_and_outputs(tmp_path, capsys):
    np.save(tmp_path / 'a.npy', np.zeros((6, 6), np.float32))
    code, _, err = run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as',
                       'grid', '-O', 'bogus=1')
    assert code == 2 and "unknown option(s) ['bogus'] for --as grid" in err
    assert 'kernel_size' in err
    code, _, err = run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as',
                       'grid', '-O', 'kernel_size=4')
    assert code == 2 and 'a.npy: ' in err  # the converter refuses an even kernel, named
    assert run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as', 'grid',
               '-O', 'kernel_size=5', '-q')[0] == 0
    assert load_data(tmp_path / 'a.pt').lattice_kernel.tolist() == [[5, 5]]
    code, _, err = run(capsys, 'convert', tmp_path / 'a.npy', '-o', tmp_path / 'a.pt', '--as',
                       'grid')
    assert code == 2 and 'a.pt exists' in err and '--overwrite' in err
    code, _, err = run(capsys, 'convert', tmp_path / 'nope', '-o', tmp_path / 'x.pt', '--as',
                       'grid')
    assert code == 2 and 'nope: no such file or folder' in err
    code, _, err = run(capsys, 'info', tmp_path / 'a.npy')
    assert code == 2 and 'a.npy: not a file written by torch.save (it looks like a NumPy' in err
    assert parse_value('3,3') == (3, 3) and parse_value('false') is False
    assert parse_value('0.5') == 0.5 and parse_value('zeros') == 'zeros'
    assert {'kernel_size', 'dilation', 'padding', 'channels_first', 'scale'} <= set(
        domain_options('grid'))
    with pytest.raises(ValueError, match="unknown domain 'video'"):
        convert(tmp_path / 'a.npy', 'video')
    with pytest.raises(FormatError, match='no .png/.jpg/.jpeg/.npy files in this folder'):
        (tmp_path / 'empty').mkdir()
        convert(tmp_path / 'empty', 'grid')


def test_info_of_one_graph(tmp_path, capsys):
    g = nx.path_graph(4)
    nx.write_edgelist(g, tmp_path / 'p.edges', data=False)
    convert(tmp_path / 'p.edges', 'graph', tmp_path / 'p.pt')
    code, out, _ = run(capsys, 'info', tmp_path / 'p.pt')
    assert code == 0
    assert out.splitlines()[:2] == [f'{tmp_path / "p.pt"}: one graph, structure general',
                                    '  nodes: 4   edges: 6']
    assert 'edge_index  int64 [2, 6]' in out
    assert info(load(tmp_path / 'p.pt'))['num_edges'] == 6


def test_package_exports():
    import gdl_graphs
    import gdl_graphs.io as io
    assert callable(gdl_graphs.convert), \
        'gdl_graphs/__init__.py must export it: from .convert import convert'
    for name in ('read_image', 'read_points', 'read_graph', 'read_sequence', 'read_mesh',
                 'GraphDataset', 'save_data', 'load'):
        assert hasattr(io, name)


# --- plot: a non-empty PNG for every structure --------------------------------------------

def make_outputs(tmp_path):
    from gdl_graphs.domains.mesh import sphere_mesh
    from gdl_graphs.io import write_mesh
    outs = {}
    np.save(tmp_path / 'img.npy', RNG.random((6, 7, 3)).astype(np.float32))
    outs['lattice'] = convert(tmp_path / 'img.npy', 'grid', tmp_path / 'img.pt')
    write_mesh(tmp_path / 'm.off', *sphere_mesh(5, 8))
    outs['mesh with gauges'] = convert(tmp_path / 'm.off', 'mesh', tmp_path / 'm.pt')
    np.savetxt(tmp_path / 's.csv', RNG.random((12, 2)), delimiter=',')
    outs['path'] = convert(tmp_path / 's.csv', 'sequence', tmp_path / 'seq.pt')
    outs['edgeless'] = convert(tmp_path / 's.csv', 'set', tmp_path / 'set.pt')
    nx.write_graphml(nx.karate_club_graph(), tmp_path / 'k.graphml')
    outs['general'] = convert(tmp_path / 'k.graphml', 'graph', tmp_path / 'k.pt')
    return outs


def png_ok(path):
    blob = pathlib.Path(path).read_bytes()
    return blob.startswith(b'\x89PNG\r\n\x1a\n') and len(blob) > 2000


def test_plot_every_structure(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    outs = make_outputs(tmp_path)
    for name, data in outs.items():
        assert structure_name(data) == name
    for stem in ('img', 'm', 'seq', 'set', 'k'):
        code, out, err = run(capsys, 'plot', tmp_path / f'{stem}.pt', '-o',
                             tmp_path / f'{stem}.png')
        assert code == 0, err
        assert png_ok(tmp_path / f'{stem}.png'), stem
    from torch_geometric.data import Data

    from gdl_graphs.viz import plot_data, plot_pointcloud, save_figure
    cloud = Data(pos=torch.rand(50, 3), x=torch.rand(50, 1), num_nodes=50,
                 edge_index=torch.tensor([[0, 2], [1, 1]]))
    assert structure_name(cloud) == 'point cloud'
    save_figure(plot_pointcloud(cloud), tmp_path / 'pc.png')
    assert png_ok(tmp_path / 'pc.png')
    assert plot_data(cloud).axes[0].get_title() == 'point cloud: 50 points'
    complete = Data(edge_index=torch.tensor([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]]),
                    num_nodes=3)
    assert structure_name(complete) == 'complete'
    fig = plot_data(complete)
    assert fig.axes[0].get_title() == 'graph: 3 nodes, 6 edges'


def test_plot_dataset_grid_and_errors(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    src = image_folder(tmp_path / 'imgs')
    convert(src, 'grid', tmp_path / 'ds', progress=False)
    code, _, err = run(capsys, 'plot', tmp_path / 'ds', '-o', tmp_path / 'grid.png',
                       '--examples', 4)
    assert code == 0 and png_ok(tmp_path / 'grid.png')
    from gdl_graphs.viz import plot_dataset
    fig = plot_dataset(GraphDataset(tmp_path / 'ds'), examples=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith('#')]
    assert titles == ['#0: cat', '#2: cat', '#3: dog', '#5: dog']
    code, _, err = run(capsys, 'plot', tmp_path / 'ds', '-o', tmp_path / 'one.png', '--index',
                       9)
    assert code == 2 and '--index 9 is out of range for 6 graphs' in err
    code, _, err = run(capsys, 'plot', tmp_path / 'ds', '-o', tmp_path / 'f.png', '--index', 0,
                       '--feature', 'nope')
    assert code == 2 and "feature 'nope' is not a node attribute" in err
    assert not (tmp_path / 'one.png').exists() and not (tmp_path / 'f.png').exists()
