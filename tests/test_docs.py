"""The API reference renders cleanly.

Every public docstring the API pages show (the ``__all__`` of each documented subpackage, and
the public methods of its classes) goes through napoleon with the settings of ``docs/conf.py``
and is rendered by docutils, as the documentation build does, without building the site (a few
seconds instead of minutes). A docstring fails when its rendered text shows literal double
backquotes (an inline literal that did not close, or markup a section parser mangled, as
"x ``[N, F_in]``" read as a parameter name did) or when docutils reports a reST error. The
layers document every argument with its type, as PyG does. When a built site is present
(``docs/_build/html``), its API pages are checked for literal double backquotes too.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import io
import pathlib
import warnings

import pytest

pytest.importorskip('sphinx')
from docutils import nodes  # noqa: E402
from docutils.core import publish_doctree  # noqa: E402
from docutils.parsers.rst import Directive, directives, roles  # noqa: E402
from docutils.parsers.rst.directives.body import CodeBlock  # noqa: E402
from sphinx.ext.napoleon import Config, GoogleDocstring  # noqa: E402

DOCS = pathlib.Path(__file__).resolve().parent.parent / 'docs'
SPHINX_ROLES = ('class', 'func', 'meth', 'obj', 'mod', 'attr', 'data', 'exc', 'ref', 'doc',
                'any', 'term', 'py:class', 'py:func', 'py:meth', 'py:obj', 'py:mod', 'py:attr',
                'py:data', 'py:exc')
SPHINX_BLOCKS = ('seealso', 'versionadded', 'versionchanged', 'deprecated', 'todo',
                 'attribute', 'method', 'function', 'data')
SKIP_TEXT = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw,
             nodes.comment, nodes.system_message)


def conf_settings():
    """The ``napoleon_*`` settings and the ``PACKAGES`` list of docs/conf.py (read, not run:
    running it writes the API pages)."""
    tree = ast.parse((DOCS / 'conf.py').read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], 'id', '')
            if name.startswith('napoleon_') or name == 'PACKAGES':
                out[name] = ast.literal_eval(node.value)
    return out


SETTINGS = conf_settings()
NAPOLEON = Config(**{k: v for k, v in SETTINGS.items() if k.startswith('napoleon_')})



class SphinxBlock(Directive):
    """A Sphinx directive docutils lacks (napoleon writes ``.. attribute::`` for Attributes
    sections): its arguments are kept as a literal, its content is parsed as reST."""
    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {'type': directives.unchanged, 'value': directives.unchanged,
                   'no-index': directives.flag}

    def run(self):
        box = nodes.container()
        box += nodes.literal(text=' '.join(self.arguments))
        self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


for _role in SPHINX_ROLES:
    roles.register_generic_role(_role, nodes.literal)
directives.register_directive('code-block', CodeBlock)
for _name in SPHINX_BLOCKS:
    directives.register_directive(_name, SphinxBlock)


def napoleon(doc: str, what: str, name: str, obj) -> str:
    return '\n'.join(GoogleDocstring(inspect.cleandoc(doc), NAPOLEON, what=what, name=name,
                                     obj=obj).lines())


def problems(rst: str):
    """reST errors and literal double backquotes in the rendered text of ``rst``."""
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        tree = publish_doctree(rst, settings_overrides={
            'report_level': 2, 'halt_level': 5, 'warning_stream': stream,
            'file_insertion_enabled': False, 'raw_enabled': False})
    found = [m.astext().splitlines()[0] for m in tree.findall(nodes.system_message)
             if m['level'] >= 2]

    def text(node):
        if isinstance(node, SKIP_TEXT):
            return ''
        if isinstance(node, nodes.Text):
            return str(node)
        return ' '.join(text(c) for c in node.children)

    rendered = text(tree)
    at = rendered.find('``')
    if at >= 0:
        found.append(f'literal double backquotes: ...{rendered[max(at - 60, 0):at + 40]}...')
    return found


def documented():
    """(qualified name, what, object, docstring) of everything the API pages show."""
    seen = set()
    for package in SETTINGS['PACKAGES']:
        mod = importlib.import_module(f'gdl_graphs.{package}')
        yield f'gdl_graphs.{package}', 'module', mod, mod.__doc__ or ''
        names = getattr(mod, '__all__', None)
        if names is None:  # as docs/conf.py: the module's own public callables
            names = [n for n, v in vars(mod).items() if not n.startswith('_') and callable(v)
                     and getattr(v, '__module__', '').startswith(mod.__name__)]
        for n in names:
            obj = getattr(mod, n)
            if id(obj) in seen or not (callable(obj) or isinstance(obj, type)):
                continue
            seen.add(id(obj))
            qual = f'gdl_graphs.{package}.{n}'
            if isinstance(obj, type):
                yield qual, 'class', obj, obj.__doc__ or ''
                for m, member in vars(obj).items():
                    fn = getattr(member, '__func__', member)
                    if m.startswith('_') or not callable(fn) or not fn.__doc__:
                        continue
                    yield f'{qual}.{m}', 'method', fn, fn.__doc__
            else:
                yield qual, 'function', obj, obj.__doc__ or ''


DOCUMENTED = list(documented())


def test_the_checker_catches_what_the_old_shapes_sections_rendered():
    # "Shapes:" parsed as parameters turned "x ``[N, F_in]`` or ``...``" into a bold name
    # with literal backquotes; an unclosed literal shows its backquotes too
    bad = napoleon('A layer.\n\nArgs:\n    x ``[N, F_in]`` or ``([N_src, F_src], [N_dst, F])``, '
                   'edge_index ``[2, E]`` -> ``[N, F_out]``: what comes out.\n', 'class',
                   'Bad', None)
    assert any('double backquotes' in p for p in problems(bad))
    assert problems('An ``unclosed literal.') != []
    assert problems('A ``closed`` literal and :class:`torch.nn.Conv2d`.') == []


def test_every_public_docstring_renders_without_literal_backquotes_or_rest_errors():
    assert len(DOCUMENTED) > 150  # the walk found the API, not an empty list
    bad = {}
    for qual, what, obj, doc in DOCUMENTED:
        found = problems(napoleon(doc, what, qual, obj))
        if found:
            bad[qual] = found
    assert not bad, '\n'.join(f'{k}: {v}' for k, v in bad.items())


def test_layer_arguments_have_types_and_shapes_are_input_output_lists():
    import gdl_graphs.nn as nn
    missing = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        if not isinstance(cls, type):
            continue
        lines = napoleon(cls.__doc__, 'class', name, cls).splitlines()
        params = [ln.split()[1].rstrip(':') for ln in lines if ln.startswith(':param ')]
        typed = {ln.split()[1].rstrip(':') for ln in lines if ln.startswith(':type ')}
        assert params, f'{name} documents no Args'
        missing += [f'{name}.{p}' for p in params if p not in typed]
        shapes = cls.__doc__.split('Shapes:', 1)[-1]
        assert '- **input:**' in shapes and '- **output:**' in shapes, name
    assert not missing, f'Args without a type: {missing}'


def test_built_api_pages_show_no_literal_double_backquotes():
    site = DOCS / '_build' / 'html' / 'api' / 'generated'
    if not site.is_dir():
        pytest.skip('no built documentation (python -m sphinx -b html docs docs/_build/html)')
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.skip, self.parts = 0, []

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ('pre', 'code', 'script', 'style')

        def handle_endtag(self, tag):
            self.skip -= tag in ('pre', 'code', 'script', 'style')

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    bad = []
    for page in sorted(site.glob('*.html')):
        parser = Text()
        parser.feed(page.read_text())
        if '``' in ''.join(parser.parts):
            bad.append(page.name)
    assert not bad, f'literal double backquotes in {bad}'


# ------------------------------------------------------------------ the stored inventories

def _inventory(path):
    from _scripts import load_script
    return load_script('refresh_inventories').parse(path.read_bytes())


def test_stored_inventories_resolve_the_names_the_docs_link_to():
    _, _, torch_inv = _inventory(DOCS / '_inventories' / 'torch' / 'objects.inv')
    _, _, pyg_inv = _inventory(DOCS / '_inventories' / 'torch_geometric' / 'objects.inv')
    torch_names = {(n, r): u for n, r, u in torch_inv}
    pyg_names = {(n, r): u for n, r, u in pyg_inv}
    assert torch_names[('torch.nn.Conv2d', 'py:class')] == 'generated/torch.nn.Conv2d.html#$'
    assert torch_names[('torch.Tensor', 'py:class')] == 'tensors.html#$'
    assert ('torch.nn.functional.relu', 'py:function') in torch_names
    # the short name PyG's users write points to the page of the full one
    assert pyg_names[('torch_geometric.nn.GCNConv', 'py:class')] == (
        'generated/torch_geometric.nn.conv.GCNConv.html#torch_geometric.nn.conv.GCNConv')
    assert ('torch_geometric.data.Data', 'py:class') in pyg_names
    assert ('torch_geometric.utils.scatter', 'py:function') in pyg_names


def test_inventory_round_trip_and_the_offline_refresh(tmp_path):
    from _scripts import load_script
    mod = load_script('refresh_inventories')
    entries = [('a.B', 'py:class', 'b.html#$'), ('a.f', 'py:function', 'f.html#a.f')]
    path = tmp_path / 'x' / 'objects.inv'
    assert mod.dump(path, 'P', '1.0', entries + entries[:1]) == 2   # duplicates dropped
    assert mod.parse(path.read_bytes()) == ('P', '1.0', sorted(entries))
    assert mod.main(['--from-installed', '--out', str(tmp_path)]) == 0
    _, _, made = mod.parse((tmp_path / 'torch_geometric' / 'objects.inv').read_bytes())
    assert ('torch_geometric.nn.SAGEConv', 'py:class',
            'generated/torch_geometric.nn.conv.SAGEConv.html#torch_geometric.nn.conv.SAGEConv'
            ) in made


def test_refresh_without_network_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    from _scripts import load_script
    mod = load_script('refresh_inventories')

    def offline(*args, **kwargs):
        raise OSError('network is unreachable')

    monkeypatch.setattr(mod.urllib.request, 'urlopen', offline)
    with pytest.raises(SystemExit) as exit_:
        mod.main(['--out', str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--from-installed' in err
    assert not any(tmp_path.iterdir())    # nothing written
