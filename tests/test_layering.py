"""The architecture's rules, as tests: one core, imports pointing downwards, a light import."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / 'gdl_graphs'
KERNELS = re.compile(r'scatter_add_|scatter_reduce|index_add_|index_add\(|segment_csr|segment_coo|'
                     r'_segment_reduce|segment_reduce|torch_scatter|sparse\.mm|sparse_csr_tensor|'
                     r'torch_geometric\.utils\.scatter|from torch_geometric\.utils import .*scatter')
LAYERS = ['core', 'coarsening', 'domains', 'nn', 'models']


def py_files():
    return [p for p in ROOT.rglob('*.py') if '__pycache__' not in p.parts]


def test_only_core_calls_kernels():
    offenders = []
    for path in py_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] == 'core':
            continue
        for k, line in enumerate(path.read_text().splitlines(), 1):
            if KERNELS.search(line.split('#')[0]):
                offenders.append(f'{rel}:{k}: {line.strip()}')
    assert not offenders, 'kernel calls outside gdl_graphs/core:\n' + '\n'.join(offenders)


def test_imports_point_downwards():
    bad = []
    for path in py_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in LAYERS:
            continue
        level = LAYERS.index(rel.parts[0])
        for k, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(r'from \.\.(\w+)|from gdl_graphs\.(\w+)|import gdl_graphs\.(\w+)',
                                 line):
                target = next(g for g in m.groups() if g)
                if target in LAYERS and LAYERS.index(target) > level:
                    bad.append(f'{rel}:{k}: {line.strip()}')
    assert not bad, 'imports pointing upwards:\n' + '\n'.join(bad)


def test_import_is_light():
    code = ('import sys, gdl_graphs; heavy = [m for m in ("ogb", "rdkit", "matplotlib", "PIL", '
            '"sklearn") if m in sys.modules]; print(heavy)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]', out.stdout
