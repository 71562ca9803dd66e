"""Loading the repository's scripts/ as modules, for the tests that run them end to end."""
import importlib.util
import pathlib
import sys

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / 'scripts'


def load_script(name):
    """``scripts/<name>.py`` as a fresh module (``scripts/`` on ``sys.path`` for its imports)."""
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f'_script_{name}', SCRIPTS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # importable by name: worker processes pickle it
    spec.loader.exec_module(mod)
    return mod


def run(name, argv):
    """The script's ``main`` through ``_ogb_common.cli`` (its exit code and error lines)."""
    mod = load_script(name)
    return sys.modules['_ogb_common'].cli(mod.main, argv)
