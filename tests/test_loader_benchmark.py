"""The benchmark harness: step share on loaders of known speed, and COG patch reads against whole-file reads."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import rasterio
import torch

from geoml_helpers.learn.deep.loader_benchmark import measure_loader, read_patch_from_cogs, write_benchmark_json


class SlowLoader:
    """Yields ``n`` batches of ``size`` samples, each taking ``delay`` seconds to produce."""

    def __init__(self, n, size, delay):
        self.n, self.size, self.delay = n, size, delay

    def __iter__(self):
        for _ in range(self.n):
            time.sleep(self.delay)
            yield torch.zeros(self.size, 2), torch.zeros(self.size)


def test_share_of_a_loader_as_slow_as_the_step_is_about_half():
    r = measure_loader(SlowLoader(6, 4, 0.03), step_s=0.03, epochs=1)
    assert r.n_batches == 6 and r.n_samples == 24
    assert 0.35 < r.step_share < 0.55
    assert r.samples_per_s == pytest.approx(24 / r.epoch_s)
    fast = measure_loader(SlowLoader(6, 4, 0.0), step_s=0.03, epochs=1)
    assert fast.step_share > 0.9 > r.step_share


def test_max_batches_bounds_the_epoch():
    r = measure_loader(SlowLoader(50, 2, 0.0), step_s=0.001, epochs=2, max_batches=3)
    assert r.n_batches == 3 and r.first_epoch_s > 0


@pytest.mark.parametrize("band", ["red", "swir16", "coastal"])
def test_cog_patch_equals_the_full_raster_window(demo_ci, band):
    items = demo_ci.s2_items()[:2]
    row, col, size = 30, 42, 24
    patch = read_patch_from_cogs(items, [band], row, col, size)
    assert patch.shape == (2, 1, size, size)
    for t, item in enumerate(items):
        asset = item["assets"][band]
        with rasterio.open(asset["href"].removeprefix("file://")) as src:
            full = src.read(1)
        factor = demo_ci.profile.size_px // full.shape[0]
        full10 = np.repeat(np.repeat(full, factor, 0), factor, 1)[row : row + size, col : col + size]
        rb = asset["raster:bands"][0]
        expected = np.where(full10 == 0, np.nan, full10 * rb["scale"] + rb["offset"]).astype("float32")
        np.testing.assert_allclose(patch[t, 0], expected, rtol=1e-6, equal_nan=True)


def test_benchmark_json_is_written_atomically(tmp_path):
    out = write_benchmark_json("unit", {"rows": [{"a": 1}]}, tmp_path)
    record = json.loads(out.read_text())
    assert record["benchmark"] == "unit" and record["rows"] == [{"a": 1}] and record["machine"]["cpu_count"] >= 1
    assert [p.name for p in tmp_path.iterdir()] == ["unit.json"]
