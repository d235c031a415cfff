"""Every notebook: paired with jupytext, output-free, parameterised, narrated, and executed in the ci profile."""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from conftest import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_clean_and_parameterised(path):
    pair = path.with_suffix(".py")
    assert pair.exists(), f"{path.name} has no jupytext pair {pair.name}"
    ipynb, script = nbformat.read(path, as_version=4), jupytext.read(pair)
    strip = lambda cells: [(c.cell_type, c.source.strip()) for c in cells]  # noqa: E731
    assert strip(ipynb.cells) == strip(script.cells), f"{path.name} and {pair.name} are out of sync: run `jupytext --sync {pair}`"
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    parameters = [c for c in ipynb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and "profile" in parameters[0].source
    title = ipynb.cells[0].source.lower()
    assert ipynb.cells[0].cell_type == "markdown" and title.startswith("#")
    for words in ("learning objectives", "prerequisites", "run time"):
        assert words in title, f"the title cell of {path.name} should state its {words}"
    text = "\n".join(c.source.lower() for c in ipynb.cells if c.cell_type == "markdown")
    assert "check your understanding" in text and "summary" in text


@pytest.mark.notebooks
@pytest.mark.xdist_group("course-notebooks")
def test_every_notebook_runs_in_the_ci_profile_and_leaves_nothing_behind(executed_notebooks):
    assert executed_notebooks.ok
    assert [run.notebook for run in executed_notebooks.notebooks] == [p.name for p in NOTEBOOKS]
    for run in executed_notebooks.notebooks:
        print(f"{run.notebook}: {run.wall_s:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    assert executed_notebooks.left_behind == [], "notebooks must write only under the data directory"
