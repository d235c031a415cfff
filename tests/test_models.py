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
    confusion_matrix,
    iou_scores,
    make_segmentation_task,
    predict_scene,
    resolve_weights,
)


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
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 7, size=(50, 50))
    predicted = np.where(rng.random((50, 50)) < 0.6, truth, rng.integers(1, 7, size=(50, 50)))
    miou, per_class = iou_scores(confusion_matrix(truth, predicted, 7), [str(i) for i in range(7)])
    keep = truth != 0
    reference = jaccard_score(truth[keep], predicted[keep], labels=list(range(1, 7)), average=None)
    assert np.allclose([per_class[str(i)] for i in range(1, 7)], reference)
    assert miou == pytest.approx(reference.mean())


def test_predict_scene_covers_the_image_without_seams(demo_ci, data_root):
    from geoml_helpers.learn.deep.datamodule import DemoSegmentationDataModule

    dm = DemoSegmentationDataModule("ci", data_dir=data_root, chip_size=32)
    dm.prepare_data()
    dm.setup("fit")
    torch.manual_seed(0)
    task = make_segmentation_task(in_channels=11, num_classes=7)
    classes, transform = predict_scene(task, dm.image_dataset, dm.normalize, chip_size=32, stride=16, progress=False)
    assert classes.shape == (240, 240) and classes.dtype == np.uint8
    assert transform.c == demo_ci.transform.c and transform.f == demo_ci.transform.f
    # no seams: class changes are no more frequent on chip borders (every 16 px) than elsewhere
    changes = (np.diff(classes.astype(int), axis=1) != 0).mean(axis=0)
    border = changes[15::16]
    assert border.mean() <= changes.mean() * 2 + 0.05
