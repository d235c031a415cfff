"""Build an Earth Search replica for a project's labels, atomically, and open it again.

:class:`ReplicaSpec` holds plain parameters (labels, class column, AOI, date
range, seed), so any front end (a project file, a notebook, the CLI) can make
one. :func:`build_replica` writes everything into a temporary sibling folder
and renames it into place after its completion marker, like the demo's build:

``stac/collection.json``, ``stac/items.ndjson``
    The collection and items; asset hrefs hold ``{endpoint}`` until served.
``store/``
    A SeaweedFS data folder holding the public bucket ``sentinel-cogs``, with
    Earth Search's key layout ``sentinel-s2-l2a-cogs/{zone}/{band}/{square}/{yyyy}/{m}/{id}/{file}``;
    serving starts SeaweedFS on it, with no upload.
``replica.json``
    What was built: tiles, items, timings, size, and that it is synthetic.

Examples
--------
>>> # needs a built Earth Search replica (skipped under doctest)
>>> spec = ReplicaSpec(labels="projects/replica_example/labels.geojson", class_column="landcover",
...                    datetime="2022-01-10/2022-02-10")  # doctest: +SKIP
>>> data = build_replica(spec, "data/replica/example")  # doctest: +SKIP
>>> len(data.items())  # doctest: +SKIP
28
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geoml_helpers import __version__
from geoml_helpers.core.atomic import atomic_dir
from geoml_helpers.core.errors import IncompleteDataError, LabelError
from geoml_helpers.demo.build import MARKER_NAME, file_hashes
from geoml_helpers.replica.assets import write_sparse_cog
from geoml_helpers.replica.grid import S2Tile, lonlat_to_utm, tiles_for_aoi
from geoml_helpers.replica.items import (
    BUCKET,
    COG_ASSETS,
    ENDPOINT_PLACEHOLDER,
    ItemPlan,
    asset_filename,
    asset_resolution,
    collection_document,
    item_document,
    plan_datatakes,
    plan_items,
    sun_position,
)
from geoml_helpers.replica.paint import (
    REPLICA_BANDS,
    SYNTHETIC_NOTE,
    GroundFrame,
    _stable_seed,
    block_mean,
    class_signature,
    make_sky,
    paint_canvas,
    paint_scene,
    scene_statistics,
)

FORMAT_VERSION: int = 2
COMPRESS_LEVEL: int = 1
"""DEFLATE level of the replica's COG tiles: level 1 compresses 3 times faster than 6 for a 4 % bigger file."""
SOURCE_NAME = "earth-search-replica"
"""The name a project file gives this source (``stac = "earth-search-replica"``)."""


