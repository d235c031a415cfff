"""Every notebook: paired, output-free, parameterised, narrated, executed once in the ci profile, rendered as the book.

The execution and the book share the session fixture ``executed_notebooks``; keeping them in this one
file keeps them on one pytest-xdist worker (``--dist loadfile``), so the notebooks run exactly once.
"""

from __future__ import annotations

import json
import re

import jupytext
import nbformat
import pytest
from conftest import PROJECT_ROOT
from test_book import _assert_report_ok, _require_chromium
from test_course_claims import EXPECTATIONS, claim_problems, glued_values

from geoml_helpers.course.book_build import build_book
from geoml_helpers.course.book_checks import check_book
from geoml_helpers.course.book_pages import discover_executed
from geoml_helpers.course.reader_checks import (
    READER_CHECKS,
    check_reader_view,
    class_colour_table,
    machine_paths,
    problems_by_page,
)
from geoml_helpers.demo.classes import demo_class_table

MAX_TEACHING_ASSERTS = 3
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
    code = "\n".join(c.source for c in ipynb.cells if c.cell_type == "code")
    asserts = re.findall(r"^\s*assert\b.*", code, flags=re.MULTILINE)
    assert len(asserts) <= MAX_TEACHING_ASSERTS, (
        f"{path.name} has {len(asserts)} assert lines; a reader sees at most a few that teach something. "
        f"Glue the value (myst_nb.glue) and check it in tests/test_course_claims.py instead: {asserts}"
    )


@pytest.mark.notebooks
def test_every_notebook_runs_in_the_ci_profile_and_leaves_nothing_behind(executed_notebooks):
    assert executed_notebooks.ok
    assert [run.notebook for run in executed_notebooks.notebooks] == [p.name for p in NOTEBOOKS]
    for run in executed_notebooks.notebooks:
        print(f"{run.notebook}: {run.wall_s:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    assert executed_notebooks.left_behind == [], "notebooks must write only under the data directory"


@pytest.fixture(scope="module")
def course_book(executed_notebooks):
    """The real book, built, browsed and read by every reader check.

    From the notebooks this session executed in ``build/executed/ci``, built into ``build/book/ci``,
    opened page by page in Chromium, and read by every reader check; ``build/book/ci/reader-checks.json`` lists
    what each check found.
    """
    assert executed_notebooks.ok
    _require_chromium()
    book = build_book("ci", log=lambda *a: None)
    report = check_book(book.html_dir, book.output_dir / "screenshots", log=lambda *a: None)
    table = demo_class_table()  # the class table the course notebooks use
    problems = check_reader_view(
        book,
        report,
        class_colours=class_colour_table(table.colours, table.names, table.labels),
        notebooks_dir=PROJECT_ROOT / "notebooks",
        paths=machine_paths(),
        id_colours=table.colours,
    )
    (book.output_dir / "reader-checks.json").write_text(json.dumps(problems, indent=1) + "\n")
    return book, report, problems


@pytest.mark.notebooks
def test_course_book_builds_and_renders(course_book, executed_notebooks):
    """The real book: every page loads in Chromium with no error, no request off 127.0.0.1 and every plot drawn."""
    book, report, _ = course_book
    executed = PROJECT_ROOT / "build" / "executed" / "ci"
    assert len(book.pages) == len(discover_executed(executed))
    # every notebook with a plot output shows as many rendered plots as its outputs embed
    _assert_report_ok(
        book,
        report,
        {f"{p.name.removesuffix('.ipynb')}.html": p.n_plots for p in book.pages if p.n_plots},
    )
    # a clean clone has no build/benchmarks: the page shows the recorded runs, each with its machine
    benchmarks = (book.html_dir / "benchmarks.html").read_text()
    recorded = sorted(p.stem for p in (PROJECT_ROOT / "benchmarks" / "results").glob("*.json"))
    assert recorded and "No benchmark has been run yet" not in benchmarks
    assert all(f"<h2>{name}" in benchmarks for name in recorded), recorded


#: Reader checks (issue 16 part 2) that today's notebooks still fail: each is expected to fail, strictly, so
#: that it turns into a test failure ("XPASS(strict)") the day the notebooks are fixed; then delete its line.
READER_CHECKS_STILL_FAILING: dict[str, str] = {}


@pytest.mark.notebooks
@pytest.mark.parametrize(
    "check",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=READER_CHECKS_STILL_FAILING[name]))
        if name in READER_CHECKS_STILL_FAILING
        else name
        for name in READER_CHECKS
    ],
)
def test_course_book_reader_check(course_book, check):
    """One reader check on the real book: maps in place, class colours, fit, no noise, short lines."""
    problems = course_book[2][check]
    per_page = ", ".join(f"{page} {n}" for page, n in problems_by_page(problems).items())
    assert not problems, f"{check}: {len(problems)} problems ({per_page}):\n" + "\n".join(problems)


