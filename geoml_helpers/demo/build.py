"""Build a whole demo profile atomically, and open or build it on demand.

A profile is built in a temporary sibling folder and renamed into place only
after its completion marker (``_COMPLETE.json``, with a SHA-256 of every file)
has been written. A folder without a valid marker is never used.

Examples
--------
>>> import tempfile
>>> # needs the built demo data (skipped under doctest)
>>> demo = ensure_demo_data("ci", root=tempfile.mkdtemp())  # doctest: +SKIP
>>> demo.s2_items()[0]["collection"]  # doctest: +SKIP
'sentinel-2-l2a'
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from geoml_helpers import __version__
from geoml_helpers.core.atomic import atomic_dir, write_atomic
from geoml_helpers.core.errors import IncompleteDataError
from geoml_helpers.core.profiles import DemoProfile, data_root, display_path, ensure_writable, get_profile
from geoml_helpers.demo.classes import CLASS_NAMES, class_colormap
from geoml_helpers.demo.hyperspectral import ACQUISITION_DATE, RESOLUTION_M, simulate_hyperspectral, wavelengths_nm
from geoml_helpers.demo.labels import make_blocks, make_label_polygons
from geoml_helpers.demo.landscape import make_landscape
from geoml_helpers.demo.sentinel2 import EPSG, S2_BANDS, acquisition_schedule, scl_percentages, simulate_acquisition
from geoml_helpers.demo.stac_documents import (
    HYPERSPECTRAL_COLLECTION_ID,
    S2_COLLECTION_ID,
    hyperspectral_documents,
    s2_collection_document,
    s2_item_document,
)
from geoml_helpers.load.cog import write_cog

DEFAULT_SEED: int = 2024
FORMAT_VERSION: int = 4
MARKER_NAME: str = "_COMPLETE.json"
AOI_CENTRE_UTM: tuple[float, float] = (312000.0, 6238000.0)
"""Centre of every profile's area, near Jonkershoek, Stellenbosch (EPSG:32734)."""


def grid_transform(profile: DemoProfile) -> Affine:
    """The 10 m grid of a profile, aligned with Sentinel-2's 60 m grid.

    Examples
    --------
    >>> grid_transform(get_profile("ci"))
    Affine(10.0, 0.0, 310800.0,
           0.0, -10.0, 6239200.0)
    """
    half = profile.size_m / 2
    return Affine(10.0, 0.0, AOI_CENTRE_UTM[0] - half, 0.0, -10.0, AOI_CENTRE_UTM[1] + half)


