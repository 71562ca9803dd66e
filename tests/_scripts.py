"""Loading the repository's scripts/ as modules, for the tests that run them end to end."""
import importlib.util
import pathlib

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / 'scripts'


def load_script(name):
    """``scripts/<name>.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f'_script_{name}', SCRIPTS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(name, argv):
    """The script's ``main`` as the command runs it (its exit code and error lines)."""
    from gdl_graphs.experiments import cli
    return cli(load_script(name).main, argv)
