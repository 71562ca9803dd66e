"""Suite-wide settings."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def one_thread():
    """The tests use tiny tensors: one intra-op thread is as fast, and immune to OpenMP
    oversubscription when the machine is busy (speed is measured in scripts/bench.py)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
