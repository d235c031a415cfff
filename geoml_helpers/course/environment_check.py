"""The rows of notebook 00: whether this machine is ready for the course.

Each check returns a :class:`CheckRow` with what was found, ``pass`` /
``warn`` / ``fail``, and the fix to apply when it is not ``pass``. Every check
takes at most a few seconds and none needs the internet unless asked
(``stac_api="earth-search"``).

Examples
--------
>>> row = check_python()
>>> row.status in ("pass", "fail")
True
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from geoml_helpers.core.errors import MissingCredentialsError, MissingDependencyError, OfflineError
from geoml_helpers.core.profiles import display_path

PASS, WARN, FAIL = "pass", "warn", "fail"

REQUIRED_PACKAGES: dict[str, str] = {
    "numpy": "1.26",
    "xarray": "2024.10",
    "dask": "2024.8",
    "distributed": "2024.8",
    "rioxarray": "0.17",
    "rasterio": "1.4",
    "zarr": "2.18",
    "geopandas": "1.0",
    "shapely": "2.0",
    "pyproj": "3.6",
    "pystac": "1.10",
    "pystac-client": "0.8",
    "stackstac": "0.5.1",
    "odc-stac": "0.3.10",
    "rustac": "0.9",
    "holoviews": "1.19",
    "hvplot": "0.10",
    "geoviews": "1.13",
    "panel": "1.5",
    "bokeh": "3.5",
    "datashader": "0.16",
    "scikit-learn": "1.5",
    "torch": "2.4",
    "torchgeo": "0.9",
    "lightning": "2.4",
    "xbatcher": "0.4",
    "wandb": "0.18",
    "papermill": "2.6",
    "jupytext": "1.16",
}
"""Distribution name to the minimum version the course was tested with."""

EXACT_PINS: dict[str, str] = {"cartopy": "0.25.0"}
"""Pinned because newer versions break geoviews offline (see PITFALLS)."""

MIN_FREE_GB: dict[str, float] = {"ci": 1.0, "workshop": 5.0, "full": 60.0}
"""Free disk space wanted per profile, in GB."""


@dataclass
class CheckRow:
    """One line of the environment table."""

    check: str
    found: str
    status: str
    fix: str = ""


def _version_tuple(version: str) -> tuple:
    parts = []
    for piece in version.replace("-", ".").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def version_at_least(found: str, minimum: str) -> bool:
    """Compare dotted versions numerically.

    Examples
    --------
    >>> version_at_least("2026.9.0", "2024.10"), version_at_least("0.9.18", "0.10")
    (True, False)
    """
    return _version_tuple(found) >= _version_tuple(minimum)


def check_python(minimum: tuple[int, int] = (3, 12)) -> CheckRow:
    """The Python version (torchgeo >= 0.9 needs 3.12).

    Examples
    --------
    >>> check_python((3, 0)).status
    'pass'
    """
    found = platform.python_version()
    ok = sys.version_info[:2] >= minimum
    return CheckRow(
        "python",
        found,
        PASS if ok else FAIL,
        "" if ok else f"Use Python >= {minimum[0]}.{minimum[1]}: `make env` creates the course environment.",
    )


def check_package(name: str, minimum: str | None = None, exact: str | None = None) -> CheckRow:
    """Whether a distribution is installed at a suitable version.

    Examples
    --------
    >>> check_package("surely-not-installed-xyz").status
    'fail'
    """
    try:
        found = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        wanted = f"=={exact}" if exact else (f">={minimum}" if minimum else "")
        return CheckRow(
            name,
            "not installed",
            FAIL,
            f"`pip install '{name}{wanted}'` (or `make env` to recreate the whole environment).",
        )
    if exact is not None and found != exact:
        return CheckRow(
            name,
            found,
            WARN,
            f"The course pins {name}=={exact} (see ../shared/PITFALLS.md): `pip install '{name}=={exact}'`.",
        )
    if minimum is not None and not version_at_least(found, minimum):
        return CheckRow(name, found, FAIL, f"Upgrade: `pip install -U '{name}>={minimum}'`.")
    return CheckRow(name, found, PASS)


PROJECT_KERNEL_NAME = "geoml"
"""The Jupyter kernel that ``make kernel`` (and ``make env``) registers for the user."""

PROJECT_KERNEL_DISPLAY_NAME = "geoml (Python 3.12)"
"""Its name in JupyterLab's kernel picker."""

KERNEL_ENV_VAR = "GEOML_KERNEL"
"""Set to the kernel name in the registered kernel's environment, so a running kernel knows it is the project's."""

LOCK_NAME = "requirements.lock"


