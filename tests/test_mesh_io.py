"""Mesh files: OBJ, OFF, PLY (ascii, binary little- and big-endian), polygons, bad files."""
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gdl_graphs.domains.mesh import mesh_to_graph, torus_mesh
from gdl_graphs.io import FormatError, read_mesh, write_mesh
from gdl_graphs.io.mesh import triangulate
from gdl_graphs.testing import assert_close

POLYS = [[0, 1, 2, 3], [3, 2, 4], [0, 1, 5, 6, 7]]
FANS = [[0, 1, 2], [0, 2, 3], [3, 2, 4], [0, 1, 5], [0, 5, 6], [0, 6, 7]]


@pytest.mark.parametrize('name,binary', [('m.obj', False), ('m.off', False), ('m.ply', False),
                                         ('m.ply', True)])
def test_round_trip_is_exact(tmp_path, name, binary):
    pos, face = torus_mesh(6, 4)
    write_mesh(tmp_path / name, pos, face, binary=binary)
    p, f = read_mesh(tmp_path / name, dtype=torch.float64)
    assert torch.equal(p, pos) and torch.equal(f, face)
    assert read_mesh(tmp_path / name)[0].dtype == torch.float32
    data = mesh_to_graph(p, f)
    assert data.edge_index.size(1) == 3 * face.size(1)


@pytest.mark.parametrize('name,binary', [('q.obj', False), ('q.off', False), ('q.ply', False),
                                         ('q.ply', True)])
def test_polygons_are_fan_triangulated(tmp_path, name, binary):
    pos = torch.randn(8, 3, dtype=torch.float64)
    write_mesh(tmp_path / name, pos, POLYS, binary=binary)
    _, f = read_mesh(tmp_path / name)
    assert f.t().tolist() == FANS
    assert triangulate(POLYS).tolist() == FANS


def test_obj_features(tmp_path):
    text = """# a quad with texture coordinates, normals and a negative index
mtllib x.mtl
o quad
v 0 0 0
v 1 0 0 1.0
v 1 1 0
v 0 1 0
vt 0 0
vn 0 0 1
usemtl red
s off
f 1/1/1 2/1/1 3//1 -1
l 1 2
"""
    (tmp_path / 'a.obj').write_text(text)
    pos, face = read_mesh(tmp_path / 'a.obj')
    assert pos.shape == (4, 3) and face.t().tolist() == [[0, 1, 2], [0, 2, 3]]


def test_off_variants_and_comments(tmp_path):
    (tmp_path / 'a.off').write_text('OFF 4 2 0\n# comment\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n'
                                    '3 0 1 2 255 0 0\n3 0 2 3\n')
    pos, face = read_mesh(tmp_path / 'a.off')
    assert face.t().tolist() == [[0, 1, 2], [0, 2, 3]]
    (tmp_path / 'b.off').write_text('COFF\n3 1 0\n0 0 0 1 1 1 1\n1 0 0 1 1 1 1\n0 1 0 1 1 1 1\n'
                                    '3 0 1 2\n')
    assert read_mesh(tmp_path / 'b.off')[1].t().tolist() == [[0, 1, 2]]


def test_regular_off_fast_path_equals_the_line_loop(tmp_path):
    """Regular blocks go to numpy's reader, anything else to the line loop: the same numbers."""
    from gdl_graphs.io.mesh import _read_off_regular
    g = np.random.default_rng(0)
    pos = g.standard_normal((50, 3)) * 10.0 ** g.integers(-6, 6, (50, 1))
    face = g.integers(0, 50, (80, 3))
    rows = [' '.join(repr(float(v)) for v in p) for p in pos]
    tris = [f'3 {a} {b} {c} 255 0 0' for a, b, c in face]
    regular = 'OFF\n50 80 0\n' + '\n'.join(rows + tris) + '\n'
    irregular = 'OFF\n50 80 0\n' + '\n'.join(rows[:10] + ['# a comment'] + rows[10:] + tris)
    assert _read_off_regular(regular) is not None and _read_off_regular(irregular) is None
    (tmp_path / 'r.off').write_text(regular)
    (tmp_path / 'i.off').write_text(irregular)
    fast = read_mesh(tmp_path / 'r.off', dtype=torch.float64)
    loop = read_mesh(tmp_path / 'i.off', dtype=torch.float64)
    assert torch.equal(fast[0], loop[0]) and torch.equal(fast[1], loop[1])
    assert torch.equal(fast[0], torch.from_numpy(pos)) and fast[1].t().tolist() == face.tolist()
    # a quad: the line loop triangulates it (a fan); a short vertex line: it names the line
    quad = regular.replace(tris[0], f'4 {face[0][0]} {face[0][1]} {face[0][2]} 7 0 0', 1)
    assert _read_off_regular(quad) is None
    (tmp_path / 'q.off').write_text(quad)
    assert read_mesh(tmp_path / 'q.off')[1].size(1) == 81
    for bad, msg in ((regular.replace(rows[3], '1.0 2.0'), 'line 6: a vertex needs three'),):
        (tmp_path / 'b.off').write_text(bad)
        with pytest.raises(FormatError, match=msg):
            read_mesh(tmp_path / 'b.off')


