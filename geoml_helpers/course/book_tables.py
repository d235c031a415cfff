"""The book's generated pages: run times from the runner's summaries, benchmark tables from their JSON.

Nothing on these pages is typed by hand: :func:`notebook_timings` reads
``run-summary.json`` (and papermill's own durations), :func:`benchmarks_markdown`
renders ``build/benchmarks/*.json``.

Examples
--------
>>> run_times_markdown({}, {}).startswith("No profile")
True
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from geoml_helpers.core.profiles import PROFILE_NAMES
from geoml_helpers.course.book_pages import NotebookPage, discover_executed

__all__ = [
    "NotebookTiming",
    "benchmark_markdown",
    "benchmarks_markdown",
    "learning_path_markdown",
    "load_run_summaries",
    "notebook_timings",
    "run_times_markdown",
]


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


def notebook_timings(
    executed_root: Path, profiles: Sequence[str] = PROFILE_NAMES
) -> dict[str, dict[str, NotebookTiming]]:
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
        "| profile | notebooks run | whole course (sum) | slowest notebook | peak memory "
        "| machine, date |",
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
                    f"{slowest_name[:2]} ({_fmt_seconds(slowest.wall_s)})",
                    f"{max(peaks) / 1024:.1f} GiB" if peaks else "–",
                    f"{machine.get('cpus', '?')} CPUs, {machine.get('memory_gb', '?')} GiB, "
                    f"{_md_cell(str(summaries[profile].get('started', ''))[:10])}"
                    if machine
                    else "–",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


#: Columns of one generated table: wider tables are split into several, each led by the first column, so that
#: none is wider than the book's text column (the reader check ``fit``).
MAX_TABLE_COLUMNS = 5


def _table_from_rows(rows: list[dict], max_columns: int = MAX_TABLE_COLUMNS) -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    lead, rest = columns[:1], columns[1:]
    step = max(1, max_columns - 1)
    tables = []
    for start in range(0, max(len(rest), 1), step):
        shown = lead + rest[start : start + step]
        lines = ["| " + " | ".join(_md_cell(c) for c in shown) + " |", "|" + "---|" * len(shown)]
        for row in rows:
            lines.append("| " + " | ".join(_md_cell(_fmt_value(row.get(c, ""))) for c in shown) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


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
    parts = [f"## {title}", "", f"From `{'/'.join(Path(path).parts[-3:])}`.", ""]
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
        return (
            "No benchmark has been run yet: run the scripts in `benchmarks/`; each writes "
            "`build/benchmarks/<name>.json`, and the next book build renders it here.\n"
        )
    return "\n".join(benchmark_markdown(f) for f in files)