def locked_versions(lock: str | os.PathLike[str], environment: dict[str, str] | None = None) -> dict[str, str]:
    r"""The pinned version of every package of a hashed requirements lock that applies here.

    Parameters
    ----------
    lock : path-like
        A ``uv pip compile --universal --generate-hashes`` output such as ``requirements.lock``.
    environment : dict, optional
        Marker variables to evaluate the lock's environment markers with (default: this interpreter
        and platform), e.g. ``{"python_full_version": "3.12.0", "sys_platform": "linux"}``.

    Returns
    -------
    dict
        Normalised distribution name (PEP 503) to version.

    Examples
    --------
    >>> import tempfile
    >>> lock = Path(tempfile.mkdtemp()) / "requirements.lock"
    >>> _ = lock.write_text("numpy==2.3.0 \\\n    --hash=sha256:ab\n"
    ...                     "PyWin32==311 ; sys_platform == 'win32' \\\n    --hash=sha256:cd\n")
    >>> locked_versions(lock, {"sys_platform": "linux"})
    {'numpy': '2.3.0'}
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    versions: dict[str, str] = {}
    for line in Path(lock).read_text().replace("\\\n", " ").splitlines():
        line = re.sub(r"\s--hash=\S+", "", line.split(" #", 1)[0]).strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if pins:
            versions[canonicalize_name(requirement.name)] = pins[0]
    return versions


def check_lock(project_root: str | os.PathLike[str] | None = None) -> CheckRow | None:
    """Whether the installed packages are the versions pinned in ``requirements.lock`` (None without a lock).

    Examples
    --------
    >>> check_lock("/nonexistent") is None
    True
    """
    from packaging.utils import canonicalize_name

    from geoml_helpers.core.profiles import find_project_root

    root = Path(project_root) if project_root is not None else find_project_root()
    if root is None or not (root / LOCK_NAME).is_file():
        return None
    wanted = locked_versions(root / LOCK_NAME)
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
    }
    differ = sorted(
        f"{name} {installed.get(name, 'missing')} (lock {version})"
        for name, version in wanted.items()
        if installed.get(name) != version
    )
    if not differ:
        return CheckRow("locked versions", f"all {len(wanted)} packages of {LOCK_NAME} at their pinned versions", PASS)
    shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
    return CheckRow(
        "locked versions",
        f"{len(differ)} of {len(wanted)} differ: {shown}",
        WARN,
        "The course is tested with the locked versions: `make env` installs exactly them (uv pip sync), "
        f"or `pip install --require-hashes -r {LOCK_NAME}`.",
    )


def registered_kernel_python(name: str = PROJECT_KERNEL_NAME) -> str | None:
    """The interpreter of the Jupyter kernel ``name`` as registered for this user (None when it is not).

    Examples
    --------
    >>> registered_kernel_python("geoml-surely-not-a-kernel") is None
    True
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name).argv[0]
    except NoSuchKernel:
        return None


def check_kernel(project_root: str | os.PathLike[str] | None = None) -> CheckRow:
    """Which kernel and interpreter run this code, and whether they are the course environment's.

    *pass* in the ``geoml`` kernel, or in another kernel of the project's environment (the runner's
    papermill kernel) when ``geoml`` is registered; *warn*, with the fix, in any other interpreter
    or when the ``geoml`` kernel is not registered.

    Examples
    --------
    >>> check_kernel().check
    'kernel'
    """
    from geoml_helpers.core.profiles import find_project_root

    kernel = os.environ.get(KERNEL_ENV_VAR)
    registered = registered_kernel_python()
    root = Path(project_root) if project_root is not None else find_project_root()
    expected = [Path(registered).parent.parent] if registered else []
    if root is not None:
        expected.append(root / ".venv")
    here = Path(sys.prefix).resolve()
    in_project = any(here == folder.resolve() for folder in expected)
    if kernel == PROJECT_KERNEL_NAME:
        which = f"{PROJECT_KERNEL_DISPLAY_NAME} kernel"
    elif in_project:  # e.g. the runner's papermill kernel: another name, the same environment
        which = "a kernel of the course environment"
    else:
        which = f"not the {PROJECT_KERNEL_NAME} kernel"
    found = f"{which}; interpreter {display_path(sys.executable, root)}"
    if not in_project:
        pythons = [display_path(folder / "bin" / "python", root) for folder in expected]
        where = " or ".join(pythons) or "the course's .venv"
        return CheckRow(
            "kernel",
            found,
            WARN,
            f"This is not the course environment ({where}): pick the kernel '{PROJECT_KERNEL_DISPLAY_NAME}' "
            "(Kernel > Change Kernel); if it is not listed, run `make kernel` in the repository (or `make env` first).",
        )
    if registered is None:
        return CheckRow(
            "kernel",
            found,
            WARN,
            f"The '{PROJECT_KERNEL_NAME}' kernel is not registered: `make kernel` makes this environment "
            "available in any JupyterLab on the machine.",
        )
    return CheckRow("kernel", found, PASS)