def ply_binary(order: str, extra_vertex_prop=True, mixed=False) -> bytes:
    pos = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
    fmt = 'binary_little_endian' if order == '<' else 'binary_big_endian'
    head = ['ply', f'format {fmt} 1.0', 'comment made by a test', 'element vertex 4',
            'property float x', 'property float y', 'property float z']
    if extra_vertex_prop:
        head.append('property uchar red')
    head += ['element face 2', 'property list uchar int vertex_indices', 'property int flag',
             'element edge 1', 'property int vertex1', 'property int vertex2', 'end_header']
    out = ('\n'.join(head) + '\n').encode()
    for p in pos:
        out += struct.pack(order + 'fff', *p)
        if extra_vertex_prop:
            out += struct.pack(order + 'B', 7)
    faces = [[0, 1, 2, 3], [0, 2, 3]] if mixed else [[0, 1, 2], [0, 2, 3]]
    for f in faces:
        out += struct.pack(order + 'B' + 'i' * len(f), len(f), *f) + struct.pack(order + 'i', 5)
    out += struct.pack(order + 'ii', 0, 1)
    return out


@pytest.mark.parametrize('order', ['<', '>'])
@pytest.mark.parametrize('mixed', [False, True])
def test_binary_ply_with_extra_properties_and_elements(tmp_path, order, mixed):
    (tmp_path / 'a.ply').write_bytes(ply_binary(order, mixed=mixed))
    pos, face = read_mesh(tmp_path / 'a.ply')
    assert_close(pos[2], torch.tensor([1.0, 1.0, 0.0]))
    want = [[0, 1, 2], [0, 2, 3], [0, 2, 3]] if mixed else [[0, 1, 2], [0, 2, 3]]
    assert face.t().tolist() == want


def test_bad_files(tmp_path):
    pos, face = torus_mesh(4, 3)
    write_mesh(tmp_path / 'ok.obj', pos, face)
    text = (tmp_path / 'ok.obj').read_text()
    cases = {
        'range.obj': (text + 'f 1 2 99\n',
                      r'range.obj: line \d+: face index out of range: vertex 99 '),
        'zero.obj': (text + 'f 0 1 2\n', 'index 0'),
        'two.obj': (text + 'f 1 2\n', 'at least 3 vertices'),
        'nov.obj': ('hello\nworld\nthis\nis\nnot\na mesh\n', 'not an OBJ'),
        'badv.obj': ('v 1 2\n', 'three numbers'),
        'trunc.off': ('OFF\n4 2 0\n0 0 0\n1 0 0\n', 'truncated'),
        'notoff.off': ('PLY\n1 2 3\n', "not an OFF file"),
        'count.off': ('OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n', 'announces 4'),
        'range.off': ('OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n', 'out of range'),
        'nan.off': ('OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n', 'non-finite'),
        'notply.ply': ('solid cube\nfacet normal 0 0 1\n', "not a PLY file"),
        'nover.ply': ('ply\nformat ascii 1.0\nelement face 0\nproperty list uchar int '
                      'vertex_indices\nend_header\n', "no 'vertex' element"),
        'fmt.ply': ('ply\nformat binary_middle_endian 1.0\nend_header\n', 'unknown PLY format'),
        'short.ply': ('ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty '
                      'float y\nproperty float z\nend_header\n0 0 0\n', 'truncated'),
        'mesh.xyz': ('solid x\n', 'unknown mesh extension'),
        'empty.stl': ('solid x\n', 'no vertices|no faces|corrupt STL'),
        'huge.ply': ('ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty '
                     'float y\nproperty float z\nelement face 1\nproperty list uchar int '
                     'vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n'
                     '3 0 1 1000000000000000000000000000000\n',
                     r'huge.ply: face index out of range: vertex 1000000000000000000000'),
        'huge.obj': ('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999999999\n',
                     'face index out of range'),
        'cloud.obj': ('v 0 0 0\nv 1 0 0\nv 0 1 0\n', 'no faces'),
        'cloud.ply': ('ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty '
                      'float y\nproperty float z\nend_header\n0 0 0\n', 'no faces'),
    }
    for name, (content, match) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(ValueError, match=match):
            read_mesh(tmp_path / name)
    (tmp_path / 'bin.obj').write_bytes(b'\x00\x01\x02v 1 2 3')
    with pytest.raises(ValueError, match='binary data'):
        read_mesh(tmp_path / 'bin.obj')
    data = ply_binary('<')
    (tmp_path / 'cut.ply').write_bytes(data[:len(data) - 30])
    with pytest.raises(ValueError, match='truncated binary PLY'):
        read_mesh(tmp_path / 'cut.ply')
    with pytest.raises(ValueError, match='no such file'):
        read_mesh(tmp_path / 'missing.obj')
    with pytest.raises(ValueError, match='unknown mesh format'):
        read_mesh(tmp_path / 'ok.obj', format='vtk')
    for elem in ('vertex', 'face'):   # binary PLY with a negative element count
        head = (f'ply\nformat binary_little_endian 1.0\nelement vertex '
                f'{-1 if elem == "vertex" else 3}\nproperty float x\nproperty float y\n'
                f'property float z\nelement face {-1 if elem == "face" else 1}\n'
                f'property list uchar int vertex_indices\nend_header\n').encode()
        (tmp_path / 'neg.ply').write_bytes(head + bytes(40))
        with pytest.raises(FormatError, match=rf'neg.ply: header line \d: negative element '
                                              rf'count \({elem} -1\)$'):
            read_mesh(tmp_path / 'neg.ply')
    # format= overrides the extension
    (tmp_path / 'mesh.txt').write_text(text)
    assert read_mesh(tmp_path / 'mesh.txt', format='obj')[1].shape == face.shape


