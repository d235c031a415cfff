"""Area-adjusted estimates (Olofsson et al. 2014): areas add up to the AOI, intervals behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from geoml_helpers.demo.classes import CLASS_NAMES
from geoml_helpers.publish.area_estimation import area_by_block, confusion_counts, management_blocks, olofsson_area

CLASS_IDS = sorted(CLASS_NAMES)


@pytest.fixture(scope="module")
def truth(demo_ci):
    with rasterio.open(demo_ci.truth_path) as src:
        return src.read(1), src.transform


@pytest.fixture(scope="module")
def noisy_map(truth):
    """A class map with 15 % of its pixels relabelled at random, and 5 % without prediction."""
    classes, _ = truth
    rng = np.random.default_rng(1)
    noisy = classes.copy()
    flip = rng.random(classes.shape) < 0.15
    noisy[flip] = rng.choice(CLASS_IDS, flip.sum())
    noisy[rng.random(classes.shape) < 0.05] = 0
    return noisy


def test_blocks_tile_the_aoi(demo_ci):
    blocks = management_blocks(demo_ci.bounds, demo_ci.crs)
    xmin, ymin, xmax, ymax = demo_ci.bounds
    union = blocks.geometry.union_all()
    assert union.symmetric_difference(box(xmin, ymin, xmax, ymax)).area < 1e-6
    assert sum(a.intersection(b).area for i, a in enumerate(blocks.geometry) for b in blocks.geometry[i + 1 :]) == 0
    assert blocks["area_ha"].sum() == pytest.approx((xmax - xmin) * (ymax - ymin) / 1e4)
    assert blocks.geometry.area.min() > 0 and len(blocks) == 4


def test_areas_add_up_to_the_aoi_and_to_each_block(demo_ci, truth, noisy_map):
    reference, transform = truth
    rng = np.random.default_rng(2)
    sample = rng.random(reference.shape) < 0.05
    counts = confusion_counts(noisy_map[sample], reference[sample], CLASS_IDS)
    blocks = management_blocks(demo_ci.bounds, demo_ci.crs)
    table = area_by_block(noisy_map, transform, blocks, counts, CLASS_IDS, CLASS_NAMES)
    aoi_ha = demo_ci.profile.size_m**2 / 1e4
    totals = table.groupby("block_id")["area_ha"].sum()
    assert totals["AOI"] == pytest.approx(aoi_ha)
    assert table.groupby("block_id")["mapped_ha"].sum()["AOI"] == pytest.approx(aoi_ha)
    for row in blocks.itertuples():
        assert totals[row.block_id] == pytest.approx(row.area_ha)
    assert sum(totals[b] for b in blocks["block_id"]) == pytest.approx(aoi_ha)
    # invasive trees first in every region
    assert (table.groupby("block_id").head(1)["class_id"] == 2).all()
    # the estimate moves towards the truth: the random relabelling inflates rare classes on the map
    aoi = table[(table["block_id"] == "AOI") & (table["class_id"] > 0)].set_index("class_id")
    true_ha = {c: (reference == c).sum() * 100 / 1e4 for c in CLASS_IDS}
    mapped_err = sum(abs(aoi.loc[c, "mapped_ha"] / 0.95 - true_ha[c]) for c in CLASS_IDS)
    adjusted_err = sum(abs(aoi.loc[c, "area_ha"] / 0.95 - true_ha[c]) for c in CLASS_IDS)
    assert adjusted_err < mapped_err
    assert (aoi["ci_low_ha"] <= aoi["area_ha"]).all() and (aoi["area_ha"] <= aoi["ci_high_ha"]).all()


def test_perfect_map_has_zero_width_intervals():
    counts = np.diag([30, 20, 10])
    table = olofsson_area(counts, [500, 300, 200], 100.0, [1, 2, 3])
    np.testing.assert_allclose(table["area_ha"], table["mapped_ha"])
    np.testing.assert_allclose(table["ci_ha"], 0.0)
    assert table.attrs["overall_accuracy"] == pytest.approx(1.0)


def test_more_reference_samples_narrow_the_interval():
    base = np.array([[40, 10], [5, 45]])
    small = olofsson_area(base, [700, 300], 100.0, [1, 2])
    large = olofsson_area(base * 10, [700, 300], 100.0, [1, 2])
    np.testing.assert_allclose(small["area_ha"], large["area_ha"])
    assert (large["ci_ha"] < small["ci_ha"]).all()


def test_unsampled_map_class_is_flagged():
    counts = np.array([[10, 0], [0, 0]])
    table = olofsson_area(counts, [60, 40], 100.0, [1, 2])
    assert table.attrs["unsampled_classes"] == [2]
    assert np.isnan(table.loc[1, "ci_ha"]) and table["area_ha"].sum() == pytest.approx(1.0)


# --- Standard errors against the published example, and a probability sample on a real map -------------------------

from geoml_helpers.publish.area_estimation import (  # noqa: E402
    AreaEstimationError,
    allocate_sample,
    domain_areas,
    label_sample,
    olofsson_sample_size,
    repeated_draws,
    sample_estimates,
    stratified_random_sample,
    summarise_draws,
)

# Olofsson et al. (2014), Remote Sensing of Environment 148: 42-57, tables 8-10: strata are the map classes
# (deforestation, forest gain, stable forest, stable non-forest), 30 m pixels.
OLOFSSON_COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
OLOFSSON_MAPPED = [200_000, 150_000, 3_200_000, 6_450_000]


def test_standard_errors_match_olofsson_2014_example():
    table = olofsson_area(OLOFSSON_COUNTS, OLOFSSON_MAPPED, 900.0, [1, 2, 3, 4])
    deforestation = table.iloc[0]
    # The paper: deforestation 21,158 ha +/- 6,158 ha, U = 0.88 +/- 0.07, P = 0.75 +/- 0.21; O = 0.95 +/- 0.02.
    assert deforestation["area_ha"] == pytest.approx(21_158, abs=1)
    assert deforestation["ci_ha"] == pytest.approx(6_158, abs=1)
    assert 1.96 * deforestation["users_accuracy_se"] == pytest.approx(0.07, abs=0.005)
    assert deforestation["producers_accuracy"] == pytest.approx(0.75, abs=0.005)
    assert 1.96 * deforestation["producers_accuracy_se"] == pytest.approx(0.21, abs=0.005)
    assert table.attrs["overall_accuracy"] == pytest.approx(0.95, abs=0.005)
    assert 1.96 * table.attrs["overall_accuracy_se"] == pytest.approx(0.02, abs=0.002)
    # forest gain: 11,686 +/- 3,756 ha
    assert table.iloc[1]["area_ha"] == pytest.approx(11_686, abs=1) and table.iloc[1]["ci_ha"] == pytest.approx(
        3_756, abs=1
    )
    assert np.allclose(table["se_ha"] * 1.959963984540054, table["ci_ha"])


def test_sample_size_and_allocation():
    # Olofsson et al. (2014) sect. 5.1.1: anticipated U 0.7/0.6/0.9/0.95 and S(O) = 0.01 give n = 641.
    w = np.array(OLOFSSON_MAPPED) / sum(OLOFSSON_MAPPED)
    assert olofsson_sample_size(w, [0.7, 0.6, 0.9, 0.95], 0.01) == 641
    assert olofsson_sample_size(w, [0.7, 0.6, 0.9, 0.95], 0.02) < 641 / 3
    alloc = allocate_sample(641, OLOFSSON_MAPPED, min_per_class=75)
    assert alloc.sum() == 641 and alloc.min() == 75 and alloc[3] > alloc[2] > alloc[0]
    assert allocate_sample(100, [30, 1000], min_per_class=50).tolist() == [30, 70]  # never more than a class has
    with pytest.raises(AreaEstimationError, match="sum to 1"):
        olofsson_sample_size([0.5, 0.6], [0.9, 0.9])


def test_stratified_sample_is_seeded_and_stays_in_its_strata(ci_rf_map):
    class_map, transform = ci_rf_map.class_map, ci_rf_map.transform
    alloc = allocate_sample(600, [(class_map == c).sum() for c in CLASS_IDS], min_per_class=50)
    a = stratified_random_sample(class_map, alloc, CLASS_IDS, seed=3, transform=transform)
    b = stratified_random_sample(class_map, alloc, CLASS_IDS, seed=3, transform=transform)
    c = stratified_random_sample(class_map, alloc, CLASS_IDS, seed=4, transform=transform)
    assert a.equals(b) and not a.equals(c)
    assert (class_map[a["row"], a["col"]] == a["map_class"]).all()
    assert a.groupby("map_class").size().tolist() == alloc.tolist()
    assert not a.duplicated(["row", "col"]).any()
    np.testing.assert_allclose((a["x"] - transform.c) / transform.a - 0.5, a["col"])
    np.testing.assert_allclose((a["y"] - transform.f) / transform.e - 0.5, a["row"])
    assert a.attrs["stratum_pixels"][2] == int((class_map == 2).sum())


def _probability_sample(ci_rf_map, seed=42):
    class_map = ci_rf_map.class_map
    mapped = np.array([(class_map == c).sum() for c in CLASS_IDS])
    n = olofsson_sample_size(mapped / mapped.sum(), [0.85] * len(CLASS_IDS), target_se=0.01)
    alloc = allocate_sample(n, mapped, min_per_class=50)
    return alloc, label_sample(
        stratified_random_sample(class_map, alloc, CLASS_IDS, seed=seed, transform=ci_rf_map.transform), ci_rf_map.truth
    )


def test_probability_sample_interval_covers_the_synthetic_truth(ci_rf_map):
    _, sample = _probability_sample(ci_rf_map)
    table = sample_estimates(sample, ci_rf_map.class_map, 100.0, CLASS_IDS, CLASS_NAMES).set_index("class_id")
    true_invasive_ha = (ci_rf_map.truth == 2).sum() * 100 / 1e4
    assert table.loc[2, "ci_low_ha"] <= true_invasive_ha <= table.loc[2, "ci_high_ha"]
    assert table["area_ha"].sum() == pytest.approx(ci_rf_map.class_map.size * 100 / 1e4)
    assert (table["users_accuracy_se"] > 0).all() and (table["producers_accuracy_se"] > 0).all()
    wall_to_wall = float((ci_rf_map.class_map == ci_rf_map.truth).mean())
    oa, se = table.attrs["overall_accuracy"], table.attrs["overall_accuracy_se"]
    assert abs(oa - wall_to_wall) < 3 * se


def test_repeated_draws_coverage_and_convenience_bias(ci_rf_map):
    alloc, _ = _probability_sample(ci_rf_map)
    draws = repeated_draws(
        ci_rf_map.class_map,
        ci_rf_map.truth,
        alloc,
        CLASS_IDS,
        convenience_mask=ci_rf_map.test_polygon_mask,
        n_draws=200,
        seed=0,
    )
    summary = summarise_draws(draws)
    probability, convenience = summary.loc["probability"], summary.loc["convenience"]
    assert 0.9 <= probability.loc[2, "coverage"] <= 0.99
    assert 0.9 <= probability["coverage"].mean() <= 0.99
    assert abs(convenience.loc[2, "bias_ha"]) > abs(probability.loc[2, "bias_ha"])
    assert convenience.loc[2, "mean_abs_error_ha"] > probability.loc[2, "mean_abs_error_ha"]
    assert convenience["coverage"].mean() < probability["coverage"].mean()
    # the probability design is unbiased: its mean error is small against its own spread
    assert (probability["bias_ha"].abs() < 3 * probability["rmse_ha"] / np.sqrt(200)).all()
    again = repeated_draws(ci_rf_map.class_map, ci_rf_map.truth, alloc, CLASS_IDS, n_draws=5, seed=0)
    pd.testing.assert_frame_equal(
        again, draws[draws["design"] == "probability"].head(len(again)).reset_index(drop=True)
    )


def test_domain_estimation_uses_the_units_in_each_block(demo_ci, ci_rf_map):
    _, sample = _probability_sample(ci_rf_map)
    class_map, transform = ci_rf_map.class_map, ci_rf_map.transform
    # One domain that is the whole AOI gives Olofsson's estimates and standard errors back (no fpc).
    whole = management_blocks(demo_ci.bounds, demo_ci.crs, split=(1.0, 1.0)).iloc[[0]]
    aoi = domain_areas(sample, class_map, transform, whole, CLASS_IDS, fpc=False).set_index("class_id")
    reference = sample_estimates(sample, class_map, 100.0, CLASS_IDS).set_index("class_id")
    np.testing.assert_allclose(aoi["area_ha"], reference["area_ha"])
    np.testing.assert_allclose(aoi["se_ha"], reference["se_ha"])
    blocks = management_blocks(demo_ci.bounds, demo_ci.crs)
    table = domain_areas(sample, class_map, transform, blocks, CLASS_IDS, CLASS_NAMES)
    for row in blocks.itertuples():
        block = table[table["block_id"] == row.block_id]
        assert block["area_ha"].sum() == pytest.approx(row.area_ha)
        assert block["n_units"].iloc[0] == block["n_units_class"].sum()
    assert table.groupby("block_id")["n_units"].first().sum() == len(sample)
    # Over repeated samples, the block intervals for invasive trees cover the block's truth about 95 % of the time.
    from geoml_helpers.publish.area_estimation import _region_index

    index = _region_index(blocks, class_map.shape, transform)
    truth_ha = {
        row.block_id: ((index == k + 1) & (ci_rf_map.truth == 2)).sum() / 100
        for k, row in enumerate(blocks.itertuples())
    }
    covered = []
    for seed in range(60):
        _, draw = _probability_sample(ci_rf_map, seed=seed)
        inv = domain_areas(draw, class_map, transform, blocks, CLASS_IDS).query("class_id == 2")
        covered += [lo <= truth_ha[b] <= hi for b, lo, hi in zip(inv["block_id"], inv["ci_low_ha"], inv["ci_high_ha"])]
    assert 0.85 <= np.mean(covered) <= 1.0
