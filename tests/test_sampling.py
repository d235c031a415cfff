"""Sampling labelled pixels from the real ci cube."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.affinity import translate

from geoml_helpers.core.errors import LabelError
from geoml_helpers.learn.features import feature_names
from geoml_helpers.learn.sampling import balance_classes, feature_matrix, polygon_index_raster, sample_pixels


@pytest.fixture(scope="module")
def labels(demo_ci):
    return demo_ci.read_labels()


@pytest.fixture(scope="module")
def samples(cube, labels):
    return sample_pixels(cube, labels)


def test_samples_keep_polygon_block_and_class(samples, labels):
    by_polygon = labels.set_index("polygon_id")
    assert set(samples["polygon_id"]) <= set(labels["polygon_id"])
    np.testing.assert_array_equal(
        samples["class_id"].to_numpy(), by_polygon.loc[samples["polygon_id"], "class_id"].to_numpy()
    )
    np.testing.assert_array_equal(
        samples["block_id"].to_numpy(), by_polygon.loc[samples["polygon_id"], "block_id"].to_numpy()
    )
    assert set(samples["class_id"]) == set(labels["class_id"])


def test_every_sample_lies_inside_its_polygon(samples, labels):
    import geopandas as gpd

    points = gpd.GeoSeries(gpd.points_from_xy(samples["x"], samples["y"]), crs=labels.crs)
    polys = labels.set_index("polygon_id").geometry.loc[samples["polygon_id"]].reset_index(drop=True)
    assert polys.contains(points).all()


def test_sample_count_matches_the_rasterised_polygons(cube, labels, samples):
    index = polygon_index_raster(labels, cube)
    assert (index >= 0).sum() == len(samples) + samples.attrs["dropped_nan"]


def test_samples_agree_with_the_true_land_cover(samples, demo_ci):
    import rasterio

    with rasterio.open(demo_ci.truth_path) as src:
        truth = src.read(1)
    agree = (truth[samples["row"], samples["col"]] == samples["class_id"]).mean()
    assert agree > 0.99


def test_max_pixels_per_polygon_is_seeded(cube, labels):
    a = sample_pixels(cube, labels, max_pixels_per_polygon=20, seed=3)
    b = sample_pixels(cube, labels, max_pixels_per_polygon=20, seed=3)
    c = sample_pixels(cube, labels, max_pixels_per_polygon=20, seed=4)
    assert a.groupby("polygon_id").size().max() == 20
    assert a.equals(b)
    assert not a[["row", "col"]].equals(c[["row", "col"]])


def test_balance_classes_caps_majority_classes_only(samples):
    counts = samples["class_id"].value_counts()
    balanced = balance_classes(samples, seed=0)
    cap = int(np.median(counts))
    after = balanced["class_id"].value_counts()
    assert after.max() == cap
    for class_id, n in counts.items():
        assert after[class_id] == min(n, cap)
    assert balance_classes(samples, seed=0).equals(balanced)
    per_polygon = balance_classes(samples, max_per_class=10**6, max_per_polygon=15, seed=0)
    assert per_polygon.groupby("polygon_id").size().max() == 15


def test_feature_matrix_uses_the_feature_columns(samples, cube):
    X, y = feature_matrix(samples)
    assert X.shape == (len(samples), len(feature_names([str(b) for b in cube.band.values])))
    assert np.isfinite(X).all()
    assert (y == samples["class_id"].to_numpy()).all()


def test_labels_outside_the_imagery_fail_clearly(cube, labels):
    far = labels.copy()
    far["geometry"] = far.geometry.apply(lambda g: translate(g, xoff=500_000))
    with pytest.raises(LabelError, match="No label polygon covers a pixel"):
        sample_pixels(cube, far)


def test_labels_without_crs_or_columns_fail_clearly(cube, labels):
    with pytest.raises(LabelError, match="no CRS"):
        sample_pixels(cube, labels.set_crs(None, allow_override=True))
    with pytest.raises(LabelError, match="block_id"):
        sample_pixels(cube, labels.drop(columns="block_id"))


def test_labels_in_another_crs_are_reprojected(cube, labels, samples):
    again = sample_pixels(cube, labels.to_crs("EPSG:4326"))
    assert abs(len(again) - len(samples)) <= 0.02 * len(samples)
