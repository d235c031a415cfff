"""Random versus spatial cross-validation on the real ci samples."""

from __future__ import annotations

import numpy as np
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
