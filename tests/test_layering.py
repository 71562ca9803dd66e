"""The architecture's rules, as tests, read from the syntax tree (``ast``), not by regex:
one core (only ``gdl_graphs/core`` calls scatter-style kernels), imports pointing downwards
across every subpackage, no layer importing another layer's private names, a light import."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / 'gdl_graphs'

# call names that reduce or write scattered: only the core may call them
KERNEL_CALLS = {'scatter_add', 'scatter_add_', 'scatter_reduce', 'scatter_reduce_', 'scatter_',
                'index_add', 'index_add_', 'index_reduce', 'index_reduce_', 'segment_reduce',
                '_segment_reduce', 'segment_csr', 'segment_coo', 'sparse_csr_tensor',
                'sparse_coo_tensor', 'sparse_csc_tensor'}
KERNEL_MODULES = ('torch_scatter', 'torch_sparse', 'torch_cluster')
# the layers of the package, bottom to top; a module may import its own level or below
LEVELS = {'core': 0, 'geometry': 1, 'geodesics': 2, 'coarsening': 3, 'domains': 4, 'link': 4,
          'nn': 5, 'models': 6, 'testing': 7, 'io': 7, 'loader': 7, 'datasets': 7,
          'distributed': 8, 'viz': 8, 'info': 8, 'convert': 8, 'experiments': 9, 'tour': 9,
          'cli': 10, '__main__': 10}


def modules():
    for path in sorted(ROOT.rglob('*.py')):
        if '__pycache__' in path.parts:
            continue
        rel = path.relative_to(ROOT)
        yield rel, ast.parse(path.read_text(), filename=str(path))


def _call_name(node: ast.Call):
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def kernel_offenders(rel, tree):
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            accumulate = any(k.arg == 'accumulate' for k in node.keywords)
            if name in KERNEL_CALLS or (name in ('index_put', 'index_put_') and accumulate) \
                    or (name == 'mm' and 'sparse' in ast.unparse(node.func)):
                out.append(f'{rel}:{node.lineno}: {ast.unparse(node)[:80]}')
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or '']
            if isinstance(node, ast.ImportFrom) and node.module == 'torch_geometric.utils':
                names += [f'torch_geometric.utils.{a.name}' for a in node.names
                          if a.name in ('scatter', 'segment', 'spmm')]
            for n in names:
                if n.startswith(KERNEL_MODULES) or n.startswith('torch_geometric.utils.'):
                    out.append(f'{rel}:{node.lineno}: imports {n}')
    return out


def _level(rel: pathlib.Path) -> int:
    return LEVELS[rel.parts[0].removesuffix('.py')]


def _targets(rel: pathlib.Path, node: ast.ImportFrom):
    """The top-level subpackages an import names (relative or absolute)."""
    if node.level == 0:
        parts = (node.module or '').split('.')
        if parts[0] != 'gdl_graphs':
            return []
        parts = parts[1:]
    else:
        here = list(rel.parts[:-1])
        base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
        parts = base + ((node.module or '').split('.') if node.module else [])
    if parts:
        return [parts[0]]
    return [a.name for a in node.names]  # ``from . import nn`` at the package root


def test_only_core_calls_kernels():
    bad = [o for rel, tree in modules() if rel.parts[0] != 'core'
           for o in kernel_offenders(rel, tree)]
    assert not bad, 'scatter-style kernels outside gdl_graphs/core:\n' + '\n'.join(bad)


def test_the_rule_finds_offenders():
    tree = ast.parse('y = x.new_zeros(3).index_put_((i,), v, accumulate=True)\n'
                     'z = t.scatter_(0, i, v)\nimport torch_scatter\nw = torch.sparse.mm(a, b)')
    assert len(kernel_offenders(pathlib.Path('nn/x.py'), tree)) == 4


def test_imports_point_downwards():
    bad = []
    for rel, tree in modules():
        if rel.name == '__init__.py' and len(rel.parts) == 1:
            continue  # the package root re-exports everything
        level = _level(rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for target in _targets(rel, node):
                    name = target.removesuffix('.py')
                    if name in LEVELS and LEVELS[name] > level:
                        bad.append(f'{rel}:{node.lineno}: imports {name} (level {LEVELS[name]}'
                                   f' > {level})')
    assert not bad, 'imports pointing upwards:\n' + '\n'.join(bad)


def test_every_subpackage_has_a_level():
    names = {p.name.removesuffix('.py') for p in ROOT.iterdir()
             if p.name != '__pycache__' and p.name != '__init__.py'}
    assert names <= set(LEVELS), f'give these a level: {sorted(names - set(LEVELS))}'


def test_layers_do_not_import_each_others_private_names():
    bad = []
    for rel, tree in modules():
        if rel.parts[0] != 'nn':
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module \
                    and node.module != '_common':
                private = [a.name for a in node.names if a.name.startswith('_')]
                if private:
                    bad.append(f'{rel}:{node.lineno}: {node.module}.{private}')
    assert not bad, 'shared helpers belong in gdl_graphs/nn/_common.py:\n' + '\n'.join(bad)


def test_import_is_light():
    code = ('import sys, gdl_graphs; heavy = [m for m in ("ogb", "rdkit", "matplotlib", "PIL", '
            '"sklearn") if m in sys.modules]; print(heavy)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]', out.stdout