@dataclass(frozen=True, eq=False)
class ReplicaSpec:
    """Everything a replica is made from; plain values, no project file.

    Two specs are equal only if they are the same object (labels may be a GeoDataFrame); compare
    :meth:`fingerprint` values instead.

    Attributes
    ----------
    labels : path or GeoDataFrame
        Label polygons (any CRS with a ``.crs``; GeoJSON in EPSG:4326 typically).
    class_column : str
        Column holding each polygon's class name.
    datetime : str
        ``"START/END"`` dates (ISO), inclusive, e.g. ``"2021-12-01/2022-03-31"``.
    aoi : (west, south, east, north), optional
        In lon/lat; by default the labels' bounds widened by ``aoi_buffer_m``.
    aoi_buffer_m : float
        Margin around the labels when ``aoi`` is not given.
    seed : int
        Seed of signatures, landscape and clouds.
    cloudy_share : float
        Share of datatakes with some cloud (one is always 100 % cloudy).
    second_orbit : bool
        Add the neighbouring relative orbit's partial swaths.
    """

    labels: Any
    class_column: str
    datetime: str
    aoi: tuple[float, float, float, float] | None = None
    aoi_buffer_m: float = 200.0
    seed: int = 2024
    cloudy_share: float = 0.4
    second_orbit: bool = True

    def date_range(self) -> tuple[dt.date, dt.date]:
        """``(start, end)`` as dates.

        Examples
        --------
        >>> ReplicaSpec(None, "c", "2022-01-01/2022-02-01").date_range()
        (datetime.date(2022, 1, 1), datetime.date(2022, 2, 1))
        """
        try:
            start, end = (dt.date.fromisoformat(part.strip()[:10]) for part in self.datetime.split("/"))
        except ValueError as exc:
            raise ValueError(
                f"datetime {self.datetime!r} is not 'START/END' with ISO dates, e.g. '2021-12-01/2022-03-31'."
            ) from exc
        return start, end

    def read_labels(self):
        """The labels as a GeoDataFrame in EPSG:4326 with a string class column.

        Raises
        ------
        LabelError
            If the file has no CRS, or no such column; the message says the fix.
        """
        import geopandas as gpd

        labels = self.labels if isinstance(self.labels, gpd.GeoDataFrame) else gpd.read_file(self.labels)
        if labels.crs is None:
            raise LabelError(
                "The labels have no CRS. Save them with one (GeoJSON is EPSG:4326), or call `gdf.set_crs(...)` first."
            )
        if self.class_column not in labels.columns:
            raise LabelError(
                f"The labels have no column {self.class_column!r}; their columns are {list(labels.columns)}. "
                "Pass the class column's name."
            )
        labels = labels[labels.geometry.notna() & ~labels.geometry.is_empty].to_crs(4326)
        if labels.empty:
            raise LabelError("The labels hold no geometry; a replica is painted from the label polygons.")
        labels = labels.assign(**{self.class_column: labels[self.class_column].astype(str)})
        return labels.reset_index(drop=True)

    def aoi_bounds(self, labels=None) -> tuple[float, float, float, float]:
        """The AOI in lon/lat: ``aoi`` or the labels' bounds plus the buffer."""
        if self.aoi is not None:
            west, south, east, north = (float(v) for v in self.aoi)
            return west, south, east, north
        labels = self.read_labels() if labels is None else labels
        west, south, east, north = (float(v) for v in labels.total_bounds)
        dlat = self.aoi_buffer_m / 111_195.0
        dlon = self.aoi_buffer_m / (111_320.0 * max(np.cos(np.radians((south + north) / 2)), 0.05))
        w, s, e, n = (round(float(v), 6) for v in (west - dlon, south - dlat, east + dlon, north + dlat))
        return w, s, e, n

    def fingerprint(self) -> str:
        """A digest of the labels and every parameter: a replica is rebuilt when it changes."""
        labels = self.read_labels()
        digest = hashlib.sha256()
        digest.update(
            json.dumps(
                [
                    FORMAT_VERSION,
                    self.class_column,
                    self.datetime,
                    self.aoi_bounds(labels),
                    self.seed,
                    self.cloudy_share,
                    self.second_orbit,
                ]
            ).encode()
        )
        for name, geom in zip(labels[self.class_column], labels.geometry):
            digest.update(name.encode() + geom.wkb)
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ReplicaData:
    """A built replica folder.

    Attributes
    ----------
    root : pathlib.Path
    summary : dict
        The content of ``replica.json``.
    """

    root: Path
    summary: dict = field(default_factory=dict, compare=False)

    @property
    def collection_path(self) -> Path:
        """The collection document."""
        return self.root / "stac" / "collection.json"

    @property
    def items_path(self) -> Path:
        """The items, one JSON document a line."""
        return self.root / "stac" / "items.ndjson"

    @property
    def objects_dir(self) -> Path:
        """The local copy of the buckets' objects (only with ``build_replica(keep_objects=True)``)."""
        return self.root / "objects"

    @property
    def store_dir(self) -> Path:
        """The data folder of the replica's SeaweedFS object store, objects loaded."""
        return self.root / "store"

    @property
    def fingerprint(self) -> str:
        """The spec fingerprint this replica was built from."""
        return str(self.summary.get("fingerprint"))

    def collection(self) -> dict:
        """The collection document."""
        return json.loads(self.collection_path.read_text())

    def items(self, endpoint: str | None = None) -> list[dict]:
        """Item documents; with ``endpoint`` (``http://127.0.0.1:PORT``) hrefs become URLs, else keep ``{endpoint}``."""
        text = self.items_path.read_text()
        if endpoint is not None:
            text = text.replace(ENDPOINT_PLACEHOLDER, endpoint.rstrip("/"))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def size_bytes(self) -> int:
        """Bytes on disk."""
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def _marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None


