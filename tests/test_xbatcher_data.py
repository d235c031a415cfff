"""The xbatcher Dataset on the real ci analysis-ready cube.

Shapes, once-per-epoch evaluation, no leakage, determinism, clear errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import xarray as xr

from geoml_helpers.learn.deep.xbatcher_data import (
    IGNORE_INDEX,
    ChunkAlignmentWarning,
    EmptyDatasetError,
    InputDimsError,
    LoaderSettings,
    WholeCubeReadWarning,
    XBatcherDataset,
    band_statistics,
    make_loader,
)
from geoml_helpers.learn.features import valid_pixel_mask
from geoml_helpers.load.cube import ensure_analysis_ready_cube
from geoml_helpers.load.rasterize import SPLIT_CODES, rasterize_labels, rasterize_splits
from geoml_helpers.scale.rechunk import rechunk_to_zarr


@pytest.fixture(scope="module")
def setup(demo_ci, data_root, tmp_path_factory):
    cube = ensure_analysis_ready_cube("ci", data_dir=data_root)
    refl = cube["reflectance"]
    b = demo_ci.profile.block_px
    path = tmp_path_factory.mktemp("tiles") / "tiles.zarr"
    tiles = rechunk_to_zarr(refl, path, {"y": b, "x": b})
    labels = rasterize_labels(demo_ci.read_labels(), refl)
    splits = rasterize_splits(demo_ci.read_blocks(), refl)
    dims = {"time": refl.sizes["time"], "band": refl.sizes["band"], "y": b, "x": b}
    mean, std = band_statistics(tiles)
    return dict(
        cube=refl,
        tiles=tiles,
        path=path,
        labels=labels,
        splits=splits,
        dims=dims,
        mean=mean,
        std=std,
        valid=valid_pixel_mask(tiles, require="any"),
        b=b,
    )


def _dataset(s, split, **kw):
    args = dict(mean=s["mean"], std=s["std"], valid_mask=s["valid"])
    args.update(kw)
    return XBatcherDataset(s["tiles"], s["labels"], s["splits"], split, s["dims"], **args)


def test_class_ids_come_from_the_project_table_or_the_labels(setup):
    """No demo default: a ClassTable gives ids 1..K; without one the ids found in the labels are used."""
    from geoml_helpers.core.classes import ClassTable

    found = sorted(int(c) for c in np.unique(setup["labels"].values) if c)
    assert _dataset(setup, "train").class_ids == found
    table = ClassTable.from_codes(["a", "b", "c", "d", "e", "f", "g"])
    assert _dataset(setup, "train", class_ids=table).class_ids == [1, 2, 3, 4, 5, 6, 7]
    only_two = _dataset(setup, "train", class_ids=[found[1], found[0]])
    targets = set(np.unique(only_two.target_map).tolist())
    assert targets <= {IGNORE_INDEX, 0, 1} and {0, 1} <= targets


def test_batch_shapes_and_values(setup):
    ds = _dataset(setup, "train")
    loader = make_loader(ds, LoaderSettings.naive(batch_size=4))
    x, y = next(iter(loader))
    t, c, b = setup["dims"]["time"], setup["dims"]["band"], setup["b"]
    assert x.shape == (min(4, len(ds)), t, c, b, b) and x.dtype == torch.float32
    assert y.shape == (x.shape[0], b, b) and y.dtype == torch.long
    assert torch.isfinite(x).all()
    assert set(torch.unique(y).tolist()) <= {IGNORE_INDEX, *range(6)}
    # normalised: per-band mean near 0 over the training tiles
    assert abs(float(x.mean())) < 1.0


def test_zarr_reader_equals_xarray_reader(setup):
    a = _dataset(setup, "val")
    z = _dataset(setup, "val", reader="zarr", zarr_path=setup["path"], variable="reflectance")
    for i in range(len(a)):
        np.testing.assert_array_equal(a.read(i), z.read(i))
        assert torch.equal(a[i][0], z[i][0]) and torch.equal(a[i][1], z[i][1])
    sel = a.selector(0)
    expected = setup["cube"].isel(y=sel["y"], x=sel["x"]).values
    np.testing.assert_array_equal(a.read(0), expected)


@pytest.mark.parametrize("split", ["val", "test"])
def test_each_eval_pixel_at_most_once_per_epoch(setup, split):
    ds = _dataset(setup, split)
    pixels = ds.target_pixels()
    assert len(pixels) == ds.report.n_target_pixels > 0
    assert len(np.unique(pixels, axis=0)) == len(pixels)
    # and every labelled pixel of the split is covered (the tiles divide the cube)
    labelled = (setup["labels"].values > 0) & (setup["splits"].values == SPLIT_CODES[split]) & setup["valid"]
    assert len(pixels) == labelled.sum()
    # the same holds when iterating the loader: targets counted once
    n = sum(int((y >= 0).sum()) for _, y in make_loader(ds, LoaderSettings.naive(2)))
    assert n == len(pixels)
    with pytest.raises(InputDimsError, match="more than once"):
        _dataset(setup, split, input_overlap={"y": 8, "x": 8})


def test_no_train_test_leakage(setup):
    pix = {s: {tuple(p) for p in _dataset(setup, s).target_pixels()} for s in ("train", "val", "test")}
    assert not pix["train"] & pix["test"] and not pix["train"] & pix["val"] and not pix["val"] & pix["test"]
    codes = setup["splits"].values
    for s, cells in pix.items():
        rows, cols = np.array(sorted(cells)).T
        assert (codes[rows, cols] == SPLIT_CODES[s]).all()


def test_centre_patches_never_contain_other_splits(demo_ci):
    hs = xr.open_zarr(demo_ci.hyperspectral_zarr_path)["reflectance"]
    labels = rasterize_labels(demo_ci.read_labels(), hs)
    splits = rasterize_splits(demo_ci.read_blocks(), hs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChunkAlignmentWarning)
        ds = XBatcherDataset(
            hs,
            labels,
            splits,
            "train",
            {"band": hs.sizes["band"], "y": 5, "x": 5},
            input_overlap={"y": 4, "x": 4},
            target="centre",
        )
    assert len(ds) > 20 and ds.report.dropped_crossing_split_samples > 0
    for i in range(len(ds)):
        sel = ds.selector(i)
        assert (splits.values[sel["y"], sel["x"]] == SPLIT_CODES["train"]).all()
    x, y = ds[0]
    assert x.shape == (hs.sizes["band"], 5, 5) and y.ndim == 0
    centres = ds.target_pixels()
    assert len(np.unique(centres, axis=0)) == len(centres)


def test_deterministic_given_a_seed(setup):
    ds = _dataset(setup, "train")

    def epoch(seed):
        return [(x.clone(), y.clone()) for x, y in make_loader(ds, LoaderSettings.naive(3), shuffle=True, seed=seed)]

    a, b, c = epoch(7), epoch(7), epoch(8)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert any(not torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))


def test_tuned_loader_with_workers_gives_the_same_batches(setup):
    ds = _dataset(setup, "test", reader="zarr", zarr_path=setup["path"], variable="reflectance")
    naive = [y for _, y in make_loader(ds, LoaderSettings.naive(2))]
    tuned = [y for _, y in make_loader(ds, LoaderSettings.tuned(2, num_workers=2, prefetch_factor=2))]
    assert len(naive) == len(tuned) and all(torch.equal(a, b) for a, b in zip(naive, tuned))


def test_input_dims_larger_than_the_cube_raise(setup):
    dims = dict(setup["dims"], y=10_000)
    with pytest.raises(InputDimsError, match="larger than the cube"):
        XBatcherDataset(setup["tiles"], setup["labels"], setup["splits"], "train", dims)
    with pytest.raises(InputDimsError, match="every dimension"):
        XBatcherDataset(setup["tiles"], setup["labels"], setup["splits"], "train", {"y": 48, "x": 48})


def test_whole_cube_chunk_and_misalignment_warn_with_the_fix(setup):
    cube = setup["cube"]  # notebook 02 writes 256 x 256 chunks: one chunk for the 240 x 240 ci cube
    with pytest.warns(WholeCubeReadWarning, match=r"\.chunk\("):
        XBatcherDataset(cube, setup["labels"], setup["splits"], "train", setup["dims"], valid_mask=setup["valid"])
    with pytest.warns(ChunkAlignmentWarning, match="neither a divisor nor a multiple"):
        XBatcherDataset(
            setup["tiles"],
            setup["labels"],
            setup["splits"],
            "train",
            dict(setup["dims"], y=40, x=40),
            valid_mask=setup["valid"],
        )


def test_nan_only_samples_are_dropped_and_counted(setup, tmp_path):
    b = setup["b"]
    cube = setup["tiles"].load().copy()
    ds0 = _dataset(setup, "train")
    sel = ds0.selector(0)
    cube[dict(y=sel["y"], x=sel["x"])] = np.nan  # a tile with no observation at all
    holed = rechunk_to_zarr(cube, tmp_path / "holed.zarr", {"y": b, "x": b})
    ds = XBatcherDataset(
        holed, setup["labels"], setup["splits"], "train", setup["dims"], mean=setup["mean"], std=setup["std"]
    )
    assert ds.report.dropped_nan_only_samples == 1
    assert ds.report.nan_only_target_pixels == int((ds0.target_map[sel["y"], sel["x"]] >= 0).sum()) > 0
    assert len(ds) == len(ds0) - 1


def test_a_split_without_labels_raises(setup):
    empty = xr.zeros_like(setup["labels"])
    with pytest.raises(EmptyDatasetError, match="labelled"):
        XBatcherDataset(setup["tiles"], empty, setup["splits"], "train", setup["dims"], valid_mask=setup["valid"])


def test_train_only_statistics_ignore_val_and_test_pixels(setup):
    """Normalising with the train blocks' statistics: what val and test pixels hold cannot move them."""
    tiles, splits = setup["tiles"].load(), setup["splits"]
    train = splits.values == SPLIT_CODES["train"]
    mean, std = band_statistics(tiles, where=train)
    held_out = xr.DataArray(~train, dims=("y", "x"))
    changed = tiles.where(~held_out, tiles * 3 + 0.5)  # val and test pixels made very different
    assert all(np.array_equal(a, b) for a, b in zip((mean, std), band_statistics(changed, where=train)))
    assert not np.allclose(band_statistics(changed)[0], band_statistics(tiles)[0])  # whole-cube ones move
    # the same numbers as computed by hand on the train pixels (every 4th row and column)
    by_hand = tiles.where(xr.DataArray(train, dims=("y", "x"))).isel(y=slice(None, None, 4), x=slice(None, None, 4))
    expected = by_hand.transpose("band", ...).values.reshape(tiles.sizes["band"], -1)
    np.testing.assert_allclose(mean, np.nanmean(expected, axis=1), rtol=1e-5)
    with pytest.raises(InputDimsError, match="grid"):
        band_statistics(tiles, where=train[:-1])
