"""Features from reflectance time series, on the real ci analysis-ready cube."""

from __future__ import annotations

import numpy as np
import pytest

from geoml_helpers.learn.features import (
    FeatureInputError,
    cube_features,
    day_of_year,
    feature_names,
    feature_table,
    fill_temporal_gaps,
    pixel_features,
    sort_along_time,
    valid_pixel_mask,
)


@pytest.fixture(scope="module")
def window(cube):
    refl = cube["reflectance"].transpose("time", "band", "y", "x").isel(y=slice(0, 40), x=slice(0, 40))
    return refl.values, day_of_year(refl["time"].values), [str(b) for b in refl["band"].values]


def test_feature_names_match_the_array(window):
    values, doy, bands = window
    feats = pixel_features(values, doy, bands)
    assert feats.shape == (len(feature_names(bands)), 40, 40)
    assert feats.dtype == np.float32


def test_percentiles_and_amplitude_agree_with_numpy_on_gap_filled_series(window):
    values, doy, bands = window
    feats = pixel_features(values, doy, bands)
    names = feature_names(bands)
    filled = fill_temporal_gaps(values, doy)
    red = bands.index("red")
    for q in (10, 50, 90):
        np.testing.assert_allclose(
            feats[names.index(f"red_p{q}")], np.percentile(filled[:, red], q, axis=0), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(
        feats[names.index("red_amplitude")], feats[names.index("red_p90")] - feats[names.index("red_p10")], atol=1e-6
    )


def test_ndvi_features_follow_the_cube_index(cube, window):
    values, doy, bands = window
    feats = pixel_features(values, doy, bands)
    ndvi = cube["ndvi"].isel(y=slice(0, 40), x=slice(0, 40)).values
    complete = ~np.isnan(values).any(axis=(0, 1))  # gap-filled NDVI differs from NDVI of gap-filled bands
    assert complete.sum() > 100
    median = feats[feature_names(bands).index("ndvi_p50")]
    np.testing.assert_allclose(median[complete], np.median(ndvi, axis=0)[complete], atol=1e-4)


def test_gap_filling_interpolates_in_time_and_keeps_the_input():
    series = np.array([[np.nan], [0.2], [np.nan], [np.nan], [0.5], [np.nan]], dtype=np.float32)
    before = series.copy()
    filled = fill_temporal_gaps(series, [0, 30, 60, 90, 120, 150])
    np.testing.assert_allclose(filled[:, 0], [0.2, 0.2, 0.3, 0.4, 0.5, 0.5], atol=1e-6)
    np.testing.assert_array_equal(np.isnan(series), np.isnan(before))


def test_nan_gaps_in_the_real_cube_are_filled_and_never_observed_pixels_are_flagged(window):
    values, doy, bands = window
    assert np.isnan(values).any(), "the ci cube has cloud gaps; this test relies on them"
    feats = pixel_features(values, doy, bands)
    assert valid_pixel_mask(feats).all()
    broken = values.copy()
    broken[:, bands.index("swir22"), 5, 7] = np.nan  # a band never observed at one pixel
    feats = pixel_features(broken, doy, bands)
    mask = valid_pixel_mask(feats)
    assert not mask[5, 7] and mask.sum() == mask.size - 1


def test_lazy_cube_features_equal_the_in_memory_ones(cube, window):
    values, doy, bands = window
    lazy = cube_features(cube, chunks=32)
    assert hasattr(lazy.data, "dask")
    np.testing.assert_allclose(
        lazy.isel(y=slice(0, 40), x=slice(0, 40)).values, pixel_features(values, doy, bands), rtol=1e-6
    )


def test_missing_bands_and_wrong_shapes_give_clear_errors(window):
    values, doy, bands = window
    with pytest.raises(FeatureInputError, match="missing"):
        pixel_features(values[:, :3], doy, bands[:3])
    with pytest.raises(FeatureInputError, match="band"):
        pixel_features(values, doy, bands[:-1])
    with pytest.raises(FeatureInputError, match="day_of_year"):
        fill_temporal_gaps(values, doy[:-1])


@pytest.mark.parametrize("n_steps", [2, 3, 5, 12, 13, 24, 36, 37])
def test_sorting_network_equals_numpy_sort(n_steps):
    rng = np.random.default_rng(n_steps)
    values = rng.random((n_steps, 3, 500), dtype=np.float32)
    values[:, :, :50] = np.round(values[:, :, :50], 1)  # ties
    values[:, 1, 60] = np.nan  # a never-observed series stays all-NaN
    np.testing.assert_array_equal(sort_along_time(values), np.sort(values, axis=0))


def test_feature_table_is_the_transposed_feature_stack(window):
    values, doy, bands = window
    values = values.copy()
    values[:, bands.index("red"), 3, 4] = np.nan  # never observed: a NaN row
    table = feature_table(values, doy, bands)
    stack = pixel_features(values, doy, bands)
    assert table.shape == (40 * 40, len(feature_names(bands))) and table.flags.c_contiguous
    np.testing.assert_array_equal(table, stack.reshape(stack.shape[0], -1).T)
    assert np.isnan(table[3 * 40 + 4]).all() and np.isfinite(np.delete(table, 3 * 40 + 4, axis=0)).all()