def check_device() -> CheckRow:
    """CPU cores and memory, and whether torch sees a GPU (CUDA or Apple MPS). A CPU is enough.

    Examples
    --------
    >>> check_device().check
    'device'
    """
    import psutil

    cores = os.cpu_count() or 1
    memory_gb = psutil.virtual_memory().total / 1e9
    accelerator = "none"
    try:
        import torch

        if torch.cuda.is_available():
            accelerator = f"CUDA: {torch.cuda.get_device_name(0)}"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            accelerator = "Apple MPS"
    except ImportError:
        accelerator = "torch not installed"
    found = f"{cores} CPU cores, {memory_gb:.1f} GB RAM, GPU: {accelerator}"
    if memory_gb < 4:
        return CheckRow("device", found, WARN, "Less than 4 GB of RAM: stay on the `ci` profile.")
    return CheckRow("device", found, PASS)


def check_data_dir(profile: str = "ci", data_dir: str | os.PathLike[str] | None = None) -> list[CheckRow]:
    """The data directory: where it is, writable, free space, and whether the demo data is built.

    Examples
    --------
    >>> import tempfile
    >>> [r.status for r in check_data_dir("ci", tempfile.mkdtemp())][:2]
    ['pass', 'pass']
    """
    from geoml_helpers.core.errors import GeomlError
    from geoml_helpers.core.profiles import data_root, ensure_writable
    from geoml_helpers.demo.build import open_demo_data

    rows = []
    root = data_root(data_dir)
    try:
        ensure_writable(root)
        rows.append(CheckRow("data directory", display_path(root), PASS))
    except GeomlError as exc:
        rows.append(CheckRow("data directory", display_path(root), FAIL, str(exc)))
        return rows
    free_gb = shutil.disk_usage(root).free / 1e9
    wanted = MIN_FREE_GB.get(profile, 1.0)
    rows.append(
        CheckRow(
            "free space",
            f"{free_gb:.1f} GB free (profile {profile!r} wants {wanted:g} GB)",
            PASS if free_gb >= wanted else FAIL,
            "" if free_gb >= wanted else "Free some space or point GEOML_DATA_DIR / `data_dir` at a larger disk.",
        )
    )
    try:
        demo = open_demo_data(profile, root)
        size = sum(p.stat().st_size for p in demo.root.rglob("*") if p.is_file())
        found = f"built: {demo.root.relative_to(root)}/ in the data directory ({size / 1e6:.1f} MB)"
        rows.append(CheckRow("demo data", found, PASS))
    except GeomlError:
        rows.append(
            CheckRow(
                "demo data",
                "not built yet",
                WARN,
                f"Notebooks build it on demand, or run `python -m geoml_helpers.demo build --profile {profile}`.",
            )
        )
    return rows


def check_stac_api(
    stac_api: str = "local", profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, timeout: float = 5.0
) -> CheckRow:
    """Whether the STAC API answers a search (the local one is started, and the demo data built, if needed).

    Examples
    --------
    >>> check_stac_api("http://127.0.0.1:9", timeout=1).status
    'fail'
    """
    from geoml_helpers.core.errors import GeomlError
    from geoml_helpers.discover.stac_search import open_stac_source

    started = time.perf_counter()
    try:
        with open_stac_source(stac_api, profile, data_dir, timeout=timeout) as source:
            n = len(list(source.client.search(collections=[source.collection], max_items=5).items()))
            seconds = time.perf_counter() - started
            return CheckRow(
                f"STAC API ({stac_api})",
                f"{source.url} answered, {n} items in a test search, {seconds:.1f} s",
                PASS if n else WARN,
                "" if n else "The API answered but returned no items: check the collection id.",
            )
    except (GeomlError, OSError, ValueError) as exc:
        fix = (
            str(exc)
            if isinstance(exc, GeomlError)
            else f"{type(exc).__name__}: {exc}. Use `stac_api='local'` for the offline demo API."
        )
        return CheckRow(f"STAC API ({stac_api})", "not reachable", FAIL, fix)


