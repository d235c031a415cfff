"""Build the course's Jupyter Book from the notebooks the papermill runner executed.

``book/build.py`` calls :func:`build_book`: it copies ``book/`` and the executed
notebooks of one profile (made to render offline by
:func:`~geoml_helpers.course.book_pages.prepare_notebook`) into a staging folder,
renders the generated pages (:mod:`geoml_helpers.course.book_tables`) and runs
Jupyter Book 1 with ``-W``, so that any Sphinx warning fails the build. The checks
of the built HTML live in :mod:`geoml_helpers.course.book_checks`.

Examples
--------
Needs the ci notebooks executed by the runner (skipped under doctest):

>>> from geoml_helpers.course.book_build import build_book  # doctest: +SKIP
>>> result = build_book("ci")  # doctest: +SKIP
>>> result.index.name  # doctest: +SKIP
'index.html'
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from geoml_helpers.core.errors import BookError
from geoml_helpers.core.profiles import find_project_root
from geoml_helpers.course.book_pages import (
    NOTEBOOK_FOLDER,
    NotebookPage,
    copy_offline_js,
    discover_executed,
    prepare_notebook,
)
from geoml_helpers.course.book_tables import (
    benchmarks_markdown,
    learning_path_markdown,
    load_run_summaries,
    notebook_timings,
    run_times_markdown,
)

__all__ = ["PLOT_BOUNDS_FILE", "BookBuild", "build_book"]

#: Written beside the HTML by :func:`build_book`: the true bounds each page's notebook recorded, by page and plot title.
PLOT_BOUNDS_FILE = "plot-bounds.json"

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


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

    @property
    def plot_bounds(self) -> dict[str, dict[str, tuple[float, float, float, float]]]:
        """True bounds of the geographic plots, by page (path under ``html_dir``) and plot title."""
        return {f"{p.docname}.html": p.plot_bounds for p in self.pages if p.plot_bounds}


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
        Benchmark tables; defaults to ``<project>/build/benchmarks`` (this machine's ``make bench``) when it
        holds any, else the recorded ``<project>/benchmarks/results`` (each says where and when it was measured).
    output_dir : pathlib.Path, optional
        Defaults to ``<project>/build/book/<profile>``; the HTML lands in ``<output_dir>/_build/html``,
        the plots' recorded true bounds in ``<output_dir>/plot-bounds.json`` (:data:`PLOT_BOUNDS_FILE`).

    Raises
    ------
    BookError
        No executed notebooks, a notebook with an error output or a failed run, a CDN reference,
        or any Sphinx warning (the build runs with ``-W``).

    Notes
    -----
    Long because: it is the build in order (stage the sources, prepare each page, write the generated pages, run
    Jupyter Book, ship the offline scripts), each step a call into book_pages or book_tables; the order is the
    logic.
    """
    started = time.perf_counter()
    root = find_project_root() or Path.cwd()
    book_dir = Path(book_dir or root / "book")
    executed_root = Path(executed_root or root / "build" / "executed")
    bench_dir = Path(bench_dir or _benchmark_results(root))
    output_dir = Path(output_dir or root / "build" / "book" / profile)
    executed_dir = executed_root / profile

    notebooks = discover_executed(executed_dir)
    if not notebooks:
        raise BookError(f"No executed notebooks in {executed_dir}; run them first: make notebooks PROFILE={profile}")
    summaries = load_run_summaries(executed_root)
    failed = [r["notebook"] for r in summaries.get(profile, {}).get("notebooks", []) if r.get("status") != "ok"]
    if failed:
        raise BookError(
            f"The last run of profile {profile!r} failed in {', '.join(failed)} "
            f"(see {executed_dir / 'run-summary.json'}); fix it and run make notebooks again."
        )

    source_dir = output_dir / "src"
    if source_dir.exists():
        shutil.rmtree(source_dir)
    shutil.copytree(
        book_dir,
        source_dir,
        ignore=shutil.ignore_patterns("_build", "build.py", "__pycache__", ".ipynb_checkpoints", NOTEBOOK_FOLDER),
    )
    pages = [prepare_notebook(nb, source_dir / NOTEBOOK_FOLDER / nb.name) for nb in notebooks]
    generated = source_dir / "_generated"
    generated.mkdir(exist_ok=True)
    timings = notebook_timings(executed_root)
    (generated / "learning_path.md").write_text(learning_path_markdown(pages, timings))
    (generated / "run_times.md").write_text(run_times_markdown(timings, summaries))
    (generated / "benchmarks.md").write_text(benchmarks_markdown(bench_dir))
    (generated / "profile.md").write_text(
        f"This copy of the book shows the notebooks as executed in the `{profile}` profile.\n"
    )

    build_dir = output_dir / "_build"
    if build_dir.exists():
        shutil.rmtree(build_dir)  # a fresh build, so -W sees every page's warnings
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [
        str(jupyter_book) if jupyter_book.exists() else "jupyter-book",
        "build",
        str(source_dir),
        "--path-output",
        str(output_dir),
        "-W",
        "-n",
        "--keep-going",
    ]
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
    (output_dir / PLOT_BOUNDS_FILE).write_text(
        json.dumps({f"{p.docname}.html": p.plot_bounds for p in pages if p.plot_bounds}, indent=1) + "\n"
    )
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


def _benchmark_results(root: Path) -> Path:
    """The benchmark tables to render: build/benchmarks if `make bench` wrote any here, else benchmarks/results."""
    local = root / "build" / "benchmarks"
    return local if any(local.glob("*.json")) else root / "benchmarks" / "results"
