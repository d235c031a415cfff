"""Labels and split blocks burnt onto the cube's grid (real ci demo data)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geoml_helpers.core.errors import LabelError
from geoml_helpers.load.rasterize import SPLIT_CODES, grid_of, rasterize_labels, rasterize_splits, split_mask


@pytest.fixture(scope="module")
def hs(demo_ci):
    return xr.open_zarr(demo_ci.hyperspectral_zarr_path)


@pytest.fixture(scope="module")
def grid10(demo_ci):
    """A DataArray on the demo 10 m grid (the analysis-ready cube's grid: same transform as the truth COG)."""
    import rioxarray

    return rioxarray.open_rasterio(demo_ci.truth_path).squeeze("band", drop=True)


def test_grid_matches_the_demo_transform(demo_ci, grid10):
    transform, shape = grid_of(grid10)
    assert shape == (demo_ci.profile.size_px, demo_ci.profile.size_px)
    assert transform.almost_equals(demo_ci.transform)


def test_labels_land_on_their_polygons(demo_ci, grid10):
    labels = demo_ci.read_labels()
    raster = rasterize_labels(labels, grid10)
    assert raster.shape == grid10.shape
    assert set(np.unique(raster.values)) - {0} <= set(labels["class_id"])
    transform, _ = grid_of(grid10)
    inv = ~transform
    for poly in labels.itertuples():
        pt = poly.geometry.representative_point()
        col, row = (int(v) for v in inv @ (pt.x, pt.y))
        # the pixel holding a point well inside the polygon carries its class,
        # unless the polygon is thinner than a pixel there
        if poly.geometry.contains(poly.geometry.representative_point().buffer(8)):
            assert raster.values[row, col] == poly.class_id
    # labels agree with the true land cover almost everywhere (they were digitised inside patches)
    truth = grid10.values
    labelled = raster.values > 0
    assert (truth[labelled] == raster.values[labelled]).mean() > 0.95


def test_split_codes_follow_the_blocks(demo_ci, grid10):
    blocks = demo_ci.read_blocks()
    splits = rasterize_splits(blocks, grid10)
    b = demo_ci.profile.block_px
    for block in blocks.itertuples():
        window = splits.values[block.row * b : (block.row + 1) * b, block.col * b : (block.col + 1) * b]
        assert (window == SPLIT_CODES[block.split]).all()
    masks = [split_mask(splits, s) for s in ("train", "val", "test")]
    assert (sum(m.astype(int) for m in masks) == 1).all()


def test_labels_on_the_30m_hyperspectral_grid(demo_ci, hs):
    raster = rasterize_labels(demo_ci.read_labels(), hs)
    assert raster.shape == (hs.sizes["y"], hs.sizes["x"])
    assert (raster.values > 0).sum() > 50
    splits = rasterize_splits(demo_ci.read_blocks(), hs)
    assert set(np.unique(splits.values)) == {1, 2, 3}


def test_polygons_far_away_raise_with_the_fix(demo_ci, grid10):
    labels = demo_ci.read_labels()
    moved = labels.set_geometry(labels.geometry.translate(1e6, 0))
    with pytest.raises(LabelError, match="CRS"):
        rasterize_labels(moved, grid10)


def test_irregular_grid_raises(grid10):
    bad = grid10.assign_coords(x=np.sort(np.random.default_rng(0).uniform(0, 1, grid10.sizes["x"])))
    with pytest.raises(LabelError, match="regular"):
        grid_of(bad)