def check_wandb() -> CheckRow:
    """The Weights & Biases mode: offline (the default here), disabled, or online with a key.

    Examples
    --------
    >>> check_wandb().check
    'W&B mode'
    """
    mode = os.environ.get("WANDB_MODE", "")
    try:
        importlib.import_module("wandb")
    except ImportError:
        return CheckRow(
            "W&B mode",
            "wandb not installed",
            WARN,
            "`pip install wandb` to log experiments (offline works without an account).",
        )
    has_key = (
        bool(os.environ.get("WANDB_API_KEY"))
        or os.path.exists(os.path.expanduser("~/.netrc"))
        and "api.wandb.ai" in open(os.path.expanduser("~/.netrc")).read()
    )
    if mode in ("offline", "disabled", "dryrun"):
        return CheckRow(
            "W&B mode",
            f"{mode} (runs are written locally; `wandb sync` uploads them later)" if mode != "disabled" else "disabled",
            PASS,
        )
    if mode == "online" or (not mode and has_key):
        return CheckRow(
            "W&B mode",
            "online" + (" (API key found)" if has_key else " (no API key)"),
            PASS if has_key else FAIL,
            "" if has_key else "Run `wandb login`, or `export WANDB_MODE=offline`.",
        )
    return CheckRow(
        "W&B mode",
        "unset (no API key)",
        WARN,
        "`export WANDB_MODE=offline` (the Makefile does this) to log without an account or network.",
    )


def run_checks(
    profile: str = "ci",
    stac_api: str = "local",
    data_dir: str | os.PathLike[str] | None = None,
    packages: dict[str, str] | None = None,
    extra_apis: Sequence[str] = (),
):
    """Every check, as a ``pandas.DataFrame`` with columns check, found, status, fix.

    Examples
    --------
    Needs the whole environment (servers, data folder) (skipped under doctest):

    >>> table = run_checks("ci")  # doctest: +SKIP
    >>> set(table["status"]) <= {"pass", "warn", "fail"}  # doctest: +SKIP
    True
    """
    import pandas as pd

    rows = [check_python(), check_kernel()]
    lock_row = check_lock()
    if lock_row is not None:
        rows.append(lock_row)
    for name, minimum in (packages or REQUIRED_PACKAGES).items():
        rows.append(check_package(name, minimum))
    for name, exact in EXACT_PINS.items():
        rows.append(check_package(name, exact=exact))
    rows.append(check_device())
    # The local API serves the demo data: build it first (quietly), so the data-directory rows describe
    # what the API check then finds, not the state before it (the table said "not built yet" after a build).
    if stac_api == "local":
        from geoml_helpers.core.errors import GeomlError
        from geoml_helpers.demo.build import ensure_demo_data

        try:  # a progress bar would stay at 0 % in the saved notebook; the rows say what was built
            ensure_demo_data(profile, data_dir, progress=False)
        except (GeomlError, OSError):
            pass  # the data-directory and API rows report it, with the fix
    stac_row = check_stac_api(stac_api, profile, data_dir)
    rows.extend(check_data_dir(profile, data_dir))
    rows.append(stac_row)
    for api in extra_apis:
        rows.append(check_stac_api(api, profile, data_dir))
    rows.append(check_wandb())
    return pd.DataFrame([asdict(r) for r in rows])


def style_table(table):
    """Colour the status column (for display in a notebook).

    Examples
    --------
    Needs the whole environment (servers, data folder) (skipped under doctest):

    >>> style_table(run_checks("ci"))  # doctest: +SKIP
    """
    colours = {PASS: "background-color: #c8e6c9", WARN: "background-color: #fff3c4", FAIL: "background-color: #ffcdd2"}
    return table.style.map(lambda v: colours.get(v, ""), subset=["status"]).hide(axis="index")


def require_optional(package: str, purpose: str, install: str | None = None):
    """Import an optional package or fail fast with the install command.

    Raises
    ------
    MissingDependencyError

    Examples
    --------
    >>> require_optional("geoml-no-such-package", "a demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.MissingDependencyError: ...
    """
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the optional package `{package}`, which is not installed. "
            f"Install it with `{install or 'pip install ' + package}` (it is not part of the offline course "
            "environment), "
            "or leave this step's parameter off."
        ) from None


def require_env(names: Sequence[str], purpose: str, how: str) -> dict[str, str]:
    """Return the environment variables ``names`` or fail fast saying how to set them.

    Raises
    ------
    MissingCredentialsError

    Examples
    --------
    >>> require_env(["GEOML_SURELY_UNSET_VAR"], "A demo", "export it")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.MissingCredentialsError: ...
    """
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise MissingCredentialsError(f"{purpose} needs the credentials {missing} in the environment. {how}")
    return {n: os.environ[n] for n in names}


def require_online(url: str, purpose: str, timeout: float = 5.0) -> None:
    """Fail fast (within ``timeout``) with :class:`OfflineError` when ``url`` cannot be reached.

    Examples
    --------
    >>> require_online("http://127.0.0.1:9", "A demo", timeout=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.OfflineError: ...
    """
    import requests

    try:
        requests.head(url, timeout=(timeout, timeout), allow_redirects=True)
    except requests.RequestException as exc:
        raise OfflineError(
            f"{purpose} needs the internet, but {url} did not answer within {timeout:.0f} s ({type(exc).__name__}). "
            "Connect to the network and run the cell again, or leave this step's parameter off (the default)."
        ) from exc
