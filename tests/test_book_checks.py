"""The reader checks of the book (issue 16): each passes a good page and fails a page made to have its defect.

The pages in ``tests/data/bad_pages/`` hold real HoloViews/hvplot/Panel output staged as the book stages
notebook outputs, executed notebooks and jupytext files; ``make_pages.py`` there regenerates them. The fit
check measures the pages in the system Chromium driven by Playwright, as the book test does.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_book import _require_chromium

from geoml_helpers.course.bokeh_json import BokehDocument, embedded_documents
from geoml_helpers.course.book_pages import copy_offline_js
from geoml_helpers.course.browser import WINDOW_WIDTH, HeadlessChromium, serve_directory
from geoml_helpers.course.reader_checks import (
    absolute_path_problems,
    class_colour_table,
    colour_problems,
    fit_problems,
    injected_cell_problems,
    long_line_problems,
    long_output_problems,
    noise_problems,
    placement_problems,
)
from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_LABELS, CLASS_NAMES
from geoml_helpers.explore.plotting import record_plot_bounds

PAGES = Path(__file__).resolve().parent / "data" / "bad_pages"


def _page(name: str) -> str:
    return (PAGES / name).read_text()


def _notebook(name: str) -> dict:
    return json.loads((PAGES / name).read_text())


# --- placement -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landcover_bounds() -> dict[str, tuple[float, float, float, float]]:
    """The true bounds of the fixture raster, read from the file (its pixel edges, in degrees)."""
    bounds = record_plot_bounds("Land cover", PAGES / "landcover.tif")
    assert -34.0 < bounds[1] < bounds[3] < -33.9 and 18.8 < bounds[0] < bounds[2] < 19.0
    return {"Land cover": bounds}


def test_placement_passes_a_map_drawn_where_its_file_is(landcover_bounds):
    assert placement_problems(_page("placement_good.html"), landcover_bounds, page="good") == []
    plots = [
        p for d in embedded_documents(_page("placement_good.html")) for p in BokehDocument(d).plots() if p.geographic
    ]
    assert [p.title for p in plots] == ["Land cover"] and plots[0].glyphs == ["Image"]
    # the extent read from the Bokeh JSON is the file's, to a fraction of the 50 m pixel (0.00045 deg)
    assert max(abs(a - b) for a, b in zip(plots[0].lonlat_extent, landcover_bounds["Land cover"])) < 0.0006


def test_placement_fails_a_map_drawn_21_km_south(landcover_bounds):
    problems = placement_problems(_page("placement_bad.html"), landcover_bounds, page="bad")
    assert len(problems) == 1, problems
    assert "'Land cover'" in problems[0] and "(~21.1 km) off" in problems[0] and "-34.1" in problems[0]
    # a tolerance wider than the error lets it pass: the check compares numbers, not the page's text
    assert placement_problems(_page("placement_bad.html"), landcover_bounds, tolerance_deg=0.2) == []


def test_placement_fails_a_map_whose_frame_is_widened_by_axes_shared_with_a_utm_image(landcover_bounds):
    """06's defect: the data is in place, but the frame spans UTM metres to Web Mercator metres."""
    problems = placement_problems(_page("placement_view_bad.html"), landcover_bounds, page="bad")
    assert len(problems) == 1 and "'Land cover' opens on a frame" in problems[0], problems
    assert "shared_axes=False" in problems[0]


def test_placement_fails_a_map_whose_axes_say_metres_under_degree_ticks(landcover_bounds):
    """03's defect: hvplot labelled the axes from the coordinates' attributes ("... (metre)")."""
    problems = placement_problems(_page("axes_bad.html"), landcover_bounds, page="bad")
    assert len(problems) == 1 and "coordinate of projection (metre)" in problems[0], problems
    plots = [p for d in embedded_documents(_page("placement_good.html")) for p in BokehDocument(d).plots()]
    assert [p.axis_labels for p in plots] == [("longitude", "latitude")]


