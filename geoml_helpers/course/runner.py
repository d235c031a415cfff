"""Execute every course notebook in order with papermill, in one profile.

It stops on the first failure and names the notebook and the cell, and it
writes per-notebook wall time and peak memory (of the kernel and its child
processes) to ``<output>/<profile>/run-summary.json``.

From the command line it is incremental: each executed copy records a key (:func:`run_key`) made of
the notebook's source and every earlier notebook's, the parameters, the data folder and the demo
data's completion marker, the package's source and the lock file. A notebook whose executed copy
holds the same key is not run again (``--force`` runs it anyway); once one notebook runs, every
later one runs too, since it may read what the earlier one wrote.

Command line::

    geoml run --profile ci
    geoml run --profile workshop --only 04 05
    geoml run --profile ci --force

Examples
--------
Needs the repository's notebooks folder (skipped under doctest):

>>> [p.name for p in discover_notebooks(Path("notebooks"))][:1]  # doctest: +SKIP
['00_environment_check.ipynb']
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geoml_helpers.core.atomic import atomic_write, write_atomic
from geoml_helpers.core.errors import GeomlError, NotebookFailed
from geoml_helpers.core.memory import PeakMemory
from geoml_helpers.core.profiles import PROFILE_NAMES, data_root, find_project_root, get_profile

SUMMARY_NAME = "run-summary.json"
RUN_KEY_METADATA = "geoml"
"""The executed notebook's metadata entry holding the run key and what it was made of."""


@dataclass
class NotebookRun:
    """Outcome of one notebook."""

    notebook: str
    status: str
    wall_s: float
    peak_rss_mb: float
    output: str
    error: dict | None = None
    reused: bool = False


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


def _sha256_files(paths: Sequence[Path], base: Path | None = None) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(base) if base else path.name).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _package_fingerprint() -> str:
    """The geoml version and a hash of the package's Python source (editable installs change without a new version)."""
    import importlib.metadata

    import geoml_helpers

    package = Path(geoml_helpers.__file__).parent
    try:
        version = importlib.metadata.version("geoml")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed"
    sources = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    return f"{version}:{_sha256_files(sources, package)[:16]}"


def _data_fingerprint(profile: str, data_dir: Path) -> str:
    """The data folder, and the demo build's completion marker (its hashes of every file) with its time.

    The marker's modification time is in it so that a rebuilt world, whose notebook outputs are gone
    with the old folder, re-executes the notebooks even when the rebuild is identical.
    """
    from geoml_helpers.demo.build import MARKER_NAME

    marker = data_dir / profile / MARKER_NAME
    if not marker.is_file():
        return f"{data_dir}:no demo data"
    return f"{data_dir}:{hashlib.sha256(marker.read_bytes()).hexdigest()[:16]}:{marker.stat().st_mtime_ns}"


def run_key(
    notebook: Path, earlier: Sequence[Path], parameters: dict, data_dir: Path, project_root: Path | None = None
) -> dict:
    """What an executed notebook depends on, and its hash under ``"key"``.

    Parameters
    ----------
    notebook : pathlib.Path
        The source notebook.
    earlier : sequence of pathlib.Path
        The notebooks before it in the course: a change to one of them re-executes this one.
    parameters : dict
        The papermill parameters (profile, project, ...); the project file's content counts too.
    data_dir : pathlib.Path
        The data root; the demo data's marker of ``parameters["profile"]`` is read from it.
    project_root : pathlib.Path, optional
        Where ``requirements.lock`` lives (a changed lock re-executes everything).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "00_a.ipynb").write_text("{}")
    >>> first = run_key(folder / "00_a.ipynb", [], {"profile": "ci"}, folder)
    >>> first == run_key(folder / "00_a.ipynb", [], {"profile": "ci"}, folder)
    True
    >>> first["key"] == run_key(folder / "00_a.ipynb", [], {"profile": "workshop"}, folder)["key"]
    False
    """
    lock = project_root / "requirements.lock" if project_root else None
    # The project file's content: the one passed, else the profile's demo project that the notebooks default to.
    project = parameters.get("project")
    if project is None and project_root is not None:
        project = project_root / "projects" / f"demo-{parameters.get('profile', '')}.toml"
    parts = {
        "notebook": _sha256_files([notebook])[:16],
        "earlier_notebooks": _sha256_files(list(earlier))[:16],
        "parameters": json.dumps(parameters, sort_keys=True, default=str),
        "data": _data_fingerprint(str(parameters.get("profile", "")), Path(data_dir)),
        "project": _sha256_files([Path(project)])[:16] if project and Path(project).is_file() else "no project file",
        "package": _package_fingerprint(),
        "lock": _sha256_files([lock])[:16] if lock is not None and lock.is_file() else "no lock",
    }
    parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return parts


