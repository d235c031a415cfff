"""Loading demo STAC items with stackstac and odc-stac.

Grid, scaling (incl. the BOA-offset trap), SCL mask, clipping, composites.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from geoml_helpers.core.errors import LabelError
from geoml_helpers.discover.stac_search import open_stac_source, search_items
from geoml_helpers.load.loading import (
    DEFAULT_MASK_CLASSES,
    Grid,
    LoadingError,
    apply_scaling,
    clip_to_aoi,
    compute_indices,
    load_odc,
    load_reflectance,
    load_stackstac,
    masked_fraction,
    monthly_median,
    odc_to_array,
    scaling_table,
)


@pytest.fixture(scope="module")
def items(demo_ci):
    return demo_ci.s2_items()


@pytest.fixture(scope="module")
def grid(demo_ci):
    return Grid.of_demo(demo_ci)


def test_grid_matches_demo_truth(demo_ci, grid):
    with rasterio.open(demo_ci.truth_path) as src:
        assert grid.shape == src.shape
        assert grid.transform.almost_equals(src.transform)
        assert grid.epsg == src.crs.to_epsg()


def test_stackstac_and_odc_load_identical_dns_on_the_item_grid(items, grid):
    bands = ["red", "swir16"]
    a = load_stackstac(items[:3], grid, bands)
    b = odc_to_array(load_odc(items[:3], grid, bands), bands)
    assert a.dtype == b.dtype == np.uint16
    assert a.shape == b.shape == (3, 2, *grid.shape)
    np.testing.assert_allclose(a["x"].values, grid.x_centres())
    np.testing.assert_allclose(b["y"].values, grid.y_centres())
    a_values, b_values = a.values, b.values
    np.testing.assert_array_equal(a_values, b_values)
    # The 10 m band equals the COG pixel for pixel; the 20 m band is each native pixel repeated 2 x 2.
    with rasterio.open(items[0]["assets"]["red"]["href"]) as src:
        np.testing.assert_array_equal(a_values[0, 0], src.read(1))
    with rasterio.open(items[0]["assets"]["swir16"]["href"]) as src:
        np.testing.assert_array_equal(a_values[0, 1], src.read(1).repeat(2, 0).repeat(2, 1))


def test_items_found_through_the_api_load_like_local_dicts(stac_server, demo_ci, items, grid):
    import pystac_client

    client = pystac_client.Client.open(stac_server.url)
    found = list(client.search(collections=["sentinel-2-l2a"], datetime="2024-01-01/2024-03-31").items())
    assert found
    by_api = load_stackstac(found, grid, ["nir"]).values
    local = [i for i in items if i["id"] in {f.id for f in found}]
    np.testing.assert_array_equal(by_api, load_stackstac(local, grid, ["nir"]).values)


def test_scaling_uses_item_metadata_and_avoids_the_boa_trap(items, grid):
    dn = load_stackstac(items[:1], grid, ["red"])
    normal = apply_scaling(dn, items[:1]).values
    harmonised = copy.deepcopy(items[0])
    harmonised["properties"]["earthsearch:boa_offset_applied"] = True
    trap = apply_scaling(dn, [harmonised]).values
    raw = dn.values.astype(np.float64)
    valid = raw > 0
    np.testing.assert_allclose(normal[valid], raw[valid] * 1e-4 - 0.1, atol=1e-6)
    np.testing.assert_allclose(trap[valid] - normal[valid], 0.1, atol=1e-6)
    assert np.isnan(normal[~valid]).all()


def test_scaling_table_on_real_earth_search_items(real_stac_dir):
    rows = {}
    for path in sorted(real_stac_dir.glob("earth-search-v1_sentinel-2-l2a_item_*.json")):
        item = json.loads(path.read_text())
        table = scaling_table([item], ["red"])
        rows[item["properties"].get("earthsearch:boa_offset_applied")] = float(table["offset"].iloc[0])
    assert rows[True] == 0.0  # declared -0.1, but the pixels are already harmonised
    assert rows[False] == 0.0  # baseline 02.14: no offset at all


def test_cloud_mask_matches_scl(items, grid):
    item = max(items, key=lambda i: i["properties"]["eo:cloud_cover"])
    scl = load_stackstac([item], grid, ["scl"])
    with rasterio.open(item["assets"]["scl"]["href"]) as src:
        native = src.read(1)
    expected = float(np.isin(native, DEFAULT_MASK_CLASSES).mean())
    assert float(masked_fraction(scl).values[0]) == pytest.approx(expected, abs=1e-9)
    refl = load_reflectance([item], grid, ["red"]).values[0, 0]
    assert np.isnan(refl).mean() == pytest.approx(expected, abs=1e-9)
    assert expected > 0.05  # the cloudiest demo date has clouds to mask


def test_monthly_median_matches_numpy(items, grid):
    times = pd.to_datetime([i["properties"]["datetime"] for i in items]).tz_localize(None)
    months = times.to_period("M")
    month = months[months.duplicated()][0] if months.duplicated().any() else months[0]
    chosen = [i for i, m in zip(items, months) if m == month]
    refl = load_reflectance(chosen, grid, ["nir"])
    composite = monthly_median(refl)
    assert composite.sizes["time"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(refl.values, axis=0)
    np.testing.assert_allclose(composite.values[0], expected, equal_nan=True)


def test_indices_range(items, grid):
    refl = load_reflectance(items[:2], grid, ["green", "red", "nir", "swir22"])
    idx = compute_indices(refl).compute()
    for name in ("ndvi", "ndwi", "nbr"):
        values = idx[name].values
        assert np.nanmin(values) >= -1 and np.nanmax(values) <= 1


def test_clip_to_aoi_and_outside_error(items, grid):
    refl = load_reflectance(items[:1], grid, ["red"])
    xmin, ymin, xmax, ymax = grid.bounds
    inner = box(xmin + 500, ymin + 500, xmin + 1000, ymin + 1000)
    clipped = clip_to_aoi(refl, [inner], grid.crs)
    assert clipped.sizes["x"] == 50 and clipped.sizes["y"] == 50
    with pytest.raises(LabelError, match="does not overlap"):
        clip_to_aoi(refl, [box(xmin - 50000, ymin, xmin - 40000, ymin + 1000)], grid.crs)


def test_empty_items_raise_clear_error(grid):
    with pytest.raises(LoadingError, match="No items"):
        load_stackstac([], grid)


def test_empty_search_names_parameters_to_widen(demo_ci, data_root):
    from geoml_helpers.core.errors import EmptySearchError

    with open_stac_source("local", "ci", data_root) as source:
        with pytest.raises(EmptySearchError, match="Widen the search"):
            search_items(source, bbox=[18.9, -33.99, 18.98, -33.95], datetime="2019-01-01/2019-12-31")