def test_placement_fails_a_map_without_recorded_bounds_and_a_record_without_its_map(landcover_bounds):
    unrecorded = placement_problems(_page("placement_good.html"), {}, page="p")
    assert (
        len(unrecorded) == 1
        and "has no true bounds recorded" in unrecorded[0]
        and "record_plot_bounds" in unrecorded[0]
    )
    orphan = placement_problems(_page("colours_good.html"), landcover_bounds, page="p")
    assert orphan == [
        "p: bounds were recorded for a plot titled 'Land cover', but the page has no geographic plot with that title"
    ]


def test_record_plot_bounds_reads_files_cubes_and_frames(landcover_bounds):
    import geopandas as gpd
    import rioxarray
    from shapely.geometry import box

    cube = rioxarray.open_rasterio(PAGES / "landcover.tif")
    assert record_plot_bounds("x", cube) == pytest.approx(landcover_bounds["Land cover"], abs=1e-9)
    west, south, east, north = cube.rio.bounds()
    frame = gpd.GeoDataFrame(geometry=[box(west, south, east, north)], crs=cube.rio.crs)
    assert record_plot_bounds("x", frame) == pytest.approx(landcover_bounds["Land cover"], abs=1e-3)
    with pytest.raises(ValueError, match="west, south, east, north"):
        record_plot_bounds("x", (1.0, 2.0))


# --- colours ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def class_colours() -> dict[str, str]:
    return class_colour_table(CLASS_COLORS, CLASS_NAMES, CLASS_LABELS)


def test_colours_pass_classes_mapped_to_their_table_colour(class_colours):
    assert colour_problems(_page("colours_good.html"), class_colours, page="good") == []
    entries = [e for d in embedded_documents(_page("colours_good.html")) for e in BokehDocument(d).legend_entries()]
    assert sorted(e.label for e in entries) == sorted(CLASS_NAMES.values())  # every class was inspected


def test_colours_fail_a_colour_list_applied_in_group_order(class_colours):
    problems = colour_problems(_page("colours_bad.html"), class_colours, page="bad")
    assert len(problems) == len(CLASS_NAMES), problems
    # the defect seen in notebook 03: water drawn red
    assert any("class 'water' in #c0392b" in p and "table colour is #2b7bd6" in p for p in problems)


def test_colours_pass_a_class_map_in_table_colours_that_names_its_classes(class_colours):
    page = _page("classmap_good.html")
    assert colour_problems(page, class_colours, page="good", id_colours=CLASS_COLORS) == []
    scales = [s for d in embedded_documents(page) for s in BokehDocument(d).colour_scales()]
    assert scales and {s.colour_of(i) for s in scales for i in CLASS_COLORS} == set(CLASS_COLORS.values())


def test_colours_fail_a_class_map_with_a_numeric_colour_bar_or_shifted_colours(class_colours):
    problems = colour_problems(_page("classmap_bad.html"), class_colours, page="bad", id_colours=CLASS_COLORS)
    unnamed = [p for p in problems if "names no class" in p]
    assert len(unnamed) == 1 and "'Land cover (numeric colour bar)'" in unnamed[0]
    shifted = [p for p in problems if "draws class id" in p]
    assert len(shifted) == 5 and "class id 1 in #1f5e2e, but its table colour is #9bbf4a" in shifted[0]


def test_colours_compare_spellings_of_a_class_label():
    table = class_colour_table({2: "#1F5E2E"}, {2: "invasive_trees"}, {2: "Invasive alien trees"})
    assert table == {"invasive trees": "#1f5e2e", "invasive alien trees": "#1f5e2e"}


# --- fit -------------------------------------------------------------------------------------


BROWSED = ("fit_good.html", "fit_bad.html", "long_output_good.html", "long_output_bad.html")


