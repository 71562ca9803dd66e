"""The tour's graph row passes; a failing check makes the tour exit non-zero."""
import io
import subprocess
import sys

from gdl_graphs import tour
from gdl_graphs.tour import Row, run_tour


def test_graph_row_passes():
    row = tour.graph.run() if hasattr(tour, 'graph') else __import__(
        'gdl_graphs.tour.graph', fromlist=['run']).run()
    assert row.ok, row
    assert row.error <= 1e-12
    assert 'acc' in row.result


def test_failing_check_exits_non_zero(monkeypatch):
    import gdl_graphs.tour.graph as graph_row
    monkeypatch.setattr(graph_row, 'run', lambda: Row('graph', 'g', 'l', 'c', 1.0, 1e-12, 'r'))
    out = io.StringIO()
    assert run_tour(['graph'], stream=out) == 1
    assert 'FAILED checks: graph' in out.getvalue()


def test_raising_row_is_reported(monkeypatch):
    import gdl_graphs.tour.graph as graph_row

    def boom():
        raise RuntimeError('broken row')

    monkeypatch.setattr(graph_row, 'run', boom)
    out = io.StringIO()
    assert run_tour(['graph'], stream=out) == 1
    assert 'raised RuntimeError' in out.getvalue()


def test_command_line():
    out = subprocess.run([sys.executable, '-m', 'gdl_graphs', 'tour', '--only', 'graph'],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'all 1 checks passed' in out.stdout
