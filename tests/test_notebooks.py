"""Every notebook: paired, output-free, parameterised, narrated, executed once in the ci profile, rendered as the book.

The execution and the book share the session fixture ``executed_notebooks``; keeping them in this one
file keeps them on one pytest-xdist worker (``--dist loadfile``), so the notebooks run exactly once.
"""

from __future__ import annotations

import jupytext
import nbformat
import pytest
from conftest import PROJECT_ROOT
from geoml_helpers.course.book import build_book, discover_executed
from test_book import _assert_book_ok, _require_chromium

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_clean_and_parameterised(path):
    pair = path.with_suffix(".py")
    assert pair.exists(), f"{path.name} has no jupytext pair {pair.name}"
    ipynb, script = nbformat.read(path, as_version=4), jupytext.read(pair)
    strip = lambda cells: [(c.cell_type, c.source.strip()) for c in cells]  # noqa: E731
    assert strip(ipynb.cells) == strip(script.cells), (
        f"{path.name} and {pair.name} are out of sync: run `jupytext --sync {pair}`"
    )
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
def test_every_notebook_runs_in_the_ci_profile_and_leaves_nothing_behind(executed_notebooks):
    assert executed_notebooks.ok
    assert [run.notebook for run in executed_notebooks.notebooks] == [p.name for p in NOTEBOOKS]
    for run in executed_notebooks.notebooks:
        print(f"{run.notebook}: {run.wall_s:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    assert executed_notebooks.left_behind == [], "notebooks must write only under the data directory"


@pytest.mark.notebooks
def test_course_book_builds_and_renders(executed_notebooks):
    """The real book from the notebooks this session executed in ``build/executed/ci``, into ``build/book/ci``."""
    assert executed_notebooks.ok
    executed = PROJECT_ROOT / "build" / "executed" / "ci"
    _require_chromium()
    book = build_book("ci", log=lambda *a: None)
    assert len(book.pages) == len(discover_executed(executed))
    # every notebook with a plot output shows as many rendered plots as its outputs embed
    _assert_book_ok(
        book,
        book.output_dir / "screenshots",
        {f"{p.name.removesuffix('.ipynb')}.html": p.n_plots for p in book.pages if p.n_plots},
    )
