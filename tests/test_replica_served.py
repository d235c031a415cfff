"""A built and served replica, read the way the course reads Earth Search: STAC API, /vsicurl/ range reads, loaders.

One small replica (the example labels at 12 E, 12 days around the 2022-01-25 baseline change) is built and served
once for the module. Each test that covers one of Earth Search's traps names it in its docstring.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from geoml_helpers.core.errors import IncompleteDataError
from geoml_helpers.replica.build import ReplicaSpec, build_replica, open_replica
from geoml_helpers.replica.server import serve_replica

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LABELS = PROJECT_ROOT / "projects" / "replica_example" / "labels.geojson"
DATETIME = "2022-01-20/2022-01-31"


PROJECT = PROJECT_ROOT / "projects" / "replica_example" / "replica-ci.toml"


@pytest.fixture(scope="module")
def project_file(tmp_path_factory) -> Path:
    """The shipped replica project over 12 days (around the 2022-01-25 baseline change), to keep the build short."""
    from dataclasses import replace

    from geoml_helpers.core.project import load_project, project_to_toml

    path = tmp_path_factory.mktemp("project") / "replica-ci.toml"
    project = replace(load_project(PROJECT), datetime=DATETIME, path=path)
    path.write_text(project_to_toml(project))
    return path


@pytest.fixture(scope="module")
def spec(project_file, tmp_path_factory) -> ReplicaSpec:
    """The replica of that project (its labels, AOI, dates and seed)."""
    from geoml_helpers.core.project import load_project
    from geoml_helpers.discover.stac_search import replica_spec

    spec = replica_spec(load_project(project_file), tmp_path_factory.mktemp("spec-data"))
    assert spec.datetime == DATETIME and spec.class_column == "landcover"
    return spec


@pytest.fixture(scope="module")
def built(spec, tmp_path_factory):
    started = time.perf_counter()
    data = build_replica(spec, tmp_path_factory.mktemp("replica") / "example")
    print(
        f"\nreplica build: {time.perf_counter() - started:.1f} s, {data.summary['items']} items, "
        f"{data.size_bytes() / 1e6:.1f} MB"
    )
    return data


@pytest.fixture(scope="module")
def served(built):
    with serve_replica(built) as running:
        print(f"\nreplica served in {running.startup_seconds:.2f} s (object store {running.store_seconds:.2f} s)")
        yield running


@pytest.fixture(scope="module")
def items(served):
    import pystac_client

    client = pystac_client.Client.open(served.url)
    found = list(
        client.search(collections=["sentinel-2-l2a"], bbox=[11.99, 47.86, 12.01, 47.88], datetime=DATETIME).items()
    )
    return sorted(found, key=lambda i: (i.datetime, i.id))


@pytest.fixture(scope="module")
def grid(spec):
    """A 10 m grid over the AOI in EPSG:32632 (the western tile's CRS)."""
    from pyproj import Transformer

    from geoml_helpers.load.loading import Grid

    west, south, east, north = spec.aoi_bounds()
    xs, ys = Transformer.from_crs(4326, 32632, always_xy=True).transform(
        [west, east, west, east], [south, south, north, north]
    )
    bounds = (
        np.floor(min(xs) / 10) * 10,
        np.floor(min(ys) / 10) * 10,
        np.ceil(max(xs) / 10) * 10,
        np.ceil(max(ys) / 10) * 10,
    )
    return Grid(32632, tuple(float(v) for v in bounds), 10.0)


def _by_tile(items, tile):
    return [i for i in items if i.properties["grid:code"] == f"MGRS-{tile}"]


def test_build_is_atomic_marked_and_synthetic(built, spec):
    assert (built.root / "_COMPLETE.json").is_file()
    assert not [p for p in built.root.parent.iterdir() if "-building-" in p.name]
    summary = json.loads((built.root / "replica.json").read_text())
    assert summary["synthetic"] is True and "SYNTHETIC" in summary["note"]
    assert set(summary["tiles"]) == {"32UQU", "33UTP"}
    assert open_replica(built.root, spec).fingerprint == summary["fingerprint"]
    other = ReplicaSpec(labels=str(LABELS), class_column="landcover", datetime="2022-01-20/2022-01-30")
    with pytest.raises(IncompleteDataError, match="other labels or parameters"):
        open_replica(built.root, other)


def test_search_returns_both_tiles_and_both_orbits(items, served):
    """Earth Search traps: an AOI across a UTM zone boundary gets items in two CRSs; two relative orbits."""
    from geoml_helpers.discover.stac_metadata import item_epsg

    assert {item_epsg(i) for i in items} == {32632, 32633}
    orbits = {i.properties["s2:product_uri"].split("_")[4] for i in items}
    assert len(orbits) == 2
    assert all(
        i.assets["red"].href.startswith(served.asset_endpoint + "/sentinel-cogs/sentinel-s2-l2a-cogs/") for i in items
    )
    assert all(i.properties["geoml:synthetic"] for i in items)


def test_assets_are_full_size_sparse_cogs_read_by_range_requests(items, built, tmp_path):
    """Earth Search trap: full 10980 x 10980 tiles behind HTTP, read with GDAL /vsicurl/ range requests."""
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    href = items[0].assets["red"].href
    head = requests.head(href, timeout=10)
    assert head.ok and int(head.headers["Content-Length"]) < 3_000_000  # a 10980 x 10980 band for < 3 MB
    partial = requests.get(href, headers={"Range": "bytes=0-16383"}, timeout=10)
    assert partial.status_code == 206 and len(partial.content) == 16384
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(href) as src:
        assert src.shape == (10980, 10980) and src.block_shapes == [(1024, 1024)] and src.overviews(1) == [2, 4, 8, 16]
        assert "SYNTHETIC" in src.tags()["GEOML_SYNTHETIC"]
        assert src.read(1, window=((0, 512), (0, 512))).max() == 0  # sparse: nodata far from the AOI
        row0, col0, h, w = built.summary["tiles"][items[0].properties["grid:code"][5:]]["window_10m"]
        assert (src.read(1, window=((row0, row0 + h), (col0, col0 + w))) > 0).mean() > 0.2
    local = tmp_path / "B04.tif"
    local.write_bytes(requests.get(href, timeout=30).content)
    valid, errors, _ = cog_validate(str(local), quiet=True)
    assert valid, errors


def test_stackstac_and_odc_load_the_replica_alike(items, grid):
    """The course's two loaders read replica items like Earth Search items (proj:code-only items included)."""
    from geoml_helpers.load.loading import load_odc, load_stackstac, odc_to_array

    assert any("proj:epsg" not in i.properties for i in items)
    native = _by_tile(items, "32UQU")
    sdn = load_stackstac(native, grid, ["red", "nir"], chunksize=512).compute()
    odn = odc_to_array(load_odc(native, grid, ["red", "nir"], chunks={"x": 512, "y": 512})).compute()
    assert sdn.shape == odn.shape and sdn.shape[0] == len(native)
    a, b = sdn.values, odn.values
    assert (a > 0).mean() > 0.3
    assert (a == b).mean() > 0.999  # same pixels on the tile's own grid


def test_reflectance_is_continuous_across_the_baseline_change(items, grid):
    """Earth Search traps: baseline 04.00's -0.1 offset, and boa_offset_applied items that still declare it.

    A double-applied offset makes reflectance 0.1 too low. With the course's scaling, clear-sky reflectance does
    not jump.
    """
    from geoml_helpers.load.loading import apply_scaling, load_stackstac

    native = [i for i in _by_tile(items, "32UQU") if i.properties["eo:cloud_cover"] < 30 and "swir22" in i.assets]
    before = [i for i in native if i.datetime.date() < dt.date(2022, 1, 25)]
    after = [i for i in native if i.datetime.date() >= dt.date(2022, 1, 25)]
    assert before and after
    dn = load_stackstac(before + after, grid, ["nir"], chunksize=512)
    scl = load_stackstac(before + after, grid, ["scl"], chunksize=512).squeeze("band", drop=True).compute()
    refl = apply_scaling(dn, before + after).compute().where(scl.isin([4, 5, 6]))
    common = refl.notnull().all("time").squeeze()
    assert int(common.sum()) > 1000
    medians = [
        float(np.nanmedian(refl.isel(time=t).squeeze().values[common.values])) for t in range(refl.sizes["time"])
    ]
    assert max(medians) - min(medians) < 0.03, medians
    # The trap itself: trusting raster:bands on a boa_offset_applied item lands 0.1 below the truth.
    applied = [k for k, i in enumerate(before + after) if i.properties["earthsearch:boa_offset_applied"]]
    if applied:
        k = applied[0]
        naive = dn.isel(time=k).squeeze().values.astype(float) * 0.0001 - 0.1
        assert abs(np.median(naive[common.values]) - medians[k] + 0.1) < 0.005


def test_missing_asset_loads_as_nodata_in_both_loaders(items, grid):
    """Earth Search trap: an item without one asset (here swir22)."""
    from geoml_helpers.load.loading import load_odc, load_stackstac

    missing = [i for i in items if "swir22" not in i.assets]
    assert len(missing) == 1
    others = [i for i in _by_tile(items, missing[0].properties["grid:code"][5:]) if i is not missing[0]][:1]
    sdn = load_stackstac(missing + others, grid, ["red", "swir22"], chunksize=512).compute()
    ids = list(sdn["id"].values)
    assert int(sdn.isel(time=ids.index(missing[0].id)).sel(band="swir22").max()) == 0  # filled with nodata
    assert int(sdn.isel(time=ids.index(missing[0].id)).sel(band="red").max()) > 0
    assert int(sdn.isel(time=ids.index(others[0].id)).sel(band="swir22").max()) > 0
    ods = load_odc(others + missing, grid, ["red", "swir22"], chunks={"x": 512, "y": 512}).compute()
    assert sorted(int(ods["swir22"].isel(time=t).max() > 0) for t in range(ods.sizes["time"])) == [0, 1]
    assert all(int(ods["red"].isel(time=t).max()) > 0 for t in range(ods.sizes["time"]))


def _missing_first(items):
    missing = [i for i in items if "swir22" not in i.assets]
    others = [i for i in _by_tile(items, missing[0].properties["grid:code"][5:]) if i is not missing[0]][:1]
    return missing + others


@pytest.mark.xfail(
    raises=ValueError, reason="odc-stac takes the bands from the first item: 'No such band/alias'", strict=True
)
def test_odc_stac_fails_when_the_first_item_lacks_the_asset(items, grid):
    """Earth Search trap (found with the replica): odc-stac itself raises when the *first* item misses a band."""
    import odc.stac

    odc.stac.load(_missing_first(items), bands=["red", "swir22"], geobox=grid.geobox(), chunks={}).compute()


def test_the_loader_loads_items_whose_first_lacks_the_asset(items, grid):
    """Earth Search trap: geoml's odc loader puts an item with every band first; the missing band is nodata."""
    from geoml_helpers.load.loading import load_odc, load_reflectance

    ordered = _missing_first(items)
    ds = load_odc(ordered, grid, ["red", "swir22"], chunks={"x": 512, "y": 512}).compute()
    assert ds.sizes["time"] == 2
    lacking = ds.sel(time=np.datetime64(ordered[0].datetime.replace(tzinfo=None)), method="nearest")
    assert int(lacking["swir22"].max()) == 0 and int(lacking["red"].max()) > 0
    refl = load_reflectance(ordered, grid, ["red", "swir22"], loader="odc", chunksize=512, mosaic=False).compute()
    assert np.isfinite(refl.sel(band="red")).any() and refl.sizes["time"] == 2


def test_one_datatake_over_two_tiles_and_zones_is_one_mosaicked_time_step(items, grid):
    """Earth Search trap: the same date comes from two MGRS tiles in two UTM zones (32UQU, 33UTP).

    The loader reprojects both onto the project grid (zone 32) and mosaics them per solar day: one time step
    with imagery on both sides of 12 E, each pixel from the first item with data.
    """
    from pyproj import Transformer

    from geoml_helpers.load.loading import load_reflectance

    day = next(
        d for d in sorted({i.datetime.date() for i in items}) if len({i.properties["grid:code"] for i in items
        if i.datetime.date() == d and not i.properties.get("s2:nodata_pixel_percentage", 0) > 50}) == 2
    )  # fmt: skip
    pair = [i for i in items if i.datetime.date() == day]
    assert len({i.properties["grid:code"] for i in pair}) == 2
    x = grid.x_centres()
    lon, _ = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(x, np.full_like(x, grid.y_centres().mean()))
    for loader in ("stackstac", "odc"):
        apart = load_reflectance(pair, grid, ["red"], loader=loader, chunksize=512, mask=False, mosaic=False).compute()
        mosaic = load_reflectance(pair, grid, ["red"], loader=loader, chunksize=512, mask=False).compute()
        assert apart.sizes["time"] == 2 and mosaic.sizes["time"] == 1
        valid = np.isfinite(mosaic.isel(time=0, band=0).values)
        assert valid[:, lon < 11.995].mean() > 0.85 and valid[:, lon > 12.005].mean() > 0.85, loader
        first_valid = apart.isel(time=0, band=0).fillna(apart.isel(time=1, band=0)).values
        np.testing.assert_array_equal(mosaic.isel(time=0, band=0).values, first_valid)
        assert all(np.isfinite(apart.isel(time=t, band=0).values).mean() > 0.5 for t in range(2)), loader


def test_the_overcast_scene_is_all_cloud(items, grid):
    """Earth Search trap: a 100 % cloudy scene still comes back from a search without a cloud filter."""
    from geoml_helpers.load.loading import load_stackstac

    cloudy = [i for i in items if i.properties["eo:cloud_cover"] == 100.0]
    assert cloudy
    scl = load_stackstac(cloudy[:1], grid, ["scl"], chunksize=512).compute().values
    assert set(np.unique(scl[scl > 0]).tolist()) <= {8, 9, 10}


def test_partial_swath_items_have_nodata_over_part_of_the_aoi(items, grid):
    """Earth Search trap: partial swaths, whose geometry is the imaged part and whose pixels are nodata elsewhere."""
    from shapely.geometry import shape

    from geoml_helpers.load.loading import load_stackstac

    tile_items = _by_tile(items, "32UQU")
    partial = [i for i in tile_items if i.properties["s2:nodata_pixel_percentage"] > 1]
    full = [i for i in tile_items if i.properties["s2:nodata_pixel_percentage"] == 0]
    assert partial and full
    assert shape(partial[0].geometry).area < 0.8 * shape(full[0].geometry).area
    dn = load_stackstac(partial[:1], grid, ["red"], chunksize=512).compute().values
    assert 0.05 < (dn > 0).mean() < 0.95


def test_label_classes_get_their_own_signatures(items, grid, spec):
    """The pixels are the project's classes: water is dark in the NIR, vegetation bright (on a clear date)."""
    from geoml_helpers.load.loading import load_reflectance

    labels = spec.read_labels().to_crs(32632)
    clear = [
        i
        for i in _by_tile(items, "32UQU")
        if i.properties["eo:cloud_cover"] < 5 and i.properties["s2:nodata_pixel_percentage"] == 0
    ]
    if not clear:
        clear = [min(_by_tile(items, "32UQU"), key=lambda i: i.properties["eo:cloud_cover"])]
    refl = load_reflectance(clear[:1], grid, ["red", "nir"], chunksize=512, mask=False).compute().squeeze("time")
    from rasterio.features import rasterize

    classes = sorted(labels["landcover"].unique())
    index = rasterize(
        [(g, classes.index(c) + 1) for g, c in zip(labels.geometry, labels["landcover"])],
        out_shape=grid.shape, transform=grid.transform, fill=0,
    )  # fmt: skip
    ndvi = ((refl.sel(band="nir") - refl.sel(band="red")) / (refl.sel(band="nir") + refl.sel(band="red"))).values
    means = {c: float(np.nanmean(ndvi[index == k + 1])) for k, c in enumerate(classes)}
    assert means["water"] < 0.1 < means["forest"], means
    assert len({round(v, 2) for v in means.values()}) == len(classes), means


@pytest.fixture(scope="module")
def copy_of_built(built, tmp_path_factory):
    """A second copy of the replica: the module's server holds the first one's object store."""
    import shutil

    from geoml_helpers.replica.build import open_replica

    target = tmp_path_factory.mktemp("replica-copy") / "replica" / "replica-ci"  # where the project looks
    shutil.copytree(built.root, target, ignore=shutil.ignore_patterns("LOCK"))
    return open_replica(target)


def test_a_replica_served_twice_says_so(built, served):
    from geoml_helpers.services.object_store import ObjectStoreError

    with pytest.raises(ObjectStoreError, match="already being served"), serve_replica(built):
        pass


def test_serving_leaves_no_process_behind(copy_of_built, monkeypatch):
    # by a path relative to the working directory, as `--data-dir build/x` gives it (SeaweedFS runs elsewhere)
    monkeypatch.chdir(copy_of_built.root.parent)
    with serve_replica(copy_of_built.root.name) as running:
        assert running.data.root.is_absolute()
        pids = [running.stac_server.pid, running.object_store.pid]
        assert requests.get(running.url, timeout=5).ok
    time.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_cli_serve_prints_the_url_and_stops_on_ctrl_c(copy_of_built, project_file):
    command = [
        sys.executable, "-m", "geoml_helpers.replica", "serve", "--project", str(project_file),
        "--replica-dir", str(copy_of_built.root),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT)
    url = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and url is None:
            line = process.stdout.readline()
            if not line:
                break
            if "STAC API root URL:" in line:
                url = line.split("STAC API root URL:")[1].split()[0]
        assert url and requests.get(url, timeout=5).ok
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


_SEARCH_AND_SAVE = """
import json, sys
import requests
from geoml_helpers.core.project import resolve_project
from geoml_helpers.discover.stac_search import open_stac_source, search_items
from geoml_helpers.load.loading import save_items
project = resolve_project(sys.argv[1], "ci")
with open_stac_source(project.stac, "ci", sys.argv[2], collection=project.collection) as source:
    found = search_items(source, bbox=[11.99, 47.86, 12.01, 47.88], datetime=project.datetime)
    save_items(found.items, sys.argv[2], name="items")
href = found.items[0].assets["red"].href
running = source.server
print(json.dumps({"url": source.url, "href": href, "ok_after_close": requests.head(href, timeout=10).ok,
                  "pids": [running.stac_server.pid, running.object_store.pid]}))
"""

_READ_AND_LOAD = """
import json, sys
from geoml_helpers.load.loading import Grid, load_stackstac, read_saved_items
items = read_saved_items(sys.argv[2] + "/items.ndjson")
grid = Grid(32632, tuple(json.loads(sys.argv[3])), 10.0)
dn = load_stackstac(items[:2], grid, ["red"], chunksize=512).compute()
print(json.dumps({"valid": float((dn.values > 0).mean())}))
"""


def test_a_replica_project_is_searched_like_earth_search_and_served_again_in_the_next_process(
    copy_of_built, grid, project_file
):
    """`stac = "earth-search-replica"`: open_stac_source serves the project's replica (no build: it is there).

    The server outlives the search's `with` block (lazy loads need it) and stops with the process; a second
    process (the next notebook) reading the saved items serves it again on the same ports, so the saved hrefs load.
    """
    data_dir = copy_of_built.root.parent.parent
    env = {**os.environ, "GEOML_DATA_DIR": str(data_dir)}
    run = [sys.executable, "-c"]
    first = subprocess.run(
        [*run, _SEARCH_AND_SAVE, str(project_file), str(data_dir)], capture_output=True, text=True, env=env, timeout=300
    )
    assert first.returncode == 0, first.stderr[-3000:]
    found = json.loads(first.stdout.strip().splitlines()[-1])
    assert found["ok_after_close"] and found["href"].startswith("http://127.0.0.1:")
    assert not found["url"].startswith("https://")
    time.sleep(1.0)
    for pid in found["pids"]:  # the servers stopped with the process
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    second = subprocess.run(
        [*run, _READ_AND_LOAD, str(project_file), str(data_dir), json.dumps(list(grid.bounds))],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout.strip().splitlines()[-1])["valid"] > 0.3


def test_an_item_copied_locally_is_read_by_torchgeo_with_the_served_pixels(items, grid, tmp_path):
    """Torchgeo globs local files: the AOI window of each band is copied (range reads) and read the same."""
    import rasterio
    from rasterio.windows import from_bounds

    from geoml_helpers.learn.deep import DemoSentinel2
    from geoml_helpers.load import copy_item_locally
    from geoml_helpers.load.cube import _course_assets

    item = _course_assets(_by_tile(items, "33UTP")[0].to_dict(), {"red": "red", "scl": "scl"})
    local = copy_item_locally(item, tmp_path, grid.bounds, f"EPSG:{grid.epsg}", bands=["red", "scl"])
    path = tmp_path / item["id"] / "red.tif"
    assert local["assets"]["red"]["href"] == path.resolve().as_uri()
    assert item["assets"]["red"]["href"].startswith("http://127.0.0.1:")  # the input is left alone
    with rasterio.open(path) as copied, rasterio.open(item["assets"]["red"]["href"]) as served:
        assert copied.crs == served.crs and copied.crs.to_epsg() == 32633  # the asset's own zone
        assert copied.width * copied.height < served.width * served.height / 100  # a window, not the tile
        window = from_bounds(*copied.bounds, transform=served.transform)
        assert np.array_equal(copied.read(1), served.read(1, window=window))
    scene = DemoSentinel2.from_item(local, bands=["red"])
    x, y, t = scene.bounds
    cx, cy = (x.start + x.stop) / 2, (y.start + y.stop) / 2  # the AOI's centre (nodata beyond the AOI)
    chip = scene[cx - 160 : cx + 160, cy - 160 : cy + 160, t]["image"]
    assert chip.shape[-2:] == (32, 32) and 0 < float(chip.min()) and float(chip.max()) < 1


def test_check_source_of_a_replica_project_builds_serves_and_checks_it(project_file, tmp_path):
    """`geoml check-source --project FILE` on a replica project, as `geoml init` suggests.

    The replica is built from the project, served, and its metadata traps reported (proj:code only;
    boa_offset_applied with -0.1).
    """
    geoml = Path(sys.executable).parent / "geoml"
    command = [str(geoml)] if geoml.exists() else [sys.executable, "-m", "geoml_helpers.cli"]
    done = subprocess.run(
        [*command, "check-source", "--project", str(project_file), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: the course can read this collection as it is." in done.stdout, done.stdout
    assert "proj:code" in done.stdout and "boa_offset_applied" in done.stdout, done.stdout
    assert (tmp_path / "replica").is_dir(), "the replica was not built under the data directory"
