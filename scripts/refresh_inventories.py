"""Write the Sphinx inventories of PyTorch and PyG that the documentation links to.

The documentation builds offline: ``docs/conf.py`` reads ``docs/_inventories/<project>/objects.inv``
(intersphinx's format) instead of fetching them, so ``torch.nn.Conv2d`` and
``torch_geometric.nn.GCNConv`` in a docstring or an example become links.

Two ways to make them:

- ``python scripts/refresh_inventories.py`` (needs network): download each project's published
  ``objects.inv`` and keep the Python objects of the modules gdl_graphs' documentation names
  (a few thousand entries instead of tens of thousands), plus the short names PyG's users write
  (``torch_geometric.nn.GCNConv`` for ``torch_geometric.nn.conv.GCNConv``).
- ``python scripts/refresh_inventories.py --from-installed`` (no network): list the public names
  of the installed torch and torch_geometric packages and map each to the page where their
  documentation puts it (the URL patterns in ``TORCH_PAGES`` and ``PYG_PAGES``, read off the
  published sites). This is how the stored files were made (torch 2.13, PyG 2.8.1): a name whose
  page pattern differs from its module's lands on a wrong page, never on a broken build.

Exit code 2 with a one-line message on a network or argument error; existing files are
replaced only when the new inventory is complete (written to a temporary file first).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pathlib
import sys
import tempfile
import urllib.request
import warnings
import zlib

OUT = pathlib.Path(__file__).resolve().parent.parent / 'docs' / '_inventories'

TORCH_URL = 'https://docs.pytorch.org/docs/stable/'
PYG_URL = 'https://pytorch-geometric.readthedocs.io/en/latest/'

# module -> page pattern ('{name}': the full dotted name; a trailing '#' anchor is the name)
TORCH_PAGES = {
    'torch': 'generated/{name}.html',
    'torch.nn': 'generated/{name}.html',
    'torch.nn.functional': 'generated/{name}.html',
    'torch.nn.init': 'nn.init.html',
    'torch.optim': 'generated/{name}.html',
    'torch.linalg': 'generated/{name}.html',
    'torch.sparse': 'generated/{name}.html',
    'torch.utils.data': 'data.html',
    'torch.distributed': 'distributed.html',
    'torch.autograd': 'generated/{name}.html',
}
TORCH_SPECIAL = {  # names whose page is not their module's pattern
    'torch.Tensor': ('class', 'tensors.html'),
    'torch.dtype': ('class', 'tensor_attributes.html'),
    'torch.device': ('class', 'tensor_attributes.html'),
    'torch.layout': ('class', 'tensor_attributes.html'),
    'torch.Size': ('class', 'size.html'),
}
TORCH_MODULES = {'torch': 'torch.html', 'torch.nn': 'nn.html',
                 'torch.nn.functional': 'nn.functional.html', 'torch.nn.init': 'nn.init.html',
                 'torch.optim': 'optim.html', 'torch.linalg': 'linalg.html',
                 'torch.sparse': 'sparse.html', 'torch.utils.data': 'data.html',
                 'torch.distributed': 'distributed.html', 'torch.autograd': 'autograd.html'}

PYG_PAGES = {
    'torch_geometric': 'generated/{name}.html',
    'torch_geometric.nn.conv': 'generated/{name}.html',
    'torch_geometric.nn.pool': 'generated/{name}.html',
    'torch_geometric.nn.aggr': 'generated/{name}.html',
    'torch_geometric.nn.models': 'generated/{name}.html',
    'torch_geometric.nn.norm': 'generated/{name}.html',
    'torch_geometric.nn.dense': 'generated/{name}.html',
    'torch_geometric.data': 'generated/{name}.html',
    'torch_geometric.transforms': 'generated/{name}.html',
    'torch_geometric.datasets': 'generated/{name}.html',
    'torch_geometric.loader': 'generated/{name}.html',
    'torch_geometric.sampler': 'generated/{name}.html',
    'torch_geometric.explain': 'generated/{name}.html',
    'torch_geometric.distributed': 'generated/{name}.html',
    'torch_geometric.utils': 'modules/utils.html',
}
PYG_MODULES = {'torch_geometric': 'modules/root.html', 'torch_geometric.nn': 'modules/nn.html',
               'torch_geometric.data': 'modules/data.html',
               'torch_geometric.transforms': 'modules/transforms.html',
               'torch_geometric.datasets': 'modules/datasets.html',
               'torch_geometric.loader': 'modules/loader.html',
               'torch_geometric.utils': 'modules/utils.html'}
# torch_geometric.nn re-exports these subpackages' names: users write torch_geometric.nn.X
PYG_SHORT = ('torch_geometric.nn.conv.', 'torch_geometric.nn.pool.', 'torch_geometric.nn.aggr.',
             'torch_geometric.nn.models.', 'torch_geometric.nn.norm.', 'torch_geometric.nn.dense.')


def fail(msg: str) -> None:
    print(f'refresh_inventories: {msg}', file=sys.stderr)
    raise SystemExit(2)


# ------------------------------------------------------------------------------ the file format

def dump(path: pathlib.Path, project: str, version: str, entries) -> int:
    """Write ``entries`` ((name, role, uri), role like 'py:class') as an objects.inv file
    (Sphinx inventory version 2); ``$`` at the end of a uri stands for the name."""
    seen, lines = set(), []
    for name, role, uri in sorted(entries):
        if (name, role) in seen:
            continue
        seen.add((name, role))
        lines.append(f'{name} {role} 1 {uri} -')
    head = ('# Sphinx inventory version 2\n'
            f'# Project: {project}\n# Version: {version}\n'
            '# The remainder of this file is compressed using zlib.\n').encode()
    body = zlib.compress(('\n'.join(lines) + '\n').encode(), 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp')
    with os.fdopen(fd, 'wb') as f:
        f.write(head + body)
    os.replace(tmp, path)
    return len(lines)


def parse(raw: bytes):
    """(project, version, [(name, role, uri)]) of an objects.inv (version 2) file."""
    parts = raw.split(b'\n', 4)
    if len(parts) < 5 or not parts[0].startswith(b'# Sphinx inventory version 2'):
        raise ValueError('not a Sphinx inventory (version 2)')
    project = parts[1].decode().split(': ', 1)[-1]
    version = parts[2].decode().split(': ', 1)[-1]
    out = []
    for line in zlib.decompress(parts[4]).decode().splitlines():
        bits = line.split(' ')
        if len(bits) >= 5 and ':' in bits[1]:
            out.append((bits[0], bits[1], bits[3]))
    return project, version, out


# ----------------------------------------------------------------- from the installed packages

def _role(obj) -> str | None:
    if inspect.isclass(obj):
        return 'py:class'
    if callable(obj):
        return 'py:function'
    return None


def _public(module: str):
    mod = importlib.import_module(module)
    names = getattr(mod, '__all__', None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith('_')]
    for n in names:
        with warnings.catch_warnings():  # deprecated aliases warn when touched
            warnings.simplefilter('ignore')
            obj = getattr(mod, n, None)
            role = _role(obj)
        if role is not None and not inspect.ismodule(obj):
            yield n, obj, role


def _page(pattern: str, name: str) -> str:
    page = pattern.format(name=name)
    return page + ('#$' if page.endswith('.html') else '')


def torch_entries():
    import torch
    entries = [(m, 'py:module', f'{page}#module-{m}') for m, page in TORCH_MODULES.items()]
    for module, pattern in TORCH_PAGES.items():
        for n, obj, role in _public(module):
            name = f'{module}.{n}'
            if name in TORCH_SPECIAL:
                continue
            entries.append((name, role, _page(pattern, name)))
    for name, (kind, page) in TORCH_SPECIAL.items():
        entries.append((name, f'py:{kind}', page + '#$'))
    for n in dir(torch.Tensor):  # the methods of torch.Tensor: one page each
        if not n.startswith('_') and callable(getattr(torch.Tensor, n, None)):
            name = f'torch.Tensor.{n}'
            entries.append((name, 'py:method', f'generated/{name}.html#$'))
    for n in ('forward', 'parameters', 'named_parameters', 'to', 'train', 'eval',
              'state_dict', 'load_state_dict', 'register_forward_hook', 'double', 'float'):
        entries.append((f'torch.nn.Module.{n}', 'py:method',
                        'generated/torch.nn.Module.html#torch.nn.Module.' + n))
    return 'PyTorch', torch.__version__.split('+')[0], entries


def pyg_entries():
    import torch_geometric
    entries = [(m, 'py:module', f'{page}#module-{m}') for m, page in PYG_MODULES.items()]
    for module, pattern in PYG_PAGES.items():
        try:
            public = list(_public(module))
        except ImportError:  # an optional dependency of that subpackage is missing
            continue
        for n, obj, role in public:
            name = f'{module}.{n}'
            if module == 'torch_geometric' and not inspect.isclass(obj):
                continue  # top-level functions are re-exports documented elsewhere
            entries.append((name, role, _page(pattern, name)))
    return 'pytorch_geometric', torch_geometric.__version__, with_short_names(entries)


def with_short_names(entries):
    """Add ``torch_geometric.nn.X`` for each ``torch_geometric.nn.<sub>.X`` (same page) and
    the methods every layer inherits from ``MessagePassing``."""
    out = list(entries)
    for name, role, uri in entries:
        for prefix in PYG_SHORT:
            if name.startswith(prefix) and role in ('py:class', 'py:function'):
                short = 'torch_geometric.nn.' + name[len(prefix):]
                out.append((short, role, uri.replace('#$', '#' + name)))
    mp = 'torch_geometric.nn.conv.MessagePassing'
    for n in ('propagate', 'message', 'aggregate', 'update', 'message_and_aggregate',
              'reset_parameters', 'explain_message', 'edge_updater'):
        out.append((f'{mp}.{n}', 'py:method', f'generated/{mp}.html#{mp}.{n}'))
    return out


# ------------------------------------------------------------------------------- from the web

def download(url: str):
    try:
        with urllib.request.urlopen(url + 'objects.inv', timeout=30) as r:
            return parse(r.read())
    except (OSError, ValueError) as e:
        fail(f'cannot read {url}objects.inv ({e}); without network use --from-installed')


def keep(entries, prefixes):
    return [(n, r, u) for n, r, u in entries if r.startswith('py:') and n.startswith(prefixes)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--from-installed', action='store_true',
                   help='build the inventories from the installed packages (no network)')
    p.add_argument('--out', default=str(OUT),
                   help='folder of the inventories (default: %(default)s)')
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    if args.from_installed:
        made = {'torch': torch_entries(), 'torch_geometric': pyg_entries()}
    else:
        project, version, entries = download(TORCH_URL)
        made = {'torch': (project, version, keep(entries, tuple(TORCH_MODULES)))}
        project, version, entries = download(PYG_URL)
        made['torch_geometric'] = (project, version,
                                   with_short_names(keep(entries, ('torch_geometric',))))
    for key, (project, version, entries) in made.items():
        path = out / key / 'objects.inv'
        count = dump(path, project, version, entries)
        print(f'{path}: {count} entries ({project} {version}, {path.stat().st_size} bytes)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
