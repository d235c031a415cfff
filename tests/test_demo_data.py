"""The demo world: determinism, valid COGs and STAC, labels and splits, atomic builds."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pystac
import pytest
import rasterio
from shapely.geometry import box

from geoml_helpers.core.errors import IncompleteDataError
from geoml_helpers.demo import build_demo_data, ensure_demo_data, open_demo_data
from geoml_helpers.demo.build import MARKER_NAME, file_hashes
from geoml_helpers.demo.classes import CLASS_NAMES
from geoml_helpers.demo.sentinel2 import BAND_KEYS, SCL_CLOUD_HIGH, SCL_CLOUD_MEDIUM, SCL_THIN_CIRRUS, band_by_key
from geoml_helpers.discover.stac_metadata import reflectance_scaling
from geoml_helpers.load.cog import is_valid_cog


def test_same_seed_gives_identical_files(demo_ci, tmp_path):
    again = build_demo_data("ci", root=tmp_path, progress=False)
    first, second = file_hashes(demo_ci.root), file_hashes(again.root)
    assert len(first) > 150
    assert first == second


def test_another_seed_gives_another_world(demo_ci, tmp_path):
    other = build_demo_data("ci", root=tmp_path, seed=7, progress=False)
    with rasterio.open(demo_ci.truth_path) as a, rasterio.open(other.truth_path) as b:
        assert (a.read(1) != b.read(1)).mean() > 0.2


def test_every_cog_is_valid(demo_ci):
    tifs = sorted(demo_ci.root.rglob("*.tif"))
    assert len(tifs) == 12 * 13 + 2
    invalid = {str(p.relative_to(demo_ci.root)): errors for p in tifs for ok, errors in [is_valid_cog(p)] if not ok}
    assert invalid == {}


def test_items_validate_against_the_stac_core_schema(demo_ci):
    # pystac ships the core schemas; the extension schemas live on stac-extensions.github.io,
    # which is unreachable offline, so extension fields are checked through pystac's extension classes.
    from pystac.extensions.eo import EOExtension
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.raster import RasterExtension
    from pystac.validation import validate_dict

    # pystac migrates the 1.0.0 documents (as Earth Search writes them) to 1.1.0, whose schemas it bundles.
    for collection_id in demo_ci.collection_ids():
        collection = pystac.Collection.from_dict(json.loads(demo_ci.collection_path(collection_id).read_text()))
        validate_dict(collection.to_dict(), extensions=[])
        for item_dict in demo_ci.items(collection_id, absolute=False):
            item = pystac.Item.from_dict(item_dict)
            validate_dict(item.to_dict(), extensions=[])
            assert ProjectionExtension.ext(item).epsg == 32734
            if collection_id == "sentinel-2-l2a":
                assert EOExtension.ext(item).cloud_cover is not None
                red = RasterExtension.ext(item.assets["red"]).bands[0]
                assert (red.scale, red.offset, red.nodata) == (0.0001, -0.1, 0)
                assert EOExtension.ext(item.assets["nir08"]).bands[0].common_name == "nir08"


def test_assets_at_native_resolution_with_earth_search_keys(demo_ci):
    item = demo_ci.s2_items()[0]
    assert set(BAND_KEYS) | {"scl", "visual"} <= set(item["assets"])
    for key in BAND_KEYS + ("scl",):
        with rasterio.open(item["assets"][key]["href"]) as src:
            expected = band_by_key(key).resolution_m if key != "scl" else 20
            assert src.res == (expected, expected)
            assert src.crs.to_epsg() == 32734
            assert list(src.shape) == item["assets"][key]["proj:shape"]
            assert src.dtypes[0] == ("uint8" if key == "scl" else "uint16")


def test_reflectance_is_physical_after_scaling(demo_ci):
    for item in demo_ci.s2_items()[:3]:
        with rasterio.open(item["assets"]["nir"]["href"]) as src:
            dn = src.read(1)
        scaling = reflectance_scaling(item, "nir")
        reflectance = scaling.apply(dn[dn > 0].astype("float64"))
        assert -0.05 < np.percentile(reflectance, 1) and np.percentile(reflectance, 99) < 0.75


def test_cloud_cover_property_matches_scl(demo_ci):
    covers = []
    for item in demo_ci.s2_items():
        with rasterio.open(item["assets"]["scl"]["href"]) as src:
            scl = src.read(1)
        valid = scl != 0
        measured = 100 * np.isin(scl[valid], [SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS]).mean()
        assert item["properties"]["eo:cloud_cover"] == pytest.approx(measured, abs=1e-3)
        covers.append(measured)
    assert min(covers) == 0 and max(covers) > 70, "the series needs clear and overcast dates"
    assert sum(0 < c < 60 for c in covers) >= 2


def test_some_dates_have_nodata_edges(demo_ci):
    nodata = [item["properties"]["s2:nodata_pixel_percentage"] for item in demo_ci.s2_items()]
    assert any(n > 1 for n in nodata) and any(n == 0 for n in nodata)


def test_series_spans_a_year_with_seasonal_phenology(demo_ci):
    items = demo_ci.s2_items()
    dates = sorted(item["properties"]["datetime"][:10] for item in items)
    assert dates[0] < "2024-02-01" and dates[-1] > "2024-11-01"
    with rasterio.open(demo_ci.truth_path) as src:
        truth = src.read(1)

    def median_ndvi(item, class_id):
        with rasterio.open(item["assets"]["red"]["href"]) as r, rasterio.open(item["assets"]["nir"]["href"]) as n:
            red, nir = r.read(1).astype(float) * 1e-4 - 0.1, n.read(1).astype(float) * 1e-4 - 0.1
        with rasterio.open(item["assets"]["scl"]["href"]) as s:
            clear = np.isin(np.kron(s.read(1), np.ones((2, 2), dtype=np.uint8)), [4, 5, 6])
        mask = (truth == class_id) & clear
        return float(np.median((nir[mask] - red[mask]) / (nir[mask] + red[mask]))) if mask.sum() >= 200 else np.nan

    def winter_amplitude(class_id):
        """Least-squares harmonic fit over every date: the amplitude of a cycle peaking in mid-August (day 225)."""
        doy = np.array(
            [int(dt.date.fromisoformat(i["properties"]["datetime"][:10]).strftime("%j")) for i in items], dtype=float
        )
        values = np.array([median_ndvi(i, class_id) for i in items])
        ok = np.isfinite(values)
        angle = 2 * np.pi * (doy[ok] - 225.0) / 365.25
        design = np.column_stack([np.ones(ok.sum()), np.cos(angle), np.sin(angle)])
        return float(np.linalg.lstsq(design, values[ok], rcond=None)[0][1])

    # A fit over all dates, not a few summer and winter scenes: each date carries its own residual atmospheric
    # error (about +-0.02 NDVI on the dark tree canopy), which a handful of dates does not average out.
    fynbos_amplitude, trees_amplitude = winter_amplitude(1), winter_amplitude(2)
    assert fynbos_amplitude > 0.02, "fynbos greens up with the winter rains"
    assert abs(trees_amplitude) < 0.5 * fynbos_amplitude, "invasive trees are evergreen"


def test_labels_cover_every_class_and_never_cross_blocks(demo_ci):
    labels, blocks = demo_ci.read_labels(), demo_ci.read_blocks()
    assert labels.crs.to_epsg() == 32734 and labels.geometry.is_valid.all()
    assert set(labels["class_id"]) == set(CLASS_NAMES)
    assert set(labels.loc[labels.split == "train", "class_id"]) == set(CLASS_NAMES)
    assert set(labels.loc[labels.split == "test", "class_id"]) == set(CLASS_NAMES)
    joined = labels.merge(blocks[["block_id", "split", "geometry"]], on="block_id", suffixes=("", "_block"))
    assert (joined["split"] == joined["split_block"]).all()
    assert all(poly.within(block.buffer(0.01)) for poly, block in zip(joined.geometry, joined.geometry_block))
    assert box(*demo_ci.bounds).contains(labels.union_all())


def test_label_polygons_sit_on_their_class(demo_ci):
    from rasterio.features import geometry_mask

    labels = demo_ci.read_labels()
    with rasterio.open(demo_ci.truth_path) as src:
        truth = src.read(1)
        for row in labels.itertuples():
            inside = ~geometry_mask([row.geometry], out_shape=truth.shape, transform=src.transform)
            assert (truth[inside] == row.class_id).mean() > 0.9


def test_flatgeobuf_copy_matches_geoparquet(demo_ci):
    import geopandas as gpd

    parquet, fgb = demo_ci.read_labels(), gpd.read_file(demo_ci.labels_fgb_path)
    # FlatGeobuf's spatial index reorders features, so compare by polygon id.
    fgb = fgb.sort_values("polygon_id").reset_index(drop=True)
    assert len(parquet) == len(fgb)
    assert list(parquet.class_id) == list(fgb.class_id)
    assert parquet.geometry.geom_equals_exact(fgb.geometry, tolerance=0.01).all()


def test_hyperspectral_cube(demo_ci):
    import xarray as xr

    cube = xr.open_zarr(demo_ci.hyperspectral_zarr_path)
    assert cube.reflectance.dims == ("band", "y", "x")
    assert 190 <= cube.sizes["band"] <= 230
    assert float(cube.wavelength.min()) <= 420 and float(cube.wavelength.max()) >= 2450
    assert cube.sizes["x"] == demo_ci.profile.size_px // 3
    with rasterio.open(demo_ci.hyperspectral_cog_path) as src:
        assert src.res == (30.0, 30.0) and src.count == cube.sizes["band"]
        first = src.read(50) * 1e-4
    assert np.allclose(first, cube.reflectance.isel(band=49).values, atol=1e-4)


def test_partial_build_is_never_taken_as_complete(demo_ci, tmp_path):
    copy = tmp_path / "ci"
    shutil.copytree(demo_ci.root, copy)
    (copy / MARKER_NAME).unlink()
    with pytest.raises(IncompleteDataError, match="completion marker"):
        open_demo_data("ci", root=tmp_path)
    rebuilt = ensure_demo_data("ci", root=tmp_path, progress=False)
    assert (rebuilt.root / MARKER_NAME).exists()
    assert file_hashes(rebuilt.root) == file_hashes(demo_ci.root)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ci-building-")]


def test_cli_builds_and_reports(tmp_path, capsys):
    from geoml_helpers.demo.__main__ import main

    assert main(["build", "--profile", "ci", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "ci" / MARKER_NAME).exists()
    assert main(["build", "--profile", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "Unknown profile" in capsys.readouterr().err
