"""Fuzzing every reader with random and truncated bytes: a reader either returns or raises the
documented FormatError (a ValueError naming the file); the command exits with 0 or 2 and never
leaves a partial output."""
import io
import json
import pathlib
import tempfile

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from gdl_graphs.cli import main
from gdl_graphs.io import (
    FormatError,
    load,
    read_graph,
    read_image,
    read_mesh,
    read_points,
    read_sequence,
)
from gdl_graphs.io.data import save_dataset

FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _png(fmt):
    Image = pytest.importorskip('PIL.Image')
    buf = io.BytesIO()
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buf, format=fmt)
    return buf.getvalue()


def _graph(fmt):
    g = nx.Graph()
    g.add_edge('a', 'b', weight=1.5)
    g.add_edge('b', 'c', weight=2.0)
    nx.set_node_attributes(g, {'a': 1.0, 'b': 2.0, 'c': 3.0}, 'f')
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / f'g.{fmt}'
        if fmt == 'json':
            p.write_text(json.dumps(nx.node_link_data(g, edges='links')))
        else:
            getattr(nx, f'write_{fmt}')(g, p)
        return p.read_bytes()


def _ply(binary):
    head = (b'ply\nformat ' + (b'binary_little_endian' if binary else b'ascii') + b' 1.0\n'
            b'element vertex 4\nproperty float x\nproperty float y\nproperty float z\n'
            b'element face 2\nproperty list uchar int vertex_indices\nend_header\n')
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    if binary:
        body = pos.tobytes() + b''.join(np.array([3], np.uint8).tobytes() + np.array(
            f, np.int32).tobytes() for f in ([0, 1, 2], [0, 2, 3]))
    else:
        body = (''.join(' '.join(map(str, r)) + '\n' for r in pos.tolist())
                + '3 0 1 2\n3 0 2 3\n').encode()
    return head + body


def _trimesh_bytes(fmt):
    import trimesh
    return trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                           [[0, 1, 2], [0, 2, 3]], process=False).export(file_type=fmt)


def _pt():
    buf = io.BytesIO()
    torch.save(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]])), buf)
    return buf.getvalue()


CASES = {  # name: (reader, extension, a valid file)
    'image-npy': (read_image, '.npy', lambda: _npy(np.ones((6, 5, 3), np.float32))),
    'image-png': (read_image, '.png', lambda: _png('PNG')),
    'image-jpg': (read_image, '.jpg', lambda: _png('JPEG')),
    'points-xyz': (read_points, '.xyz', lambda: b'0 0 0 1\n1 0 0 2\n0 1 0 3\n'),
    'points-csv': (read_points, '.csv', lambda: b'x,y,z,f\n0,0,0,1\n1,0,0,2\n'),
    'points-npy': (read_points, '.npy', lambda: _npy(np.ones((5, 4), np.float32))),
    'points-ply': (read_points, '.ply', lambda: _ply(False)),
    'points-plyb': (read_points, '.ply', lambda: _ply(True)),
    'graph-graphml': (read_graph, '.graphml', lambda: _graph('graphml')),
    'graph-gml': (read_graph, '.gml', lambda: _graph('gml')),
    'graph-json': (read_graph, '.json', lambda: _graph('json')),
    'graph-edgelist': (read_graph, '.edgelist', lambda: b'0 1 0.5\n1 2 1.5\n'),
    'graph-csv': (read_graph, '.csv', lambda: b'source,target\na,b\nb,c\n'),
    'sequence-csv': (read_sequence, '.csv', lambda: b'a,b\n1,2\n3,4\n5,6\n'),
    'sequence-npy': (read_sequence, '.npy', lambda: _npy(np.ones((6, 2)))),
    'mesh-off': (read_mesh, '.off', lambda: b'OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n'
                                            b'3 0 1 2\n3 0 2 3\n'),
    'mesh-obj': (read_mesh, '.obj', lambda: b'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n'),
    'mesh-ply': (read_mesh, '.ply', lambda: _ply(True)),
    'mesh-stl': (read_mesh, '.stl', lambda: _trimesh_bytes('stl')),
    'mesh-stla': (read_mesh, '.stl', lambda: b'solid t\nfacet normal 0 0 1\nouter loop\n'
                                             b'vertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n'
                                             b'endloop\nendfacet\nendsolid t\n'),
    'mesh-glb': (read_mesh, '.glb', lambda: _trimesh_bytes('glb')),
    'graph-pt': (load, '.pt', _pt),
}


def read_or_format_error(reader, ext, blob):
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / f'f{ext}'
        path.write_bytes(blob)
        try:
            reader(path)
        except FormatError as exc:  # the documented error: one line naming the file
            assert str(exc).startswith(str(path)) and '\n' not in str(exc)


@pytest.mark.parametrize('name', sorted(CASES))
def test_valid_samples_read(name):
    reader, ext, make = CASES[name]
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / f'f{ext}'
        path.write_bytes(make())
        assert reader(path) is not None


@pytest.mark.parametrize('name', sorted(CASES))
@FUZZ
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                           max_size=3))
def test_truncated_and_flipped(name, cut, flips):
    reader, ext, make = CASES[name]
    blob = bytearray(make())
    for where, byte in flips:
        blob[min(int(where * len(blob)), len(blob) - 1)] = byte
    read_or_format_error(reader, ext, bytes(blob[:int(cut * len(blob))]))


@pytest.mark.parametrize('name', sorted(CASES))
@FUZZ
@given(blob=st.binary(max_size=200))
def test_random_bytes(name, blob):
    reader, ext, make = CASES[name]
    read_or_format_error(reader, ext, blob)


@FUZZ
@given(cut=st.integers(0, 10_000), domain=st.sampled_from(['grid', 'pointcloud', 'mesh',
                                                           'graph', 'sequence']))
def test_command_exit_code_and_no_partial_output(cut, domain):
    make = {'grid': CASES['image-npy'], 'pointcloud': CASES['points-plyb'],
            'mesh': CASES['mesh-off'], 'graph': CASES['graph-graphml'],
            'sequence': CASES['sequence-csv']}[domain]
    blob = make[2]()
    with tempfile.TemporaryDirectory() as d:
        src, out = pathlib.Path(d) / f'in{make[1]}', pathlib.Path(d) / 'out.pt'
        src.write_bytes(blob[:cut % (len(blob) + 1)])
        argv = ['convert', str(src), '-o', str(out), '--as', domain, '-q']
        if domain == 'pointcloud':
            argv += ['--k', '1']
        if domain == 'grid':
            argv += ['--kernel-size', '1']
        code = main(argv)
        assert code in (0, 2)
        assert out.exists() == (code == 0)
        assert sorted(p.name for p in pathlib.Path(d).iterdir()) == \
            sorted([src.name] + ([out.name] if code == 0 else []))


@settings(max_examples=10, deadline=None, derandomize=True)
@given(cut=st.floats(0, 0.999))
def test_truncated_dataset_folder(cut):
    with tempfile.TemporaryDirectory() as d:
        root = save_dataset([Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0], [1]]))],
                            pathlib.Path(d) / 'ds')
        path = root / 'processed' / 'data.pt'
        blob = path.read_bytes()
        path.write_bytes(blob[:int(cut * len(blob))])
        with pytest.raises(FormatError, match='data.pt'):
            load(root)
