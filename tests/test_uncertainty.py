"""Block-bootstrap intervals and polygon counts on the real ci demo predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from geoml_helpers.demo.classes import CLASS_NAMES
from geoml_helpers.learn.sampling import feature_matrix
from geoml_helpers.learn.spatial_cv import grid_block_ids
from geoml_helpers.learn.uncertainty import (
    FewPolygonsWarning,
    UncertaintyError,
    block_bootstrap,
    polygon_counts,
    reliability_table,
    scores_from_confusion,
)

CLASS_IDS = sorted(CLASS_NAMES)


@pytest.fixture(scope="module")
def test_predictions(ci_rf_map):
    test = ci_rf_map.samples[ci_rf_map.samples["split"] == "test"].reset_index(drop=True)
    X, y = feature_matrix(test)
    return test, y, ci_rf_map.model.predict(X)


def test_point_estimates_match_scikit_learn_and_intervals_hold_them(test_predictions):
    test, y, pred = test_predictions
    table = block_bootstrap(y, pred, test["polygon_id"], class_names=CLASS_NAMES, n_boot=500, seed=0)
    assert table.loc["accuracy", "estimate"] == pytest.approx(accuracy_score(y, pred))
    assert table.loc["macro_f1", "estimate"] == pytest.approx(f1_score(y, pred, average="macro"))
    per_class = f1_score(y, pred, labels=CLASS_IDS, average=None, zero_division=0)
    for c, f in zip(CLASS_IDS, per_class):
        assert table.loc[f"f1_{CLASS_NAMES[c]}", "estimate"] == pytest.approx(f)
    with_interval = table.dropna(subset=["ci_low"])
    assert {"accuracy", "macro_f1", "miou", "f1_invasive_trees"} <= set(with_interval.index)
    assert (with_interval["ci_low"] <= with_interval["estimate"] + 1e-12).all()
    assert (with_interval["estimate"] <= with_interval["ci_high"] + 1e-12).all()
    assert table.loc["accuracy", "n_groups"] == test["polygon_id"].nunique()
    # a class tested on a single polygon gets no interval: one polygon cannot show the spread
    single = [f"f1_{CLASS_NAMES[c]}" for c in CLASS_IDS if test.loc[test["class_id"] == c, "polygon_id"].nunique() == 1]
    assert single and table.loc[single, "ci_low"].isna().all() and (table.loc[single, "n_groups"] == 1).all()
    again = block_bootstrap(y, pred, test["polygon_id"], class_names=CLASS_NAMES, n_boot=500, seed=0)
    pd.testing.assert_frame_equal(table, again)


def test_resampling_pixels_pretends_to_know_more_than_resampling_polygons(test_predictions):
    test, y, pred = test_predictions
    polygons = block_bootstrap(y, pred, test["polygon_id"], n_boot=500, seed=0)
    pixels = block_bootstrap(y, pred, np.arange(len(y)), n_boot=500, seed=0)
    width = lambda t, m: t.loc[m, "ci_high"] - t.loc[m, "ci_low"]  # noqa: E731
    for metric in ("accuracy", "macro_f1", "miou"):
        assert width(polygons, metric) > 1.5 * width(pixels, metric)


def test_intervals_shrink_with_more_blocks(ci_rf_map):
    # The wall-to-wall map against the truth, cut into 240 m blocks: 8 blocks against 64 blocks of the same scene.
    class_map, truth, transform = ci_rf_map.class_map, ci_rf_map.truth, ci_rf_map.transform
    rows, cols = np.indices(class_map.shape)
    x, y = transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e
    blocks = grid_block_ids(x.ravel(), y.ravel(), 240.0)
    chosen = np.random.default_rng(0).permutation(np.unique(blocks))
    widths = {}
    for n in (8, 64):
        keep = np.isin(blocks, chosen[:n])
        t = block_bootstrap(truth.ravel()[keep], class_map.ravel()[keep], blocks[keep], n_boot=400, seed=1)
        widths[n] = t["ci_high"] - t["ci_low"]
        assert t.loc["accuracy", "n_groups"] == n
    for metric in ("accuracy", "macro_f1", "miou"):
        assert widths[64][metric] < 0.6 * widths[8][metric]


def test_scores_from_confusion_and_bad_input():
    s = scores_from_confusion(np.array([[5, 0, 0], [1, 3, 0], [0, 0, 0]]), [1, 2, 3])
    assert s["accuracy"] == pytest.approx(8 / 9) and np.isnan(s["f1_3"])
    assert s["macro_f1"] == pytest.approx(np.mean([10 / 11, 6 / 7]))
    with pytest.raises(UncertaintyError, match="one group"):
        block_bootstrap([1, 2], [1, 2], [0, 0])
    with pytest.raises(UncertaintyError, match="one value per pixel"):
        block_bootstrap([1, 2], [1], [0, 1])


def test_polygon_counts_of_the_ci_labels_warn_for_thin_classes(demo_ci):
    labels = demo_ci.read_labels()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = polygon_counts(labels, class_names=CLASS_NAMES, minimum=5)
    expected = labels.groupby(["class_id", "split"]).size().unstack(fill_value=0)
    for c in expected.index:
        for split in expected.columns:
            assert counts.loc[CLASS_NAMES[c], split] == expected.loc[c, split]
    thin = [w for w in caught if issubclass(w.category, FewPolygonsWarning)]
    assert len(thin) == 1
    below = counts.attrs["below_minimum"]
    assert below and all(n < 5 for _, _, n in below)
    for name, split, n in below:
        assert f"{name} in {split}: {n}" in str(thin[0].message)
    assert counts.values.sum() == len(labels)


def test_reliability_of_the_forest_vote_share_on_test_pixels(ci_rf_map, test_predictions):
    test, y, pred = test_predictions
    X, _ = feature_matrix(test)
    vote_share = ci_rf_map.model.predict_proba(X).max(axis=1)
    table = reliability_table(vote_share, pred == y, n_bins=10)
    assert table["count"].sum() == len(y)
    assert ((table["mean_confidence"] >= table["bin_low"]) & (table["mean_confidence"] <= table["bin_high"])).all()
    assert 0 <= table.attrs["expected_calibration_error"] < 0.5
    # the most confident votes are right more often than the average prediction
    assert table["accuracy"].iloc[-1] > (pred == y).mean()
    # a perfectly calibrated stand-in: outcomes drawn with the stated probability
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 1.0, 20000)
    assert reliability_table(p, rng.random(p.size) < p).attrs["expected_calibration_error"] < 0.02