def open_replica(root: str | os.PathLike[str], spec: ReplicaSpec | None = None) -> ReplicaData:
    """Open a built replica; with ``spec``, check it was built from the same labels and parameters.

    Raises
    ------
    IncompleteDataError
        If the folder has no completion marker, or was built from another spec.
    """
    root = Path(root).resolve()  # absolute: the object store runs SeaweedFS in a folder of its own
    marker = _marker(root)
    fix = "Build it with `python -m geoml_helpers.replica build ...` or `build_replica(spec, root)`."
    if marker is None:
        state = (
            "is missing" if not root.exists() else "has no completion marker (a build was interrupted or is running)"
        )
        raise IncompleteDataError(f"The replica at {root} {state}. {fix}")
    if marker.get("format_version") != FORMAT_VERSION:
        raise IncompleteDataError(
            f"The replica at {root} has format {marker.get('format_version')}, not {FORMAT_VERSION}. {fix}"
        )
    if not (root / "store").is_dir():
        raise IncompleteDataError(f"The replica at {root} has no object store folder (store/). {fix}")
    summary = json.loads((root / "replica.json").read_text())
    if spec is not None and summary.get("fingerprint") != spec.fingerprint():
        raise IncompleteDataError(
            f"The replica at {root} was built from other labels or parameters. Rebuild it (ensure_replica does). {fix}"
        )
    return ReplicaData(root, summary)


def ensure_replica(spec: ReplicaSpec, root: str | os.PathLike[str], progress: bool = False) -> ReplicaData:
    """Open the replica at ``root`` if it matches ``spec``, else build it."""
    try:
        return open_replica(root, spec)
    except IncompleteDataError:
        return build_replica(spec, root, progress=progress)


def build_replica(
    spec: ReplicaSpec,
    root: str | os.PathLike[str],
    progress: bool = False,
    threads: int = 2,
    keep_objects: bool = False,
) -> ReplicaData:
    """Build the replica of ``spec`` into the folder ``root`` (replacing it), atomically.

    Parameters
    ----------
    spec : ReplicaSpec
    root : path-like
        The replica's folder; built in a temporary sibling, renamed at the end.
    progress : bool
        Print a line per tile.
    threads : int
        Threads compressing COG tiles (zlib releases the GIL).
    keep_objects : bool
        Keep the local copy of the objects (``objects/``) after loading them
        into the replica's object store (``store/``); off by default, as it
        doubles the size on disk.

    Returns
    -------
    ReplicaData
    """
    started = time.perf_counter()
    final = Path(root).resolve()  # absolute: the object store runs SeaweedFS in a folder of its own
    with atomic_dir(final) as staging:
        summary = _build_into(staging, spec, progress, threads)
        summary["paint_seconds"] = round(time.perf_counter() - started, 2)
        summary["objects"], summary["upload_seconds"] = _load_store(staging, keep_objects)
        summary["build_seconds"] = round(time.perf_counter() - started, 2)
        summary["bytes"] = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        (staging / "replica.json").write_text(json.dumps(summary, indent=1))
        # The store's own files change whenever it runs; the marker covers the documents.
        marker = {
            "format_version": FORMAT_VERSION,
            "geoml_version": __version__,
            "fingerprint": summary["fingerprint"],
            "files": file_hashes(staging / "stac"),
        }
        (staging / MARKER_NAME).write_text(json.dumps(marker, indent=1, sort_keys=True))
    if progress:
        print(
            f"Built the replica in {summary['build_seconds']:.1f} s: {summary['items']} items, "
            f"{summary['bytes'] / 1e6:.1f} MB at {final}"
        )
    return ReplicaData(final, summary)


def _load_store(folder: Path, keep_objects: bool) -> tuple[int, float]:
    """Load ``objects/`` into a SeaweedFS store kept in ``store/``, so that serving needs no upload."""
    from geoml_helpers.replica.server import upload_objects
    from geoml_helpers.services.object_store import LocalObjectStore

    started = time.perf_counter()
    objects = folder / "objects"
    expected = sum(1 for p in objects.rglob("*") if p.is_file())
    with LocalObjectStore(data_dir=folder / "store", stop_grace=2.0) as store:
        count = upload_objects(store, objects)
        found = len(store.filesystem().find(BUCKET))
    if count != expected or found != expected:
        raise IncompleteDataError(
            f"Loaded {count} and found {found} of {expected} objects in the replica's object store; build it again."
        )
    if not keep_objects:
        shutil.rmtree(objects)
    return count, round(time.perf_counter() - started, 2)


