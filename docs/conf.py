"""Sphinx configuration of the gdl_graphs documentation.

Build (no network needed): ``python -m sphinx -W -b html docs docs/_build/html``.

Before the build this file writes, from the code (so it never drifts),
``api/generated/<package>.rst``: one page per subpackage with the autodoc entries of every name
in its ``__all__`` and, under each, the gallery examples that use it.

The gallery is ``examples/plot_*.py`` (sphinx-gallery runs each one; its figure is its
thumbnail). Intersphinx reads the inventories of PyTorch and PyG stored in ``_inventories/``
(``scripts/refresh_inventories.py`` renews them), so the build needs no network.
"""
import os
import pathlib
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
    'sphinx.ext.intersphinx',
    'myst_parser',
    'sphinx_gallery.gen_gallery',
    'matplotlib.sphinxext.plot_directive',
]
source_suffix = {'.rst': 'restructuredtext'}
exclude_patterns = ['_build', 'examples', 'sg_execution_times.rst', 'api/backrefs']
html_theme = 'furo'
html_title = f'gdl_graphs {release}'

# PyG-style docstrings: "Args:", "Shapes:", "Returns:" sections (Google style)
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Shapes:" is a bullet list of inputs and outputs (PyG's form), rendered as written
napoleon_custom_sections = [('Shapes', 'notes_style'), ('Equivariance', 'notes_style')]
napoleon_use_rtype = False

# PyTorch and PyG names link to their documentation. The inventories are stored in the
# repository (the build needs no network); scripts/refresh_inventories.py renews them.
intersphinx_mapping = {
    'torch': ('https://docs.pytorch.org/docs/stable/', '_inventories/torch/objects.inv'),
    'torch_geometric': ('https://pytorch-geometric.readthedocs.io/en/latest/',
                        '_inventories/torch_geometric/objects.inv'),
}
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

PACKAGES = ['core', 'geometry', 'geodesics', 'coarsening', 'domains', 'nn', 'models', 'link',
            'testing', 'io', 'datasets', 'loader', 'convert', 'distributed', 'experiments']


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
            if callable(obj) and seen[key] == f'gdl_graphs.{name}.{n}':
                # the gallery examples that use it (sphinx-gallery's backreferences)
                lines += [f'.. minigallery:: gdl_graphs.{name}.{n}',
                          f'   :add-heading: Examples using ``{n}``', '']
        text = '\n'.join(lines)
        path = out / f'{name}.rst'
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


write_api()

sphinx_gallery_conf = {
    'examples_dirs': ['examples'],
    'gallery_dirs': ['auto_examples'],
    'filename_pattern': r'/plot_',
    'download_all_examples': False,
    'remove_config_comments': True,
    'within_subsection_order': 'FileNameSortKey',
    'abort_on_example_error': False,
    'only_warn_on_example_error': False,
    'show_memory': False,
    'matplotlib_animations': False,
    # links from the examples' code to the API pages, and "Examples using X" on those pages
    'doc_module': ('gdl_graphs',),
    'backreferences_dir': 'api/backrefs',
    'reference_url': {'gdl_graphs': None},
    'prefer_full_module': set(),
}
