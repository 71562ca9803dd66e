"""The benchmark harness measures what it says: peak memory of one call, ratios to the baseline."""
import importlib.util
import pathlib
import sys

import torch

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / 'scripts'


def load_bench():
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location('bench', SCRIPTS / 'bench.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules['bench'] = mod
    spec.loader.exec_module(mod)
    return mod


def test_peak_memory_counts_live_bytes():
    bench = load_bench()
    mib = 2 ** 20

    def two_at_once():
        a = torch.ones(4 * mib, dtype=torch.uint8)
        b = torch.ones(4 * mib, dtype=torch.uint8)
        return int(a[0] + b[0])

    def one_after_another():
        for _ in range(2):
            a = torch.ones(4 * mib, dtype=torch.uint8)
            del a

    assert 8 * mib <= bench.peak_memory(two_at_once, 'cpu') < 9 * mib
    assert 4 * mib <= bench.peak_memory(one_after_another, 'cpu') < 5 * mib


def test_ratios_and_goals():
    bench = load_bench()
    x = torch.randn(200, 200)
    row = bench.Row('t', 'slow', {'slow': lambda: [x @ x for _ in range(4)],
                                  'fast': lambda: x @ x},
                    goals={'fast': 0.9}, mem_goals={'fast': 0.5})
    res = bench.time_row(row, rounds=3, device='cpu')
    assert res['slow']['time_ratio'] == 1.0
    assert res['fast']['time_ratio'] < 1.0 and res['fast']['mem_ratio'] <= 0.5
    assert res['fast']['met']