@pytest.mark.parametrize('name', ['m.stl', 'm.glb', 'm.gltf'])
def test_trimesh_formats_round_trip(tmp_path, name):
    pytest.importorskip('trimesh')
    pos, face = torus_mesh(6, 4)
    pos = pos.float().double()                  # these formats store float32
    write_mesh(tmp_path / name, pos, face)
    p, f = read_mesh(tmp_path / name, dtype=torch.float64)
    # STL stores a triangle soup: compare the triangles' corner positions
    assert torch.equal(p[f.t()], pos[face.t()])
    if name != 'm.stl':
        assert torch.equal(p, pos) and torch.equal(f, face)


def test_write_is_atomic(tmp_path):
    pos, face = torus_mesh(4, 3)
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        write_mesh(tmp_path / 'x.obj', pos[:, :2], face)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('name', ['messy.obj', 'messy.ply'])
def test_messy_meshes_written_and_read_give_finite_graphs(tmp_path, name):
    """Boundary, non-manifold edge, duplicate and degenerate faces, a zero-area face and an
    unreferenced vertex, through a file: the graph is finite, the repairs are the documented
    ones."""
    from gdl_graphs.domains.mesh import mesh_report
    pos = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [2, 0, 0],
                        [5, 5, 5]], dtype=torch.float64)
    polys = [[0, 1, 2], [1, 0, 3], [0, 1, 4],        # edges 0-1 (4 faces), 1-4 (3)
             [0, 1, 2], [2, 1, 0],                    # duplicates
             [1, 1, 2],                               # repeated index
             [0, 1, 5],                               # zero area (collinear)
             [1, 5, 4, 2]]                            # a quad
    write_mesh(tmp_path / name, pos, polys)
    p, f = read_mesh(tmp_path / name, dtype=torch.float64)
    rep = mesh_report(p, f)
    assert (rep.non_manifold_edges, rep.duplicate_faces, rep.degenerate_faces,
            rep.zero_area_faces, rep.unreferenced_vertices) == (2, 2, 1, 1, 1)
    assert rep.boundary_edges > 0
    data = mesh_to_graph(p, f)
    for k in ('normal', 'frame', 'edge_coords', 'connection'):
        assert bool(torch.isfinite(data[k]).all())
    with pytest.raises(ValueError, match='non manifold edges'):
        mesh_to_graph(p, f, repair=False)


def test_cli_huge_ply_index_exits_2_with_one_line(tmp_path, capsys):
    from gdl_graphs.cli import main
    (tmp_path / 'huge.ply').write_text(
        'ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n'
        'property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n'
        '0 0 0\n1 0 0\n0 1 0\n3 0 1 1000000000000000000000000000000\n')
    code = main(['convert', str(tmp_path / 'huge.ply'), '-o', str(tmp_path / 'out'), '--as',
                 'mesh', '-q'])
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and 'huge.ply: face index out of range' in err
    assert not (tmp_path / 'out').exists()