def _window(tile: S2Tile, aoi_utm) -> tuple[int, int, int, int]:
    """``(row0, col0, h, w)`` of the AOI at 10 m in the tile, on the 60 m grid, clipped to the tile."""
    xmin, ymin, xmax, ymax = aoi_utm.bounds
    n = tile.shape(10)[0]
    col0 = max(int(np.floor((xmin - tile.x_min) / 60.0)) * 6, 0)
    col1 = min(int(np.ceil((xmax - tile.x_min) / 60.0)) * 6, n)
    row0 = max(int(np.floor((tile.y_max - ymax) / 60.0)) * 6, 0)
    row1 = min(int(np.ceil((tile.y_max - ymin) / 60.0)) * 6, n)
    return row0, col0, row1 - row0, col1 - col0


def _swath_polygon(frame: GroundFrame, aoi_width_m: float):
    """The half of the ground a partial datatake images: west of a swath edge that runs 12 degrees off north."""
    from shapely.geometry import Polygon

    theta = np.radians(12.0)
    along = np.array([np.sin(theta), np.cos(theta)])  # the edge's direction (NNE-SSW)
    across = np.array([-np.cos(theta), np.sin(theta)])  # towards the imaged side (west)
    centre = -across * 0.2 * aoi_width_m  # the edge passes a little east of the AOI centre
    corners = [
        centre + along * 400_000,
        centre - along * 400_000,
        centre - along * 400_000 + across * 400_000,
        centre + along * 400_000 + across * 400_000,
    ]
    lon = [frame.lon0 + x / (111_320.0 * np.cos(np.radians(frame.lat0))) for x, _ in corners]
    lat = [frame.lat0 + y / 111_195.0 for _, y in corners]
    return Polygon(zip(lon, lat)), (centre, across)


def _encode(reflectance: np.ndarray, valid: np.ndarray, plus_offset: bool) -> np.ndarray:
    """uint16 DNs (``reflectance / 0.0001``, plus 1000 when the offset is in the pixels), 0 where not imaged."""
    dn = np.rint(reflectance / 0.0001) + (1000.0 if plus_offset else 0.0)
    dn = np.clip(dn, 1, 32767).astype(np.uint16)
    dn[~valid] = 0
    return dn


