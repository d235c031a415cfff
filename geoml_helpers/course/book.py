"""Build the course's Jupyter Book from the notebooks the papermill runner executed, and check it.

The book is rendered, never executed: ``book/build.py`` copies the executed
notebooks from ``build/executed/<profile>/`` into a staging copy of ``book/``,
makes their interactive plots work offline (BokehJS and Panel's JS and CSS are
shipped in ``_static/``, and the CDN bootstrap outputs are dropped), renders the
pages whose numbers come from files (run times from ``run-summary.json``,
benchmark tables from ``build/benchmarks/*.json``) and runs Jupyter Book 1 with
``-W`` so that any Sphinx warning fails the build.

The checks used by ``tests/test_book.py`` live here too: page weight, an
offline internal-link check, and a real headless Chromium driven through the
DevTools protocol that opens every page, records console errors and requests
that leave 127.0.0.1, measures every rendered Bokeh root and saves a
screenshot.

Examples
--------
>>> from geoml_helpers.course.book import build_book, check_book  # doctest: +SKIP
>>> result = build_book("ci")  # doctest: +SKIP
>>> report = check_book(result.html_dir, result.output_dir / "screenshots")  # doctest: +SKIP
>>> report.ok  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from geoml_helpers.core.errors import GeomlError, MissingDependencyError
from geoml_helpers.core.profiles import PROFILE_NAMES, find_project_root

#: BokehJS bundles shipped in the book's ``_static/`` (loaded by ``book/_ext/geoml_offline_plots.py``).
BOKEH_BUNDLES: tuple[str, ...] = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables")
#: Maximum weight of one page (HTML plus the local files it loads), in bytes.
MAX_PAGE_BYTES: int = 10 * 2**20
#: Folder of the executed notebooks inside the staged book source.
NOTEBOOK_FOLDER = "notebooks"

_PANEL_CDN_RE = re.compile(r"https://cdn\.holoviz\.org/panel/(?P<version>[^/\"'\\]+)/dist/(?P<path>[^\"'\\?#\s)]+)(?P<query>\?[^\"'\\#\s)]*)?")
_CDN_RE = re.compile(r"https?://(?:cdn\.[a-z0-9.-]+|unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com)/[^\"'\\\s)]*", re.IGNORECASE)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_HOLOVIEWS_LOAD = "application/vnd.holoviews_load.v0+json"
_HOLOVIEWS_EXEC = "application/vnd.holoviews_exec.v0+json"


class BookError(GeomlError, RuntimeError):
    """The book cannot be built or failed a check; the message names the page and the fix."""


# --------------------------------------------------------------------------------------------
# Sources: executed notebooks, run summaries, benchmark tables
# --------------------------------------------------------------------------------------------


@dataclass
class NotebookPage:
    """One executed notebook as staged into the book.

    Attributes
    ----------
    name : str
        File name, e.g. ``04_classic_ml.ipynb``.
    title : str
        The first Markdown heading of the notebook.
    has_plots : bool
        Whether it holds at least one Bokeh/HoloViews/Panel output.
    n_plots : int
        Embedded Bokeh roots that draw something (plots, layouts, Panel panes; not the
        invisible BrowserInfo/CommManager roots that ``pn.extension()`` adds).
    panel_assets : set of str
        Paths under Panel's ``dist/`` that its outputs load (served from ``_static/panel/``).
    """

    name: str
    title: str
    has_plots: bool = False
    n_plots: int = 0
    panel_assets: set[str] = field(default_factory=set)

    @property
    def docname(self) -> str:
        """Sphinx document name, e.g. ``notebooks/04_classic_ml``."""
        return f"{NOTEBOOK_FOLDER}/{Path(self.name).stem}"


def discover_executed(executed_dir: Path) -> list[Path]:
    """Numbered executed notebooks ``NN_topic.ipynb`` in ``executed_dir``, in order.

    Examples
    --------
    >>> discover_executed(Path("/nonexistent"))
    []
    """
    return sorted(Path(executed_dir).glob("[0-9][0-9]_*.ipynb"))


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def notebook_title(nb: dict, fallback: str) -> str:
    """The first ``# heading`` of the first Markdown cell that has one, else ``fallback``.

    Examples
    --------
    >>> notebook_title({"cells": [{"cell_type": "markdown", "source": "# Hello\\ntext"}]}, "x")
    'Hello'
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        for line in _text(cell.get("source", "")).splitlines():
            match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
            if match:
                return match.group(1).strip()
    return fallback


def notebook_errors(nb: dict) -> list[str]:
    """Error outputs of a notebook, as ``cell N: Name: value`` lines.

    Cells tagged ``raises-exception`` are allowed to show an error (a teaching device).

    Examples
    --------
    >>> notebook_errors({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [
    ...     {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}]}]})
    ['cell 0: ValueError: bad']
    """
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    return found


