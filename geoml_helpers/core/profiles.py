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

from geoml_helpers.core.errors import AoiTooLargeError, DataDirectoryError, UnknownProfileError

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
    max_imagery_gb : float
        The most imagery (estimated by :func:`estimate_imagery`) a project may ask
        for in this profile; ``geoml init`` and the cube refuse larger AOIs.
    """

    name: str
    size_px: int
    n_dates: int
    block_px: int
    polygons_per_block: int
    hyperspectral_bands: int = 200
    max_imagery_gb: float = 2.0

    @property
    def size_m(self) -> int:
        """Side of the area of interest in metres."""
        return self.size_px * 10


_PROFILES: dict[str, DemoProfile] = {
    # max_imagery_gb: ci reads a few km2 on 2 cores in minutes; workshop stays a laptop download; full is a VM
    # with object storage (beyond 1 TB the tier is zarr on object storage).
    "ci": DemoProfile("ci", size_px=240, n_dates=12, block_px=48, polygons_per_block=4, max_imagery_gb=2.0),
    "workshop": DemoProfile(
        "workshop", size_px=960, n_dates=24, block_px=96, polygons_per_block=5, max_imagery_gb=25.0
    ),
    "full": DemoProfile("full", size_px=4800, n_dates=36, block_px=240, polygons_per_block=8, max_imagery_gb=5000.0),
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


def display_path(path: str | os.PathLike[str], project_root: str | os.PathLike[str] | None = None) -> str:
    """``path`` as a reader may see it: relative to the project, under ``~`` or the temp folder, never absolute.

    A page must not show the folders of the machine that built it (the book's absolute-path check).

    Examples
    --------
    >>> display_path("/srv/geoml/.venv/bin/python", "/srv/geoml")
    '.venv/bin/python'
    >>> display_path(Path.home() / "geoml-data", "/srv/geoml")
    '~/geoml-data'
    >>> import tempfile
    >>> display_path(Path(tempfile.gettempdir()) / "geoml-data", "/srv/geoml")
    '$TMPDIR/geoml-data'
    """
    import tempfile

    # absolute, but links kept: a venv's bin/python links to the base interpreter, and resolving it would name
    # the base Python instead of the environment the reader should recognise
    path = Path(os.path.abspath(path))
    root = Path(project_root) if project_root is not None else find_project_root()
    # "$TMPDIR/", not "<tmp>/": an HTML table (notebook 00's) would take "<tmp>" for a tag and hide it
    for base, label in ((root, ""), (Path(tempfile.gettempdir()), "$TMPDIR/"), (Path.home(), "~/")):
        if base is not None and path.is_relative_to(Path(os.path.abspath(base))):
            relative = path.relative_to(Path(os.path.abspath(base)))
            return f"{label}{relative}" if str(relative) != "." else (label.rstrip("/") or ".")
    return path.name


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


SENTINEL2_REVISIT_DAYS: int = 5
"""Revisit of the two Sentinel-2 satellites at the equator (more often at high latitudes, where orbits overlap)."""

STORAGE_TIERS: tuple[tuple[float, str, str], ...] = (
    (10e9, "cloud", "read from the cloud on demand (stream COGs from the STAC API)"),
    (1e12, "local-disk", "copy the scenes to local disk first, then load"),
    (float("inf"), "object-storage", "write zarr to object storage and compute next to it"),
)
"""Upper volume in bytes, tier name, and what to do: the seed workflow's tiers (< 10 GB, < 1 TB, more)."""


@dataclass(frozen=True)
class ImageryEstimate:
    """An estimate of the imagery a project reads: bands x pixels x dates x bytes.

    Attributes
    ----------
    bands, pixels, dates, bytes_per_value : int
    volume_bytes : float
    tier : str
        ``cloud``, ``local-disk`` or ``object-storage``.
    advice : str
    """

    bands: int
    pixels: int
    dates: int
    bytes_per_value: int
    volume_bytes: float
    tier: str
    advice: str

    @property
    def volume_gb(self) -> float:
        """The volume in GB (10^9 bytes)."""
        return self.volume_bytes / 1e9

    def __str__(self) -> str:
        return (
            f"{self.bands} bands x {self.pixels:,} pixels x {self.dates} dates x {self.bytes_per_value} bytes "
            f"= {_human(self.volume_bytes)}; storage tier {self.tier!r}: {self.advice}"
        )


def _human(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def storage_tier(volume_bytes: float) -> tuple[str, str]:
    """The storage tier and its advice for a volume in bytes.

    Examples
    --------
    >>> storage_tier(5e9)[0], storage_tier(50e9)[0], storage_tier(5e12)[0]
    ('cloud', 'local-disk', 'object-storage')
    """
    for limit, tier, advice in STORAGE_TIERS:
        if volume_bytes < limit:
            return tier, advice
    raise AssertionError("unreachable: the last tier has no limit")


def estimate_imagery(
    area_m2: float,
    days: int,
    *,
    resolution_m: float = 10.0,
    bands: int = 12,
    bytes_per_value: int = 2,
    revisit_days: int = SENTINEL2_REVISIT_DAYS,
) -> ImageryEstimate:
    """Estimate the imagery volume of an AOI over a date range (all dates, before cloud filtering).

    Parameters
    ----------
    area_m2 : float
        AOI area in square metres.
    days : int
        Length of the date range in days.
    resolution_m : float
    bands : int
        11 reflective bands and SCL by default.
    bytes_per_value : int
        2 for Sentinel-2's uint16.
    revisit_days : int

    Examples
    --------
    >>> e = estimate_imagery(2400 * 2400, 366)
    >>> e.dates, e.pixels, e.tier
    (74, 57600, 'cloud')
    >>> round(e.volume_gb, 3)
    0.102
    """
    pixels = int(round(area_m2 / resolution_m**2))
    dates = int(days // revisit_days) + 1
    volume = float(bands) * pixels * dates * bytes_per_value
    tier, advice = storage_tier(volume)
    return ImageryEstimate(bands, pixels, dates, bytes_per_value, volume, tier, advice)


def check_imagery_size(estimate: ImageryEstimate, profile: str) -> ImageryEstimate:
    """Refuse imagery larger than ``profile`` allows.

    Raises
    ------
    AoiTooLargeError
        Giving the estimated volume, the tier and the fixes.

    Examples
    --------
    >>> check_imagery_size(estimate_imagery(1e12, 366), "ci")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.AoiTooLargeError: The AOI needs about ...
    """
    prof = get_profile(profile)
    if estimate.volume_gb > prof.max_imagery_gb:
        fits = [p.name for p in _PROFILES.values() if p.max_imagery_gb >= estimate.volume_gb]
        raise AoiTooLargeError(
            f"The AOI needs about {_human(estimate.volume_bytes)} of imagery ({estimate}); "
            f"profile {prof.name!r} allows "
            f"{prof.max_imagery_gb:g} GB. Use a smaller AOI (`[area] aoi`) or a shorter `[imagery] datetime`"
            + (f", or the {' or '.join(repr(f) for f in fits)} profile" if fits else "")
            + "."
        )
    return estimate
