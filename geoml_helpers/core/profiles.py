"""Course profiles and the data directory.

A *profile* sets how big the demo world is and how hard the notebooks work:

``ci``
    Builds in seconds; every notebook runs in a minute or two on 2 cores.
``workshop``
    Comfortable on a laptop during a 3-hour session.
``full``
    A realistic area for a cloud VM.

Examples
--------
>>> from geoml_helpers.core.profiles import get_profile
>>> get_profile("ci").size_px
240
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from geoml_helpers.core.errors import DataDirectoryError, UnknownProfileError

PROFILE_NAMES: tuple[str, ...] = ("ci", "workshop", "full")


@dataclass(frozen=True)
class DemoProfile:
    """Size of the synthetic demo world for one course profile.

    Attributes
    ----------
    name : str
        ``ci``, ``workshop`` or ``full``.
    size_px : int
        Width and height of the 10 m grid in pixels; a multiple of 6 so that
        the 20 m and 60 m grids align exactly.
    n_dates : int
        Number of Sentinel-2 acquisitions spread over one year.
    block_px : int
        Side of a square spatial block (in 10 m pixels) used for the
        train/val/test split.
    polygons_per_block : int
        Label polygons digitised per spatial block.
    hyperspectral_bands : int
        Number of bands of the EnMAP-like cube.
    """

    name: str
    size_px: int
    n_dates: int
    block_px: int
    polygons_per_block: int
    hyperspectral_bands: int = 200

    @property
    def size_m(self) -> int:
        """Side of the area of interest in metres."""
        return self.size_px * 10


_PROFILES: dict[str, DemoProfile] = {
    "ci": DemoProfile("ci", size_px=240, n_dates=12, block_px=48, polygons_per_block=4),
    "workshop": DemoProfile("workshop", size_px=960, n_dates=24, block_px=96, polygons_per_block=5),
    "full": DemoProfile("full", size_px=4800, n_dates=36, block_px=240, polygons_per_block=8),
}


def get_profile(name: str) -> DemoProfile:
    """Return the :class:`DemoProfile` called ``name``.

    Parameters
    ----------
    name : str
        One of ``ci``, ``workshop`` or ``full``.

    Returns
    -------
    DemoProfile

    Raises
    ------
    UnknownProfileError
        For any other name; the message lists the valid ones.

    Examples
    --------
    >>> get_profile("workshop").n_dates
    24
    """
    try:
        return _PROFILES[name]
    except (KeyError, TypeError):
        raise UnknownProfileError(
            f"Unknown profile {name!r}. Use one of {', '.join(PROFILE_NAMES)} "
            "(for example `-p profile ci` with papermill or `--profile ci` on the command line)."
        ) from None


def find_project_root(start: Path | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` holding geoml's pyproject.toml.

    Examples
    --------
    >>> find_project_root(Path("/")) is None
    True
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and 'name = "geoml"' in candidate.read_text(errors="ignore"):
            return folder
    return None


def data_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the folder where demo data and notebook outputs live.

    The order is: the ``path`` argument, the ``GEOML_DATA_DIR`` environment
    variable, ``<project root>/data``, then ``~/geoml-data``. Nothing is created.

    Examples
    --------
    >>> str(data_root("/tmp/geoml-example"))
    '/tmp/geoml-example'
    """
    if path is not None:
        return Path(path).expanduser().resolve()
    env = os.environ.get("GEOML_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    root = find_project_root()
    if root is not None:
        return root / "data"
    return Path.home() / "geoml-data"


def ensure_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Raises
    ------
    DataDirectoryError
        If the folder cannot be created or written; the message names the
        ``GEOML_DATA_DIR`` variable and the ``data_dir`` parameter as fixes.

    Examples
    --------
    >>> import tempfile
    >>> ensure_writable(Path(tempfile.mkdtemp())).is_dir()
    True
    """
    fix = (
        "Choose a writable folder with the GEOML_DATA_DIR environment variable "
        "or the notebooks' `data_dir` parameter (e.g. `-p data_dir ~/geoml-data`)."
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirectoryError(f"Cannot write to the data directory {folder}: {exc.strerror or exc}. {fix}") from exc
    return folder


def outputs_dir(profile: str, *parts: str, data_dir: str | os.PathLike[str] | None = None, create: bool = True) -> Path:
    """Folder for what the notebooks derive (cubes, models, maps, logs) in one profile.

    It is ``<data root>/outputs/<profile>/<parts...>``: inside the data
    directory, so a notebook leaves nothing behind elsewhere, and outside the
    demo data folder, so rebuilding the demo data does not delete results.

    Examples
    --------
    >>> outputs_dir("ci", "models", data_dir="/tmp/geoml-example", create=False).as_posix()
    '/tmp/geoml-example/outputs/ci/models'
    """
    prof = get_profile(profile)
    folder = data_root(data_dir).joinpath("outputs", prof.name, *parts)
    if create:
        ensure_writable(folder)
    return folder