@pytest.fixture(scope="module")
def browsed(tmp_path_factory):
    """The pages the browser measures, opened in the system Chromium at the book's window width."""
    _require_chromium()
    site = tmp_path_factory.mktemp("browsed-pages")
    assets: set[str] = set()
    for name in BROWSED:
        shutil.copyfile(PAGES / name, site / name)
        assets |= set(re.findall(r"_static/panel/([^\"'\\\s)?#]+)", (PAGES / name).read_text()))
    copy_offline_js(site / "_static", sorted(assets))
    with serve_directory(site) as base, HeadlessChromium() as browser:
        return {name: browser.visit(base + name, site / f"{name}.png") for name in BROWSED}


def test_browsed_pages_render_at_the_window_width(browsed):
    for name, check in browsed.items():
        assert check.problems == [], (name, check.problems)
        assert check.screenshot.is_file() and (check.rendered_plots >= 1 or name.startswith("long"))
        assert check.column is not None and abs(check.column["width"] - 760) < 1  # the fixture's article column
    assert WINDOW_WIDTH == 1300


def test_fit_passes_a_page_that_fits(browsed):
    check = browsed["fit_good.html"]
    assert {b["kind"] for b in check.boxes} == {"plot", "table", "text"}  # a long printed line, wrapped
    assert fit_problems(check) == []


def test_fit_fails_a_wide_plot_table_widget_row_and_printed_line(browsed):
    problems = fit_problems(browsed["fit_bad.html"])
    assert len(problems) == 4, problems
    assert sum("plot 'Bokeh root" in p for p in problems) == 2 and sum("table" in p for p in problems) == 1
    assert sum(p.startswith("fit_bad.html: text 'pre'") for p in problems) == 1, problems
    assert all("beyond the 760 px article column" in p for p in problems)


# --- noise -----------------------------------------------------------------------------------


def test_noise_passes_a_quiet_notebook():
    assert noise_problems(_notebook("noise_good.ipynb")) == []


def test_noise_fails_stderr_warnings_errors_and_tracebacks():
    problems = noise_problems(_notebook("noise_bad.ipynb"), page="bad")
    joined = "\n".join(problems)
    assert "cell 1 writes to stderr" in joined and "'Warning'" in joined  # warnings.warn
    assert "cell 2 writes to stderr: 'cleaning up'" in joined
    assert "cell 3" in joined and "'ERROR'" in joined  # a distributed-style log line
    assert "cell 4 stdout stream output shows 'Traceback (most recent call last)'" in joined


def test_noise_passes_outputs_of_60_lines_or_fewer_and_hidden_text(browsed):
    check = browsed["long_output_good.html"]
    assert [out["lines"] for out in check.outputs] == [20, 1]  # the hidden fallback and <details> body are not lines
    assert long_output_problems(check) == []


def test_noise_fails_an_output_over_60_lines(browsed):
    problems = long_output_problems(browsed["long_output_bad.html"])
    # 70 redraws, each a line on the page, after the blank line of the first carriage return
    assert len(problems) == 1 and "shows 71 lines (at most 60), from 'Epoch 0: 100%" in problems[0]


def test_noise_fails_an_injected_parameters_cell():
    assert injected_cell_problems(_page("injected_bad.html"), page="bad") == [
        "bad: shows papermill's injected-parameters cell"
    ]
    assert injected_cell_problems(_page("fit_good.html")) == []


def test_noise_fails_absolute_paths_of_the_building_machine():
    problems = absolute_path_problems(_page("abspath_bad.html"), ["/tmp", "/work/main"], page="bad")
    assert (
        len(problems) == 1
        and "/tmp/pytest-of-root/pytest-7/geoml-notebook-data0/outputs/landcover_rf.tif" in problems[0]
    )
    assert absolute_path_problems(_page("placement_good.html"), ["/tmp", str(PAGES.parents[2])]) == []


# --- lines -----------------------------------------------------------------------------------


def test_lines_pass_short_code_and_long_prose():
    assert long_line_problems(PAGES / "lines_good.py") == []


def test_lines_fail_code_over_88_characters():
    assert long_line_problems(PAGES / "lines_bad.py") == ["lines_bad.py:9: 97 characters (at most 88)"]