@dataclass(frozen=True)
class DemoData:
    """Paths and readers of one built demo profile.

    Attributes
    ----------
    root : pathlib.Path
        The profile folder, e.g. ``data/ci``.
    profile : DemoProfile
    seed : int
    """

    root: Path
    profile: DemoProfile
    seed: int

    @property
    def crs(self) -> str:
        """The CRS of every raster and vector file, ``EPSG:32734`` (UTM 34S)."""
        return f"EPSG:{EPSG}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the area in the UTM CRS."""
        t = grid_transform(self.profile)
        return (t.c, t.f - self.profile.size_m, t.c + self.profile.size_m, t.f)

    @property
    def transform(self) -> Affine:
        """The 10 m grid's affine transform."""
        return grid_transform(self.profile)

    labels_path = property(lambda self: self.root / "labels" / "labels.parquet", doc="GeoParquet label polygons.")
    labels_fgb_path = property(lambda self: self.root / "labels" / "labels.fgb", doc="FlatGeobuf copy of the labels.")
    blocks_path = property(
        lambda self: self.root / "labels" / "blocks.parquet", doc="GeoParquet spatial blocks with their split."
    )
    truth_path = property(
        lambda self: self.root / "truth" / "landcover.tif",
        doc="Wall-to-wall true land cover (a COG); real projects never have this.",
    )
    hyperspectral_cog_path = property(
        lambda self: self.root / "hyperspectral" / "enmap_like_l2a.tif", doc="EnMAP-like cube as a COG."
    )
    hyperspectral_zarr_path = property(
        lambda self: self.root / "hyperspectral" / "enmap_like_l2a.zarr", doc="EnMAP-like cube as zarr."
    )

    @property
    def fingerprint(self) -> str:
        """A short digest of the completion marker: changes whenever any file of the build changes."""
        return hashlib.sha256((self.root / MARKER_NAME).read_bytes()).hexdigest()[:16]

    def collection_path(self, collection_id: str = S2_COLLECTION_ID) -> Path:
        """The Collection JSON of ``collection_id``."""
        return self.root / "stac" / collection_id / "collection.json"

    def items_path(self, collection_id: str = S2_COLLECTION_ID) -> Path:
        """The newline-delimited Items of ``collection_id`` (hrefs relative to :attr:`root`)."""
        return self.root / "stac" / collection_id / "items.ndjson"

    def collection_ids(self) -> list[str]:
        """Ids of the collections in this profile."""
        return [S2_COLLECTION_ID, HYPERSPECTRAL_COLLECTION_ID]

    def items(self, collection_id: str = S2_COLLECTION_ID, absolute: bool = True) -> list[dict]:
        """Item dictionaries; with ``absolute`` their hrefs become ``file://`` URLs."""
        items = [json.loads(line) for line in self.items_path(collection_id).read_text().splitlines() if line.strip()]
        if absolute:
            for item in items:
                for asset in item["assets"].values():
                    href = asset["href"]
                    if "://" not in href:
                        asset["href"] = (self.root / href).resolve().as_uri()
        return items

    def s2_items(self, absolute: bool = True) -> list[dict]:
        """The Sentinel-2 Items (see :meth:`items`)."""
        return self.items(S2_COLLECTION_ID, absolute=absolute)

    def read_labels(self):
        """The label polygons as a GeoDataFrame."""
        import geopandas as gpd

        return gpd.read_parquet(self.labels_path)

    def read_blocks(self):
        """The spatial blocks with their split as a GeoDataFrame."""
        import geopandas as gpd

        return gpd.read_parquet(self.blocks_path)


def _marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None


def open_demo_data(
    profile: str = "ci", root: str | os.PathLike[str] | None = None, seed: int = DEFAULT_SEED
) -> DemoData:
    """Open an already built profile.

    Raises
    ------
    IncompleteDataError
        If the folder is missing, has no completion marker, or was built with
        another seed or format; the message gives the build command.

    Examples
    --------
    >>> open_demo_data("ci", root="/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.IncompleteDataError: ...
    """
    prof = get_profile(profile)
    folder = data_root(root) / prof.name
    marker = _marker(folder)
    fix = f"Build it with `python -m geoml_helpers.demo build --profile {prof.name}` (or call ensure_demo_data)."
    if marker is None:
        state = (
            "is missing"
            if not folder.exists()
            else "has no completion marker (a build was interrupted or is still running)"
        )
        raise IncompleteDataError(f"Demo data for profile {prof.name!r} at {folder} {state}. {fix}")
    if marker.get("format_version") != FORMAT_VERSION or marker.get("seed") != seed:
        raise IncompleteDataError(
            f"Demo data at {folder} was built with seed {marker.get('seed')} / format {marker.get('format_version')}, "
            f"not seed {seed} / format {FORMAT_VERSION}. Rebuild with `python -m geoml_helpers.demo build "
            f"--profile {prof.name} --force`."
        )
    return DemoData(folder, prof, seed)


