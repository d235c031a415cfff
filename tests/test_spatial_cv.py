"""Random versus spatial cross-validation on the real ci samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from geoml_helpers.demo.classes import CLASS_NAMES
from geoml_helpers.learn.sampling import sample_pixels
from geoml_helpers.learn.spatial_cv import TooFewSamplesError, check_cv_feasible, compare_cv, make_cv
from geoml_helpers.load.cube import ensure_analysis_ready_cube


@pytest.fixture(scope="module")
def samples(demo_ci, data_root):
    cube = ensure_analysis_ready_cube("ci", data_dir=data_root)
    table = sample_pixels(cube, demo_ci.read_labels(), max_pixels_per_polygon=40, seed=0)
    return table[table["split"] != "test"].reset_index(drop=True)


@pytest.mark.parametrize("scheme", ["block", "polygon"])
def test_group_folds_never_share_a_group(samples, scheme):
    groups = samples[f"{scheme}_id"].to_numpy()
    for train, test in make_cv(scheme, 5, seed=0).split(samples, samples["class_id"], groups):
        assert not set(groups[train]) & set(groups[test])


def test_random_folds_do_share_polygons(samples):
    groups = samples["polygon_id"].to_numpy()
    shared = [
        len(set(groups[train]) & set(groups[test])) for train, test in make_cv("random", 5, seed=0).split(samples)
    ]
    assert min(shared) > 0


def test_random_cv_is_more_optimistic_than_block_cv(samples):
    model = RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1, class_weight="balanced")
    scores = compare_cv(model, samples, schemes=("random", "block"), n_splits=4, seed=0, class_names=CLASS_NAMES)
    mean = scores.groupby("scheme")["score"].mean()
    assert set(scores["scheme"]) == {"random", "block"} and len(scores) == 8
    assert mean["random"] > mean["block"]
    again = compare_cv(model, samples, schemes=("random", "block"), n_splits=4, seed=0)
    np.testing.assert_array_equal(scores["score"], again["score"])


def test_a_class_with_too_few_samples_is_named(samples):
    rare = samples.groupby("class_id").head(10**6)
    rare = rare[(rare["class_id"] != 3) | (rare.index.isin(rare[rare["class_id"] == 3].index[:2]))]
    with pytest.raises(TooFewSamplesError, match=r"3 \(water\) has 2 sample\(s\), fewer than the 5 CV folds"):
        compare_cv(
            RandomForestClassifier(n_estimators=5), rare, schemes=("random",), n_splits=5, class_names=CLASS_NAMES
        )


def test_a_class_in_a_single_block_is_refused(samples):
    block = samples.loc[samples["class_id"] == 2, "block_id"].iloc[0]
    one_block = samples[(samples["class_id"] != 2) | (samples["block_id"] == block)]
    with pytest.raises(TooFewSamplesError, match="single group"):
        check_cv_feasible(one_block["class_id"], 3, one_block["block_id"], CLASS_NAMES)


def test_more_folds_than_blocks_is_refused(samples):
    n_blocks = samples["block_id"].nunique()
    with pytest.raises(TooFewSamplesError, match=f"Only {n_blocks} groups"):
        check_cv_feasible(samples["class_id"], n_blocks + 1, samples["block_id"])


# --- Blocks sized from the data, buffered block CV, area of applicability ------------------------------------------

from scipy.spatial import cKDTree  # noqa: E402

from geoml_helpers.learn.features import cube_features  # noqa: E402
from geoml_helpers.learn.sampling import balance_classes, feature_matrix  # noqa: E402
from geoml_helpers.learn.spatial_cv import (  # noqa: E402
    BufferedGroupKFold,
    applicability_map,
    block_size_from_variogram,
    cv_versus_block_size,
    empirical_variogram,
    feature_variogram,
    fit_applicability,
    fit_variogram,
    grid_block_ids,
)


@pytest.fixture(scope="module")
def features(cube):
    return cube_features(cube).compute()


@pytest.fixture(scope="module")
def variogram_model(features):
    return fit_variogram(feature_variogram(features, n_points=1500, seed=0), "exponential")


def test_feature_variogram_gives_a_finite_range_and_the_block_size_follows(demo_ci, features, variogram_model):
    v = feature_variogram(features, n_points=1500, seed=0)
    assert (np.diff(v.semivariance[:5]) > 0).all(), "neighbouring pixels are more alike than distant ones"
    assert v.semivariance[0] < 0.6 * v.semivariance[-1]
    model = variogram_model
    assert 0 < model.range_m < model.max_lag_m and np.isfinite(model.range_m) and not model.at_max_lag
    assert 0 < model(model.range_m) - model.nugget == pytest.approx(0.95 * model.sill, rel=0.01)
    side = demo_ci.profile.size_m
    choice = block_size_from_variogram(model, pixel_size_m=10, scene_size_m=(side, side), min_blocks=10)
    largest = (side * side / 10) ** 0.5
    assert choice.range_m == model.range_m
    assert choice.block_px == (
        int(min(model.range_m, largest) // 10) if choice.capped else int(np.ceil(model.range_m / 10))
    )
    assert choice.capped == (model.range_m > largest) and (side / choice.block_m) ** 2 >= 10 - 1e-9
    uncapped = block_size_from_variogram(model, pixel_size_m=10)
    assert uncapped.block_px == int(np.ceil(model.range_m / 10)) and not uncapped.capped
    # same seed, same range; the spherical model agrees on the order of magnitude
    assert fit_variogram(feature_variogram(features, n_points=1500, seed=0)).range_m == model.range_m
    spherical = fit_variogram(v, "spherical")
    assert 0.3 < spherical.range_m / model.range_m < 3


def test_variogram_recovers_a_known_range():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 3000, (1500, 2))
    # a Gaussian random field with an exponential covariance of practical range 400 m (Cholesky of the covariance)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    field = np.linalg.cholesky(np.exp(-3 * d / 400) + 1e-8 * np.eye(len(xy))) @ rng.normal(size=len(xy))
    model = fit_variogram(empirical_variogram(field, xy, n_lags=20, max_lag_m=1500))
    assert 250 < model.range_m < 600 and model.nugget < 0.3 * (model.nugget + model.sill)


def test_buffer_keeps_every_training_point_away_from_the_test_points(samples, variogram_model):
    xy = samples[["x", "y"]].to_numpy()
    groups = grid_block_ids(xy[:, 0], xy[:, 1], 480.0)
    buffer_m = 200.0
    for train, test in BufferedGroupKFold(xy, buffer_m, n_splits=4, seed=0).split(xy, groups=groups):
        assert not set(groups[train]) & set(groups[test])
        nearest, _ = cKDTree(xy[test]).query(xy[train])
        assert nearest.min() >= buffer_m
        plain = [t for t, s in make_cv("block", 4, seed=0).split(xy, groups=groups) if set(s) == set(test)][0]
        assert len(train) < len(plain)  # the buffer took training points out


def test_random_cv_flatters_more_than_block_cv_and_buffered_block_cv(samples, variogram_model):
    train = balance_classes(samples, seed=0).reset_index(drop=True)
    model = RandomForestClassifier(
        n_estimators=30, min_samples_leaf=2, random_state=0, n_jobs=1, class_weight="balanced"
    )
    sizes = [240.0, 480.0]
    scores = cv_versus_block_size(model, train, sizes, buffer_m=200.0, n_splits=4, seed=0)
    mean = scores.groupby(["scheme", "block_size_m"], dropna=False)["score"].mean()
    assert set(scores["scheme"]) == {"random", "block", "buffered_block"}
    random_cv = scores.loc[scores["scheme"] == "random", "score"].mean()
    for size in sizes:
        assert random_cv > mean[("block", size)]
        assert mean[("block", size)] > mean[("buffered_block", size)]
    buffered = scores[scores["scheme"] == "buffered_block"]
    assert (buffered["n_train"] < scores.loc[scores["scheme"] == "block", "n_train"].to_numpy()).all()
    again = cv_versus_block_size(model, train, sizes, buffer_m=200.0, n_splits=4, seed=0)
    pd.testing.assert_frame_equal(scores, again)
    # a block larger than a quarter of the scene leaves too few blocks: reported, not raised
    huge = cv_versus_block_size(model, train, [1500.0], buffer_m=0.0, n_splits=4, seed=0)
    assert huge.loc[huge["scheme"] == "block", "score"].isna().all() and "group" in huge["note"].iloc[-1]


def test_area_of_applicability_map(features, ci_rf_map):
    train = ci_rf_map.samples[ci_rf_map.samples["split"] != "test"]
    X, _ = feature_matrix(train)
    aoa = fit_applicability(X, train["block_id"], weights=ci_rf_map.model.feature_importances_, max_points=1500, seed=0)
    assert aoa.threshold > 0 and (aoa.train_di <= aoa.threshold).mean() > 0.9
    preview = applicability_map(aoa, features, step=3)
    assert preview["di"].shape == (80, 80) and preview.attrs["threshold"] == aoa.threshold
    assert 0.7 < preview.attrs["share_inside"] < 1.0
    # the same features pushed outside the training range by a sensor offset leave the area of applicability
    shifted = applicability_map(aoa, features * 1.5 + 0.3, step=3)
    assert shifted.attrs["share_inside"] < 0.2 * preview.attrs["share_inside"]
    assert float(shifted["di"].median()) > float(preview["di"].median())
    # where the model is outside its area of applicability, it errs more often
    inside = preview["inside_aoa"].values
    right = (ci_rf_map.class_map == ci_rf_map.truth)[::3, ::3]
    assert right[inside].mean() > right[~inside].mean()


def test_nested_variogram_separates_patches_from_a_landscape_gradient(features):
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 6000, (1500, 2))
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    cov = 0.6 * np.exp(-3 * d / 300) + 0.4 * np.exp(-3 * d / 4000) + 1e-8 * np.eye(len(xy))
    field = np.linalg.cholesky(cov) @ rng.normal(size=len(xy))
    nested = fit_variogram(empirical_variogram(field, xy, n_lags=40, max_lag_m=3000), "nested_exponential")
    assert 150 < nested.range_m < 600 and nested.long_range_m > 3 * nested.range_m
    assert nested(1e5) == pytest.approx(nested.nugget + nested.sill + nested.long_sill, rel=1e-3)
    # On the demo's features the short structure is stable from one random draw of pixels to the next
    ranges = [
        fit_variogram(feature_variogram(features, n_points=1500, n_lags=40, seed=s), "nested_exponential").range_m
        for s in range(3)
    ]
    assert max(ranges) < 1.5 * min(ranges) and all(0 < r < 1000 for r in ranges)