def _recorded_key(executed: Path) -> str | None:
    """The run key stored in a successful executed copy (None when missing, failed or unreadable)."""
    try:
        metadata = json.loads(executed.read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    if metadata.get("papermill", {}).get("exception"):
        return None
    return metadata.get(RUN_KEY_METADATA, {}).get("run_key", {}).get("key")


def _record_key(executed: Path, key: dict) -> None:
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.setdefault(RUN_KEY_METADATA, {})["run_key"] = key
    with atomic_write(executed) as tmp:
        nbformat.write(nb, str(tmp))


def _previous_runs(summary_path: Path) -> dict[str, dict]:
    try:
        return {run["notebook"]: run for run in json.loads(summary_path.read_text()).get("notebooks", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_notebooks(
    profile: str = "ci",
    notebooks_dir: Path | None = None,
    output_dir: Path | None = None,
    *,
    only: Sequence[str] | None = None,
    data_dir: str | None = None,
    extra_parameters: dict | None = None,
    log=functools.partial(print, flush=True),
    reuse: bool = False,
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
    reuse : bool
        Skip a notebook whose executed copy records the same :func:`run_key`, as long as no earlier
        notebook of this run was executed (the command line's default; ``--force`` turns it off).
        A run that skips every notebook leaves ``run-summary.json`` as it was.

    Raises
    ------
    NotebookFailed
        Naming the notebook, the cell and the error; the summary is written first.

    Notes
    -----
    Long because: one loop owns the run's state (the summary, the previous runs and whether a notebook has run yet,
    after which every later one must run too) and writes the summary after each notebook, so a failure still leaves
    it.
    """
    import papermill
    import psutil

    prof = get_profile(profile)
    root = find_project_root() or Path.cwd()
    notebooks_dir = Path(notebooks_dir or root / "notebooks")
    output_dir = Path(output_dir or root / "build" / "executed") / prof.name
    output_dir.mkdir(parents=True, exist_ok=True)
    data_folder = data_root(data_dir)
    os.environ["GEOML_DATA_DIR"] = str(data_folder)
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
    previous = _previous_runs(summary_path)
    parameters = {"profile": prof.name, **(extra_parameters or {})}
    course = discover_notebooks(notebooks_dir)
    executed_one = False
    run_started = time.perf_counter()
    for notebook in notebooks:
        target = output_dir / notebook.name
        earlier = [p for p in course if p.name < notebook.name]
        if (
            reuse
            and not executed_one
            and _recorded_key(target) == run_key(notebook, earlier, parameters, data_folder, root)["key"]
        ):
            before = previous.get(notebook.name, {})
            summary.notebooks.append(
                NotebookRun(
                    notebook.name,
                    "ok",
                    before.get("wall_s", 0.0),
                    before.get("peak_rss_mb", 0.0),
                    str(target),
                    reused=True,
                )
            )
            log(f"[{prof.name}] {notebook.name} unchanged since its last run: not re-executed (--force runs it)")
            continue
        executed_one = True
        log(f"[{prof.name}] {notebook.name} ...")
        started = time.perf_counter()
        error = None
        with PeakMemory(interval=0.2, children_only=True) as memory:
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(target),
                    parameters=parameters,
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
            peak_rss_mb=round(memory.peak_mb, 1),
            output=str(target),
            error=error,
        )
        if error is None:
            # Made after the run: a notebook that built the demo data is keyed on that data.
            _record_key(target, run_key(notebook, earlier, parameters, data_folder, root))
        summary.notebooks.append(run)
        summary.total_wall_s = round(time.perf_counter() - run_started, 2)
        write_atomic(summary_path, json.dumps(asdict(summary), indent=1))
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


def main(argv: list[str] | None = None, prog: str = "geoml-run-notebooks") -> int:
    """``geoml run`` (alias ``geoml-run-notebooks``): 0 when every notebook ran, 1 on a failure, 2 on bad input."""
    parser = argparse.ArgumentParser(prog=prog, description="Execute the course notebooks with papermill.")
    parser.add_argument(
        "--project",
        default=None,
        help="project TOML passed to every notebook as `project` (default: projects/demo-<profile>.toml, the demo); "
        "write one with `geoml init`",
    )
    parser.add_argument("--profile", default="ci", help=f"one of {', '.join(PROFILE_NAMES)}")
    parser.add_argument("--only", nargs="*", help="notebook prefixes or names to run, e.g. 00 03")
    parser.add_argument("--notebooks-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--force", action="store_true", help="execute every notebook, even those whose executed copy is up to date"
    )
    args = parser.parse_args(argv)
    try:
        extra, output_dir = _project_parameters(args.project, args.output_dir)
        summary = run_notebooks(
            args.profile,
            args.notebooks_dir,
            output_dir,
            only=args.only,
            data_dir=args.data_dir,
            extra_parameters=extra,
            reuse=not args.force,
        )
    except NotebookFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reused = sum(run.reused for run in summary.notebooks)
    print(
        f"All {len(summary.notebooks)} notebooks ran in profile {summary.profile!r} in {summary.total_wall_s:.1f} s"
        + (f" ({reused} up to date, not re-executed)." if reused else ".")
    )
    return 0


def _project_parameters(project: str | None, output_dir: Path | None) -> tuple[dict | None, Path | None]:
    """Check a ``--project`` file before any notebook runs; its papermill parameter and default output folder.

    A project other than the demo gets its own ``build/executed/<project name>/`` so that its executed
    notebooks do not replace the demo's (which the book is built from).
    """
    if not project:
        return None, output_dir
    from geoml_helpers.core.project import load_project

    loaded = load_project(project)
    if output_dir is None and not loaded.is_demo:
        output_dir = (find_project_root() or Path.cwd()) / "build" / "executed" / loaded.name
    return {"project": str(loaded.path)}, output_dir


if __name__ == "__main__":
    sys.exit(main())
