"""Sphinx configuration of the gdl_graphs documentation.

Build (no network needed): ``python -m sphinx -W -b html docs docs/_build/html``.

Before the build this file writes, from the code and the README (so they never drift):

- ``api/generated/<package>.rst``: one page per subpackage with the autodoc entries of every
  name in its ``__all__``;
- ``gallery_generated/``: sphinx-gallery sources for the README's examples (its ```python
  blocks, in order, one namespace, as ``tests/test_readme.py`` runs them) and one per row of
  the blueprint tour (``gdl_graphs.tour``).

No intersphinx: it needs the ``objects.inv`` files of PyTorch and PyG, which are fetched over
the network; references to torch and PyG names are plain text.
"""
import ast
import os
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault('OMP_NUM_THREADS', '1')  # examples are small; no oversubscription

import gdl_graphs  # noqa: E402

project = 'gdl_graphs'
author = 'gdl_graphs contributors'
copyright = '2026, gdl_graphs contributors'
release = version = gdl_graphs.__version__

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
    'sphinx.ext.viewcode',
    'myst_parser',
    'sphinx_gallery.gen_gallery',
    'matplotlib.sphinxext.plot_directive',
]
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build', 'gallery_generated', 'examples', 'sg_execution_times.rst']
html_theme = 'furo'
html_title = f'gdl_graphs {release}'

# PyG-style docstrings: "Args:", "Shapes:", "Returns:" sections (Google style)
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [('Shapes', 'params_style'), ('Equivariance', 'notes_style')]
autodoc_default_options = {'members': True, 'show-inheritance': True,
                           'member-order': 'bysource'}
autodoc_typehints = 'description'
autodoc_inherit_docstrings = False  # torch.nn.Module / MessagePassing docstrings are not ours
add_module_names = False
myst_heading_anchors = 3
# README sections included into a page start below H1 (their own ###): expected, not an error
suppress_warnings = ['myst.header']
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [('png', 90)]

PACKAGES = ['core', 'geometry', 'geodesics', 'coarsening', 'domains', 'nn', 'models', 'testing',
            'io', 'datasets',
            'loader', 'convert', 'distributed']


def _public(name):
    import importlib
    mod = importlib.import_module(f'gdl_graphs.{name}')
    names = getattr(mod, '__all__', None)
    if names is None:
        names = [n for n, v in vars(mod).items() if not n.startswith('_') and
                 getattr(v, '__module__', '').startswith(mod.__name__) and callable(v)]
    return mod, list(names)


def write_api():
    out = DOCS / 'api' / 'generated'
    out.mkdir(parents=True, exist_ok=True)
    seen = {}
    for name in PACKAGES:
        mod, names = _public(name)
        title = f'gdl_graphs.{name}'
        lines = [title, '=' * len(title), '', f'.. currentmodule:: gdl_graphs.{name}', '',
                 f'.. automodule:: gdl_graphs.{name}', '   :no-members:', '',
                 'Public names: ' + ', '.join(f':py:obj:`{n}`' for n in names) + '.', '']
        for n in names:
            obj = getattr(mod, n)
            if isinstance(obj, type):
                lines.append(f'.. autoclass:: {n}')
            elif callable(obj):
                lines.append(f'.. autofunction:: {n}')
            else:  # a constant: its type, not the docstring of its type
                lines += [f'.. py:data:: {n}', f'   :type: {type(obj).__name__}']
            key = id(obj)
            if key in seen and (callable(obj) or isinstance(obj, type)):
                lines.append('   :no-index:')  # re-exported: indexed at its first home
            seen.setdefault(key, f'gdl_graphs.{name}.{n}')
            lines.append('')
        text = '\n'.join(lines)
        path = out / f'{name}.rst'
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _readme_sections():
    readme = (ROOT / 'README.md').read_text()
    return readme


def write_gallery():
    out = DOCS / 'gallery_generated'
    out.mkdir(exist_ok=True)
    files = {'README.txt': 'Generated examples\n==================\n\n'
             'The README\'s examples and one example per row of the blueprint tour, executed '
             'when the documentation is built.\n'}
    # the README's ```python blocks in order, each under its section's heading
    readme = _readme_sections()
    parts = ['"""\nThe README\'s examples\n=====================\n\nEvery ``python`` block of '
             'the README, in order, in one namespace (as ``tests/test_readme.py`` runs '
             'them).\n"""\n']
    heading = None
    for chunk in re.split(r'(```python\n.*?```)', readme, flags=re.S):
        if chunk.startswith('```python'):
            code = chunk[len('```python\n'):-3]
            title = heading or 'Example'
            parts.append(f'# %%\n# {title}\n# {"-" * len(title)}\n\n{code}')
            heading = None
        else:
            heads = re.findall(r'^#{2,3} (.+)$', chunk, flags=re.M)
            if heads:
                heading = heads[-1].strip()
    files['plot_readme_examples.py'] = '\n'.join(parts)
    # one example per tour row
    tour = ROOT / 'gdl_graphs' / 'tour'
    for path in sorted(tour.glob('[!_]*.py')):
        tree = ast.parse(path.read_text())
        doc = (ast.get_docstring(tree) or path.stem).strip()
        first, _, rest = doc.partition('\n')
        order = next((n.value.value for n in tree.body if isinstance(n, ast.Assign) and
                      any(getattr(t, 'id', None) == 'ORDER' for t in n.targets)), 99)
        title = f'Tour: {first.rstrip(".")}'
        files[f'plot_tour_{order:02d}_{path.stem}.py'] = (
            f'"""\n{title}\n{"=" * len(title)}\n{rest}\n\nThis runs the row as '
            f'``gdl-graphs tour --only {path.stem}`` does and prints it.\n"""\n'
            f'from gdl_graphs.tour import {path.stem}\n\n'
            f'row = {path.stem}.run()\n'
            f'print(f"{{row.domain}}: {{row.graph}}; layer {{row.layer}}")\n'
            f'print(f"check: {{row.check}}, error {{row.error:.2e}} (tolerance '
            f'{{row.tol:.0e}}) -> {{\'ok\' if row.ok else \'FAILED\'}}")\n'
            f'print(f"result: {{row.result}}")\n'
            f'assert row.ok, row\n')
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


write_api()
write_gallery()

sphinx_gallery_conf = {
    'examples_dirs': ['examples', 'gallery_generated'],
    'gallery_dirs': ['auto_examples', 'auto_generated'],
    'filename_pattern': r'/plot_',
    'download_all_examples': False,
    'remove_config_comments': True,
    'within_subsection_order': 'FileNameSortKey',
    'abort_on_example_error': False,
    'only_warn_on_example_error': False,
    'show_memory': False,
    'matplotlib_animations': False,
}