_DOCS_JSON_RE = re.compile(r"var docs_json = (\{.*?\});\s*var render_items = (\[.*?\]);", re.DOTALL)
_INVISIBLE_ROOTS = {"panel.models.browser.BrowserInfo", "panel.models.comm_manager.CommManager"}


def visual_roots(html_text: str) -> list[str]:
    """Model names of the embedded Bokeh roots in an output that are rendered into the page and draw something.

    Only roots listed in ``render_items`` get an element; Panel's BrowserInfo/CommManager
    roots (from ``pn.extension()``) and its ``State`` root draw nothing.

    Examples
    --------
    >>> visual_roots('var docs_json = {"d": {"roots": [{"type": "object", "name": "Row", "id": "1"}, '
    ...              '{"type": "object", "name": "panel.models.state.State", "id": "2"}]}};  '
    ...              'var render_items = [{"docid": "d", "roots": {"1": "e"}, "root_ids": ["1"]}];')
    ['Row']
    """
    names = []
    for match in _DOCS_JSON_RE.finditer(html_text):
        try:
            docs, items = json.loads(match.group(1)), json.loads(match.group(2))
        except json.JSONDecodeError:
            continue
        rendered = {root_id for item in items for root_id in (item.get("root_ids") or item.get("roots", {}))}
        for doc in docs.values():
            for root in doc.get("roots", []):
                if root.get("id") in rendered and root.get("name") not in _INVISIBLE_ROOTS:
                    names.append(root.get("name"))
    return names


def _rewrite_panel_cdn(text: str, rel_root: str, assets: set[str], panel_version: str) -> str:
    def replace(match: re.Match) -> str:
        if match.group("version") != panel_version:
            raise BookError(
                f"An output loads Panel {match.group('version')} from the CDN but Panel {panel_version} is installed; "
                "re-execute the notebooks with the installed Panel (make notebooks) and build the book again."
            )
        assets.add(match.group("path"))
        return f"{rel_root}_static/panel/{match.group('path')}"

    return _PANEL_CDN_RE.sub(replace, text)


def prepare_notebook(source: Path, target: Path, rel_root: str = "../", panel_version: str | None = None) -> NotebookPage:
    """Copy one executed notebook into the book source, made to render offline.

    * fails on any error output (a notebook that raised must never be published);
    * drops Panel/HoloViews' CDN bootstrap outputs (the book loads BokehJS and Panel from ``_static/``);
    * drops the HoloViews mime types that only the Jupyter extension reads (Sphinx would warn on them);
    * drops ipywidgets views that have no saved state (tqdm bars), keeping their text fallback;
    * points Panel's stylesheet URLs at ``<rel_root>_static/panel/`` instead of the CDN;
    * fails if any other CDN URL is left in an output.

    Parameters
    ----------
    source, target : pathlib.Path
        Executed notebook, and where its book copy goes.
    rel_root : str
        Relative URL from the page to the book root (``"../"`` for pages in ``notebooks/``).
    panel_version : str, optional
        Installed Panel version (defaults to ``panel.__version__``).

    Raises
    ------
    BookError
        Naming the notebook and the cell.

    Examples
    --------
    >>> page = prepare_notebook(Path("build/executed/ci/01_x.ipynb"), Path("/tmp/b/notebooks/01_x.ipynb"))  # doctest: +SKIP
    """
    if panel_version is None:
        import panel

        panel_version = panel.__version__
    nb = json.loads(Path(source).read_text())
    errors = notebook_errors(nb)
    if errors:
        raise BookError(
            f"{source} has error outputs, so it cannot go into the book: {'; '.join(errors)}. "
            "Fix the notebook and re-run it (python -m geoml_helpers.course.runner --only NN), "
            "or tag a cell 'raises-exception' if the error is meant to be shown."
        )
    page = NotebookPage(name=Path(source).name, title=notebook_title(nb, Path(source).stem))
    # papermill saves no ipywidgets state, so a widget view (a tqdm.auto bar) would render blank and
    # pull the widget manager from a CDN; its text/plain fallback is what a static page can show.
    has_widget_state = bool(nb.get("metadata", {}).get("widgets", {}).get(_WIDGET_STATE))
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is None:
                kept.append(output)
                continue
            if _HOLOVIEWS_LOAD in data:
                script = _text(data.get("application/javascript", ""))
                if _CDN_RE.search(script) or "_bokeh_onload_callbacks" in script:
                    continue  # the CDN bootstrap: BokehJS and Panel come from _static/ instead
                del data[_HOLOVIEWS_LOAD]
            if _WIDGET_VIEW in data and not has_widget_state:
                del data[_WIDGET_VIEW]
            if _HOLOVIEWS_EXEC in data:
                del data[_HOLOVIEWS_EXEC]
                output.get("metadata", {}).pop(_HOLOVIEWS_EXEC, None)
            for mime in ("text/html", "application/javascript"):
                if mime in data:
                    text = _rewrite_panel_cdn(_text(data[mime]), rel_root, page.panel_assets, panel_version)
                    leftover = _CDN_RE.search(text)
                    if leftover:
                        raise BookError(
                            f"{source} cell {index} loads {leftover.group(0)} from a CDN, which fails offline. "
                            "Render that output without CDN resources (e.g. hv.save(..., resources='inline') or a static image), "
                            "or extend geoml_helpers.course.book.prepare_notebook to ship the file locally."
                        )
                    data[mime] = text
                    if mime == "text/html" and "data-root-id" in text:
                        page.has_plots = True
                        page.n_plots += len(visual_roots(text))
            if data:
                kept.append(output)
        cell["outputs"] = kept
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb, indent=1))
    return page


