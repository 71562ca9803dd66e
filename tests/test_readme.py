"""Every ```python block of the README runs as written (in order, sharing one namespace), and
the Quickstart's test command is the one .ci/run calls."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
BLOCKS = re.findall(r'```python\n(.*?)```', README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {'__name__': '__readme__'}
    for k, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f'README.md python block {k}', 'exec'), namespace)
        except ImportError as exc:  # an optional extra that is not installed
            pytest.skip(f'README block {k} needs an optional extra: {exc}')


def test_ci_runs_the_readme_test_command():
    quickstart = README.split('## Quickstart', 1)[1].split('\n## ', 1)[0]
    commands = re.findall(r'```bash\n(.*?)```', quickstart, flags=re.S)[0].strip().splitlines()
    assert len(commands) == 2 and 'tour' in commands[0] and 'pytest' in commands[1]
    assert commands[1].strip() in (ROOT / '.ci' / 'run').read_text()
