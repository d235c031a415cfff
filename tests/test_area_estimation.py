"""Area-adjusted estimates (Olofsson et al. 2014): areas add up to the AOI, intervals behave."""

from __future__ import annotations

import numpy as np
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
