"""``geoml init``: inspect a labels file and write a commented project file.

The file records what was found, so that a reader sees in one place what the
course will work with: the classes with their polygon counts and areas, the
CRS and the AOI, the UTM zone (and whether the AOI crosses a zone boundary),
the geometries that were repaired or dropped, whether the proposed split puts
every class in train, val and test, and how much imagery the date range means,
with the storage tier that volume calls for.

Examples
--------
Needs a project's labels and the demo data (skipped under doctest):

>>> result = init_project("fields.geojson", "crop", out="fields.toml")  # doctest: +SKIP
>>> print(result.summary)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from geoml_helpers.core.atomic import write_atomic
from geoml_helpers.core.errors import MissingDependencyError, ProjectFileError, StacApiUnreachableError
from geoml_helpers.core.profiles import ImageryEstimate, check_imagery_size, estimate_imagery
from geoml_helpers.core.project import FrozenMapping, Project, default_bands, load_project, project_to_toml, source_spec
from geoml_helpers.discover.labels import ProjectLabels, inner_lonlat_box, prepare_labels

__all__ = ["InitResult", "init_project", "propose_block_sizes"]


@dataclass(frozen=True)
class InitResult:
    """What ``geoml init`` found and wrote.

    Attributes
    ----------
    project : Project
        The project as written (read back from ``path``).
    prepared : ProjectLabels
    estimate : ImageryEstimate
    path : pathlib.Path
        The project file.
    summary : str
        The findings, one per line (also the file's header comment).
    """

    project: Project
    prepared: ProjectLabels
    estimate: ImageryEstimate
    path: Path
    summary: str


def propose_block_sizes(aoi_side_m: float) -> list[float]:
    """Block sizes to try, largest first: about a fifth, a seventh and a tenth of the AOI's side, rounded.

    Larger blocks keep train and test further apart; smaller ones make it easier to
    put every class in every split.

    Examples
    --------
    >>> propose_block_sizes(2400)
    [500.0, 350.0, 250.0]
    >>> propose_block_sizes(60000)
    [10000.0, 8500.0, 6000.0]
    """
    sizes = []
    for parts in (5, 7, 10):
        raw = aoi_side_m / parts
        step = 50 if raw < 1000 else 500
        sizes.append(float(max(100, min(10000, round(raw / step) * step))))
    return list(dict.fromkeys(sizes))


def init_project(
    labels: str | os.PathLike[str],
    class_column: str,
    *,
    out: str | os.PathLike[str],
    stac: str = "earth-search",
    datetime: str = "2024-01-01/2024-12-31",
    name: str | None = None,
    collection: str | None = None,
    split_column: str | None = None,
    block_size_m: float | None = None,
    aoi: tuple[float, float, float, float] | None = None,
    margin_m: float = 200.0,
    resolution_m: float = 10.0,
    max_cloud_cover: float = 30.0,
    profile: str = "ci",
    seed: int = 0,
    overwrite: bool = False,
    check_imagery: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
) -> InitResult:
    """Inspect ``labels`` and write a commented project file to ``out``.

    Parameters
    ----------
    labels : path
        Any vector file geopandas reads, in any CRS.
    class_column : str
    out : path
        The project TOML to write (refused if it exists, unless ``overwrite``).
    stac : str
        A source name or a URL (see :data:`~geoml_helpers.core.project.STAC_SOURCES`).
    datetime : str
        ``START/END``.
    profile : str
        The compute budget the imagery estimate is checked against.
    block_size_m : float, optional
        None: the largest of :func:`propose_block_sizes` that puts every class in every split.
    check_imagery : bool
        Search the source for the AOI and dates: no item raises :class:`EmptySearchError` naming the
        filter that emptied the search; labels off the items' footprints are counted and dropped.
        An unreachable source is noted, not fatal.
    data_dir : path, optional
        Data folder for the ``local`` demo source.

    Returns
    -------
    InitResult

    Raises
    ------
    LabelError
        No CRS, missing class column, too few labels in a class.
    AoiTooLargeError
        The imagery estimate exceeds what ``profile`` allows.
    ProjectFileError, UnknownSourceError
        A bad setting (unknown source name, malformed date range).
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and not overwrite:
        raise ProjectFileError(f"{out} exists; choose another --out or pass --force to overwrite it.")
    spec = source_spec(stac)
    collection = collection or spec.default_collection
    labels_path = Path(labels).expanduser().resolve()
    project = Project(
        name=name or labels_path.stem.replace("_", "-"),
        labels=labels_path,
        class_column=class_column,
        split_column=split_column,
        aoi=tuple(aoi) if aoi else None,  # type: ignore[arg-type]
        margin_m=float(margin_m),
        resolution_m=float(resolution_m),
        datetime=datetime,
        max_cloud_cover=float(max_cloud_cover),
        stac=stac,
        collection=collection,
        bands=FrozenMapping(default_bands(stac, collection)),
        path=None,  # set when written: errors before that must not point at a file that does not exist
    )
    project.date_range  # a malformed datetime fails here, before the labels are read
    # The size check comes first: a continent-sized AOI is refused before any blocks or requests.
    check_imagery_size(_rough_estimate(project), profile)
    first = prepare_labels(replace(project, block_size_m=2000.0), seed=seed)
    footprint, imagery_note = None, "imagery not checked (--no-imagery-check)"
    if check_imagery:
        footprint, imagery_note = _imagery_footprint(project, first.aoi_lonlat, profile, data_dir)
    prepared, tried = _prepare_with_blocks(project, block_size_m, seed, footprint)
    if footprint is not None and project.aoi is None and prepared.report.dropped_outside:
        # Labels lie off the imagery: record the AOI cut to the imagery, so runs need no footprint to find it.
        project = replace(project, aoi=inner_lonlat_box(prepared.bounds, prepared.crs))
    project = replace(project, block_size_m=tried[-1], crs=prepared.crs, classes=prepared.classes)
    estimate = check_imagery_size(_estimate(project, prepared.bounds), profile)
    summary = _summary(project, prepared, estimate, tried, profile, imagery_note)
    _write_project_file(replace(project, path=out), summary, out)
    return InitResult(load_project(out), prepared, estimate, out, summary)


def _estimate(project: Project, bounds) -> ImageryEstimate:
    start, end = project.date_range
    area = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    return estimate_imagery(area, (end - start).days + 1, resolution_m=project.resolution_m)


def _rough_estimate(project: Project) -> ImageryEstimate:
    """The imagery estimate of the AOI (or the labels' lon/lat extent), on the ellipsoid, before any grid is made."""
    from pyproj import Geod

    from geoml_helpers.discover.labels import read_label_file

    west, south, east, north = project.aoi or read_label_file(project.labels).to_crs("EPSG:4326").total_bounds
    lons, lats = [west, east, east, west], [south, south, north, north]
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    start, end = project.date_range
    return estimate_imagery(abs(area), (end - start).days + 1, resolution_m=project.resolution_m)


def _write_project_file(project: Project, summary: str, out: Path) -> None:
    """Write the project with what init found as its header comment (atomically)."""
    comments = {
        "": "geoml project file written by `geoml init`. Edit it freely; `geoml run --project THIS_FILE` uses it.\n\n"
        + "What geoml init found:\n"
        + _wrap(summary),
        "labels": "Your labels: any vector file geopandas reads, in any CRS; the path is relative to this file.",
        "area": "The grid: crs and resolution. "
        + ("aoi is lon/lat." if project.aoi else "No aoi: the labels' extent + margin_m."),
        "imagery": "Where the imagery comes from: local, earth-search, "
        "planetary-computer, earth-search-replica, or a URL.",
        "classes": "The class table: code (the value in the class column) -> name, legend label, colour.\n"
        "Derived from the labels; rename classes and change colours here.",
    }
    write_atomic(out, project_to_toml(project, comments))


def _imagery_footprint(project: Project, aoi_lonlat, profile: str, data_dir) -> tuple[Any, str]:
    """Search the project's source over the AOI and dates: the union of the items' footprints, and a note."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    from geoml_helpers.discover.stac_search import open_stac_source, search_items

    if project.stac == "earth-search-replica":  # built from this project, once it is written
        return None, (
            "imagery: the replica is painted over this AOI and these dates when the course first opens it "
            "(full MGRS tiles; check it with `geoml check-source --project FILE`)"
        )
    try:
        with open_stac_source(project.stac, profile, data_dir, collection=project.collection) as source:
            found = search_items(
                source, bbox=aoi_lonlat, datetime=project.datetime, max_cloud_cover=project.max_cloud_cover
            )
    except (StacApiUnreachableError, MissingDependencyError) as exc:
        return None, f"imagery not checked: {str(exc).split(' (')[0]} (offline?)"
    footprint = unary_union([shape(item.geometry) for item in found.items])
    note = (
        f"imagery: {len(found)} items with eo:cloud_cover <= {project.max_cloud_cover:g}% "
        f"({found.matched_before_cloud_filter} in the AOI and dates)"
    )
    return footprint, note


def _prepare_with_blocks(
    project: Project, block_size_m: float | None, seed: int, footprint=None
) -> tuple[ProjectLabels, list[float]]:
    """Prepare the labels; without a block size, try :func:`propose_block_sizes` until every class is in every split."""
    if block_size_m is not None or project.split_column is not None:
        size = float(block_size_m or project.block_size_m)
        return prepare_labels(replace(project, block_size_m=size), seed=seed, footprint=footprint), [size]
    first = prepare_labels(replace(project, block_size_m=2000.0), seed=seed, footprint=footprint)
    xmin, ymin, xmax, ymax = first.bounds
    sizes = propose_block_sizes(((xmax - xmin) * (ymax - ymin)) ** 0.5)
    tried: list[float] = []
    best: tuple[int, ProjectLabels, float] | None = None
    for size in sizes:
        tried.append(size)
        prepared = prepare_labels(replace(project, block_size_m=size), seed=seed, footprint=footprint)
        missing = len(prepared.report.missing_in_split)
        if best is None or missing < best[0]:
            best = (missing, prepared, size)
        if missing == 0:
            break
    assert best is not None
    if tried[-1] != best[2]:
        tried.append(best[2])
    return best[1], tried


def _wrap(text: str, width: int = 100) -> str:
    """Wrap each line of ``text`` at ``width``, continuation lines indented."""
    import textwrap

    out = []
    for line in text.splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""])
    return "\n".join(out)


def _summary(
    project: Project,
    prepared: ProjectLabels,
    estimate: ImageryEstimate,
    tried: list[float],
    profile: str,
    imagery_note: str,
) -> str:
    report = prepared.report
    lines = [f"labels: {report.source} ({report.rows_read} rows, CRS {report.source_crs})"]
    lines.append(
        f"geometries: {report.polygons} polygons, {report.multipolygons} multipolygons, {report.points} points; "
        f"invalid (repaired with make_valid) {report.repaired_invalid}; empty (dropped) {report.dropped_empty}; "
        f"non-polygon (lines, dropped) {report.dropped_other_geometry}; no class (dropped) {report.dropped_no_class}"
    )
    if report.dropped_outside or report.partly_outside:
        lines.append(
            f"outside the AOI or the imagery: {report.dropped_outside} dropped, "
            f"{report.partly_outside} partly outside (kept)"
        )
    lines.append(f"classes ({len(prepared.classes)}), from column {project.class_column!r}:")
    for row in report.per_class.itertuples():
        lines.append(
            f"  {row.class_id}: {row.code!r} -> {row.class_name}: {row.polygons} polygons, {row.points} points, "
            f"{row.area_km2:g} km2; train/val/test {row.train}/{row.val}/{row.test}"
        )
    lon_min, lat_min, lon_max, lat_max = prepared.aoi_lonlat
    lines.append(
        f"AOI: {report.aoi_area_km2:g} km2, lon {lon_min:.4f}..{lon_max:.4f}, lat {lat_min:.4f}..{lat_max:.4f}; "
        f"grid {prepared.shape[1]} x {prepared.shape[0]} pixels of {project.resolution_m:g} m in {prepared.crs}"
    )
    zones = ", ".join(report.utm_zones)
    crossing = (
        "crosses a UTM zone boundary (imagery is reprojected onto one grid)"
        if report.crosses_utm_zones
        else "within one zone"
    )
    lines.append(f"UTM zone: {zones}; {crossing}")
    if project.split_column:
        split = f"from column {project.split_column!r}"
    else:
        split = f"seeded spatial blocks of {project.block_size_m:g} m (tried {', '.join(f'{s:g}' for s in tried)} m)"
    verdict = (
        "every class is in train, val and test"
        if report.every_class_in_every_split
        else "NOT every class in every split: missing " + ", ".join(f"{c} in {s}" for c, s in report.missing_in_split)
    )
    lines.append(f"split: {split}; {verdict}")
    lines.append(f"imagery {project.datetime} ({source_spec(project.stac).name}, {project.collection}): {estimate}")
    lines.append(imagery_note)
    lines.append(f"profile {profile!r}: within its imagery limit")
    return "\n".join(lines)
