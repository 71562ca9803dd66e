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