def _build_into(folder: Path, spec: ReplicaSpec, progress: bool, threads: int) -> dict:
    """Write the replica of ``spec`` into ``folder``: plan the datatakes, paint each tile, write its assets and STAC.

    Notes
    -----
    Long because: the per-tile loop shares the plan (datatakes, skies, swath, class signatures) with the STAC
    documents written after it; painting and writing live in paint.py and assets.py.
    """
    from pyproj import Geod
    from shapely.geometry import box, mapping

    labels = spec.read_labels()
    class_names = sorted(labels[spec.class_column].unique())
    aoi_bounds = spec.aoi_bounds(labels)
    aoi = box(*aoi_bounds)
    start, end = spec.date_range()
    tiles = tiles_for_aoi(aoi)
    lon0, lat0 = aoi.centroid.x, aoi.centroid.y
    frame = GroundFrame(lon0, lat0)
    southern = lat0 < 0
    signatures = [class_signature(name, spec.seed, southern) for name in class_names]
    class_of = {name: i for i, name in enumerate(class_names)}
    areas = labels.to_crs(labels.estimate_utm_crs()).area.groupby(labels[spec.class_column]).sum()
    class_weights = np.array([areas.get(name, 0.0) for name in class_names]) / max(float(areas.sum()), 1e-9)
    takes = plan_datatakes(start, end, lon0, spec.seed, spec.cloudy_share, spec.second_orbit)
    plans = plan_items(tiles, takes)
    ref_lon, ref_lat = np.meshgrid(
        np.linspace(aoi_bounds[0], aoi_bounds[2], 48), np.linspace(aoi_bounds[1], aoi_bounds[3], 48)
    )
    ref_x, ref_y = frame.to_ground(ref_lon, ref_lat)
    aoi_width_m = float(ref_x.max() - ref_x.min())
    swath, (edge_point, edge_normal) = _swath_polygon(frame, aoi_width_m)
    geod = Geod(ellps="WGS84")
    skies = {}
    for take in takes:
        sun = sun_position(take.start, lon0, lat0)
        skies[take] = (
            make_sky(
                take.cloud_target,
                _stable_seed("sky", spec.seed, take.start.isoformat()),
                sun_azimuth=sun[0],
                sun_elevation=sun[1],
                reference_x=ref_x,
                reference_y=ref_y,
            ),
            sun,
        )

    objects = folder / "objects"
    items: list[dict] = []
    pool = ThreadPoolExecutor(max_workers=max(threads, 1))
    tile_windows = {}
    pending: list = []
    try:
        for tile in tiles:
            tile_started = time.perf_counter()
            aoi_utm = lonlat_to_utm(aoi, tile.epsg)
            row0, col0, h, w = _window(tile, aoi_utm)
            tile_windows[tile.name] = [row0, col0, h, w]
            transform = tile.transform(10) @ tile.transform(10).translation(col0, row0)
            labels_utm = labels.to_crs(tile.epsg)
            canvas = paint_canvas(
                labels_utm.geometry,
                labels_utm[spec.class_column].map(class_of).to_numpy(),
                aoi_utm,
                transform=transform,
                shape=(h, w),
                epsg=tile.epsg,
                frame=frame,
                n_classes=len(class_names),
                seed=spec.seed,
                weights=class_weights,
            )
            rotated = (canvas.x - edge_point[0]) * edge_normal[0] + (canvas.y - edge_point[1]) * edge_normal[1]
            west_of_edge = rotated > 0
            tile_area = abs(geod.geometry_area_perimeter(tile.footprint_lonlat())[0])
            for plan in (p for p in plans if p.tile == tile):
                take = plan.datatake
                sky, sun = skies[take]
                swath_valid = west_of_edge if take.partial else np.ones_like(west_of_edge)
                scene = paint_scene(
                    canvas,
                    signatures,
                    take.date.timetuple().tm_yday,
                    sky,
                    swath_valid,
                    _stable_seed("scene", spec.seed, plan.id),
                )
                footprint = tile.footprint_lonlat()
                if take.partial:
                    footprint = footprint.intersection(swath)
                nodata_pct = 100.0 * (1.0 - abs(geod.geometry_area_perimeter(footprint)[0]) / tile_area)
                futures = _write_assets(pool, objects, plan, scene, (row0, col0), tile)
                stats = scene_statistics(scene)
                geometry = mapping(footprint.simplify(1e-5))
                geometry = json.loads(json.dumps(geometry))  # tuples to lists
                items.append(
                    item_document(
                        plan, geometry, [round(v, 9) for v in footprint.bounds], stats, max(nodata_pct, 0.0), sun
                    )
                )
                pending.extend(futures)
                # Paint the next item while this one compresses, but keep at most a few items in memory.
                while len(pending) > 3 * len(futures):
                    pending.pop(0).result()
            if progress:
                print(
                    f"  tile {tile.name}: {sum(p.tile == tile for p in plans)} items "
                    f"in {time.perf_counter() - tile_started:.1f} s"
                )
        for future in pending:
            future.result()
    finally:
        pool.shutdown(wait=True)

    items.sort(key=lambda d: (d["properties"]["datetime"], d["id"]))
    stac = folder / "stac"
    stac.mkdir(parents=True)
    collection = collection_document(
        tiles, aoi_bounds, f"{start.isoformat()}T00:00:00Z", f"{end.isoformat()}T23:59:59Z"
    )
    (stac / "collection.json").write_text(json.dumps(collection, indent=1))
    (stac / "items.ndjson").write_text("".join(json.dumps(item) + "\n" for item in items))
    return {
        "source": SOURCE_NAME,
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "fingerprint": spec.fingerprint(),
        "class_column": spec.class_column,
        "classes": class_names,
        "signatures": {s.name: s.archetype for s in signatures},
        "aoi": list(aoi_bounds),
        "datetime": spec.datetime,
        "seed": spec.seed,
        "tiles": {
            t.name: {"epsg": t.epsg, "proj:transform": t.proj_transform(10), "window_10m": tile_windows[t.name]}
            for t in tiles
        },
        "items": len(items),
        "datatakes": len(takes),
        "geoml_version": __version__,
    }


