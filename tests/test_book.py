"""The rendered book: built from papermill-executed notebooks, plots working offline, checked in headless Chromium.

The module first executes a small stand-in notebook (real hvplot, HoloViews and Panel
outputs) with the project's papermill runner, builds the book from it exactly as
``book/build.py`` does, and opens every page in Debian's chromium served from 127.0.0.1.
The course's own notebooks, executed once per session by the ``executed_notebooks``
fixture into ``build/executed/ci/``, are then built into ``build/book/ci/`` and checked
the same way, with a screenshot per page in ``build/book/ci/screenshots/``.

Without chromium the browser tests skip, except under CI (``CI`` or
``GEOML_REQUIRE_BROWSER`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from geoml_helpers.core.errors import BookError
from geoml_helpers.course.book_build import PLOT_BOUNDS_FILE, build_book
from geoml_helpers.course.book_checks import MAX_PAGE_BYTES, BookCheck, check_book, check_links, html_pages
from geoml_helpers.course.book_pages import discover_executed, prepare_notebook
from geoml_helpers.course.browser import find_chromium
from geoml_helpers.course.reader_checks import READER_CHECKS, check_reader_view, class_colour_table, machine_paths
from geoml_helpers.course.runner import run_notebooks
from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_LABELS, CLASS_NAMES
from geoml_helpers.explore.plotting import PLOT_BOUNDS_MIME

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = PROJECT_ROOT / "book"

STANDIN = """# %% [markdown]
# # Stand-in notebook for the book tests
#
# Real HoloViews, hvplot and Panel outputs, executed by papermill.

# %% tags=["parameters"]
profile = "ci"
n_points = 60
seed = 0

# %%
import numpy as np
import pandas as pd
import xarray as xr
import panel as pn
import hvplot.pandas  # noqa: F401
import hvplot.xarray  # noqa: F401

rng = np.random.default_rng(seed)
df = pd.DataFrame({"day": np.arange(n_points), "ndvi": 0.5 + 0.3 * np.sin(np.arange(n_points) / 6)})
print(f"profile={profile}, {len(df)} points")

# %%
from tqdm.auto import tqdm

total = sum(i for i in tqdm(range(5), desc="progress"))
assert total == 10

# %%
import sys

print("a note on stderr", file=sys.stderr)

# %%
df.hvplot.line(x="day", y="ndvi", title="NDVI over time", width=480)

# %%
coords = {"y": np.arange(120), "x": np.arange(120)}
grid = xr.DataArray(rng.random((120, 120)), dims=("y", "x"), coords=coords, name="reflectance")
grid.hvplot.image(rasterize=True, cmap="viridis", title="rasterized grid", width=480)

# %%
pn.Column(
    pn.pane.Markdown("**A Panel layout**"),
    pn.widgets.FloatSlider(name="threshold", start=0, end=1, value=0.4),
    df.hvplot.scatter(x="day", y="ndvi", height=250, width=480),
)

# %%
import holoviews as hv
import rioxarray  # noqa: F401
from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_NAMES
from geoml_helpers.explore import image_plot, record_plot_bounds

centres = 50.0 * (np.arange(40) + 0.5)
classes = xr.DataArray(
    rng.integers(1, 7, (40, 40)).astype("float32"),
    dims=("y", "x"),
    coords={"y": 6241000.0 - centres, "x": 303000.0 + centres},
).rio.write_crs("EPSG:32734")
record_plot_bounds("Stand-in land cover", classes)
# a geographic plot keeps the data's aspect by widening its canvas beyond `width`: fix the frame instead
image_plot(classes, title="Stand-in land cover").opts(frame_width=300)

