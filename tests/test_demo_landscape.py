"""The demo world's land cover: classes drawn as thresholds on continua, as real maps are, in both generators."""

from __future__ import annotations

import numpy as np
import pytest

from geoml_helpers.demo.landscape import (
    BARE,
    FYNBOS,
    INVASIVE,
    INVASIVE_COVER_THRESHOLD,
    ROCK_COVER_THRESHOLD,
    make_landscape,
)
from geoml_helpers.demo.lazy_tile import tile_landscape
from geoml_helpers.demo.spectra import ENDMEMBERS, class_fractions, unit_noise

LANDSCAPES = {
    "demo valley": lambda: make_landscape(480, seed=42),
    "lazy tile": lambda: tile_landscape(2048, 2048, 1024, 1024, seed=42),
}


@pytest.fixture(scope="module", params=sorted(LANDSCAPES))
def landscape(request):
    return LANDSCAPES[request.param]()


def test_invasive_class_is_the_alien_cover_threshold(landscape):
    cover, classes = landscape.tree_cover, landscape.classes
    invaded, fynbos = cover[classes == INVASIVE], cover[classes == FYNBOS]
    assert (invaded >= INVASIVE_COVER_THRESHOLD - 1e-6).mean() > 0.99
    assert (fynbos < INVASIVE_COVER_THRESHOLD).mean() > 0.99
    # Both sides of the line are populated: open stands and fynbos with scattered aliens.
    assert ((invaded >= INVASIVE_COVER_THRESHOLD) & (invaded < INVASIVE_COVER_THRESHOLD + 0.15)).mean() > 0.05
    assert ((fynbos > 0.05) & (fynbos < INVASIVE_COVER_THRESHOLD)).mean() > 0.05
    assert cover[(classes != FYNBOS) & (classes != INVASIVE)].max() == 0.0


def test_bare_class_is_the_outcrop_cover_threshold(landscape):
    rock, classes = landscape.rock_cover, landscape.classes
    assert (rock[classes == BARE] >= ROCK_COVER_THRESHOLD - 1e-6).mean() > 0.97
    fynbos_rock = rock[classes == FYNBOS]
    assert (fynbos_rock < ROCK_COVER_THRESHOLD).mean() > 0.97
    assert ((fynbos_rock > 0.3) & (fynbos_rock < ROCK_COVER_THRESHOLD)).sum() > 100, "rocky fynbos below the peaks"


def test_veld_ages_form_a_fire_mosaic(landscape):
    age = landscape.veld_age
    assert age.min() >= 0 and age.max() <= 40
    assert 0.05 < (age < 2).mean() < 0.4, "some veld burnt recently"
    assert (age > 15).mean() > 0.1, "some veld is old"
    # Patches, not pixel noise: most neighbours share their age.
    assert (age[:, 1:] == age[:, :-1]).mean() > 0.9


def test_fractions_are_shares_and_trees_stay_green_while_fynbos_follows_the_rain(landscape):
    rng = np.random.default_rng(0)
    summer, winter = (class_fractions(landscape, doy, rng) for doy in (30, 225))
    for fractions in (summer, winter):
        assert fractions.shape == (len(ENDMEMBERS),) + landscape.classes.shape
        assert fractions.min() >= 0 and np.allclose(fractions.sum(axis=0), 1, atol=1e-5)
    green = ENDMEMBERS.index("green_leaf")
    dense_trees = (landscape.classes == INVASIVE) & (landscape.tree_cover >= 0.6)
    pure_fynbos = (
        (landscape.classes == FYNBOS)
        & (landscape.tree_cover < 0.02)
        & (landscape.rock_cover == 0)
        & (landscape.veld_age > 3)
    )
    fynbos_swing = winter[green][pure_fynbos].mean() - summer[green][pure_fynbos].mean()
    trees_swing = winter[green][dense_trees].mean() - summer[green][dense_trees].mean()
    assert fynbos_swing > 0.1
    assert abs(trees_swing) < 0.25 * fynbos_swing


def test_class_pixels_partition_the_grid_and_are_cached(landscape):
    pixels = landscape.class_pixels()
    assert sorted(pixels) == sorted(np.unique(landscape.classes).tolist())
    joined = np.sort(np.concatenate(list(pixels.values())))
    assert np.array_equal(joined, np.arange(landscape.classes.size))
    assert all((landscape.classes.ravel()[p] == c).all() for c, p in pixels.items())
    assert landscape.class_pixels() is pixels
    assert np.array_equal(landscape.of_class("vigour", FYNBOS), landscape.vigour.ravel()[pixels[FYNBOS]])


def test_unit_noise_is_standardised_and_seeded():
    a = unit_noise(np.random.default_rng(7), (400_000,))
    b = unit_noise(np.random.default_rng(7), (400_000,))
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert abs(float(a.mean())) < 0.01 and abs(float(a.std()) - 1) < 0.01
    # Bell-shaped, not flat: about 65 % within one standard deviation (normal 68 %, uniform 58 %).
    assert 0.62 < float((np.abs(a) < 1).mean()) < 0.68
