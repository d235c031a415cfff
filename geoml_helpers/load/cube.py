"""The analysis-ready cube: monthly cloud-masked median composites as zarr, built on demand.

Every later notebook starts from :func:`ensure_analysis_ready_cube`. It opens
``<data>/outputs/<profile>/analysis_ready.zarr`` and, if that is missing or
was written by another version of this module, builds it first from the demo
Sentinel-2 STAC items:

1. load the 11 reflectance bands and SCL with stackstac onto the demo 10 m grid
   (raw DNs, scale/offset from the STAC metadata, see :mod:`geoml_helpers.load.loading`);
2. mask cloud, cirrus, shadow, saturated and nodata pixels with SCL;
3. take the median of the clear observations per calendar month;
4. compute NDVI, NDWI and NBR from the composites;
5. write zarr chunked for ML access (all months and bands of a 256 x 256
   pixel tile in one chunk), under a temporary name, then rename it into place.

The contract (other modules rely on it)
---------------------------------------
* variable ``reflectance``: float32 ``(time, band, y, x)``, NaN where a month
  has no clear observation; ``band`` = Earth Search keys in
  :data:`geoml_helpers.load.loading.REFLECTANCE_BANDS` order;
* variables ``ndvi``, ``ndwi``, ``nbr``: float32 ``(time, y, x)``;
* ``x``/``y`` are pixel centres of the demo 10 m grid (same transform and
  shape as ``demo.truth_path``), CRS EPSG:32734 readable with ``.rio.crs``.

Examples
--------
Needs the built demo data (skipped under doctest):

>>> cube = ensure_analysis_ready_cube("ci")  # doctest: +SKIP
>>> cube["reflectance"].dims  # doctest: +SKIP
('time', 'band', 'y', 'x')
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from geoml_helpers.core.atomic import atomic_dir
from geoml_helpers.core.profiles import display_path, outputs_dir
from geoml_helpers.load.loading import REFLECTANCE_BANDS, Grid, compute_indices, load_reflectance, monthly_median

CUBE_NAME = "analysis_ready.zarr"
COMPOSITE_NAME = "composite_median.tif"
CUBE_FORMAT_VERSION = 1
"""Bumped whenever the cube's content or layout changes; older cubes are rebuilt."""
SPATIAL_CHUNK = 256


