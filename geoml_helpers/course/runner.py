"""Execute every course notebook in order with papermill, in one profile.

It stops on the first failure and names the notebook and the cell, and it
writes per-notebook wall time and peak memory (of the kernel and its child
processes) to ``<output>/<profile>/run-summary.json``.

Command line::

    python -m geoml_helpers.course.runner --profile ci
    python -m geoml_helpers.course.runner --profile workshop --only 04 05

Examples
--------
>>> [p.name for p in discover_notebooks(Path("notebooks"))][:1]  # doctest: +SKIP
['00_environment_check.ipynb']
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geoml_helpers.core.errors import GeomlError
from geoml_helpers.core.profiles import PROFILE_NAMES, data_root, find_project_root, get_profile

SUMMARY_NAME = "run-summary.json"


@dataclass
class NotebookRun:
    """Outcome of one notebook."""

    notebook: str
    status: str
    wall_s: float
    peak_rss_mb: float
    output: str
    error: dict | None = None


@dataclass
class RunSummary:
    """Outcome of a whole run, as written to ``run-summary.json``."""

    profile: str
    started: str
    machine: dict
    notebooks: list[NotebookRun] = field(default_factory=list)
    total_wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every notebook succeeded."""
        return all(run.status == "ok" for run in self.notebooks)


class NotebookFailed(GeomlError, RuntimeError):
    """A notebook raised; the message names the notebook and the cell."""


def discover_notebooks(folder: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Numbered notebooks ``NN_topic.ipynb`` in order, optionally only those whose prefix or name is in ``only``.

    Examples
    --------
    >>> discover_notebooks(Path("/nonexistent"))
    []
    """
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = set(only)
        notebooks = [p for p in notebooks if p.name[:2] in wanted or p.stem in wanted or p.name in wanted]
    return notebooks


class _PeakMemory:
    """Samples the summed RSS of this process's descendants (the kernel and its children)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def _source_cell(executed: Path) -> dict:
    """Find the failing cell in the executed copy and number it as in the source notebook.

    papermill adds cells to the copy (injected parameters, an error banner), so
    the cell is found by its error output and counted among the source's cells.
    """
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return {}
    added_tags = {"injected-parameters", "papermill-error-cell-tag"}
    source_cells = [c for c in cells if not (added_tags & set(c.metadata.get("tags", [])))]
    for number, cell in enumerate(source_cells, start=1):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            return {"source_cell": number, "source_line": first_line[:120]}
    return {}


def run_notebooks(
    profile: str = "ci",
    notebooks_dir: Path | None = None,
    output_dir: Path | None = None,
    only: Sequence[str] | None = None,
    data_dir: str | None = None,
    extra_parameters: dict | None = None,
    log=functools.partial(print, flush=True),
) -> RunSummary:
    """Execute notebooks in order; stop at the first failure.

    Parameters
    ----------
    profile : str
        ``ci``, ``workshop`` or ``full``, passed to each notebook as ``profile``.
    notebooks_dir : pathlib.Path, optional
        Defaults to ``<project>/notebooks``.
    output_dir : pathlib.Path, optional
        Defaults to ``<project>/build/executed``; notebooks land in ``<output_dir>/<profile>/``.
    only : sequence of str, optional
        Prefixes (``"04"``) or names to run.
    data_dir : str, optional
        Data folder, exported to the kernels as ``GEOML_DATA_DIR``.
    extra_parameters : dict, optional
        More papermill parameters for every notebook.

    Raises
    ------
    NotebookFailed
        Naming the notebook, the cell and the error; the summary is written first.
    """
    import papermill
    import psutil

    prof = get_profile(profile)
    root = find_project_root() or Path.cwd()
    notebooks_dir = Path(notebooks_dir or root / "notebooks")
    output_dir = Path(output_dir or root / "build" / "executed") / prof.name
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GEOML_DATA_DIR"] = str(data_root(data_dir))
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    notebooks = discover_notebooks(notebooks_dir, only)
    if not notebooks:
        raise GeomlError(
            f"No notebooks named NN_topic.ipynb in {notebooks_dir}" + (f" matching {list(only)}" if only else "") + "."
        )
    summary = RunSummary(
        profile=prof.name,
        started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        machine={
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": sys.version.split()[0],
        },
    )
    summary_path = output_dir / SUMMARY_NAME
    run_started = time.perf_counter()
    for notebook in notebooks:
        target = output_dir / notebook.name
        log(f"[{prof.name}] {notebook.name} ...")
        started = time.perf_counter()
        error = None
        with _PeakMemory() as memory:
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(target),
                    parameters={"profile": prof.name, **(extra_parameters or {})},
                    cwd=str(notebook.parent),
                    kernel_name="python3",
                    progress_bar=False,
                    request_save_on_cell_execute=False,
                )
            except papermill.PapermillExecutionError as exc:
                error = {
                    "cell_index": exc.cell_index,
                    "execution_count": exc.exec_count,
                    "ename": exc.ename,
                    "evalue": exc.evalue,
                }
                error.update(_source_cell(target))
            except Exception as exc:  # kernel died, notebook unreadable, ...
                error = {"cell_index": None, "execution_count": None, "ename": type(exc).__name__, "evalue": str(exc)}
        run = NotebookRun(
            notebook=notebook.name,
            status="ok" if error is None else "failed",
            wall_s=round(time.perf_counter() - started, 2),
            peak_rss_mb=round(memory.peak / 2**20, 1),
            output=str(target),
            error=error,
        )
        summary.notebooks.append(run)
        summary.total_wall_s = round(time.perf_counter() - run_started, 2)
        _write_atomic(summary_path, json.dumps(asdict(summary), indent=1))
        if error is not None:
            where = (
                f"cell {error['source_cell']} (counting from 1, execution count {error['execution_count']}): "
                f"`{error['source_line']}`"
                if error.get("source_cell") is not None
                else "before any cell ran"
            )
            raise NotebookFailed(
                f"{notebook} failed at {where}: {error['ename']}: {error['evalue']}\n"
                f"The executed copy with the traceback is {target}; the run summary is {summary_path}."
            )
        log(f"[{prof.name}] {notebook.name} ok in {run.wall_s:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    return summary


def main(argv: list[str] | None = None) -> int:
    """``geoml-run-notebooks``: returns 0 when every notebook ran, 1 on a failure, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="geoml-run-notebooks", description="Execute the course notebooks with papermill."
    )
    parser.add_argument("--profile", default="ci", help=f"one of {', '.join(PROFILE_NAMES)}")
    parser.add_argument("--only", nargs="*", help="notebook prefixes or names to run, e.g. 00 03")
    parser.add_argument("--notebooks-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    try:
        summary = run_notebooks(args.profile, args.notebooks_dir, args.output_dir, args.only, args.data_dir)
    except NotebookFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"All {len(summary.notebooks)} notebooks ran in profile {summary.profile!r} in {summary.total_wall_s:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