def _write_assets(
    pool: ThreadPoolExecutor, objects: Path, plan: ItemPlan, scene, offset: tuple[int, int], tile: S2Tile
) -> list:
    """Queue the COGs and metadata files of one item; returns the futures.

    Notes
    -----
    Long because: it queues every asset of Earth Search's layout (bands, SCL, AOT, WVP, visual, metadata files) in
    the order of the item's assets; the writing itself lives in assets.py.
    """
    folder = objects / BUCKET / plan.key_prefix
    folder.mkdir(parents=True, exist_ok=True)
    tags = {"GEOML_SYNTHETIC": SYNTHETIC_NOTE, "GEOML_ITEM": plan.id}
    band_index = {b.key: i for i, b in enumerate(REPLICA_BANDS)}
    valid = scene.valid
    futures: list[Any] = []
    for key in COG_ASSETS:
        if key in plan.missing_assets:
            continue
        res = asset_resolution(key)
        factor = res // 10
        valid_native = block_mean(valid.astype(np.float32), factor) >= 1.0 if factor > 1 else valid
        native_offset = (offset[0] // factor, offset[1] // factor)
        path = folder / asset_filename(key)
        if key in band_index:
            dn = _encode(block_mean(scene.reflectance[band_index[key]], factor), valid_native, plan.offset_in_pixels)
            futures.append(
                pool.submit(
                    write_sparse_cog,
                    path,
                    dn,
                    native_offset,
                    tile.shape(res),
                    tile.transform(res),
                    tile.epsg,
                    nodata=0,
                    band_names=[asset_filename(key)[:-4]],
                    tags=tags,
                    compress_level=COMPRESS_LEVEL,
                )
            )
        elif key == "scl":
            futures.append(
                pool.submit(
                    write_sparse_cog,
                    path,
                    scene.scl,
                    native_offset,
                    tile.shape(20),
                    tile.transform(20),
                    tile.epsg,
                    nodata=0,
                    band_names=["SCL"],
                    tags=tags,
                    resampling="nearest",
                    compress_level=COMPRESS_LEVEL,
                )
            )
        elif key == "visual":
            rgb = scene.reflectance[[band_index["red"], band_index["green"], band_index["blue"]]]
            tci = np.clip(np.rint(rgb / 0.25 * 254) + 1, 1, 255).astype(np.uint8)
            tci[:, ~valid] = 0
            futures.append(
                pool.submit(
                    write_sparse_cog,
                    path,
                    tci,
                    native_offset,
                    tile.shape(10),
                    tile.transform(10),
                    tile.epsg,
                    nodata=0,
                    tags=tags,
                    photometric="rgb",
                    compress_level=COMPRESS_LEVEL,
                )
            )
        else:  # aot, wvp: smooth atmospheric fields, scale 0.001
            shape20 = valid_native.shape
            level = 0.12 if key == "aot" else 1.4
            gradient = np.linspace(0.0, 0.02 if key == "aot" else 0.2, shape20[1], dtype=np.float32)[None, :]
            dn = np.clip(np.rint((level + gradient + np.zeros(shape20, np.float32)) / 0.001), 1, 32767).astype(
                np.uint16
            )
            dn[~valid_native] = 0
            futures.append(
                pool.submit(
                    write_sparse_cog,
                    path,
                    dn,
                    native_offset,
                    tile.shape(20),
                    tile.transform(20),
                    tile.epsg,
                    nodata=0,
                    band_names=[key.upper()],
                    tags=tags,
                    compress_level=COMPRESS_LEVEL,
                )
            )
    (folder / "tileinfo_metadata.json").write_text(
        json.dumps(
            {
                "path": plan.key_prefix,
                "tileOrigin": [tile.x_min, tile.y_max],
                "epsg": tile.epsg,
                "geoml:synthetic": True,
                "note": SYNTHETIC_NOTE,
            },
            indent=1,
        )
    )
    (folder / "granule_metadata.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- {SYNTHETIC_NOTE} -->\n'
        f"<Level-2A_Tile_ID><General_Info><TILE_ID>{plan.id}</TILE_ID></General_Info></Level-2A_Tile_ID>\n"
    )
    futures.append(pool.submit(_write_thumbnail, folder / "thumbnail.jpg", scene))
    return futures


def _write_thumbnail(path: Path, scene) -> None:
    """A small true-colour JPEG of the painted window."""
    import warnings

    import rasterio.errors
    import rasterio.shutil
    from rasterio.io import MemoryFile

    rgb = scene.reflectance[[3, 2, 1]]
    step = max(1, max(rgb.shape[1:]) // 128)
    small = np.clip(np.rint(rgb[:, ::step, ::step] / 0.25 * 254) + 1, 1, 255).astype(np.uint8)
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # a thumbnail is a picture, not a map
        with mem.open(driver="MEM", width=small.shape[2], height=small.shape[1], count=3, dtype="uint8") as ds:
            ds.write(small)
            rasterio.shutil.copy(ds, str(path), driver="JPEG")
    for aux in path.parent.glob(f"{path.name}.aux.xml"):
        aux.unlink()
