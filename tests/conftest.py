"""Suite-wide settings."""
import pytest
import torch
from hypothesis import settings

# property tests draw the same examples on every run (CI is reproducible; explore with
# --hypothesis-seed or a profile of your own)
settings.register_profile('gdl', derandomize=True, database=None, deadline=None)
settings.load_profile('gdl')


@pytest.fixture(autouse=True, scope='session')
def one_thread():
    """The tests use tiny tensors: one intra-op thread is as fast, and immune to OpenMP
    oversubscription when the machine is busy (speed is measured in scripts/bench.py)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


MULTI_RANK = ('two_ranks', 'dist_context', 'rank_dying', 'torchrun')


def pytest_collection_modifyitems(config, items):
    """Tests that start several ranks on this machine get a shorter timeout than the suite's
    600 s and, where pytest-rerunfailures is installed, one rerun: on a loaded 2-core machine a
    gloo rendezvous can stall without any fault of the code under test."""
    rerun = config.pluginmanager.hasplugin('rerunfailures')
    for item in items:
        if any(key in item.name for key in MULTI_RANK):
            item.add_marker(pytest.mark.timeout(300))
            if rerun:
                item.add_marker(pytest.mark.flaky(reruns=1))
