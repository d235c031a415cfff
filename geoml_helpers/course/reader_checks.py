"""What a reader of the book sees, checked: maps in place, class colours, pages that fit, no noise, short lines.

Each check is a function that returns a list of problems (one line each, naming the
page, the plot or cell and the fix), empty when the page is fine:

* :func:`placement_problems` - every geographic plot's data extent lies within
  ``tolerance_deg`` of the true bounds the notebook recorded for it
  (``geoml_helpers.explore.plotting.record_plot_bounds``), read from the Bokeh document
  embedded in the page; the plot opens on its data (not a dot in a frame widened by axes shared
  with a plot in another CRS), and its axes are not labelled in metres under degree ticks;
* :func:`colour_problems` - every legend entry that names a class is drawn in that class's
  table colour;
* :func:`fit_problems` - no plot, widget, table or image is wider than the article column,
  from the element boxes Chromium measured (:class:`~geoml_helpers.course.browser.PageCheck`);
* no noise: :func:`noise_problems` (no stderr, no "Warning", "ERROR" or traceback) reads a notebook as
  the book shows it, :func:`long_output_problems` (no output over 60 lines) the page in Chromium;
  :func:`injected_cell_problems` (no papermill ``injected-parameters`` cell) and
  :func:`absolute_path_problems` (no path of the building machine) read the built HTML;
* :func:`long_line_problems` - code lines of the jupytext ``.py`` notebooks at most 88 characters.

Examples
--------
>>> placement_problems("<p>no plots</p>", {})
[]
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from geoml_helpers.course.bokeh_json import BokehDocument, PlotData, embedded_documents, to_hex
from geoml_helpers.course.book_build import BookBuild
from geoml_helpers.course.book_checks import BookCheck, html_pages
from geoml_helpers.course.browser import PageCheck

__all__ = [
    "MAX_CODE_LINE",
    "MAX_OUTPUT_LINES",
    "PLACEMENT_TOLERANCE_DEG",
    "READER_CHECKS",
    "absolute_path_problems",
    "check_reader_view",
    "class_colour_table",
    "colour_problems",
    "fit_problems",
    "injected_cell_problems",
    "long_line_problems",
    "long_output_problems",
    "machine_paths",
    "noise_problems",
    "placement_problems",
    "problems_by_page",
]

#: How far (degrees) a plot's data extent may lie from the true bounds: about 550 m of latitude.
PLACEMENT_TOLERANCE_DEG: float = 0.005
#: Largest ratio of the span a geographic plot opens on to the span of its data (either axis).
MAX_VIEW_TO_DATA: float = 3.0
#: Words of an axis label that contradict a map's degree ticks.
_METRIC_AXIS_WORDS = ("metre", "meter", "projection")
#: Longest output a page may show, in lines.
MAX_OUTPUT_LINES: int = 60
#: Longest code line of a notebook (the book's code column shows about this many characters).
MAX_CODE_LINE: int = 88

_NOISE_RE = re.compile(r"Warning|ERROR|Traceback \(most recent call last\)")
_SCRIPT_RE = re.compile(r"<script\b.*?</script>|<style\b.*?</style>", re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")
_DETAILS_RE = re.compile(r"<details\b(?![^>]*\bopen\b).*?</details>", re.DOTALL | re.IGNORECASE)
_SUMMARY_RE = re.compile(r"<summary\b.*?</summary>", re.DOTALL | re.IGNORECASE)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _text(value: str | list[str] | None) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _label_key(label: str) -> str:
    return re.sub(r"[\s_\-/]+", " ", str(label)).strip().lower()


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


def placement_problems(
    html_text: str,
    true_bounds: Mapping[str, Sequence[float]],
    tolerance_deg: float = PLACEMENT_TOLERANCE_DEG,
    page: str = "page",
) -> list[str]:
    """Geographic plots whose data lies away from their true bounds, or whose true bounds were never recorded.

    Parameters
    ----------
    html_text : str
        A book page (or any page embedding Bokeh documents).
    true_bounds : mapping of str to (west, south, east, north)
        The true bounds, in degrees, of what each plot shows, by plot title, as recorded by the
        notebook with ``record_plot_bounds`` (:attr:`~geoml_helpers.course.book_build.BookBuild.plot_bounds`).
    tolerance_deg : float
        Largest allowed difference of any side, in degrees.
    page : str
        Name used in the messages.

    Returns
    -------
    list of str
        One line per misplaced plot, per geographic plot with no recorded bounds, per recorded
        title that no geographic plot on the page carries, per geographic plot that opens on more
        than :data:`MAX_VIEW_TO_DATA` times its data's span, and per one whose axes say metres.

    Examples
    --------
    >>> placement_problems("", {"Land cover": (18.89, -33.99, 18.92, -33.96)}, page="04")
    ["04: bounds were recorded for a plot titled 'Land cover', but the page has no geographic plot with that title"]
    """
    problems: list[str] = []
    seen: set[str] = set()
    for doc in embedded_documents(html_text):
        for plot in BokehDocument(doc).plots():
            if not plot.geographic or plot.extent is None:
                continue
            extent = plot.lonlat_extent
            assert extent is not None
            shown = ", ".join(f"{v:.4f}" for v in extent)
            problems += _view_and_axis_problems(plot, page)
            truth = true_bounds.get(plot.title)
            if truth is None:
                problems.append(
                    f"{page}: geographic plot {plot.title!r} (data at {shown}) has no true bounds recorded; "
                    "call geoml_helpers.explore.record_plot_bounds(title, source) with the file or cube it shows"
                )
                continue
            seen.add(plot.title)
            off = max(abs(a - b) for a, b in zip(extent, truth))
            if not off <= tolerance_deg:
                km = off * 111.32
                problems.append(
                    f"{page}: plot {plot.title!r} draws its data at {shown} (W, S, E, N) but it shows "
                    f"{', '.join(f'{v:.4f}' for v in truth)}: {off:.4f} deg (~{km:.1f} km) off, "
                    f"more than {tolerance_deg} deg. "
                    "Reproject with geoml_helpers.explore.to_plot_crs before plotting and keep the source's bounds"
                )
    for title in true_bounds:
        if title not in seen:
            problems.append(
                f"{page}: bounds were recorded for a plot titled {title!r}, "
                "but the page has no geographic plot with that title"
            )
    return problems


def _view_and_axis_problems(plot: PlotData, page: str) -> list[str]:
    """A geographic plot that opens on far more than its data, or labels degree ticks in metres."""
    problems = []
    if plot.view is not None and plot.extent is not None:
        ratio = max(
            (plot.view[2] - plot.view[0]) / max(plot.extent[2] - plot.extent[0], 100.0),
            (plot.view[3] - plot.view[1]) / max(plot.extent[3] - plot.extent[1], 100.0),
        )
        if ratio > MAX_VIEW_TO_DATA:
            problems.append(
                f"{page}: plot {plot.title!r} opens on a frame {ratio:.0f} times wider than its data, so the "
                "map is a speck in an empty frame; its axes are shared with a plot in other units "
                "(another CRS, or pixels): give the layout `.opts(shared_axes=False)`"
            )
    metric = [label for label in plot.axis_labels if any(w in label.lower() for w in _METRIC_AXIS_WORDS)]
    if metric:
        problems.append(
            f"{page}: plot {plot.title!r} labels its degree ticks {metric}; label the axes longitude and "
            "latitude (geoml_helpers.explore.map_opts)"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------------------------


def class_colour_table(colours: Mapping[int, str], *names: Mapping[int, str]) -> dict[str, str]:
    """Label (any spelling a legend may use) to ``#rrggbb``, from a class table's id -> colour and id -> name maps.

    Examples
    --------
    >>> class_colour_table({3: "#2B7BD6"}, {3: "water"}, {3: "Open water"})
    {'water': '#2b7bd6', 'open water': '#2b7bd6'}
    """
    table: dict[str, str] = {}
    for mapping in names:
        for class_id, name in mapping.items():
            colour = to_hex(colours.get(class_id))
            if colour is not None:
                table[_label_key(name)] = colour
    return table


def colour_problems(
    html_text: str,
    class_colours: Mapping[str, str],
    page: str = "page",
    id_colours: Mapping[int, str] | None = None,
) -> list[str]:
    """Plots that show classes in colours other than the class table's, or without naming the classes.

    Two kinds of plot show classes:

    * a plot whose legend entries name classes: each entry's glyph must be drawn in its class's colour;
    * a class map: an image coloured with a palette made of (at least three) class colours. With
      ``id_colours`` each class id must get its class's colour from the mapper, and the plot must name the
      classes, in a legend or in the colour bar's labels, not with a numeric colour bar.

    Parameters
    ----------
    html_text : str
        A book page.
    class_colours : mapping of str to str
        Class label to colour, e.g. from :func:`class_colour_table`; labels match case- and
        underscore-insensitively ("invasive_trees" = "Invasive trees").
    page : str
        Name used in the messages.
    id_colours : mapping of int to str, optional
        Class id (the raster value) to colour, for class maps.

    Examples
    --------
    >>> colour_problems("<p>no plots</p>", {"water": "#2b7bd6"})
    []
    """
    table = {_label_key(k): to_hex(v) for k, v in class_colours.items()}
    by_id = {int(k): to_hex(v) for k, v in (id_colours or {}).items()}
    problems = []
    for doc in embedded_documents(html_text):
        document = BokehDocument(doc)
        for entry in document.legend_entries():
            want = table.get(_label_key(entry.label))
            if want is not None and entry.colour != want:
                problems.append(
                    f"{page}: plot {entry.plot!r} draws class {entry.label!r} in {entry.colour} ({entry.glyph}), "
                    f"but its table colour is {want}; map class to colour explicitly "
                    "(.opts(color=hv.dim('class_name').categorize(colours))), never by list order"
                )
        seen: set[str] = set()
        for scale in document.colour_scales():
            if scale.plot in seen or len(set(scale.palette) & set(table.values())) < 3:
                continue
            seen.add(scale.plot)
            for class_id, want in by_id.items():
                got = scale.colour_of(class_id)
                if got is not None and got != want:
                    problems.append(
                        f"{page}: class map {scale.plot!r} draws class id {class_id} in {got}, "
                        f"but its table colour is {want}; build the colour map from the class table"
                    )
            if not any(_label_key(label) in table for label in scale.legend_labels):
                problems.append(
                    f"{page}: class map {scale.plot!r} names no class (a numeric colour bar or no legend); "
                    "give it a legend with the class names"
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Fit
# ---------------------------------------------------------------------------------------------


def fit_problems(check: PageCheck, tolerance_px: float = 1.0) -> list[str]:
    """Plots, widgets, tables and images wider than the page's article column, as Chromium measured them.

    Examples
    --------
    >>> fit_problems(PageCheck("http://127.0.0.1/p.html", True, 0.1, column={"left": 0, "right": 700, "width": 700},
    ...     boxes=[{"what": "table", "kind": "table", "section": "Data", "left": 0, "right": 900, "width": 900}]))
    ["p.html: table 'table' in section 'Data' is 900 px wide, 200 px beyond the 700 px article column"]
    """
    if check.column is None:
        return [f"{check.path}: no article column found to measure against"] if check.boxes else []
    left, right = check.column["left"], check.column["right"]
    problems = []
    for box in check.boxes:
        beyond = max(box["right"] - right, left - box["left"])
        if beyond > tolerance_px:
            problems.append(
                f"{check.path}: {box['kind']} {box['what']!r} in section {box.get('section', '')!r} "
                f"is {box['width']:.0f} px wide, "
                f"{beyond:.0f} px beyond the {check.column['width']:.0f} px article column"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------------------------


def _html_text(html: str) -> str:
    """The text an HTML output shows, one line per row, paragraph or line break.

    A closed ``<details>`` shows only its summary, scripts and styles show nothing, and the HTML source's
    own newlines are not lines.
    """
    shown = _SCRIPT_RE.sub("", html)
    shown = _DETAILS_RE.sub(lambda m: "<p>" + " ".join(_SUMMARY_RE.findall(m.group(0))) + "</p>", shown)
    parts = re.split(r"(<pre\b.*?</pre>)", shown, flags=re.DOTALL | re.IGNORECASE)
    # outside <pre>, the source's line breaks are spaces; inside, they are lines
    shown = "".join(part if part.lower().startswith("<pre") else re.sub(r"\s+", " ", part) for part in parts)
    shown = re.sub(r"<br\s*/?>|</tr>|</p>|</li>|</h[1-6]>|</div>|</pre>", "\n", shown, flags=re.IGNORECASE)
    lines = html_lib.unescape(_TAG_RE.sub("", shown)).splitlines()
    return "\n".join(line for line in lines if line.strip())


def _shown_text(output: dict) -> tuple[str, str]:
    """What a reader sees of one output, as plain text, and which kind of output it is."""
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text")), f"{output.get('name', 'stream')} stream"
    if kind == "error":
        return _ANSI_RE.sub(
            "", "\n".join(output.get("traceback") or [])
        ) or f"{output.get('ename')}: {output.get('evalue')}", "error"
    data = output.get("data", {})
    if "text/html" in data:
        return _html_text(_text(data["text/html"])), "html"
    if any(key.startswith("image/") for key in data):
        return "", "image"
    return _text(data.get("text/plain")), "text"


def _shown_outputs(nb: dict) -> list[tuple[int, list[str], str, str]]:
    """``(cell index, cell tags, text, kind)`` of every output a page shows.

    A cell's consecutive
    stream outputs of one name count as one, as the book merges them.
    """
    shown = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        merged: list[tuple[str, str]] = []
        for output in cell.get("outputs", []):
            text, kind = _shown_text(output)
            if kind.endswith("stream") and merged and merged[-1][1] == kind:
                merged[-1] = (merged[-1][0] + text, kind)
            else:
                merged.append((text, kind))
        shown += [(index, tags, text, kind) for text, kind in merged]
    return shown


def _lines(text: str) -> list[str]:
    # A carriage return starts a line too: a progress bar that redraws itself shows every redraw on a page.
    return re.split(r"\r\n|\r|\n", text.strip("\r\n")) if text.strip() else []


def noise_problems(nb: dict, page: str = "page") -> list[str]:
    r"""Outputs of a notebook (as the book shows it) that are noise: stderr, "Warning", "ERROR", tracebacks.

    Scripts and styles inside HTML outputs are not read (BokehJS's loader mentions "ERROR");
    an error output is allowed only in a cell tagged ``raises-exception`` (a teaching device),
    and even there a traceback text counts.

    Examples
    --------
    >>> output = {"output_type": "stream", "name": "stderr", "text": "x\n"}
    >>> cell = {"cell_type": "code", "metadata": {}, "outputs": [output]}
    >>> noise_problems({"cells": [cell]}, page="02")
    ["02: cell 0 writes to stderr: 'x'"]
    """
    problems = []
    for index, tags, text, kind in _shown_outputs(nb):
        first = next((line.strip() for line in _lines(text) if line.strip()), "")
        if kind == "stderr stream":
            problems.append(f"{page}: cell {index} writes to stderr: {first[:100]!r}")
        elif kind == "error" and "raises-exception" not in tags:
            problems.append(f"{page}: cell {index} shows an error: {first[:100]!r}")
        match = _NOISE_RE.search(text)
        if match:
            line = next(line for line in _lines(text) if match.group(0) in line).strip()
            problems.append(f"{page}: cell {index} {kind} output shows {match.group(0)!r}: {line[:120]!r}")
    return problems


def long_output_problems(check: PageCheck, max_lines: int = MAX_OUTPUT_LINES) -> list[str]:
    """Outputs that show more than ``max_lines`` lines of text, as Chromium laid the page out.

    The lines are those of each output's visible text (``innerText``): a table row is a line, a
    progress bar that redrew itself with carriage returns is one line per redraw, and what the
    output hides (xarray's text fallback, a closed ``<details>``) is not counted.

    Examples
    --------
    >>> out = {"what": "div.output.stream", "section": "Training", "lines": 75, "first": "Epoch 0"}
    >>> long_output_problems(PageCheck("http://127.0.0.1/06.html", True, 0.1, outputs=[out]))
    ["06.html: output 'div.output.stream' in section 'Training' shows 75 lines (at most 60), from 'Epoch 0'"]
    """
    return [
        f"{check.path}: output {out['what']!r} in section {out.get('section', '')!r} shows {out['lines']} lines "
        f"(at most {max_lines}), from {out.get('first', '')!r}"
        for out in check.outputs
        if out["lines"] > max_lines
    ]


def injected_cell_problems(html_text: str, page: str = "page") -> list[str]:
    """A built page that shows papermill's injected-parameters cell (myst-nb marks a cell's tags as classes).

    Examples
    --------
    >>> injected_cell_problems('<div class="cell tag_injected-parameters docutils container">', page="01")
    ["01: shows papermill's injected-parameters cell"]
    """
    return [f"{page}: shows papermill's injected-parameters cell"] if "tag_injected-parameters" in html_text else []


def absolute_path_problems(html_text: str, paths: Iterable[str | Path], page: str = "page") -> list[str]:
    """Absolute paths of the building machine (project root, data and temporary folders, home) shown in a page.

    Each of ``paths`` is looked for as the start of a path into it (``/tmp/x``, not the word ``/tmp``
    a page may explain), in the page's visible text and attributes alike, HTML entities decoded.

    Examples
    --------
    >>> absolute_path_problems("<pre>saved to /tmp/pytest-of-root/x.tif</pre>", ["/tmp"], page="05")
    ["05: shows the building machine's path '/tmp/pytest-of-root/x.tif' (1 times); print paths relative to a folder"]
    """
    text = html_lib.unescape(html_text)
    problems = []
    for root in sorted({str(p).rstrip("/") for p in paths if str(p).rstrip("/")}, key=len, reverse=True):
        found = re.findall(re.escape(root) + r"/[^\s\"'<>()\[\],;:]+", text)
        if found:
            problems.append(
                f"{page}: shows the building machine's path {found[0]!r} ({len(found)} times); "
                "print paths relative to a folder"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------------


def long_line_problems(py_file: Path, limit: int = MAX_CODE_LINE) -> list[str]:
    r"""Code lines longer than ``limit`` characters in a jupytext percent-format notebook.

    Markdown and raw cells (``# %% [markdown]``) and the jupytext header are prose, wrapped by
    the page, and not checked.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "01_x.py"
    >>> _ = path.write_text("# %% [markdown]\n# " + "m" * 100 + "\n\n# %%\nx = 1  # " + "c" * 90 + "\n")
    >>> long_line_problems(path)
    ['01_x.py:5: 99 characters (at most 88)']
    """
    problems = []
    in_code = False
    for number, line in enumerate(Path(py_file).read_text().splitlines(), start=1):
        if line.startswith("# %%"):
            in_code = not re.match(r"# %%.*\[(markdown|md|raw)\]", line)
            continue
        if in_code and len(line) > limit:
            problems.append(f"{Path(py_file).name}:{number}: {len(line)} characters (at most {limit})")
    return problems


def problems_by_page(problems: Iterable[str]) -> dict[str, int]:
    """Count problems per page (the text before the first ``:``) for reports.

    Examples
    --------
    >>> problems_by_page(["a: x", "a: y", "b.py:3: z"])
    {'a': 2, 'b.py': 1}
    """
    counts: dict[str, int] = {}
    for problem in problems:
        key = problem.split(":", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# All checks on a built book
# ---------------------------------------------------------------------------------------------

#: The reader checks :func:`check_reader_view` runs, in report order.
READER_CHECKS: tuple[str, ...] = (
    "placement",
    "colours",
    "fit",
    "noise",
    "long_outputs",
    "injected_cell",
    "absolute_paths",
    "lines",
)


def machine_paths(*extra: str | Path) -> list[str]:
    """Folders of the building machine that a page must never show: the project, home, the temp folder, and ``extra``.

    Examples
    --------
    >>> "/" not in machine_paths()
    True
    """
    import tempfile

    from geoml_helpers.core.profiles import find_project_root

    found = [find_project_root(), Path.home(), Path(tempfile.gettempdir()), *extra]
    return sorted({str(Path(p).resolve()) for p in found if p and str(Path(p).resolve()) != "/"})


def check_reader_view(
    book: BookBuild,
    report: BookCheck,
    *,
    class_colours: Mapping[str, str],
    notebooks_dir: Path | None = None,
    paths: Sequence[str | Path] = (),
    id_colours: Mapping[int, str] | None = None,
) -> dict[str, list[str]]:
    """Run every reader check on a built and browsed book; problems by check name (:data:`READER_CHECKS`).

    Parameters
    ----------
    book : BookBuild
        From :func:`~geoml_helpers.course.book_build.build_book`: its HTML, its staged notebooks (what the
        pages show) and the plot bounds the notebooks recorded.
    report : BookCheck
        From :func:`~geoml_helpers.course.book_checks.check_book` on the same book (the fit check reads its boxes).
    class_colours : mapping of str to str
        The class table as label -> colour (:func:`class_colour_table`).
    notebooks_dir : pathlib.Path, optional
        Folder of the jupytext ``NN_*.py`` notebooks for the line check (skipped when None).
    paths : sequence of path
        The building machine's folders (:func:`machine_paths`).
    id_colours : mapping of int to str, optional
        The class table as raster id -> colour, for class maps (see :func:`colour_problems`).

    Examples
    --------
    Needs a built book and its browser report (skipped under doctest):

    >>> problems = check_reader_view(book, report, class_colours=table)  # doctest: +SKIP
    >>> sorted(problems) == sorted(READER_CHECKS)  # doctest: +SKIP
    True
    """
    found: dict[str, list[str]] = {name: [] for name in READER_CHECKS}
    bounds = book.plot_bounds
    for page in html_pages(book.html_dir):
        rel = page.relative_to(book.html_dir).as_posix()
        label = rel.removesuffix(".html")
        text = page.read_text(errors="replace")
        found["placement"] += placement_problems(text, bounds.get(rel, {}), page=label)
        found["colours"] += colour_problems(text, class_colours, page=label, id_colours=id_colours)
        found["injected_cell"] += injected_cell_problems(text, page=label)
        found["absolute_paths"] += absolute_path_problems(text, paths, page=label)
    for check in report.pages:
        found["fit"] += fit_problems(check)
        found["long_outputs"] += long_output_problems(check)
    for staged in sorted((book.source_dir / "notebooks").glob("*.ipynb")):
        nb = json.loads(staged.read_text())
        label = f"notebooks/{staged.stem}"
        found["noise"] += noise_problems(nb, page=label)
    if notebooks_dir is not None:
        for py_file in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.py")):
            found["lines"] += long_line_problems(py_file)
    return found