# %%
curves = [
    hv.Curve((df["day"], df["ndvi"] + 0.1 * i), "day", "ndvi", label=CLASS_NAMES[i])
    .opts(color=CLASS_COLORS[i])
    for i in CLASS_NAMES
]
hv.Overlay(curves).opts(title="Stand-in phenology", width=440, legend_position="right")
"""

N_STANDIN_PLOTS = 5  # the five cells above that display a HoloViews/Panel object


def _require_chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") or os.environ.get("GEOML_REQUIRE_BROWSER"):
            pytest.fail("chromium is required for the book's browser check in CI: apt-get install -y chromium")
        pytest.skip("no chromium on this machine (apt-get install -y chromium); the browser check is skipped")
    return path


def _write_notebook(folder: Path, name: str, text: str) -> Path:
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path = folder / name
    jupytext.write(nb, path, fmt="ipynb")
    return path


@pytest.fixture(scope="module")
def executed_standin(tmp_path_factory, data_root) -> Path:
    """The stand-in notebook executed by the project's papermill runner.

    Gives ``<root>/ci/01_standin.ipynb`` and ``run-summary.json``.
    """
    root = tmp_path_factory.mktemp("book-executed")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    _write_notebook(notebooks, "01_standin.ipynb", STANDIN)
    with pytest.MonkeyPatch.context() as mp:  # the runner exports these for its kernels; keep them out of other tests
        mp.setenv("GEOML_DATA_DIR", str(data_root))
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        summary = run_notebooks(
            "ci", notebooks_dir=notebooks, output_dir=root / "executed", data_dir=str(data_root), log=lambda *a: None
        )
    assert summary.ok
    return root / "executed"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    """A benchmark table as a benchmarks/ script writes it, with values computed here."""
    folder = tmp_path_factory.mktemp("benchmarks")
    import random

    rng = random.Random(7)
    rows = [
        {"loader": name, "chips_per_s": round(rng.uniform(50, 500), 1)}
        for name in ("torchgeo default", "aligned COG stack")
    ]
    rows[1]["ratio"] = round(rows[1]["chips_per_s"] / rows[0]["chips_per_s"], 3)
    (folder / "chip_loader.json").write_text(
        json.dumps({"title": "Chip loader throughput", "cpus": os.cpu_count(), "rows": rows})
    )
    return folder


@pytest.fixture(scope="module")
def standin_book(tmp_path_factory, executed_standin, bench_dir):
    out = tmp_path_factory.mktemp("book")
    return build_book(
        "ci",
        book_dir=BOOK_DIR,
        executed_root=executed_standin,
        bench_dir=bench_dir,
        output_dir=out,
        log=lambda *a: None,
    )


def test_prepare_notebook_makes_outputs_offline(executed_standin, tmp_path):
    import panel

    source = executed_standin / "ci" / "01_standin.ipynb"
    raw = source.read_text()
    assert "cdn.bokeh.org" in raw and "application/vnd.holoviews_load.v0+json" in raw  # what papermill wrote

    page = prepare_notebook(source, tmp_path / "notebooks" / source.name)
    staged = (tmp_path / "notebooks" / source.name).read_text()
    assert page.has_plots and page.title == "Stand-in notebook for the book tests"
    assert page.n_plots == N_STANDIN_PLOTS
    assert "cdn.bokeh.org" not in staged and "cdn.holoviz.org" not in staged
    mimes = {
        key for cell in json.loads(staged)["cells"] for out in cell.get("outputs", []) for key in out.get("data", {})
    }
    assert not [m for m in mimes if m.startswith("application/vnd.holoviews_")], mimes  # Sphinx would warn on them
    assert staged.count("data-root-id") >= N_STANDIN_PLOTS
    # papermill's injected cell and the plot-bounds record are in the executed notebook, not on the page
    assert "injected-parameters" in raw and PLOT_BOUNDS_MIME in raw
    assert "injected-parameters" not in staged and PLOT_BOUNDS_MIME not in staged
    west, south, east, north = page.plot_bounds["Stand-in land cover"]
    assert 18.86 < west < east < 18.9 and -33.99 < south < north < -33.95  # UTM 34S pixel edges, in degrees
    # every Panel asset the outputs now load from _static/panel/ exists in the installed Panel
    assert page.panel_assets, "Panel's stylesheets were expected in the outputs"
    for asset in page.panel_assets:
        assert (Path(panel.__file__).parent / "dist" / asset).is_file(), asset
        assert f"../_static/panel/{asset}" in staged


def test_widget_views_without_state_fall_back_to_text(tmp_path):
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": "",
                "execution_count": 1,
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"application/vnd.jupyter.widget-view+json": view, "text/plain": "progress: 100%| 5/5"},
                    }
                ],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "01_w.ipynb").write_text(json.dumps(nb))
    prepare_notebook(tmp_path / "01_w.ipynb", tmp_path / "out" / "01_w.ipynb")
    data = json.loads((tmp_path / "out" / "01_w.ipynb").read_text())["cells"][0]["outputs"][0]["data"]
    assert data == {"text/plain": "progress: 100%| 5/5"}


def test_error_output_fails_the_build(executed_standin, tmp_path):
    executed = tmp_path / "executed" / "ci"
    executed.mkdir(parents=True)
    nb = json.loads((executed_standin / "ci" / "01_standin.ipynb").read_text())
    code_cells = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    broken = code_cells[-1]
    nb["cells"][broken]["outputs"].append(
        {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": []}
    )
    (executed / "01_standin.ipynb").write_text(json.dumps(nb))
    with pytest.raises(BookError, match=rf"cell {broken}: ZeroDivisionError"):
        build_book(
            "ci",
            book_dir=BOOK_DIR,
            executed_root=tmp_path / "executed",
            bench_dir=tmp_path,
            output_dir=tmp_path / "book",
        )
    # a cell tagged raises-exception may show its error
    nb["cells"][broken]["metadata"].setdefault("tags", []).append("raises-exception")
    (executed / "01_standin.ipynb").write_text(json.dumps(nb))
    prepare_notebook(executed / "01_standin.ipynb", tmp_path / "staged.ipynb")


def test_sphinx_warning_fails_the_build(executed_standin, tmp_path):
    book = tmp_path / "book-src"
    shutil.copytree(BOOK_DIR, book, ignore=shutil.ignore_patterns("build.py", "__pycache__"))
    glossary = book / "glossary.md"
    glossary.write_text(glossary.read_text() + "\nSee {doc}`a_page_that_does_not_exist`.\n")
    with pytest.raises(BookError, match="a_page_that_does_not_exist"):
        build_book("ci", book_dir=book, executed_root=executed_standin, bench_dir=tmp_path, output_dir=tmp_path / "out")


def test_book_pages_come_from_files_not_typing(standin_book, executed_standin, bench_dir):
    html = standin_book.html_dir
    assert [p.name for p in standin_book.pages] == [p.name for p in discover_executed(executed_standin / "ci")]
    # the landing page shows the stand-in's wall time as measured by the runner
    summary = json.loads((executed_standin / "ci" / "run-summary.json").read_text())
    wall = summary["notebooks"][0]["wall_s"]
    shown = f"{wall:.0f} s" if wall < 90 else f"{wall / 60:.1f} min"
    intro = (html / "intro.html").read_text()
    assert re.search(rf"<td><p>{re.escape(shown)}</p></td>", intro), f"run time {shown} missing from the landing page"
    assert "Stand-in notebook for the book tests" in intro
    # the benchmarks page renders the JSON's numbers
    bench = (html / "benchmarks.html").read_text()
    rows = json.loads((bench_dir / "chip_loader.json").read_text())["rows"]
    for row in rows:
        assert f"{row['chips_per_s']:.4g}" in bench
    assert f"{rows[1]['ratio']:.4g}" in bench
    # every page has its own HTML and the notebook page exists
    names = {p.relative_to(html).as_posix() for p in html_pages(html)}
    assert {
        "intro.html",
        "run_it_yourself.html",
        "troubleshooting.html",
        "benchmarks.html",
        "glossary.html",
        "notebooks/01_standin.html",
    } <= names


def test_book_ships_bokeh_and_panel_locally(standin_book):
    import bokeh

    html = standin_book.html_dir
    static_bokeh = (html / "_static" / "bokeh.min.js").read_text()
    assert f'"{bokeh.__version__}"' in static_bokeh  # the installed BokehJS, matching the outputs
    for page in html_pages(html):
        text = page.read_text()
        srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not srcs, f"{page.name} loads {srcs} from the network"
        assert "cdn.bokeh.org" not in text and "cdn.holoviz.org" not in text, page.name


def test_link_checker_reports_broken_and_external(tmp_path):
    (tmp_path / "a.html").write_text(
        '<html><body><h1 id="top">A</h1><a href="b.html#nowhere">b</a><a href="c.html">c</a>'
        '<a href="#top">top</a><a href="https://example.org/x">ext</a></body></html>'
    )
    (tmp_path / "b.html").write_text('<html><body><p id="here">B</p><a href="a.html#top">a</a></body></html>')
    report = check_links(tmp_path)
    assert report.checked == 4
    assert (
        len(report.broken) == 2
        and any("nowhere" in b for b in report.broken)
        and any("c.html" in b for b in report.broken)
    )
    assert report.external == ["https://example.org/x"]


def _assert_book_ok(book, screenshot_dir: Path, expect_plots: dict[str, int]) -> BookCheck:
    report = check_book(book.html_dir, screenshot_dir, log=lambda *a: None)
    _assert_report_ok(book, report, expect_plots)
    return report


def _assert_report_ok(book, report: BookCheck, expect_plots: dict[str, int]) -> None:
    print(report.summary())
    assert report.ok, "\n".join(report.problems)
    pages = html_pages(book.html_dir)
    assert len(report.pages) == len(pages) == len(report.weights)
    assert max(w.total_bytes for w in report.weights) <= MAX_PAGE_BYTES
    by_page = {Path(p.url).name: p for p in report.pages}
    for page_name, n_plots in expect_plots.items():
        assert by_page[page_name].rendered_plots >= n_plots, f"{page_name}: {by_page[page_name].roots}"
    from PIL import Image

    for check in report.pages:
        assert check.screenshot is not None and check.screenshot.is_file()
        with Image.open(check.screenshot) as image:
            colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
            assert colours is None or len(colours) > 8, f"{check.screenshot} looks blank"


def test_standin_book_renders_in_headless_chromium(standin_book):
    _require_chromium()
    assert standin_book.pages[0].n_plots == N_STANDIN_PLOTS
    report = _assert_book_ok(
        standin_book, standin_book.output_dir / "screenshots", {"01_standin.html": N_STANDIN_PLOTS}
    )
    # The reader checks on a book from a real papermill run: the map was recorded, drawn in place, the classes
    # in their colours, everything fits the column at 1300 px, and no machine path or papermill cell shows.
    recorded = json.loads((standin_book.output_dir / PLOT_BOUNDS_FILE).read_text())
    assert list(recorded) == ["notebooks/01_standin.html"] and list(recorded["notebooks/01_standin.html"]) == [
        "Stand-in land cover"
    ]
    classes = class_colour_table(CLASS_COLORS, CLASS_NAMES, CLASS_LABELS)
    problems = check_reader_view(
        standin_book, report, class_colours=classes, paths=machine_paths(), id_colours=CLASS_COLORS
    )
    assert set(problems) == set(READER_CHECKS)
    for check in ("placement", "colours", "fit", "long_outputs", "injected_cell", "absolute_paths"):
        assert problems[check] == [], (check, problems[check])
    # papermill recorded the cell's stderr, and the noise check sees it on the page as the book shows it
    assert any("writes to stderr: 'a note on stderr'" in p for p in problems["noise"]), problems["noise"]
