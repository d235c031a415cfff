"""A project as a user brings it, made from the demo's labels: for tests and for trying ``geoml init``.

Real label files are not like the demo's: they come in EPSG:4326 GeoJSON, with
class names as strings in a column called something else, without a split
column, with a few self-intersecting polygons and some drawn where there is no
imagery. :func:`write_user_labels` writes such a file from a demo build, and
:func:`write_user_project` also writes the project TOML for it with
``geoml init``'s code, so a course run can be tried on a project that is not
the demo (imagery still from the demo's local STAC API).

Examples
--------
>>> import tempfile
>>> # needs a project's labels and the demo data (skipped under doctest)
>>> toml = write_user_project(tempfile.mkdtemp(), data_dir=data_dir)  # doctest: +SKIP
>>> load_project(toml).class_column  # doctest: +SKIP
'landcover'
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["USER_CLASS_NAMES", "USER_CLASS_COLUMN", "write_user_labels", "write_user_project"]

USER_CLASS_COLUMN = "landcover"
"""The class column of the user-style labels (not the demo's ``class_id``)."""

USER_CLASS_NAMES: dict[int, str] = {
    1: "Fynbos",
    2: "Alien trees",
    3: "Water",
    4: "Rock and sand",
    5: "Farmland",
    6: "Urban",
}
"""Demo class id -> the string a user's file holds instead."""

FORMATS = ("geojson", "gpkg", "fgb", "parquet", "shp.zip")


def write_user_labels(
    folder: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    profile: str = "ci",
    fmt: str = "geojson",
    geometry: str = "polygons",
    n_invalid: int = 3,
    n_outside: int = 4,
    seed: int = 0,
) -> Path:
    """Write user-style labels made from the demo build's labels.

    Parameters
    ----------
    folder : path
    data_dir : path, optional
        Data folder of the demo build (built if missing).
    profile : str
    fmt : str
        ``geojson``, ``gpkg``, ``fgb``, ``parquet`` or ``shp.zip`` (a zipped Shapefile).
    geometry : str
        ``polygons`` (with one multipolygon), ``points`` (one point per polygon, like GPS
        field plots) or ``mixed`` (every other label a point).
    n_invalid : int
        Polygons replaced by a self-intersecting "bow tie" over the same area.
    n_outside : int
        Labels moved 5 km east, off the demo's imagery.
    seed : int

    Returns
    -------
    pathlib.Path
        The labels file: EPSG:4326, string classes in ``landcover``, no split column.
    """
    import geopandas as gpd
    from shapely.geometry import MultiPolygon

    from geoml_helpers.demo.build import ensure_demo_data

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    demo = ensure_demo_data(profile, data_dir, progress=False)
    labels = demo.read_labels().sort_values("polygon_id").reset_index(drop=True)
    rng = np.random.default_rng([seed, 31])
    geoms = list(labels.geometry)
    if geometry == "polygons":
        # Two polygons of one class as one multipolygon, as GIS exports often do.
        first_class = labels["class_id"].iloc[0]
        same = np.flatnonzero(labels["class_id"].to_numpy() == first_class)[:2]
        if len(same) == 2:
            geoms[same[0]] = MultiPolygon([geoms[same[0]], geoms[same[1]]])
            geoms[same[1]] = None
    _spoil(geoms, rng.permutation(len(labels)), n_invalid, n_outside)
    frame = gpd.GeoDataFrame(
        {
            "plot": [f"P{int(v):04d}" for v in labels["polygon_id"]],
            USER_CLASS_COLUMN: labels["class_id"].map(USER_CLASS_NAMES).to_numpy(),
            "surveyor": rng.choice(["AB", "CD", "EF"], size=len(labels)),
        },
        geometry=geoms,
        crs=demo.crs,
    )
    frame = frame[frame.geometry.notna()].reset_index(drop=True)
    if geometry in ("points", "mixed"):
        pick = np.ones(len(frame), dtype=bool) if geometry == "points" else (np.arange(len(frame)) % 2 == 0)
        frame.loc[pick, "geometry"] = frame.geometry[pick].buffer(0).representative_point()
    frame = frame.to_crs("EPSG:4326")
    return _write(frame, Path(folder), f"field_survey_{geometry}", fmt)


def _spoil(geoms: list, order: np.ndarray, n_invalid: int, n_outside: int) -> None:
    """Make ``n_invalid`` polygons self-intersecting bow ties and move ``n_outside`` labels 5 km east, in place."""
    from shapely.affinity import translate
    from shapely.geometry import Polygon

    for i in order[:n_invalid]:
        if geoms[i] is None or geoms[i].geom_type != "Polygon":
            continue
        x0, y0, x1, y1 = geoms[i].bounds
        geoms[i] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # self-intersecting
    for i in order[n_invalid : n_invalid + n_outside]:
        if geoms[i] is not None:
            geoms[i] = translate(geoms[i], xoff=5000.0)


def _write(frame, folder: Path, stem: str, fmt: str) -> Path:
    """Write ``frame`` as ``folder/stem.<fmt>``; ``shp.zip`` is a Shapefile's parts in one zip."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        target = folder / f"{stem}.parquet"
        frame.to_parquet(target)
    elif fmt == "shp.zip":
        target = folder / f"{stem}.zip"
        with tempfile.TemporaryDirectory() as tmp:
            frame.to_file(Path(tmp) / f"{stem}.shp")
            with zipfile.ZipFile(target, "w") as archive:
                for part in sorted(Path(tmp).iterdir()):
                    archive.write(part, part.name)
    else:
        target = folder / f"{stem}.{fmt}"
        if target.exists():
            target.unlink()
        frame.to_file(target)
    return target


def write_user_project(
    folder: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    profile: str = "ci",
    fmt: str = "geojson",
    geometry: str = "polygons",
    name: str | None = None,
    seed: int = 0,
) -> Path:
    """Write user-style labels (:func:`write_user_labels`) and their project file; return the TOML's path.

    The project uses the demo's local STAC API for imagery, and its AOI is the demo
    imagery's extent (in lon/lat, a few metres inside), so the labels moved off the
    imagery are reported as outside and dropped. Everything else (class table, CRS,
    block size, split) is what ``geoml init`` derives.
    """
    from geoml_helpers.demo.build import ensure_demo_data
    from geoml_helpers.discover.labels import inner_lonlat_box
    from geoml_helpers.discover.project_init import init_project

    folder = Path(folder)
    labels = write_user_labels(folder, data_dir=data_dir, profile=profile, fmt=fmt, geometry=geometry, seed=seed)
    demo = ensure_demo_data(profile, data_dir, progress=False)
    aoi = inner_lonlat_box(demo.bounds, demo.crs, inset_m=15.0)
    out = folder / f"{name or 'field-survey-' + geometry}.toml"
    init_project(
        labels,
        USER_CLASS_COLUMN,
        out=out,
        stac="local",
        datetime="2024-01-01/2024-12-31",
        name=name or f"field-survey-{geometry}",
        aoi=aoi,
        max_cloud_cover=60.0,
        profile=profile,
        seed=seed,
        overwrite=True,
        data_dir=data_dir,
    )
    return out
