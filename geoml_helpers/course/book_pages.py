"""Stage executed notebooks as book pages that render offline.

The book is rendered, never executed: each notebook the papermill runner executed
is copied into the staged book source with its CDN bootstrap outputs dropped,
Panel's stylesheet URLs pointed at the book's ``_static/`` and the installed
BokehJS and Panel bundles copied beside it. A notebook with an error output never
becomes a page.

Examples
--------
>>> discover_executed(Path("/nonexistent"))
[]
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoml_helpers.core.errors import BookError
from geoml_helpers.explore.plotting import PLOT_BOUNDS_MIME  # written by record_plot_bounds

__all__ = [
    "BOKEH_BUNDLES",
    "NOTEBOOK_FOLDER",
    "NotebookPage",
    "copy_offline_js",
    "discover_executed",
    "notebook_errors",
    "notebook_title",
    "prepare_notebook",
    "visual_roots",
]

#: BokehJS bundles shipped in the book's ``_static/`` (loaded by ``book/_ext/geoml_offline_plots.py``).
BOKEH_BUNDLES: tuple[str, ...] = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables")
#: Folder of the executed notebooks inside the staged book source.
NOTEBOOK_FOLDER = "notebooks"

_PANEL_CDN_RE = re.compile(
    r"https://cdn\.holoviz\.org/panel/(?P<version>[^/\"'\\]+)/dist/(?P<path>[^\"'\\?#\s)]+)(?P<query>\?[^\"'\\#\s)]*)?"
)
_CDN_RE = re.compile(
    r"https?://(?:cdn\.[a-z0-9.-]+|unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com)/[^\"'\\\s)]*", re.IGNORECASE
)
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_HOLOVIEWS_LOAD = "application/vnd.holoviews_load.v0+json"
_HOLOVIEWS_EXEC = "application/vnd.holoviews_exec.v0+json"


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
    plot_bounds : dict of str to tuple of float
        True ``(west, south, east, north)`` bounds in degrees of the page's geographic plots, by plot
        title, as the notebook recorded them with ``record_plot_bounds`` (see :data:`PLOT_BOUNDS_MIME`).
    """

    name: str
    title: str
    has_plots: bool = False
    n_plots: int = 0
    panel_assets: set[str] = field(default_factory=set)
    plot_bounds: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

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
    r"""The first ``# heading`` of the first Markdown cell that has one, else ``fallback``.

    Examples
    --------
    >>> notebook_title({"cells": [{"cell_type": "markdown", "source": "# Hello\ntext"}]}, "x")
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


def prepare_notebook(
    source: Path, target: Path, rel_root: str = "../", panel_version: str | None = None
) -> NotebookPage:
    """Copy one executed notebook into the book source, made to render offline.

    * fails on any error output (a notebook that raised must never be published);
    * drops Panel/HoloViews' CDN bootstrap outputs (the book loads BokehJS and Panel from ``_static/``);
    * drops the HoloViews mime types that only the Jupyter extension reads (Sphinx would warn on them);
    * drops ipywidgets views and saved widget state (tqdm bars), keeping their text fallback;
    * drops papermill's ``injected-parameters`` cell (the page shows the notebook's own parameters cell);
    * takes the plot-bounds records (:data:`PLOT_BOUNDS_MIME`) out of the outputs into ``plot_bounds``;
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
    >>> executed = Path("build/executed/ci/01_x.ipynb")
    >>> # needs that notebook executed by the runner (skipped under doctest)
    >>> page = prepare_notebook(executed, Path("/tmp/b/notebooks/01_x.ipynb"))  # doctest: +SKIP
    """
    if panel_version is None:
        import panel

        panel_version = panel.__version__
    nb = json.loads(Path(source).read_text())
    errors = notebook_errors(nb)
    if errors:
        raise BookError(
            f"{source} has error outputs, so it cannot go into the book: {'; '.join(errors)}. "
            "Fix the notebook and re-run it (geoml run --only NN), "
            "or tag a cell 'raises-exception' if the error is meant to be shown."
        )
    page = NotebookPage(name=Path(source).name, title=notebook_title(nb, Path(source).stem))
    # A widget view (a tqdm.auto bar) needs the ipywidgets HTML manager, which myst-nb loads from a CDN
    # (with require.js) whenever a page has widget state, and which no installed package ships: the
    # static page shows the view's text/plain fallback instead, and the saved state is dropped.
    nb.get("metadata", {}).pop("widgets", None)
    nb["cells"] = [c for c in nb.get("cells", []) if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            where = f"{source} cell {index}"
            cell["outputs"] = [
                out for out in cell.get("outputs", []) if _stage_output(out, page, where, rel_root, panel_version)
            ]
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb, indent=1))
    return page


def _stage_output(output: dict, page: NotebookPage, where: str, rel_root: str, panel_version: str) -> bool:
    """Make one output of ``where`` render offline, in place; False when the page must not show it."""
    data = output.get("data")
    if data is None:
        return True
    if PLOT_BOUNDS_MIME in data:
        record = data[PLOT_BOUNDS_MIME]
        page.plot_bounds[str(record["name"])] = tuple(float(v) for v in record["bounds"])  # type: ignore[assignment]
        return False
    if _HOLOVIEWS_LOAD in data:
        script = _text(data.get("application/javascript", ""))
        if _CDN_RE.search(script) or "_bokeh_onload_callbacks" in script:
            return False  # the CDN bootstrap: BokehJS and Panel come from _static/ instead
        del data[_HOLOVIEWS_LOAD]
    if _WIDGET_VIEW in data:
        del data[_WIDGET_VIEW]
    if _HOLOVIEWS_EXEC in data:
        del data[_HOLOVIEWS_EXEC]
        output.get("metadata", {}).pop(_HOLOVIEWS_EXEC, None)
    for mime in ("text/html", "application/javascript"):
        if mime not in data:
            continue
        text = _rewrite_panel_cdn(_text(data[mime]), rel_root, page.panel_assets, panel_version)
        leftover = _CDN_RE.search(text)
        if leftover:
            raise BookError(
                f"{where} loads {leftover.group(0)} from a CDN, which fails offline. "
                "Render that output without CDN resources "
                "(e.g. hv.save(..., resources='inline') or a static image), "
                "or extend geoml_helpers.course.book_pages.prepare_notebook to ship the file locally."
            )
        data[mime] = text
        if mime == "text/html" and "data-root-id" in text:
            page.has_plots = True
            page.n_plots += len(visual_roots(text))
    return bool(data)


def copy_offline_js(static_dir: Path, panel_assets: Sequence[str] = ()) -> list[Path]:
    """Copy the installed BokehJS bundles, Panel's JS and the Panel assets the pages load into ``static_dir``.

    Returns the files written. ``book/_ext/geoml_offline_plots.py`` adds the scripts to the pages that embed a plot.

    Examples
    --------
    Writes into a book's _static folder (skipped under doctest):

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
            raise BookError(
                f"{source} is missing from the installed package; reinstall bokeh/panel (make env) and build again."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written
