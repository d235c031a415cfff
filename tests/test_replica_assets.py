"""Full-size sparse COGs written directly in the COG layout: GDAL reads them, rio-cogeo validates them."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from geoml_helpers.replica.assets import overview_count, write_sparse_cog

TRANSFORM = Affine(10, 0, 699960, 0, -10, 5400000)


@pytest.mark.parametrize("offset", [(0, 0), (1000, 1020), (10980 - 37, 10980 - 53)])
def test_window_reads_back_and_the_rest_is_nodata(tmp_path, offset):
    rng = np.random.default_rng(1)
    window = rng.integers(1, 30000, size=(37, 53), dtype=np.uint16)
    path = write_sparse_cog(
        tmp_path / "b.tif", window, offset, (10980, 10980), TRANSFORM, 32632, nodata=0, band_names=["B04"]
    )
    with rasterio.open(path) as src:
        assert src.shape == (10980, 10980) and src.crs.to_epsg() == 32632 and src.transform == TRANSFORM
        assert src.nodata == 0 and src.descriptions == ("B04",) and src.overviews(1) == [2, 4, 8, 16]
        r, c = offset
        assert np.array_equal(src.read(1, window=((r, r + 37), (c, c + 53))), window)
        full = src.read(1, out_shape=(686, 686))  # from an overview: data only near the window
        assert full.max() > 0 and (full > 0).mean() < 0.01
    assert path.stat().st_size < 200_000
    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, errors


def test_rgb_and_nearest_overviews(tmp_path):
    classes = np.zeros((2, 64, 64), np.uint8)
    classes[:, :, :32] = 4
    classes[:, :, 32:] = 9
    path = write_sparse_cog(
        tmp_path / "scl.tif",
        classes[0],
        (100, 100),
        (5490, 5490),
        TRANSFORM @ Affine.scale(2),
        32632,
        resampling="nearest",
    )
    with rasterio.open(path) as src:
        assert set(np.unique(src.read(1, out_shape=(687, 687)))) <= {0, 4, 9}  # no averaged class codes
    rgb = np.full((3, 10, 10), 200, np.uint8)
    path = write_sparse_cog(tmp_path / "tci.tif", rgb, (0, 0), (10980, 10980), TRANSFORM, 32632, photometric="rgb")
    with rasterio.open(path) as src:
        assert (
            src.count == 3 and src.profile["interleave"] == "pixel" and src.read(window=((0, 10), (0, 10))).min() == 200
        )


def test_overview_levels_like_gdal():
    assert [overview_count(n) for n in (10980, 5490, 1830, 1024)] == [4, 3, 1, 0]


def test_a_window_outside_the_image_is_refused(tmp_path):
    with pytest.raises(ValueError, match="does not fit"):
        write_sparse_cog(tmp_path / "x.tif", np.ones((10, 10), np.uint16), (10975, 0), (10980, 10980), TRANSFORM, 32632)