@pytest.mark.notebooks
def test_no_claim_of_the_course_contradicts_its_outputs(executed_notebooks):
    """Every claim the notebooks glue, and every check moved out of the reader's cells, on this session's run."""
    assert executed_notebooks.ok
    executed = PROJECT_ROOT / "build" / "executed" / "ci"
    problems, glued = [], 0
    for path in sorted(executed.glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text())
        glued += len(glued_values(notebook))
        problems += claim_problems(notebook, path.stem, EXPECTATIONS.get(path.stem, []))
    assert glued, "no notebook glued a value: the claims cannot be checked"
    assert not problems, "\n".join(problems)


# --- In a real JupyterLab (issue 16 part 6) -------------------------------------------------------------------

LAB_NOTEBOOKS = ("00_environment_check", "03_explore_with_holoviz")


@pytest.fixture(scope="module")
def lab_visits(executed_notebooks):
    """00 and 03 run with *Run All* in JupyterLab over the system Chromium, then 03's month slider moved fast.

    The data folder is the course run's (02's cube is there); the notebooks are the stored ones, copied.
    """
    assert executed_notebooks.ok
    _require_chromium()
    from jupyterlab_driver import jupyterlab, quick_slider_moves

    paths = [PROJECT_ROOT / "notebooks" / f"{name}.ipynb" for name in LAB_NOTEBOOKS]
    with jupyterlab(paths, executed_notebooks.data_dir) as lab:
        visits = {name: lab.run_all(name) for name in LAB_NOTEBOOKS}
        moves = quick_slider_moves(lab)
        off_host = lab.off_host
    return visits, moves, off_host


@pytest.mark.notebooks
def test_jupyterlab_run_all_shows_no_error_and_draws_bokeh_toolbars(lab_visits):
    """A learner's Run All of 00 and 03 in JupyterLab: no error or stderr output, and 03's plots have toolbars."""
    visits, _, _ = lab_visits
    for name, visit in visits.items():
        assert not visit.errors, f"{name}: error outputs in JupyterLab: {visit.errors}"
        assert not visit.stderr, f"{name}: stderr outputs in JupyterLab: {visit.stderr}"
    assert visits["03_explore_with_holoviz"].toolbars >= 1, "03 drew no Bokeh toolbar in JupyterLab"


@pytest.mark.notebooks
def test_jupyterlab_dashboard_map_keeps_up_with_its_slider(lab_visits):
    """Quick slider moves in 03's dashboard leave the map on the month the slider shows."""
    from jupyterlab_driver import slider_lag_problems

    _, moves, _ = lab_visits
    problems = slider_lag_problems(moves)
    assert not problems, "\n".join(problems)


@pytest.mark.notebooks
def test_jupyterlab_opens_the_stored_notebooks_unmodified(lab_visits):
    """Opening a stored notebook does not mark it modified (its kernel metadata is already what Lab writes)."""
    visits, _, _ = lab_visits
    assert {n: v.dirty_after_open for n, v in visits.items()} == {n: 0 for n in visits}


@pytest.mark.notebooks
def test_jupyterlab_page_makes_no_request_off_127_0_0_1(lab_visits):
    """Nothing the Lab page loads while running 00 and 03 leaves 127.0.0.1 (offline, no CDN).

    geoviews' BokehJS extension would come from cdn.jsdelivr.net but for ``inline_bokeh_extensions``.
    """
    _, _, off_host = lab_visits
    assert not off_host, f"requests off 127.0.0.1: {sorted(set(off_host))}"
