"""The analysis-ready cube: contract, correctness against the raw COGs, atomic and cached writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio

from geoml_helpers.load.cube import (
    CUBE_FORMAT_VERSION,
    composite_path,
    cube_path,
    ensure_analysis_ready_cube,
    ensure_composite_cog,
)
from geoml_helpers.load.loading import REFLECTANCE_BANDS


def test_contract(cube, demo_ci):
    refl = cube["reflectance"]
    assert refl.dims == ("time", "band", "y", "x")
    assert refl.dtype == np.float32
    assert list(refl["band"].values) == list(REFLECTANCE_BANDS)
    for name in ("ndvi", "ndwi", "nbr"):
        assert cube[name].dims == ("time", "y", "x")
        assert cube[name].dtype == np.float32
    assert cube.rio.crs.to_epsg() == 32734
    with rasterio.open(demo_ci.truth_path) as truth:
        assert (cube.sizes["y"], cube.sizes["x"]) == truth.shape
        assert refl.rio.transform().almost_equals(truth.transform)
    times = pd.DatetimeIndex(cube["time"].values)
    assert (times.day == 1).all() and times.is_monotonic_increasing and times.is_unique
    item_months = {pd.Timestamp(i["properties"]["datetime"][:7]) for i in demo_ci.s2_items()}
    assert set(times) == item_months


def test_values_match_raw_cogs_and_mask(cube, demo_ci):
    """A month with a single acquisition equals DN * scale + offset where SCL is clear, NaN elsewhere."""
    items = demo_ci.s2_items()
    months = pd.Series([pd.Timestamp(i["properties"]["datetime"][:7]) for i in items])
    single = months[~months.duplicated(keep=False)]
    index = int(single.index[0])
    item = items[index]
    with rasterio.open(item["assets"]["red"]["href"]) as src:
        dn = src.read(1)
    with rasterio.open(item["assets"]["scl"]["href"]) as src:
        scl = src.read(1).repeat(2, axis=0).repeat(2, axis=1)
    band = item["assets"]["red"]["raster:bands"][0]
    expected = (dn * band["scale"] + band["offset"]).astype(np.float32)
    clear = ~np.isin(scl, [0, 1, 3, 8, 9, 10]) & (dn != 0)
    got = cube["reflectance"].sel(time=months[index], band="red").values
    np.testing.assert_allclose(got[clear], expected[clear], atol=1e-6)
    assert np.isnan(got[~clear]).all()
    assert (cube["clear_count"].sel(time=months[index]).values == clear).all()


def test_median_and_indices_consistent(cube):
    refl = cube["reflectance"].values
    valid = refl[np.isfinite(refl)]
    assert -0.1 <= valid.min() and valid.max() <= 1.6
    no_obs = cube["clear_count"].values == 0
    assert np.isnan(refl.transpose(1, 0, 2, 3)[:, no_obs]).all()
    red = np.clip(cube["reflectance"].sel(band="red").values, 0, None)
    nir = np.clip(cube["reflectance"].sel(band="nir").values, 0, None)
    np.testing.assert_allclose(cube["ndvi"].values, (nir - red) / (nir + red), rtol=1e-5, atol=1e-6, equal_nan=True)
    ndvi = cube["ndvi"].values
    assert np.nanmin(ndvi) >= -1 and np.nanmax(ndvi) <= 1


def test_chunked_for_ml_and_written_atomically(cube, data_root):
    path = cube_path("ci", data_root)
    assert path.is_dir() and (path / ".zmetadata").exists()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".partial")]
    chunks = cube["reflectance"].encoding["chunks"]
    assert chunks[0] == cube.sizes["time"] and chunks[1] == cube.sizes["band"]
    assert cube.attrs["geoml_cube_format"] == CUBE_FORMAT_VERSION


def test_reopens_without_rebuilding_and_rebuilds_stale(cube, data_root):
    path = cube_path("ci", data_root)
    stamp = (path / ".zmetadata").stat().st_mtime_ns
    again = ensure_analysis_ready_cube("ci", data_root)
    assert (path / ".zmetadata").stat().st_mtime_ns == stamp
    assert again["reflectance"].shape == cube["reflectance"].shape
    # A cube of another format version is rebuilt, not trusted.
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    group.attrs["geoml_cube_format"] = -1
    zarr.consolidate_metadata(str(path))
    rebuilt = ensure_analysis_ready_cube("ci", data_root)
    assert rebuilt.attrs["geoml_cube_format"] == CUBE_FORMAT_VERSION
    np.testing.assert_array_equal(rebuilt["ndvi"].values, cube["ndvi"].values)


def test_composite_cog(cube, data_root):
    from geoml_helpers.load.cog import is_valid_cog

    path = ensure_composite_cog("ci", data_root)
    assert path == composite_path("ci", data_root)
    valid, errors = is_valid_cog(path)
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.count == len(REFLECTANCE_BANDS)
        assert src.descriptions[3] == "red"
        red = src.read(4)
    expected = np.nanmedian(cube["reflectance"].sel(band="red").values, axis=0)
    np.testing.assert_allclose(red, expected, atol=1e-6, equal_nan=True)


def test_a_projects_cube_is_on_its_own_grid_even_in_another_utm_zone(cube, demo_ci, data_root, tmp_path):
    """A user project asking for UTM 33S over the demo (which lies in 34S): items reprojected onto its grid."""
    from affine import Affine

    from geoml_helpers.core.project import load_project
    from geoml_helpers.demo.user_project import write_user_project
    from geoml_helpers.discover.labels import prepare_labels
    from geoml_helpers.load.cube import ensure_project_cube, project_cube_path

    toml = write_user_project(tmp_path, data_dir=data_root)
    text = toml.read_text()
    assert 'crs = "EPSG:32734"' in text and 'name = "field-survey-polygons"' in text
    toml.write_text(
        text.replace('crs = "EPSG:32734"', 'crs = "EPSG:32733"').replace(
            'name = "field-survey-polygons"', 'name = "zone-33"'
        )
    )
    project = load_project(toml)
    prepared = prepare_labels(project, data_root)
    ours = ensure_project_cube(project, "ci", data_root, labels=prepared)
    path = project_cube_path(project, "ci", data_root)
    assert path.parent.name == "zone-33" and path.parent.parent == cube_path("ci", data_root).parent
    assert ours.rio.crs.to_epsg() == 32733
    xmin, ymin, xmax, ymax = prepared.bounds
    assert ours.rio.transform().almost_equals(Affine(10.0, 0.0, xmin, 0.0, -10.0, ymax))
    assert (ours.sizes["y"], ours.sizes["x"]) == prepared.shape
    assert list(ours["band"].values) == list(REFLECTANCE_BANDS)
    # The same land, resampled into another zone: per-band means of the common months agree with the demo cube.
    months = np.intersect1d(ours["time"].values, cube["time"].values)
    assert len(months) >= 6
    ours_mean = ours["reflectance"].sel(time=months).mean(("y", "x")).values
    demo_mean = cube["reflectance"].sel(time=months).mean(("y", "x")).values
    np.testing.assert_allclose(ours_mean, demo_mean, atol=0.01)
    # Cached per project key: a second call opens the same store.
    built = path.stat().st_mtime
    ensure_project_cube(project, "ci", data_root)
    assert path.stat().st_mtime == built
