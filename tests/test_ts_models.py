"""Models, Lightning training and saliency on real ci demo pixels."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
import xarray as xr

from geoml_helpers.demo.classes import demo_class_table
from geoml_helpers.learn.deep.ts_models import (
    PatchModule,
    PixelTileModule,
    SpectralCNN,
    TemporalCNN,
    class_weights,
    gradient_saliency,
    predict_labels,
    tile_pixels,
)
from geoml_helpers.learn.deep.xbatcher_data import LoaderSettings, XBatcherDataset, band_statistics, make_loader
from geoml_helpers.load.rasterize import rasterize_labels, rasterize_splits


def test_shapes():
    assert TemporalCNN(11, 6)(torch.randn(7, 12, 11)).shape == (7, 6)
    assert TemporalCNN(11, 6)(torch.randn(7, 24, 11)).shape == (7, 6)  # any number of dates
    assert SpectralCNN(200, 6)(torch.randn(3, 200, 5, 5)).shape == (3, 6)
    x = torch.randn(2, 12, 11, 4, 4)
    y = torch.full((2, 4, 4), -1)
    y[0, 1, 2], y[1, 3, 3] = 4, 0
    px, py = tile_pixels(x, y)
    assert torch.equal(px[0], x[0, :, :, 1, 2]) and torch.equal(px[1], x[1, :, :, 3, 3]) and py.tolist() == [4, 0]


def test_class_weights_balance_the_loss():
    t = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    w = class_weights(t, 3)
    assert w[2] == 0 and np.isclose(w[0] * 90, w[1] * 10)


@pytest.fixture(scope="module")
def hs_data(demo_ci):
    hs = xr.open_zarr(demo_ci.hyperspectral_zarr_path)["reflectance"].load()
    labels = rasterize_labels(demo_ci.read_labels(), hs)
    splits = rasterize_splits(demo_ci.read_blocks(), hs)
    mean, std = band_statistics(hs)
    kw = dict(
        input_dims={"band": hs.sizes["band"], "y": 3, "x": 3},
        input_overlap={"y": 2, "x": 2},
        target="centre",
        mean=mean,
        std=std,
        check_chunks=False,
        class_ids=demo_class_table(),
    )
    return {s: XBatcherDataset(hs, labels, splits, s, **kw) for s in ("train", "test")}, hs


def _train(ds, seed):
    L.seed_everything(seed, workers=True)
    module = PatchModule(n_bands=ds.data.sizes["band"], n_classes=6, channels=8, lr=1e-2)
    trainer = L.Trainer(
        max_epochs=5,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    trainer.fit(module, make_loader(ds, LoaderSettings.naive(32), shuffle=True, seed=seed))
    return module


def test_patch_model_learns_and_is_deterministic(hs_data):
    data, _ = hs_data
    a, b = _train(data["train"], 3), _train(data["train"], 3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    y_true, y_pred = predict_labels(a, make_loader(data["test"], LoaderSettings.naive(64)))
    majority = np.bincount(y_true).max() / len(y_true)
    assert (y_true == y_pred).mean() > majority  # better than always guessing the commonest class


def test_saliency_is_per_input_and_keeps_the_mode(hs_data):
    data, hs = hs_data
    model = SpectralCNN(hs.sizes["band"], 6, channels=8)
    x = torch.stack([data["train"][i][0] for i in range(min(16, len(data["train"])))])
    model.train()
    sal = gradient_saliency(model, x)
    assert model.training  # left as it was
    assert sal.shape == x.shape and (sal >= 0).all() and sal.sum() > 0
    # the saliency of one sample does not depend on the others (eval mode: no batch statistics)
    single = gradient_saliency(model, x[:1])
    torch.testing.assert_close(single[0], sal[0])


def test_pixel_tile_module_trains_one_step():
    module = PixelTileModule(n_bands=3, n_classes=2, hidden=8)
    x = torch.randn(2, 5, 3, 4, 4)
    y = torch.full((2, 4, 4), -1)
    y[:, 0, 0] = torch.tensor([0, 1])
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before = [p.detach().clone() for p in module.parameters()]
    trainer.fit(module, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=2))
    assert trainer.global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
