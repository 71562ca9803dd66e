"""The README keeps its promises: every ```python block runs as written (in order, sharing one
namespace), and so do those of the documentation's Markdown sources; the Quickstart's test
command is the one .ci/run calls; every command, script, option, benchmark row, tour row,
file and link it names exists; every layer and converter its tables name is public API; and
the tables it shares with the documentation are exact copies of their one source."""
import importlib
import json
import pathlib
import re
import runpy
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
INCLUDES = sorted((ROOT / 'docs' / '_include').glob('*.md'))
SHARED = ['blueprint', 'versions', 'pyg_conventions', 'key_figures', 'reproduced']
# Pages that other branches of this wave add; the README links to them already. A name
# leaves this set as soon as its page exists (the test below says so).
PENDING: set = set()
OPTIONAL = ('matplotlib', 'PIL', 'rdkit', 'sklearn')


def python_blocks(text):
    return re.findall(r'```python\n(.*?)```', text, flags=re.S)


def run_blocks(blocks, tmp_path, monkeypatch, name):
    """The blocks, concatenated in order, as one module that imports and runs."""
    path = tmp_path / f'{name}.py'
    path.write_text('\n\n'.join(blocks))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        if getattr(exc, 'name', None) in OPTIONAL:
            pytest.skip(f'an example needs an optional extra: {exc}')
        raise
    finally:
        sys.modules.pop(name, None)


def test_readme_has_one_example_per_domain():
    section = README.split('## One example per domain', 1)[1].split('\n## ', 1)[0]
    titles = re.findall(r'^### (\w+)', section, flags=re.M)
    assert {'Graphs', 'Grids', 'Sets', 'Sequences', 'Groups', 'Meshes'} <= set(titles)
    assert len(python_blocks(section)) >= 6


def test_readme_examples_run(tmp_path, monkeypatch):
    run_blocks(python_blocks(README), tmp_path, monkeypatch, 'readme_examples')


@pytest.mark.parametrize('source', [p for p in INCLUDES if python_blocks(p.read_text())],
                         ids=lambda p: p.stem)
def test_documentation_examples_run(source, tmp_path, monkeypatch):
    run_blocks(python_blocks(source.read_text()), tmp_path, monkeypatch, f'doc_{source.stem}')


def test_ci_runs_the_readme_test_command():
    quickstart = README.split('## Quickstart', 1)[1].split('\n## ', 1)[0]
    commands = re.findall(r'```bash\n(.*?)```', quickstart, flags=re.S)[0].strip().splitlines()
    assert len(commands) == 2 and 'tour' in commands[0] and 'pytest' in commands[1]
    assert commands[1].strip() in (ROOT / '.ci' / 'run').read_text()


def test_readme_is_a_front_page():
    assert len(README.splitlines()) <= 250, 'move detail to docs/ and link to it'
    history = re.findall(r'\(was \d|measured again|previous version|issue \d+', README, re.I)
    assert not history, f'history belongs in CHANGELOG.md: {history}'


# --- the shared tables ------------------------------------------------------------------

def sync_module():
    return runpy.run_path(str(ROOT / 'scripts' / 'sync_readme.py'), run_name='sync_readme')


def test_readme_copies_equal_their_sources():
    sync = sync_module()
    copied = [source for source, _, _ in sync['copies'](README)]
    assert sorted(copied) == sorted(f'docs/_include/{name}.md' for name in SHARED)
    assert sync['differing'](README) == [], 'run: python scripts/sync_readme.py'


def test_every_source_is_a_documentation_page_part():
    """Each file of docs/_include is included by a page of the site, so what the README
    shows is on the site too."""
    pages = '\n'.join(p.read_text() for p in (ROOT / 'docs').rglob('*.rst'))
    included = set(re.findall(r'^\.\. include:: (?:\.\./)*_include/([\w.]+)$', pages, re.M))
    assert included == {p.name for p in INCLUDES}