def cube_path(profile: str = "ci", data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the analysis-ready zarr of ``profile`` lives (nothing is created but its folder).

    Examples
    --------
    >>> cube_path("ci", "/tmp/geoml-example").as_posix()
    '/tmp/geoml-example/outputs/ci/analysis_ready.zarr'
    """
    return outputs_dir(profile, data_dir=data_dir, create=False) / CUBE_NAME


def composite_path(profile: str = "ci", data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the annual median composite COG of ``profile`` lives.

    Examples
    --------
    >>> composite_path("ci", "/tmp/geoml-example").name
    'composite_median.tif'
    """
    return outputs_dir(profile, data_dir=data_dir, create=False) / COMPOSITE_NAME


def build_cube(items, grid: Grid, *, chunksize: int = 1024, loader: str = "stackstac"):
    """Compute the (lazy) analysis-ready Dataset from Sentinel-2 items on ``grid``.

    Parameters
    ----------
    items : iterable of pystac.Item or dict
    grid : Grid
    chunksize : int
        Spatial chunk size used while loading.
    loader : {"stackstac", "odc"}

    Returns
    -------
    xarray.Dataset
        Lazy; ``reflectance`` plus ``ndvi``, ``ndwi``, ``nbr``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> ds = build_cube(demo.s2_items(), Grid.of_demo(demo))  # doctest: +SKIP
    """
    import xarray as xr

    items = list(items)
    refl = load_reflectance(items, grid, REFLECTANCE_BANDS, loader=loader, chunksize=chunksize)
    refl = refl.drop_vars([c for c in refl.coords if c not in ("time", "band", "y", "x", "spatial_ref")])
    composite = monthly_median(refl).astype(np.float32)
    composite.name = "reflectance"
    composite.attrs = {"long_name": "monthly median of cloud-masked surface reflectance", "units": "1"}
    n_obs = refl.isel(band=3).notnull().resample(time="MS").sum().astype(np.int16)
    ds = xr.Dataset({"reflectance": composite})
    ds = ds.merge(compute_indices(composite))
    ds["clear_count"] = n_obs.reindex(time=ds["time"].values).fillna(0).astype(np.int16)
    ds["clear_count"].attrs = {"long_name": "number of clear (unmasked) acquisitions in the month"}
    ds["band"] = ds["band"].astype(str)
    ds.attrs = {
        "title": "geoml analysis-ready Sentinel-2 cube (monthly median composites)",
        "geoml_crs": grid.crs,
        "transform": list(grid.transform)[:6],
        "source_items": len(items),
        "geoml_cube_format": CUBE_FORMAT_VERSION,
        "cloud_mask": "SCL classes 0,1,3,8,9,10 removed",
        "scaling": "per item and band from STAC metadata (geoml_helpers.discover.stac_metadata.reflectance_scaling)",
    }
    return ds.rio.write_crs(grid.crs)


def _encoding(ds) -> dict:
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    cy, cx = min(SPATIAL_CHUNK, ny), min(SPATIAL_CHUNK, nx)
    enc = {}
    for name, var in ds.data_vars.items():
        if var.ndim == 0:
            continue
        chunks = tuple({"y": cy, "x": cx}.get(d, var.sizes[d]) for d in var.dims)
        enc[name] = {"chunks": chunks}
    return enc


def write_zarr_atomic(ds, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` to zarr under a temporary sibling name, then rename it to ``path``.

    Readers never see a half-written store. If another process finished the
    same store first, its copy is kept and this one discarded.

    Examples
    --------
    Needs a cube built from the demo data, and writes files (skipped under doctest):

    >>> write_zarr_atomic(ds, "/tmp/example.zarr")  # doctest: +SKIP
    """
    path = Path(path)
    with atomic_dir(path, keep_existing_on_race=True) as staging:
        full = {d: -1 for d in ds.dims if d not in ("y", "x")}
        ds = ds.chunk({**full, "y": min(SPATIAL_CHUNK, ds.sizes["y"]), "x": min(SPATIAL_CHUNK, ds.sizes["x"])})
        for var in ds.variables.values():
            var.encoding.pop("chunks", None)
            var.encoding.pop("preferred_chunks", None)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            ds.to_zarr(staging, mode="w", consolidated=True, encoding=_encoding(ds), zarr_format=2)
    return path


def _open(path: Path, demo_fingerprint: str | None = None):
    import rioxarray  # noqa: F401
    import xarray as xr

    ds = xr.open_zarr(path, consolidated=True)
    stale_demo = demo_fingerprint is not None and ds.attrs.get("geoml_demo_fingerprint") != demo_fingerprint
    if ds.attrs.get("geoml_cube_format") != CUBE_FORMAT_VERSION or stale_demo:
        ds.close()
        return None
    return ds.rio.write_crs(ds.attrs.get("geoml_crs", "EPSG:32734"))


def ensure_analysis_ready_cube(
    profile: str = "ci",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    items=None,
):
    """Open the analysis-ready cube of ``profile``, building it first if needed.

    Parameters
    ----------
    profile : str
        ``ci``, ``workshop`` or ``full``.
    data_dir : path-like, optional
        Data root (default: ``GEOML_DATA_DIR`` or ``<repo>/data``).
    rebuild : bool
        Build again even if a current cube exists.
    progress : bool
        Show a dask progress bar while building.
    items : iterable of pystac.Item or dict, optional
        Items to build from (default: every demo Sentinel-2 item of ``profile``).

    Returns
    -------
    xarray.Dataset
        Lazy (dask-backed) ``reflectance`` ``(time, band, y, x)`` float32 and
        ``ndvi``/``ndwi``/``nbr`` ``(time, y, x)``, CRS EPSG:32734 on the demo 10 m grid.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> cube = ensure_analysis_ready_cube("ci")  # doctest: +SKIP
    >>> cube.rio.crs.to_epsg()  # doctest: +SKIP
    32734
    """
    from geoml_helpers.demo.build import ensure_demo_data

    path = cube_path(profile, data_dir)
    demo = ensure_demo_data(profile, data_dir, progress=progress)
    # A cube built from an earlier demo build (another seed or generator version) is rebuilt.
    fingerprint = demo.fingerprint if items is None else None
    if path.exists() and not rebuild:
        try:
            ds = _open(path, fingerprint)
        except (OSError, ValueError, KeyError):
            ds = None
        if ds is not None:
            return ds
    started = time.perf_counter()
    ds = build_cube(items if items is not None else demo.s2_items(), Grid.of_demo(demo))
    if fingerprint is not None:
        ds.attrs["geoml_demo_fingerprint"] = fingerprint
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            write_zarr_atomic(ds, path)
    else:
        write_zarr_atomic(ds, path)
    if progress:
        seconds = time.perf_counter() - started
        print(f"Built the analysis-ready cube of profile {profile!r} in {seconds:.1f} s at {display_path(path)}")
    return _open(path, fingerprint)


def write_composite_cog(cube, path: str | os.PathLike[str], *, statistic: str = "median") -> Path:
    """Write the all-months median (or mean) of ``cube["reflectance"]`` as a float32 COG.

    Band descriptions are the band names; nodata is NaN.

    Examples
    --------
    Needs a cube built from the demo data, and writes files (skipped under doctest):

    >>> write_composite_cog(cube, "/tmp/composite.tif")  # doctest: +SKIP
    """
    import warnings

    from geoml_helpers.load.cog import write_cog

    refl = cube["reflectance"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        reduced = getattr(refl.chunk({"time": -1}), statistic)("time", skipna=True).compute()
    return write_cog(
        path,
        reduced.values.astype(np.float32),
        transform=refl.rio.transform(),
        crs=str(cube.rio.crs),
        nodata=float("nan"),
        band_names=[str(b) for b in refl["band"].values],
        tags={"statistic": f"{statistic} of monthly cloud-masked composites", "units": "reflectance"},
    )


def ensure_composite_cog(
    profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, *, rebuild: bool = False
) -> Path:
    """The annual median composite COG of ``profile``, written from the cube if missing.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> ensure_composite_cog("ci").suffix  # doctest: +SKIP
    '.tif'
    """
    path = composite_path(profile, data_dir)
    if path.exists() and not rebuild:
        return path
    return write_composite_cog(ensure_analysis_ready_cube(profile, data_dir), path)


# --------------------------------------------------------------------------------------
# The cube of a project: its STAC source, its AOI and dates, its grid
# --------------------------------------------------------------------------------------

PROJECT_KEY_ATTR = "geoml_project_key"


def project_outputs_dir(
    project, profile: str = "ci", *parts: str, data_dir: str | os.PathLike[str] | None = None, create: bool = True
) -> Path:
    """Folder for what the notebooks derive for one project.

    The demo project of a profile keeps the profile's folder
    (``<data>/outputs/<profile>/...``); any other project gets its own,
    ``<data>/outputs/<profile>/<project name>/...``, so two projects never
    share a cube or a model.

    Parameters
    ----------
    project : Project, path or None
        ``None`` is the demo project of ``profile`` (see :func:`~geoml_helpers.core.project.resolve_project`).

    Examples
    --------
    >>> project_outputs_dir(None, "ci", "models", data_dir="/tmp/geoml-example", create=False).as_posix()
    '/tmp/geoml-example/outputs/ci/models'
    """
    from geoml_helpers.core.project import resolve_project

    project = resolve_project(project, profile)
    if project.is_demo:
        return outputs_dir(profile, *parts, data_dir=data_dir, create=create)
    return outputs_dir(profile, project.name, *parts, data_dir=data_dir, create=create)


def _course_assets(item: dict, bands) -> dict:
    """The item with its assets also under the course's band names (``red``, ``scl``...).

    Links to the API are dropped: a local API is stopped after the search, and
    pystac would try to resolve the item's root link when loading.
    """
    assets = dict(item.get("assets", {}))
    for course, key in dict(bands).items():
        if key in assets and course not in assets:
            assets[course] = assets[key]
    links = [link for link in item.get("links", []) if link.get("rel") not in ("root", "parent", "self", "collection")]
    return {**item, "assets": assets, "links": links}


def search_project_items(
    project,
    profile: str = "ci",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    bbox=None,
    check: bool = True,
) -> list[dict]:
    """The project's Sentinel-2 items: its STAC source searched for its AOI, dates and cloud cover.

    Parameters
    ----------
    project : Project, path or None
    bbox : sequence of float, optional
        Lon/lat box to search (default: the AOI of the project's prepared labels).
    check : bool
        Check the items against what the course assumes (asset keys, ``raster:bands``
        scaling, ``proj:code``/``proj:epsg``, Earth Search's BOA flag) and raise
        :class:`~geoml_helpers.core.errors.SourceCheckError` naming the field and the fix.

    Returns
    -------
    list of dict
        Item dicts, their assets also under the course's band names.

    Raises
    ------
    EmptySearchError
        When no item matches, naming the filter that emptied the search.

    Examples
    --------
    Needs a project's labels and the demo data (skipped under doctest):

    >>> items = search_project_items("my_project.toml", "ci")  # doctest: +SKIP
    """
    from geoml_helpers.core.project import resolve_project
    from geoml_helpers.discover.stac_search import open_stac_source, search_items

    project = resolve_project(project, profile)
    if bbox is None:
        from geoml_helpers.discover.labels import prepare_labels

        bbox = prepare_labels(project, data_dir).aoi_lonlat
    with open_stac_source(project.stac, profile, data_dir, collection=project.collection) as source:
        result = search_items(
            source, bbox=list(bbox), datetime=project.datetime, max_cloud_cover=project.max_cloud_cover
        )
        items = [item.to_dict() for item in result.items]
    if check:
        try:
            from geoml_helpers.discover.source_checks import SourceCheck, check_items
        except ImportError:  # the source checks are optional
            pass
        else:
            SourceCheck(
                project.stac, project.collection, len(items), check_items(items, project.bands)
            ).raise_for_drift()
    return [_course_assets(item, project.bands) for item in items]


def project_cube_path(project, profile: str = "ci", data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the analysis-ready zarr of a project lives (the demo project: :func:`cube_path`).

    Examples
    --------
    >>> project_cube_path(None, "ci", "/tmp/geoml-example") == cube_path("ci", "/tmp/geoml-example")
    True
    """
    return project_outputs_dir(project, profile, data_dir=data_dir, create=False) / CUBE_NAME


def ensure_project_cube(
    project,
    profile: str = "ci",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    labels=None,
):
    """Open the analysis-ready cube of a project, building it first if needed.

    The project's STAC source is searched for its AOI, dates and cloud cover
    (:func:`search_project_items`), and the items are loaded onto the
    project's grid (its CRS, resolution and snapped bounds from
    :func:`~geoml_helpers.discover.labels.prepare_labels`). Items from several
    MGRS tiles or two UTM zones are each reprojected onto that one grid and
    mosaicked by the monthly median. Same contract as
    :func:`ensure_analysis_ready_cube`; for the demo project it *is* that cube.
    A cube built for other project settings (another :meth:`Project.key`) is rebuilt.

    Parameters
    ----------
    project : Project, path or None
        ``None``: the demo project of ``profile``.
    labels : ProjectLabels, optional
        The project's prepared labels, if already at hand (saves reading them again).

    Examples
    --------
    Needs a project's labels and the demo data (skipped under doctest):

    >>> cube = ensure_project_cube("my_project.toml", "ci")  # doctest: +SKIP
    >>> cube.rio.crs  # the project's CRS  # doctest: +SKIP
    """
    from geoml_helpers.core.project import resolve_project

    project = resolve_project(project, profile)
    if project.is_demo:
        return ensure_analysis_ready_cube(profile, data_dir, rebuild=rebuild, progress=progress)
    path = project_cube_path(project, profile, data_dir)
    key = project.key()
    if path.exists() and not rebuild:
        try:
            ds = _open(path)
        except (OSError, ValueError, KeyError):
            ds = None
        if ds is not None and ds.attrs.get(PROJECT_KEY_ATTR) == key and (labels is None or _on_grid(ds, labels)):
            return ds
    if labels is None:
        from geoml_helpers.discover.labels import prepare_labels

        labels = prepare_labels(project, data_dir)
    items = search_project_items(project, profile, data_dir, bbox=labels.aoi_lonlat)
    epsg = int(str(labels.crs).split(":")[1])
    started = time.perf_counter()
    ds = build_cube(items, Grid(epsg, tuple(labels.bounds), float(labels.resolution)))
    ds.attrs.update({PROJECT_KEY_ATTR: key, "geoml_project": project.name})
    outputs_dir(profile, data_dir=data_dir)  # the data root must be writable
    path.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            write_zarr_atomic(ds, path)
        seconds = time.perf_counter() - started
        print(f"Built the cube of project {project.name!r} in {seconds:.1f} s at {display_path(path)}")
    else:
        write_zarr_atomic(ds, path)
    return _open(path)


def _on_grid(ds, labels) -> bool:
    """Whether a cube lies on the grid of the prepared labels (edited labels can move a derived AOI)."""
    xmin, _ymin, _xmax, ymax = labels.bounds
    transform = ds.rio.transform()
    return (
        str(ds.rio.crs) == str(labels.crs)
        and (ds.sizes["y"], ds.sizes["x"]) == tuple(labels.shape)
        and np.allclose((transform.c, transform.f, transform.a), (xmin, ymax, labels.resolution))
    )


def ensure_project_composite(
    project, profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, *, rebuild: bool = False
) -> Path:
    """The annual median composite COG of a project, written from its cube if missing.

    Examples
    --------
    Needs a project's labels and the demo data (skipped under doctest):

    >>> ensure_project_composite(None, "ci").name  # doctest: +SKIP
    'composite_median.tif'
    """
    from geoml_helpers.core.project import resolve_project

    project = resolve_project(project, profile)
    if project.is_demo:
        return ensure_composite_cog(profile, data_dir, rebuild=rebuild)
    path = project_outputs_dir(project, profile, data_dir=data_dir, create=False) / COMPOSITE_NAME
    cube = ensure_project_cube(project, profile, data_dir)
    if (
        path.exists()
        and not rebuild
        and path.stat().st_mtime >= project_cube_path(project, profile, data_dir).stat().st_mtime
    ):
        return path
    return write_composite_cog(cube, path)
