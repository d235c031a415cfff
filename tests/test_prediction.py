"""Lazy scene prediction and COG output, on the real ci cube and the lazy synthetic tile."""

from __future__ import annotations

import json

import dask
import numpy as np
import pytest
import rasterio
from sklearn.ensemble import RandomForestClassifier

from geoml_helpers.demo.classes import NODATA_CLASS, demo_class_table
from geoml_helpers.demo.lazy_tile import lattice_noise, lazy_s2_tile, tile_truth
from geoml_helpers.learn.features import day_of_year
from geoml_helpers.learn.prediction import PROBABILITY_NODATA, predict_chunk, predict_lazy, write_prediction_cogs
from geoml_helpers.learn.sampling import balance_classes, feature_matrix, sample_pixels
from geoml_helpers.load.cog import is_valid_cog


@pytest.fixture(scope="module")
def model(cube, demo_ci):
    samples = balance_classes(sample_pixels(cube, demo_ci.read_labels(), max_pixels_per_polygon=60, seed=0), seed=0)
    X, y = feature_matrix(samples)
    return RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=2, class_weight="balanced").fit(X, y)


def test_lazy_prediction_equals_in_memory_prediction(cube, model):
    pred = predict_lazy(model, cube, chunk_px=100)
    assert hasattr(pred["class_id"].data, "dask") and pred["class_id"].data.numblocks == (3, 3)
    refl = cube["reflectance"].transpose("time", "band", "y", "x")
    direct = predict_chunk(model, refl.values, day_of_year(refl.time.values), [str(b) for b in refl.band.values])
    np.testing.assert_array_equal(pred["class_id"].values, direct[0])
    np.testing.assert_array_equal(pred["probability"].values, direct[1:])
    assert model.n_jobs == 2, "the caller's model must not be modified"


def test_prediction_matches_the_truth_mostly(cube, model, demo_ci):
    with rasterio.open(demo_ci.truth_path) as src:
        truth = src.read(1)
    pred = predict_lazy(model, cube)["class_id"].values
    assert (pred == truth).mean() > 0.6
    assert set(np.unique(pred)) <= set(model.classes_.tolist())


def test_probabilities_sum_to_about_100(cube, model):
    proba = predict_lazy(model, cube)["probability"].values.astype(int)
    total = proba.sum(axis=0)
    assert np.abs(total - 100).max() <= len(model.classes_)


def test_never_observed_pixels_become_nodata(cube, model):
    broken = cube.copy()
    refl = broken["reflectance"].values.copy()
    refl[:, 3, :10, :10] = np.nan
    broken["reflectance"] = (broken["reflectance"].dims, refl)
    pred = predict_lazy(model, broken.rio.write_crs(cube.rio.crs))
    assert (pred["class_id"].values[:10, :10] == NODATA_CLASS).all()
    assert (pred["probability"].values[:, :10, :10] == PROBABILITY_NODATA).all()
    assert (pred["class_id"].values[10:, 10:] != NODATA_CLASS).all()


@pytest.mark.parametrize("max_in_memory_mb", [256.0, 0.0])
def test_cogs_are_valid_and_georeferenced(cube, model, tmp_path, max_in_memory_mb):
    table = demo_class_table()
    pred = predict_lazy(model, cube, classes=table, chunk_px=96)
    paths = write_prediction_cogs(pred, tmp_path, classes=table, max_in_memory_mb=max_in_memory_mb)
    for path in paths.values():
        valid, errors = is_valid_cog(path)
        assert valid, errors
    with rasterio.open(paths["class"]) as src:
        assert src.crs.to_epsg() == 32734
        assert src.transform == cube.rio.transform()
        assert src.overviews(1), "COGs need overviews"
        assert src.colormap(1)[1][:3] == (155, 191, 74)
        assert json.loads(src.tags()["classes"]) == table.to_records()
        np.testing.assert_array_equal(src.read(1), pred["class_id"].values)
    with rasterio.open(paths["probability"]) as src:
        assert src.count == len(model.classes_)
        assert src.descriptions[0] == "p_fynbos"
        np.testing.assert_array_equal(src.read(), pred["probability"].values)


def test_lazy_tile_is_lazy_deterministic_and_seamless():
    tile = lazy_s2_tile(size_px=10980, chunk_px=128)
    assert tile.shape == (12, 11, 10980, 10980) and tile.nbytes > 60e9
    assert tile.data.npartitions == 86**2
    a = tile[:, :, 120:136, 120:136].values  # straddles four chunks
    b = lazy_s2_tile(size_px=10980, chunk_px=64)[:, :, 120:136, 120:136].values
    again = lazy_s2_tile(size_px=10980, chunk_px=128)[:, :, 120:136, 120:136].values
    np.testing.assert_array_equal(a, again)  # deterministic
    assert 0.8 < np.isfinite(a).mean() < 1.0 or np.isfinite(a).all()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))  # cloud gaps do not depend on the chunking
    # the landscape is chunking-independent; only the per-chunk noise is seeded by chunk position
    np.testing.assert_allclose(np.nanmean(a, axis=(2, 3)), np.nanmean(b, axis=(2, 3)), atol=0.01)
    truth = tile_truth(10980, 128)[120:136, 120:136].compute()
    np.testing.assert_array_equal(truth, tile_truth(10980, 64)[120:136, 120:136].compute())


def test_lattice_noise_is_seamless_across_windows():
    whole = lattice_noise(100, 200, 64, 64, 13.0, seed=1, salt=2)
    part = lattice_noise(130, 230, 20, 20, 13.0, seed=1, salt=2)
    np.testing.assert_allclose(whole[30:50, 30:50], part, rtol=1e-6)


def test_tile_prediction_goes_through_the_same_helper(model, tmp_path):
    tile = lazy_s2_tile(size_px=300, chunk_px=128, seed=1)
    pred = predict_lazy(model, tile, classes=demo_class_table())
    assert pred["class_id"].data.numblocks == (3, 3)
    # Generating a chunk and classifying it fuse into one task: the 12-month reflectance chunk (138 MB at 512 px)
    # is never stored by a worker or sent to another one.
    (optimized,) = dask.optimize(pred["class_id"].data)
    tasks = [
        key for key in dict(optimized.__dask_graph__()) if "synthetic-s2-tile" in str(key) and "predict" not in str(key)
    ]
    assert tasks == []
    paths = write_prediction_cogs(pred, tmp_path, prefix="tile", max_in_memory_mb=0.0)
    with rasterio.open(paths["class"]) as src:
        classes = src.read(1)
        assert src.bounds.left == 300000.0
    truth = tile_truth(300, 128, seed=1).compute()
    assert (classes == truth).mean() > 0.4  # a model trained on the demo valley transfers to the synthetic tile