def test_sync_readme_check_write_and_refusals(tmp_path, capsys):
    sync = sync_module()
    source = 'docs/_include/versions.md'
    readme = tmp_path / 'README.md'
    stale = f'# x\n\n{sync["marker"](source)}an old copy\n<!-- END {source} -->\ntail\n'
    readme.write_text(stale)
    assert sync['main'](['--check', '--readme', str(readme)]) == 1
    assert source in capsys.readouterr().err
    assert readme.read_text() == stale                      # --check changes nothing
    assert sync['main'](['--readme', str(readme)]) == 0
    text = readme.read_text()
    assert (ROOT / source).read_text() in text and text.endswith('-->\ntail\n')
    assert sync['main'](['--check', '--readme', str(readme)]) == 0
    assert sync['main'](['--readme', str(readme)]) == 0 and readme.read_text() == text
    gone = 'docs/_include/gone.md'
    for broken in (f'{sync["marker"](source)}no end\n',
                   f'{sync["marker"](gone)}x\n<!-- END {gone} -->\n'):
        readme.write_text(broken)
        capsys.readouterr()
        assert sync['main'](['--readme', str(readme)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
        assert readme.read_text() == broken                 # nothing half-written


# --- what the tables and commands name exists --------------------------------------------

def test_named_layers_and_converters_are_public():
    import gdl_graphs
    import gdl_graphs.nn

    def public(name):
        obj = gdl_graphs.nn if '.' not in name else gdl_graphs
        for part in name.split('.'):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True

    blueprint = (ROOT / 'docs' / '_include' / 'blueprint.md').read_text()
    names = set()
    for row in blueprint.splitlines()[2:]:
        cells = row.split('|')
        names |= set(re.findall(r'`([\w.]+)`', cells[2] + cells[3]))
    header = (ROOT / 'docs' / '_include' / 'pyg_conventions.md').read_text().splitlines()[0]
    names |= {n.strip() for cell in header.split('|')[2:] for n in cell.split(',') if n.strip()}
    assert len(names) > 25
    missing = sorted(n for n in names if not public(n))
    assert not missing, f'named in the README but not public: {missing}'
    assert (ROOT / 'tests' / 'test_pyg_conformance.py').is_file()


def documented_text():
    return '\n'.join([README] + [p.read_text() for p in INCLUDES])


def commands():
    """Every command line in a code span or a ```bash block, continuations joined."""
    text = documented_text()
    lines = []
    for block in re.findall(r'```bash\n(.*?)```', text, flags=re.S):
        lines += [ln.split(' #')[0] for ln in block.replace('\\\n', ' ').splitlines()]
    lines += re.findall(r'`([^`\n]+)`', re.sub(r'```.*?```', '', text, flags=re.S))
    return [ln.strip() for ln in lines if ln.strip()]


def script_calls():
    """``{path: set of --options}`` for every script a command runs."""
    calls = {}
    for line in commands():
        for m in re.finditer(r'(?:python|torchrun[^`]*?)\s+((?:scripts|datasets)/\w+\.py)(.*)',
                             line):
            opts = set(re.findall(r'(?<!\S)(--[\w-]+)', m.group(2).split('&&')[0]))
            calls.setdefault(m.group(1), set()).update(opts)
    return calls


def test_named_files_exist():
    text = documented_text()
    named = set(script_calls())
    named |= set(re.findall(r'`((?:scripts|tests|datasets|docs)/[\w./-]+\.(?:py|json|sh|png))`',
                            text))
    named |= {'docs/' + p for p in re.findall(r'\]\(/(_static/[\w./-]+)\)', text)}
    assert len(named) > 15
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f'named but missing: {missing}'
    for path in re.findall(r'`(scripts/results/[\w./-]+\.json)`', text):
        json.loads((ROOT / path).read_text())


def test_readme_links_exist():
    links = set(re.findall(r'\]\(([^)#:]+)(?:#[^)]*)?\)', README))
    assert len(links) > 10
    missing = sorted(p for p in links if not (ROOT / p).exists() and p not in PENDING)
    assert not missing, f'README links to missing files: {missing}'
    landed = sorted(p for p in PENDING if (ROOT / p).exists())
    assert not landed, f'these pages exist now: remove them from PENDING in this test: {landed}'
    assert PENDING <= links


def test_benchmark_and_tour_rows_exist():
    rows = {p.stem for p in (ROOT / 'scripts' / 'bench_rows').glob('[!_]*.py')}
    tour = {p.stem for p in (ROOT / 'gdl_graphs' / 'tour').glob('[!_]*.py')}
    asked_rows, asked_tour = set(), set()
    for line in commands():
        if 'scripts/bench.py' in line and '--only' in line:
            asked_rows |= set(re.split(r'\s+--', line.split('--only', 1)[1])[0].split())
        if line.startswith('gdl-graphs tour') and '--only' in line:
            asked_tour |= set(line.split('--only', 1)[1].split())
    assert asked_rows and asked_tour
    assert asked_rows <= rows, sorted(asked_rows - rows)
    assert asked_tour <= tour, sorted(asked_tour - tour)


def test_commands_accept_their_options():
    """``--help`` of every script and ``gdl-graphs`` subcommand the docs call with options,
    in one subprocess: each option the docs pass is one the command offers."""
    calls = {path: opts for path, opts in script_calls().items() if opts - {'--help'}}
    cli = {}
    for line in commands():
        m = re.match(r'gdl-graphs (\w+)(.*)', line)
        if m:
            cli.setdefault(m.group(1), set()).update(re.findall(r'(?<!\S)(-[-\w]+)', m.group(2)))
    assert len(calls) >= 5 and {'tour', 'convert', 'info', 'plot'} <= set(cli)
    probe = '''
import contextlib, io, json, runpy, sys
from gdl_graphs.cli import main
out = {}
for key, argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        if key.endswith('.py'):
            sys.argv = [key, '--help']
            runpy.run_path(key, run_name='__main__')
        else:
            main([key, '--help'])
    out[key] = buf.getvalue()
print(json.dumps(out))
'''
    jobs = [(p, None) for p in calls] + [(c, None) for c in cli]
    res = subprocess.run([sys.executable, '-c', probe, json.dumps(jobs)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    helps = json.loads(res.stdout.strip().splitlines()[-1])
    unknown = {key: sorted(o for o in opts if not re.search(rf'(?<![\w-]){re.escape(o)}\b',
                                                            helps[key]))
               for key, opts in {**calls, **cli}.items()}
    unknown = {k: v for k, v in unknown.items() if v}
    assert not unknown, f'options the docs use but the command does not offer: {unknown}'