def ensure_demo_data(
    profile: str = "ci", root: str | os.PathLike[str] | None = None, seed: int = DEFAULT_SEED, progress: bool = True
) -> DemoData:
    """Open a profile's demo data, building it first if it is missing or incomplete.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> demo = ensure_demo_data("ci")  # doctest: +SKIP
    """
    try:
        return open_demo_data(profile, root, seed)
    except IncompleteDataError:
        return build_demo_data(profile, root, seed, force=True, progress=progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` except the marker, by relative path.

    Examples
    --------
    >>> import tempfile
    >>> file_hashes(Path(tempfile.mkdtemp()))
    {}
    """
    return {
        str(path.relative_to(folder)): _sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MARKER_NAME
    }


def build_demo_data(
    profile: str = "ci",
    root: str | os.PathLike[str] | None = None,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    progress: bool = True,
) -> DemoData:
    """Build one profile of the demo world.

    Parameters
    ----------
    profile : str
        ``ci``, ``workshop`` or ``full``.
    root : path-like, optional
        Data folder; see :func:`geoml_helpers.core.profiles.data_root`.
    seed : int
        Seed of the whole world; the same seed gives byte-identical files.
    force : bool
        Rebuild even if a complete build exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DemoData
    """
    prof = get_profile(profile)
    base = ensure_writable(data_root(root))
    final = base / prof.name
    if not force:
        try:
            return open_demo_data(prof.name, base, seed)
        except IncompleteDataError:
            pass
    started = time.perf_counter()
    # The completion marker is the last file written into the staging folder, so a folder with a marker is whole.
    with atomic_dir(final) as staging:
        _build_into(staging, prof, seed, progress)
        marker = {
            "profile": prof.name,
            "seed": seed,
            "format_version": FORMAT_VERSION,
            "geoml_version": __version__,
            "files": file_hashes(staging),
        }
        (staging / MARKER_NAME).write_text(json.dumps(marker, indent=1, sort_keys=True))
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    _record_build_time(base, prof.name, elapsed, size)
    if progress:
        print(f"Built demo profile {prof.name!r} in {elapsed:.1f} s: {size / 1e6:.1f} MB at {display_path(final)}")
    return DemoData(final, prof, seed)


def _record_build_time(base: Path, profile: str, seconds: float, size_bytes: int) -> None:
    log = base / "build-times.json"
    try:
        times = json.loads(log.read_text())
    except (OSError, ValueError):
        times = {}
    times[profile] = {"seconds": round(seconds, 2), "bytes": size_bytes}
    write_atomic(log, json.dumps(times, indent=1, sort_keys=True))


def _build_into(folder: Path, prof: DemoProfile, seed: int, progress: bool) -> None:
    """Write every file of the demo world of ``prof`` into ``folder`` (a staging folder renamed into place).

    Notes
    -----
    Long because: it is the build recipe in order (land cover, blocks, labels, acquisitions, STAC documents,
    hyperspectral scene), each step using the one before; the steps themselves live in their own modules.
    """
    from tqdm.auto import tqdm

    transform = grid_transform(prof)
    crs = f"EPSG:{EPSG}"
    bounds = (transform.c, transform.f - prof.size_m, transform.c + prof.size_m, transform.f)
    landscape = make_landscape(prof.size_px, seed)

    write_cog(
        folder / "truth" / "landcover.tif",
        landscape.classes,
        transform=transform,
        crs=crs,
        nodata=0,
        colormap=class_colormap(),
        overview_resampling="nearest",
        band_names=["landcover"],
        tags={"classes": json.dumps(CLASS_NAMES)},
    )

    blocks = make_blocks(prof.size_px, prof.block_px, transform, seed, crs=crs, classes=landscape.classes)
    labels = make_label_polygons(landscape.classes, blocks, prof.block_px, prof.polygons_per_block, transform, seed)
    (folder / "labels").mkdir(parents=True)
    blocks.to_parquet(folder / "labels" / "blocks.parquet", index=False)
    labels.to_parquet(folder / "labels" / "labels.parquet", index=False)
    labels.to_file(folder / "labels" / "labels.fgb", driver="FlatGeobuf")

    schedule = acquisition_schedule(prof.n_dates, seed)
    items = []
    for acq in tqdm(schedule, desc=f"Sentinel-2 acquisitions ({prof.name})", disable=not progress):
        scene = simulate_acquisition(landscape, acq, seed)
        asset_dir = f"sentinel-2-l2a/{acq.item_id}"
        for band in S2_BANDS:
            factor = band.resolution_m // 10
            write_cog(
                folder / asset_dir / f"{band.key}.tif",
                scene.dn[band.key],
                transform=transform @ Affine.scale(factor),
                crs=crs,
                nodata=0,
                band_names=[band.key],
                scales=[0.0001],
                offsets=[-0.1],
            )
        write_cog(
            folder / asset_dir / "scl.tif",
            scene.scl,
            transform=transform @ Affine.scale(2),
            crs=crs,
            nodata=0,
            overview_resampling="nearest",
            band_names=["scl"],
        )
        write_cog(
            folder / asset_dir / "visual.tif",
            scene.visual,
            transform=transform,
            crs=crs,
            nodata=0,
            photometric="RGB",
            band_names=["red", "green", "blue"],
        )
        items.append(s2_item_document(acq, bounds, prof.size_px, scl_percentages(scene.scl), asset_dir))

    stac_dir = folder / "stac" / S2_COLLECTION_ID
    stac_dir.mkdir(parents=True)
    start, end = items[0]["properties"]["datetime"], items[-1]["properties"]["datetime"]
    collection = s2_collection_document(items[0]["bbox"], start, end)
    (stac_dir / "collection.json").write_text(json.dumps(collection, indent=1))
    (stac_dir / "items.ndjson").write_text("".join(json.dumps(item) + "\n" for item in items))

    _build_hyperspectral(folder, landscape, prof, seed, transform, crs, bounds)


def _build_hyperspectral(
    folder: Path, landscape, prof: DemoProfile, seed: int, transform: Affine, crs: str, bounds
) -> None:
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    cube = simulate_hyperspectral(landscape, prof.hyperspectral_bands, seed)
    wl = wavelengths_nm(prof.hyperspectral_bands)
    hs_transform = transform @ Affine.scale(RESOLUTION_M // 10)
    dn = np.round(cube / 0.0001).astype(np.int16)
    write_cog(
        folder / "hyperspectral" / "enmap_like_l2a.tif",
        dn,
        transform=hs_transform,
        crs=crs,
        nodata=-9999,
        band_names=[f"{w:.1f} nm" for w in wl],
        scales=[0.0001] * len(wl),
        blocksize=128,
    )

    n = cube.shape[1]
    x = hs_transform.c + (np.arange(n) + 0.5) * hs_transform.a
    y = hs_transform.f + (np.arange(n) + 0.5) * hs_transform.e
    data = xr.Dataset(
        {"reflectance": (("band", "y", "x"), cube, {"long_name": "surface reflectance", "units": "1"})},
        coords={"band": np.arange(1, len(wl) + 1), "wavelength": ("band", wl, {"units": "nm"}), "y": y, "x": x},
        attrs={"title": "EnMAP-like L2A (geoml synthetic demo)", "acquisition_date": ACQUISITION_DATE.isoformat()},
    )
    data = data.rio.write_crs(crs)
    chunk = min(64, n)
    data.to_zarr(
        folder / "hyperspectral" / "enmap_like_l2a.zarr",
        mode="w",
        consolidated=True,
        zarr_format=2,
        encoding={"reflectance": {"chunks": (len(wl), chunk, chunk)}},
    )

    collection, item = hyperspectral_documents(bounds, wl, n, f"{ACQUISITION_DATE:%Y-%m-%d}T08:50:00Z")
    hs_dir = folder / "stac" / HYPERSPECTRAL_COLLECTION_ID
    hs_dir.mkdir(parents=True)
    (hs_dir / "collection.json").write_text(json.dumps(collection, indent=1))
    (hs_dir / "items.ndjson").write_text(json.dumps(item) + "\n")
