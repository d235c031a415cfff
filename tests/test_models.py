"""Model factory, names and weights errors, tiled prediction and IoU scores."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch

from geoml_helpers.core.errors import OfflineError
from geoml_helpers.learn.deep.models import (
    UnknownModelError,
    bands_for_weights,
    make_segmentation_task,
    resolve_weights,
)
from geoml_helpers.learn.metrics import confusion_counts, f1_scores, iou_scores


def _online(host: str = "hf.co") -> bool:
    try:
        socket.create_connection((host, 443), timeout=2).close()
        return True
    except OSError:
        return False


def test_default_task_is_a_randomly_initialised_unet_resnet18():
    torch.manual_seed(0)
    task = make_segmentation_task(in_channels=11, num_classes=7)
    assert task.hparams["model"] == "unet" and task.hparams["backbone"] == "resnet18"
    assert task.hparams["ignore_index"] == 0
    out = task(torch.randn(2, 11, 32, 32))
    assert out.shape == (2, 7, 32, 32)
    torch.manual_seed(0)
    again = make_segmentation_task(in_channels=11, num_classes=7)
    assert torch.equal(next(task.model.encoder.parameters()), next(again.model.encoder.parameters()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backbone": "resnet1"}, "Unknown backbone 'resnet1'"),
        ({"model": "unetpp"}, "Unknown model 'unetpp'"),
        ({"weights": "SENTINEL2_ALL_MOCOO"}, "Unknown weights"),
        ({"weights": "ResNet18_Weights.NOPE"}, "Unknown weights"),
        ({"weights": "SENTINEL2_RGB_MOCO"}, "expects 3 bands"),
        ({"weights": True}, "ImageNet"),
    ],
)
def test_bad_names_are_clear_errors(kwargs, message):
    with pytest.raises(UnknownModelError, match=message):
        make_segmentation_task(in_channels=11, **kwargs)


def test_weights_bands():
    assert bands_for_weights("SENTINEL2_RGB_MOCO") == ["red", "green", "blue"]
    with pytest.raises(UnknownModelError, match="do not carry"):
        bands_for_weights("SENTINEL2_ALL_MOCO")
    assert resolve_weights("ResNet18_Weights.SENTINEL2_RGB_MOCO") is resolve_weights("sentinel2_rgb_moco")


def test_pretrained_weights_fail_fast_offline():
    if _online():
        pytest.skip("the weights host is reachable here; the offline path cannot be exercised")
    started = time.perf_counter()
    with pytest.raises(OfflineError, match="pretrained_weights = None"):
        make_segmentation_task(in_channels=3, weights="SENTINEL2_RGB_MOCO")
    assert time.perf_counter() - started < 15


def test_iou_matches_scikit_learn():
    from sklearn.metrics import f1_score, jaccard_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 7, size=(50, 50))
    predicted = np.where(rng.random((50, 50)) < 0.6, truth, rng.integers(1, 7, size=(50, 50)))
    counts = confusion_counts(predicted, truth, range(7), mask=truth != 0)
    miou, per_class = iou_scores(counts, [str(i) for i in range(7)])
    keep = truth != 0
    reference = jaccard_score(truth[keep], predicted[keep], labels=list(range(1, 7)), average=None)
    assert np.allclose([per_class[str(i)] for i in range(1, 7)], reference)
    assert miou == pytest.approx(reference.mean())
    macro_f1, per_class_f1 = f1_scores(counts, [str(i) for i in range(7)])
    f1 = f1_score(truth[keep], predicted[keep], labels=list(range(1, 7)), average=None)
    assert np.allclose([per_class_f1[str(i)] for i in range(1, 7)], f1) and macro_f1 == pytest.approx(f1.mean())


def _border_jumps(probs: np.ndarray, tile: int) -> tuple[float, float]:
    """Mean largest class-probability jump between neighbouring columns: across tile borders, and elsewhere."""
    jumps = np.abs(np.diff(probs, axis=2)).max(axis=0)  # (y, x - 1): column c to c + 1
    at_border = np.zeros(jumps.shape[1], bool)
    at_border[tile - 1 :: tile] = True
    return float(jumps[:, at_border].mean()), float(jumps[:, ~at_border].mean())


def test_unet_scene_prediction_is_seamless(demo_ci, data_root):
    """A real U-Net on the real demo scene: tiles blended with overlap leave no seams; without overlap they do.

    Seams are measured as the jump of the class probabilities between neighbouring columns, on tile
    borders compared with everywhere else, and as the distance from predicting the scene in one window.
    """
    import rasterio

    from geoml_helpers.learn.deep.datamodule import DemoSegmentationDataModule
    from geoml_helpers.publish.tiled_inference import predict_scene, predict_tiled, torch_predictor

    dm = DemoSegmentationDataModule("ci", data_dir=data_root, chip_size=32)
    dm.prepare_data()
    dm.setup("fit")
    torch.manual_seed(0)
    task = make_segmentation_task(in_channels=11, num_classes=7)
    with rasterio.open(dm.stack_path) as src:
        scene = src.read([list(src.descriptions).index(b) + 1 for b in dm.bands])
        transform = src.transform
    mean, std = (v.numpy()[:, None, None] for v in (dm.mean, dm.std))
    unet = torch_predictor(task, transform=lambda t: (t - mean) / std, pad_multiple=32)
    whole = unet(scene)  # the scene in one window (240 px, padded to 256)

    blended = predict_tiled(scene, unet, 7, tile=32, overlap=16).compute(scheduler="sync")
    cut = predict_tiled(scene, unet, 7, tile=32, overlap=0).compute(scheduler="sync")
    blended_border, blended_elsewhere = _border_jumps(blended, 32)
    cut_border, cut_elsewhere = _border_jumps(cut, 32)
    # blended: jumps on tile borders are no larger than anywhere else; cut: a step at every border
    # (measured: blended 0.0217 on borders vs 0.0253 elsewhere, cut 0.0399 vs 0.0256)
    numbers = (
        f"border/elsewhere jumps: blended {blended_border:.4f}/{blended_elsewhere:.4f}, "
        f"cut {cut_border:.4f}/{cut_elsewhere:.4f}; "
        f"mean |p - whole|: blended {np.abs(blended - whole).mean():.4f}, cut {np.abs(cut - whole).mean():.4f}"
    )
    print(numbers)
    assert blended_border <= 1.1 * blended_elsewhere, numbers
    assert cut_border > 1.3 * cut_elsewhere and cut_border > 1.3 * blended_border, numbers
    # the overlap brings the tiles closer to the one-window prediction (measured 0.061 vs 0.092)
    assert np.abs(blended - whole).mean() < 0.8 * np.abs(cut - whole).mean(), numbers

    # predict_scene is the same blending, computed lazily, as classes (the notebooks' path); on a corner
    corner = predict_scene(scene[:, :96, :96], unet, list(range(7)), tile=32, overlap=16, progress=False)
    corner_probs = predict_tiled(scene[:, :96, :96], unet, 7, tile=32, overlap=16).compute(scheduler="sync")
    assert corner.classes.shape == (96, 96) and corner.classes.dtype == np.uint8
    np.testing.assert_array_equal(corner.classes, corner_probs.argmax(axis=0))
    assert transform.c == demo_ci.transform.c and transform.f == demo_ci.transform.f
