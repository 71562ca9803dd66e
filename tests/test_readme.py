"""Every ```python block of the README runs as written (in order, sharing one namespace), and
the Quickstart's test command is the one .ci/run calls."""
import importlib
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
BLOCKS = re.findall(r'```python\n(.*?)```', README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


def test_readme_examples_run(tmp_path, monkeypatch):
    """The blocks, concatenated in order, form one module that imports and runs."""
    source = '\n\n'.join(BLOCKS)
    path = tmp_path / 'readme_examples.py'
    path.write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module('readme_examples')
    except ImportError as exc:  # an optional extra that is not installed
        if getattr(exc, 'name', None) in ('matplotlib', 'PIL', 'rdkit', 'sklearn'):
            pytest.skip(f'a README example needs an optional extra: {exc}')
        raise
    finally:
        sys.modules.pop('readme_examples', None)


def test_ci_runs_the_readme_test_command():
    quickstart = README.split('## Quickstart', 1)[1].split('\n## ', 1)[0]
    commands = re.findall(r'```bash\n(.*?)```', quickstart, flags=re.S)[0].strip().splitlines()
    assert len(commands) == 2 and 'tour' in commands[0] and 'pytest' in commands[1]
    assert commands[1].strip() in (ROOT / '.ci' / 'run').read_text()