def copy_offline_js(static_dir: Path, panel_assets: Sequence[str] = ()) -> list[Path]:
    """Copy the installed BokehJS bundles, Panel's JS and the Panel assets the pages load into ``static_dir``.

    Returns the files written. ``book/_ext/geoml_offline_plots.py`` adds the scripts to the pages that embed a plot.

    Examples
    --------
    >>> files = copy_offline_js(Path("/tmp/book/_static"), ["css/loading.css"])  # doctest: +SKIP
    """
    import bokeh
    import panel

    static_dir = Path(static_dir)
    static_dir.mkdir(parents=True, exist_ok=True)
    bokeh_js = Path(bokeh.__file__).parent / "server" / "static" / "js"
    panel_dist = Path(panel.__file__).parent / "dist"
    copies = [(bokeh_js / f"{name}.min.js", static_dir / f"{name}.min.js") for name in BOKEH_BUNDLES]
    copies.append((panel_dist / "panel.min.js", static_dir / "panel.min.js"))
    for asset in sorted(set(panel_assets)):
        copies.append((panel_dist / asset, static_dir / "panel" / asset))
    written = []
    for source, target in copies:
        if not source.is_file():
            raise BookError(f"{source} is missing from the installed package; reinstall bokeh/panel (make env) and build again.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def load_run_summaries(executed_root: Path, profiles: Sequence[str] = PROFILE_NAMES) -> dict[str, dict]:
    """``run-summary.json`` of each profile that has one under ``executed_root/<profile>/``.

    Examples
    --------
    >>> load_run_summaries(Path("/nonexistent"))
    {}
    """
    summaries = {}
    for profile in profiles:
        path = Path(executed_root) / profile / "run-summary.json"
        if path.is_file():
            summaries[profile] = json.loads(path.read_text())
    return summaries


@dataclass
class NotebookTiming:
    """Measured wall time (and peak memory, when the runner recorded it) of one executed notebook."""

    wall_s: float
    peak_rss_mb: float | None = None
    source: str = "run-summary.json"


def notebook_timings(executed_root: Path, profiles: Sequence[str] = PROFILE_NAMES) -> dict[str, dict[str, NotebookTiming]]:
    """Per profile, per notebook file name: the measured run time.

    The runner's ``run-summary.json`` comes first (wall time and peak memory); a notebook
    that the last run did not include (``--only``) falls back to the ``papermill.duration``
    that papermill stored in the executed notebook itself. Nothing is typed by hand.

    Examples
    --------
    >>> notebook_timings(Path("/nonexistent"))
    {}
    """
    timings: dict[str, dict[str, NotebookTiming]] = {}
    summaries = load_run_summaries(executed_root, profiles)
    for profile in profiles:
        found: dict[str, NotebookTiming] = {}
        for nb_path in discover_executed(Path(executed_root) / profile):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                meta = json.loads(nb_path.read_text()).get("metadata", {}).get("papermill", {})
                if meta.get("duration") is not None and not meta.get("exception"):
                    found[nb_path.name] = NotebookTiming(float(meta["duration"]), None, "papermill metadata")
        for run in summaries.get(profile, {}).get("notebooks", []):
            if run.get("status") == "ok":
                found[run["notebook"]] = NotebookTiming(float(run["wall_s"]), run.get("peak_rss_mb"))
        if found:
            timings[profile] = found
    return timings


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def learning_path_markdown(pages: Sequence[NotebookPage], timings: dict[str, dict[str, NotebookTiming]]) -> str:
    """The landing page's learning-path table: each notebook, linked, with its measured run time per profile.

    ``timings`` comes from :func:`notebook_timings`; a profile never run shows a dash.

    Examples
    --------
    >>> print(learning_path_markdown([NotebookPage("00_env.ipynb", "Environment check")], {}).splitlines()[0])
    | step | notebook | ci | workshop | full |
    """
    header = ["step", "notebook", *PROFILE_NAMES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for page in pages:
        cells = [page.name[:2], f"{{doc}}`{_md_cell(page.title)} <{page.docname}>`"]
        for profile in PROFILE_NAMES:
            timing = timings.get(profile, {}).get(page.name)
            cells.append(_fmt_seconds(timing.wall_s) if timing else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_times_markdown(timings: dict[str, dict[str, NotebookTiming]], summaries: dict[str, dict]) -> str:
    """One line per profile that was run: notebooks, summed time, slowest notebook, peak memory, machine.

    Examples
    --------
    >>> run_times_markdown({}, {}).startswith("No profile")
    True
    """
    if not timings:
        return "No profile has been run yet: `make all` writes `build/executed/<profile>/run-summary.json`.\n"
    lines = [
        "| profile | notebooks run | whole course (sum) | slowest notebook | peak memory of a notebook | machine of the last run |",
        "|---|---|---|---|---|---|",
    ]
    for profile, found in timings.items():
        slowest_name, slowest = max(found.items(), key=lambda item: item[1].wall_s)
        peaks = [t.peak_rss_mb for t in found.values() if t.peak_rss_mb]
        machine = summaries.get(profile, {}).get("machine", {})
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{profile}`",
                    str(len(found)),
                    _fmt_seconds(sum(t.wall_s for t in found.values())),
                    f"{slowest_name.removesuffix('.ipynb')} ({_fmt_seconds(slowest.wall_s)})",
                    f"{max(peaks) / 1024:.1f} GiB" if peaks else "–",
                    f"{machine.get('cpus', '?')} CPUs, {machine.get('memory_gb', '?')} GiB, {_md_cell(summaries[profile].get('started', ''))}" if machine else "–",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _table_from_rows(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(_fmt_value(row.get(c, ""))) for c in columns) + " |")
    return "\n".join(lines)


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def benchmark_markdown(path: Path) -> str:
    """Render one benchmark JSON written by a ``benchmarks/`` script as a MyST section.

    Understands a list of row objects, an object holding such a list (under ``rows``,
    ``results`` or ``table``) with scalar metadata beside it, or an object of scalars.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "io.json"
    >>> _ = p.write_text('{"title": "IO", "rows": [{"format": "zarr", "ratio": 1.0}]}')
    >>> print(benchmark_markdown(p).splitlines()[0])
    ## IO
    """
    data = json.loads(Path(path).read_text())
    title = Path(path).stem.replace("_", " ")
    meta: dict = {}
    rows: list[dict] | None = None
    if isinstance(data, list):
        rows = data
    elif isinstance(data, dict):
        title = str(data.get("title") or data.get("name") or data.get("benchmark") or title)
        for key in ("rows", "results", "table"):
            if isinstance(data.get(key), list):
                rows = data[key]
                break
        meta = {k: v for k, v in data.items() if k not in {"title", "name", "benchmark", "rows", "results", "table"}}
    parts = [f"## {title}", "", f"From `build/benchmarks/{Path(path).name}`.", ""]
    description = meta.pop("description", None)
    if description:
        parts += [str(description), ""]
    if rows and all(isinstance(r, dict) for r in rows):
        parts += [_table_from_rows(rows), ""]
    elif rows:
        parts += ["```json", json.dumps(rows, indent=1), "```", ""]
    scalars = {k: v for k, v in meta.items() if not isinstance(v, (dict, list))}
    nested = {k: v for k, v in meta.items() if isinstance(v, (dict, list))}
    if scalars:
        parts += [_table_from_rows([{"": k, "value": v} for k, v in scalars.items()]), ""]
    for key, value in nested.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            parts += [f"**{key}**", "", _table_from_rows(value), ""]
        else:
            parts += [f"**{key}**", "", "```json", json.dumps(value, indent=1), "```", ""]
    return "\n".join(parts) + "\n"


def benchmarks_markdown(bench_dir: Path) -> str:
    """All ``*.json`` tables in ``bench_dir`` as MyST sections, or a note saying how to produce them.

    Examples
    --------
    >>> benchmarks_markdown(Path("/nonexistent")).startswith("No benchmark")
    True
    """
    files = sorted(Path(bench_dir).glob("*.json")) if Path(bench_dir).is_dir() else []
    if not files:
        return "No benchmark has been run yet: run the scripts in `benchmarks/`; each writes `build/benchmarks/<name>.json`, and the next book build renders it here.\n"
    return "\n".join(benchmark_markdown(f) for f in files)


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


@dataclass
class BookBuild:
    """Outcome of :func:`build_book`."""

    profile: str
    source_dir: Path
    output_dir: Path
    html_dir: Path
    pages: list[NotebookPage]
    wall_s: float

    @property
    def index(self) -> Path:
        """The page to open."""
        return self.html_dir / "index.html"


def build_book(
    profile: str = "ci",
    book_dir: Path | None = None,
    executed_root: Path | None = None,
    bench_dir: Path | None = None,
    output_dir: Path | None = None,
    log=functools.partial(print, flush=True),
) -> BookBuild:
    """Stage ``book/`` plus the executed notebooks of ``profile`` and build the HTML with Jupyter Book 1.

    Parameters
    ----------
    profile : str
        Which ``build/executed/<profile>/`` to publish.
    book_dir : pathlib.Path, optional
        The book's sources (``_config.yml``, ``_toc.yml``, pages); defaults to ``<project>/book``.
    executed_root : pathlib.Path, optional
        Folder holding ``<profile>/NN_*.ipynb`` and ``run-summary.json``; defaults to ``<project>/build/executed``.
    bench_dir : pathlib.Path, optional
        Benchmark tables; defaults to ``<project>/build/benchmarks``.
    output_dir : pathlib.Path, optional
        Defaults to ``<project>/build/book/<profile>``; the HTML lands in ``<output_dir>/_build/html``.

    Raises
    ------
    BookError
        No executed notebooks, a notebook with an error output or a failed run, a CDN reference,
        or any Sphinx warning (the build runs with ``-W``).
    """
    started = time.perf_counter()
    root = find_project_root() or Path.cwd()
    book_dir = Path(book_dir or root / "book")
    executed_root = Path(executed_root or root / "build" / "executed")
    bench_dir = Path(bench_dir or root / "build" / "benchmarks")
    output_dir = Path(output_dir or root / "build" / "book" / profile)
    executed_dir = executed_root / profile

    notebooks = discover_executed(executed_dir)
    if not notebooks:
        raise BookError(f"No executed notebooks in {executed_dir}; run them first: make notebooks PROFILE={profile}")
    summaries = load_run_summaries(executed_root)
    failed = [r["notebook"] for r in summaries.get(profile, {}).get("notebooks", []) if r.get("status") != "ok"]
    if failed:
        raise BookError(f"The last run of profile {profile!r} failed in {', '.join(failed)} (see {executed_dir / 'run-summary.json'}); fix it and run make notebooks again.")

    source_dir = output_dir / "src"
    if source_dir.exists():
        shutil.rmtree(source_dir)
    shutil.copytree(book_dir, source_dir, ignore=shutil.ignore_patterns("_build", "build.py", "__pycache__", ".ipynb_checkpoints", NOTEBOOK_FOLDER))
    pages = [prepare_notebook(nb, source_dir / NOTEBOOK_FOLDER / nb.name) for nb in notebooks]
    generated = source_dir / "_generated"
    generated.mkdir(exist_ok=True)
    timings = notebook_timings(executed_root)
    (generated / "learning_path.md").write_text(learning_path_markdown(pages, timings))
    (generated / "run_times.md").write_text(run_times_markdown(timings, summaries))
    (generated / "benchmarks.md").write_text(benchmarks_markdown(bench_dir))
    (generated / "profile.md").write_text(f"This copy of the book shows the notebooks as executed in the `{profile}` profile.\n")

    build_dir = output_dir / "_build"
    if build_dir.exists():
        shutil.rmtree(build_dir)  # a fresh build, so -W sees every page's warnings
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", str(source_dir), "--path-output", str(output_dir), "-W", "-n", "--keep-going"]
    log(f"[book] building {len(pages)} notebooks ({profile}) with Jupyter Book ...")
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    html_dir = build_dir / "html"
    if proc.returncode != 0 or not (html_dir / "index.html").is_file():
        out = _ANSI_RE.sub("", proc.stdout + proc.stderr)
        warnings = [line for line in out.splitlines() if "WARNING" in line or "ERROR" in line]
        raise BookError(
            "The book build failed (Sphinx warnings count as errors):\n"
            + "\n".join(warnings[:40] or out.splitlines()[-40:])
            + f"\nFix these in book/ or in the notebooks; the staged sources are in {source_dir}."
        )
    # After the build, so that Jupyter Book does not add them to every page (see book/_config.yml).
    copy_offline_js(html_dir / "_static", sorted(set().union(*(p.panel_assets for p in pages))))
    # sphinx-external-toc's index.html is a bare meta refresh: give it a title and the icon
    # (a browser asks for /favicon.ico otherwise, a 404 in the console) and a visible link.
    root_page = _root_docname(source_dir)
    (html_dir / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Refresh" content="0; url={root_page}.html">'
        '<link rel="icon" href="_static/geoml-logo.svg"><title>geoml course</title></head>'
        f'<body><p><a href="{root_page}.html">Open the geoml course</a></p></body></html>\n'
    )
    return BookBuild(profile, source_dir, output_dir, html_dir, pages, round(time.perf_counter() - started, 2))


def _root_docname(source_dir: Path) -> str:
    match = re.search(r"^root:\s*(\S+)", (Path(source_dir) / "_toc.yml").read_text(), re.MULTILINE)
    return Path(match.group(1)).with_suffix("").as_posix() if match else "intro"


# --------------------------------------------------------------------------------------------
# Checks: page weight, links
# --------------------------------------------------------------------------------------------


class _RefParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.resources: list[str] = []  # what the page itself loads: scripts, stylesheets, images, icons
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None and tag in {"a", "link", "script", "img", "iframe", "source", "video", "audio"}:
                self.refs.append((tag, key, attrs[key]))
                rel = set((attrs.get("rel") or "").lower().split())
                if tag in {"script", "img", "iframe", "source", "video", "audio"} or rel & {"stylesheet", "preload", "modulepreload", "icon"}:
                    self.resources.append(attrs[key])


def _parse(page: Path) -> _RefParser:
    parser = _RefParser()
    parser.feed(page.read_text(errors="replace"))
    return parser


def html_pages(html_dir: Path) -> list[Path]:
    """Every ``.html`` page of a built book except Sphinx's ``_sources``/``_static`` copies."""
    html_dir = Path(html_dir)
    return sorted(p for p in html_dir.rglob("*.html") if not p.relative_to(html_dir).parts[0].startswith("_"))


@dataclass
class PageWeight:
    """Size of one page: its HTML and every local file it loads."""

    page: str
    html_bytes: int
    total_bytes: int


def page_weights(html_dir: Path) -> list[PageWeight]:
    """Weight of each page: the HTML plus the local scripts, stylesheets and images it references (including Panel CSS in outputs)."""
    html_dir = Path(html_dir).resolve()
    weights = []
    for page in html_pages(html_dir):
        parsed = _parse(page)
        text = page.read_text(errors="replace")
        urls = set(parsed.resources) | set(re.findall(r"(?:\.\./)*_static/panel/[^\"'\\\s)]+", text))
        files = set()
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            target = (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_file() and html_dir in target.parents:
                files.add(target)
        size = page.stat().st_size
        weights.append(PageWeight(str(page.relative_to(html_dir)), size, size + sum(f.stat().st_size for f in files)))
    return weights


@dataclass
class LinkReport:
    """Outcome of :func:`check_links`."""

    checked: int
    broken: list[str]
    external: list[str]


def check_links(html_dir: Path) -> LinkReport:
    """Check every internal link, script, stylesheet and image of the book offline; list external links unvisited.

    An internal link is broken when its file is missing or its ``#fragment`` names no
    ``id`` in the target page.
    """
    html_dir = Path(html_dir).resolve()
    ids_cache: dict[Path, set[str]] = {}
    broken, external = [], set()
    checked = 0
    for page in html_pages(html_dir):
        parsed = _parse(page)
        ids_cache[page] = parsed.ids
        for tag, attr, url in parsed.refs:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in {"http", "https", "ftp"} or url.startswith("//"):
                external.add(url)
                continue
            if parts.scheme in {"mailto", "data", "javascript", "tel", "blob"}:
                continue
            checked += 1
            target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(html_dir)}: <{tag} {attr}={url!r}>"
            if not target.is_file():
                broken.append(f"{where} -> missing {target}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids_cache:
                    ids_cache[target] = _parse(target).ids
                if urllib.parse.unquote(parts.fragment) not in ids_cache[target]:
                    broken.append(f"{where} -> no id {parts.fragment!r} in {target.relative_to(html_dir)}")
    return LinkReport(checked, broken, sorted(external))


# --------------------------------------------------------------------------------------------
# Checks: a real headless Chromium through the DevTools protocol
# --------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 on a free port; yields the base URL.

    Examples
    --------
    >>> with serve_directory(Path(".")) as url:  # doctest: +SKIP
    ...     url.startswith("http://127.0.0.1:")
    True
    """
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def find_chromium() -> str | None:
    """Path of a Chromium executable (``GEOML_CHROMIUM``, then ``chromium``, ``chromium-browser``, ``google-chrome``), or None."""
    candidates = [os.environ.get("GEOML_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
    for name in filter(None, candidates):
        path = shutil.which(name)
        if path:
            return path
    return None


#: Flags that run Debian's chromium headless as root, offline, without a GPU (see PITFALLS.md).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
    "--hide-scrollbars",
    "--mute-audio",
)


class HeadlessChromium:
    """A headless Chromium with one tab, driven over the DevTools protocol (needs only ``websocket-client``).

    Examples
    --------
    >>> with HeadlessChromium() as browser:  # doctest: +SKIP
    ...     result = browser.visit("http://127.0.0.1:8000/index.html", "/tmp/shot.png")
    """

    def __init__(self, executable: str | None = None, width: int = 1440, height: int = 900, timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if not self.executable:
            raise MissingDependencyError("No Chromium found. Install Debian's chromium (apt-get install -y chromium) or set GEOML_CHROMIUM to a Chrome/Chromium binary.")
        self.width, self.height, self.timeout = width, height, timeout
        self._proc: subprocess.Popen | None = None
        self._profile_dir: str | None = None
        self._ws = None
        self._next_id = 0
        self._events: list[dict] = []

    def __enter__(self) -> HeadlessChromium:
        try:
            import websocket
        except ImportError as exc:  # pragma: no cover - websocket-client comes with jupyter_server
            raise MissingDependencyError("The browser check needs websocket-client: pip install websocket-client") from exc
        self._profile_dir = tempfile.mkdtemp(prefix="geoml-chromium-")
        self._proc = subprocess.Popen(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile_dir}", "--remote-debugging-port=0", f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self._profile_dir) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise BookError(f"{self.executable} did not start its DevTools endpoint; try running it by hand with {' '.join(CHROMIUM_FLAGS)}.")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True, timeout=self.timeout)
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.call(method)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._profile_dir:
            shutil.rmtree(self._profile_dir, ignore_errors=True)
            self._profile_dir = None

    def _receive(self) -> dict:
        message = json.loads(self._ws.recv())
        if "method" in message:
            self._events.append(message)
        return message

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result."""
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == call_id:
                if "error" in message:
                    raise BookError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        """Evaluate a JavaScript expression in the page and return its JSON value."""
        for attempt in range(5):
            try:
                result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
                break
            except BookError as exc:
                # A page that redirects (index.html) or is still navigating on a busy machine replaces its
                # JavaScript context under the call; ask again in the new one.
                if attempt == 4 or not any(s in str(exc) for s in ("navigated or closed", "context was destroyed", "Cannot find context")):
                    raise
                self._drain(0.3)
        if "exceptionDetails" in result:
            raise BookError(f"JavaScript check failed: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result.get("result", {}).get("value")

    def _wait_for_event(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        self._ws.settimeout(0.5)
        try:
            while time.monotonic() < deadline:
                if any(e.get("method") == method for e in self._events):
                    return True
                with contextlib.suppress(Exception):
                    self._receive()
        finally:
            self._ws.settimeout(self.timeout)
        return any(e.get("method") == method for e in self._events)

    def _drain(self, seconds: float) -> None:
        self._wait_for_event("__never__", seconds)

    def visit(self, url: str, screenshot: Path | None = None, settle_s: float = 0.5, plot_timeout_s: float = 20.0, max_height: int = 16000) -> PageCheck:
        """Open ``url``, wait for it and its Bokeh roots to render, and report errors, roots and a screenshot."""
        self.call("Page.navigate", url="about:blank")
        self._drain(0.2)
        self._events.clear()
        started = time.monotonic()
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self._wait_for_event("Page.loadEventFired", self.timeout)
        # The event may be a late one from about:blank on a busy machine: also wait for the new page to be complete
        # (index.html redirects, so its final URL is another page's).
        ready = "document.readyState === 'complete' && location.href !== 'about:blank'"
        deadline = time.monotonic() + self.timeout
        while not (loaded := bool(self.evaluate(ready))) and time.monotonic() < deadline:
            self._drain(0.1)
        roots = []
        deadline = time.monotonic() + plot_timeout_s
        for _ in range(2):
            # Make the whole page the viewport, so that every plot is laid out and in the screenshot;
            # measure again once the plots have rendered, since they change the page's height.
            height = int(self.evaluate("document.documentElement ? Math.ceil(document.documentElement.scrollHeight) : 0") or self.height)
            height = max(self.height, min(height, max_height))
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=height, deviceScaleFactor=1, mobile=False)
            while True:
                roots = self.evaluate(_ROOTS_JS) or []
                if all(r["ok"] or not r["visual"] for r in roots) or time.monotonic() > deadline:
                    break
                self._drain(0.25)
        self._drain(settle_s)
        check = PageCheck(url=url, loaded=loaded, load_s=round(time.monotonic() - started, 2), roots=roots)
        origin = urllib.parse.urlsplit(url)
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                check.errors.append(f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                check.errors.append(f"console.{params['type']}: {text}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                check.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                request_url = params.get("request", {}).get("url", "")
                parts = urllib.parse.urlsplit(request_url)
                if parts.scheme in {"http", "https", "ws", "wss"} and parts.netloc != origin.netloc:
                    check.external_requests.append(request_url)
        # Two animation frames, so the screenshot shows the last layout and not a blank first paint.
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
        check.text_chars = int(self.evaluate("document.body ? document.body.innerText.trim().length : 0") or 0)
        if screenshot is not None:
            shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
            screenshot = Path(screenshot)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            check.screenshot = screenshot
        return check


# Every element with data-root-id is one embedded Bokeh document root. A root whose model is a
# LayoutDOM (a plot, a layout, a Panel pane) must be rendered with a non-zero size; other roots
# (Panel's BrowserInfo/CommManager from pn.extension) draw nothing by design.
_ROOTS_JS = r"""
(() => {
  const out = [];
  const els = document.querySelectorAll('[data-root-id]');
  const bokeh = window.Bokeh;
  const LayoutDOM = bokeh && bokeh.Models && bokeh.Models.get ? bokeh.Models.get('LayoutDOM') : null;
  for (const el of els) {
    const id = el.getAttribute('data-root-id');
    let model = null;
    if (bokeh && bokeh.documents) {
      for (const doc of bokeh.documents) { model = model || doc.get_model_by_id(id); }
    }
    const boxes = [el, ...el.children].map(e => e.getBoundingClientRect());
    const width = Math.max(0, ...boxes.map(b => b.width));
    const height = Math.max(0, ...boxes.map(b => b.height));
    const visual = model === null ? true : (LayoutDOM ? model instanceof LayoutDOM : true);
    out.push({id, type: model ? model.type : null, visual, width, height,
              ok: model !== null && (!visual || (width > 0 && height > 0))});
  }
  return out;
})()
"""


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    url: str
    loaded: bool
    load_s: float
    roots: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    text_chars: int = 0

    @property
    def rendered_plots(self) -> int:
        """Bokeh roots that draw something and have a non-zero size."""
        return sum(1 for r in self.roots if r["visual"] and r["ok"])

    @property
    def problems(self) -> list[str]:
        """Everything wrong with the page, empty when it is fine."""
        found = [] if self.loaded else ["the load event never fired"]
        found += [] if self.text_chars else ["the page shows no text"]
        found += self.errors
        found += [f"request left 127.0.0.1: {u}" for u in self.external_requests]
        found += [f"Bokeh root {r['id']} ({r['type']}) not rendered: {r['width']:.0f}x{r['height']:.0f} px" for r in self.roots if not r["ok"]]
        return found


@dataclass
class BookCheck:
    """Outcome of :func:`check_book`."""

    pages: list[PageCheck]
    weights: list[PageWeight]
    links: LinkReport

    @property
    def problems(self) -> list[str]:
        """Every problem found, one line each, naming the page."""
        found = [f"{p.url}: {problem}" for p in self.pages for problem in p.problems]
        found += [f"{w.page}: weighs {w.total_bytes / 2**20:.1f} MB, above {MAX_PAGE_BYTES / 2**20:.0f} MB (rasterize or datashade big arrays)" for w in self.weights if w.total_bytes > MAX_PAGE_BYTES]
        found += [f"broken link {b}" for b in self.links.broken]
        return found

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def summary(self) -> str:
        """A few lines for logs and reports: page count, total size, largest page, plots, links."""
        total = sum(w.html_bytes for w in self.weights)
        largest = max(self.weights, key=lambda w: w.total_bytes)
        plots = sum(p.rendered_plots for p in self.pages)
        lines = [
            f"{len(self.weights)} pages, {total / 2**20:.1f} MB of HTML; largest page {largest.page} at {largest.total_bytes / 2**20:.2f} MB with what it loads ({largest.html_bytes / 2**20:.2f} MB HTML)",
            f"{plots} Bokeh plots rendered on {sum(1 for p in self.pages if p.rendered_plots)} pages; {len(self.pages)} pages opened in headless Chromium",
            f"{self.links.checked} internal links checked offline, {len(self.links.broken)} broken; {len(self.links.external)} external links listed, not fetched",
        ]
        return "\n".join(lines)


def check_book(html_dir: Path, screenshot_dir: Path | None = None, executable: str | None = None, log=functools.partial(print, flush=True)) -> BookCheck:
    """Open every page of a built book in headless Chromium served from 127.0.0.1, and check weights and links.

    Screenshots go to ``screenshot_dir/<page path with / as __>.png``; the external links
    are written to ``screenshot_dir/../external-links.txt``.
    """
    html_dir = Path(html_dir)
    pages = html_pages(html_dir)
    checks = []
    with serve_directory(html_dir) as base, HeadlessChromium(executable) as browser:
        for page in pages:
            rel = page.relative_to(html_dir).as_posix()
            shot = Path(screenshot_dir) / (rel.replace("/", "__").removesuffix(".html") + ".png") if screenshot_dir else None
            check = browser.visit(base + rel, shot)
            log(f"[browser] {rel}: {check.load_s:.1f} s, {check.rendered_plots} plots, {len(check.problems)} problems")
            checks.append(check)
    links = check_links(html_dir)
    if screenshot_dir:
        (Path(screenshot_dir).parent / "external-links.txt").write_text("\n".join(links.external) + "\n")
    return BookCheck(checks, page_weights(html_dir), links)