# ------------------------------------------------------------- OBJ fast path == line parser

def _obj_both(tmp_path, text: str):
    """(fast-or-fallback read_mesh, the line-by-line parser alone) on the same file: each is
    (pos, face) or the FormatError message."""
    from gdl_graphs.io.mesh import _read_obj_lines
    path = tmp_path / 'm.obj'
    path.write_bytes(text.encode())
    out = []
    for read in (lambda: read_mesh(path, dtype=torch.float64),
                 lambda: _read_obj_lines(path, text, torch.float64)):
        try:
            out.append(read())
        except FormatError as exc:
            out.append(str(exc))
    return out


BLENDER = ('# Blender 4.1\r\nmtllib cube.mtl\r\no Cube\r\nv 1.0 1.0 -1.0\r\nv 1.0 -1.0 -1.0\r\n'
           'v 1.0 1.0 1.0\r\nv 1.0 -1.0 1.0\r\nv -1.0 1.0 -1.0\r\nv -1 -1 -1 0.5 0.5 0.5\r\n'
           'vn -0.0 1.0 -0.0\r\nvt 0.625 0.5\r\ns 0\r\nusemtl Material\r\n'
           'f 1/1/1 5/2/1 6/3/1 2/4/1\r\nf 3//1 4//1 2//1\r\nf 4 3 5\r\n\r\n')


def test_obj_fast_path_reads_common_files_exactly(tmp_path):
    from gdl_graphs.io.mesh import _read_obj_fast
    assert _read_obj_fast(BLENDER.encode()) is not None  # the fast path takes it
    fast, lines = _obj_both(tmp_path, BLENDER)
    assert torch.equal(fast[0], lines[0]) and torch.equal(fast[1], lines[1])
    assert fast[1].t().tolist() == [[0, 4, 5], [0, 5, 1], [2, 3, 1], [3, 2, 4]]
    # digits to the last place: repr round trip of awkward doubles
    pos = torch.tensor([[0.1, 1e-300, 5e-324], [1 / 3, -2.5e307, 123456789.123456789],
                        [float.fromhex('0x1.fffffffffffffp-1'), 7.0, -0.0]], dtype=torch.float64)
    write_mesh(tmp_path / 'e.obj', pos, torch.tensor([[0], [1], [2]]))
    got, face = read_mesh(tmp_path / 'e.obj', dtype=torch.float64)
    assert torch.equal(got, pos) and face.tolist() == [[0], [1], [2]]


_OBJ_LINES = ['v 0 0 0', 'v 1 0 0', 'v 0 1 0 1', 'v 1 1 0 0.5 0.5 0.5', 'v\t2 2\t2', 'v 1 2',
              'v 1e400 0 0', 'v nan 0 0', 'v 1_0 2 3', 'v 0x1 0 0', 'v 1 2 3 # c',
              'f 1 2 3', 'f 1/1/1 2/2/2 3/3/3', 'f 1//1 2//2 3//3 4//4', 'f 2 3 4 5 6',
              'f 1 2', 'f -1 -2 -3', 'f 1 2 0', 'f 1 2 99', 'f 1 2 3 # c', 'f 1/ 2/ 3/',
              'f /1 2 3', 'f 1 2 +3', 'f 1 2 99999999999999999999', 'f', 'v', 'vt 0 0',
              'vn 0 0 1', '# comment', '', '   ', '  v 1 2 3', 'o name', 's off', 'g a b',
              'usemtl m', 'l 1 2', 'bogus 1 2', 'f 1 2 3\x0bf 1 2 3', 'v 1 2 3\x1f4',
              'f 1 2 3 4 5 6 7 8 9', 'v 1\u00a02 3', 'f 01 002 3']


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_OBJ_LINES), max_size=14), st.sampled_from(['\n', '\r\n']),
       st.booleans())
def test_obj_fast_path_equals_line_parser(tmp_path_factory, lines, end, final_newline):
    text = end.join(['v 0 0 0', 'v 1 0 0', 'v 0 1 0'] + lines) + (end if final_newline else '')
    fast, slow = _obj_both(tmp_path_factory.mktemp('obj'), text)
    if isinstance(slow, str):
        assert fast == slow
    else:
        assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1])


def test_obj_slash_tails_dropped_block_by_block():
    from gdl_graphs.io.mesh import _OBJ_SLASH, _drop_slash_suffixes
    text = b''.join(b' %d/%d/%d %d//7 %d\n' % (i, i + 1, i + 2, 3 * i, i) for i in range(200))
    for step in (1, 7, 64, 1 << 20):
        assert _drop_slash_suffixes(text, step).tobytes() == _OBJ_SLASH.sub(b'', text)
