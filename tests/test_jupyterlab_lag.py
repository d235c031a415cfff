"""The JupyterLab slider check fails on a dashboard made to lag (issue 16: a check must catch its defect).

``tests/data/lab/lagging_dashboard.ipynb`` is a month slider whose label is drawn in the browser and whose map
follows through a Python callback that takes 8 s per step. The same quick moves and the same check as for
notebook 03's dashboard (``tests/test_notebooks.py``) must report the map behind its slider.

In its own file, so pytest-xdist (``--dist loadfile``) runs it beside the course, not after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_book import _require_chromium

LAGGING_DASHBOARD = Path(__file__).parent / "data" / "lab" / "lagging_dashboard.ipynb"


@pytest.mark.notebooks
def test_jupyterlab_slider_check_catches_a_dashboard_made_to_lag(tmp_path):
    """Quick moves on the lagging dashboard: the check names the move after which the map is behind."""
    _require_chromium()
    from jupyterlab_driver import jupyterlab, quick_slider_moves, slider_lag_problems

    with jupyterlab([LAGGING_DASHBOARD], tmp_path) as lab:
        visit = lab.run_all(LAGGING_DASHBOARD.stem)
        assert not visit.errors and visit.toolbars >= 1, visit  # it ran and drew its map
        moves = quick_slider_moves(lab)
    problems = slider_lag_problems(moves)
    assert problems, f"the slider check passed a dashboard made to lag: {moves}"
    assert any("the slider shows 2024-" in p and "but the map shows 2024-" in p for p in problems), problems
