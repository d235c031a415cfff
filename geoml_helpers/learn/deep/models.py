"""Model factory, seamless tiled prediction and IoU scores for semantic segmentation.

:func:`make_segmentation_task` builds torchgeo's
:class:`~torchgeo.tasks.SemanticSegmentation` (``SemanticSegmentationTask`` in
torchgeo < 0.10, still importable as a deprecated alias): a U-Net with a
ResNet-18 encoder and random initial weights by default, since nothing can
be downloaded offline. Pretrained Sentinel-2 weights (e.g.
``"SENTINEL2_RGB_MOCO"``) are opt-in; offline the factory fails within
seconds with :class:`~geoml_helpers.core.errors.OfflineError` instead of hanging in
a download.

Examples
--------
>>> task = make_segmentation_task(in_channels=11, num_classes=7)
>>> type(task).__name__, task.hparams["backbone"]
('SemanticSegmentation', 'resnet18')
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import numpy as np

from geoml_helpers.core.errors import GeomlError, OfflineError, UnknownModelError

ARCHITECTURES: tuple[str, ...] = ("unet", "deeplabv3+", "fcn", "upernet", "segformer", "dpt")


# Sentinel-2 band ids used in torchgeo's weight metadata -> Earth Search keys
_BAND_ID_TO_KEY = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "rededge1",
    "B6": "rededge2",
    "B7": "rededge3",
    "B8": "nir",
    "B8a": "nir08",
    "B8A": "nir08",
    "B9": "nir09",
    "B10": "cirrus",
    "B11": "swir16",
    "B12": "swir22",
}


def known_backbones() -> list[str]:
    """Encoder names segmentation_models_pytorch accepts (timm encoders also work as ``tu-<name>``).

    Examples
    --------
    >>> "resnet18" in known_backbones()
    True
    """
    import segmentation_models_pytorch as smp

    return sorted(smp.encoders.get_encoder_names())


def _check_backbone(backbone: str) -> None:
    if backbone.startswith("tu-"):
        import timm

        if timm.list_models(backbone[3:]):
            return
        raise UnknownModelError(
            f"Unknown timm backbone {backbone!r}; `timm.list_models('*resnet*')` lists valid names."
        )
    names = known_backbones()
    if backbone not in names:
        import difflib

        close = difflib.get_close_matches(backbone, names, n=3)
        raise UnknownModelError(
            f"Unknown backbone {backbone!r}{f'; did you mean {close}' if close else ''}? See "
            f"geoml_helpers.learn.deep.models.known_backbones() for the {len(names)} valid names."
        )


def resolve_weights(weights: Any, backbone: str = "resnet18"):
    """Turn a weights name into torchgeo's ``WeightsEnum`` member, with a clear error for unknown names.

    Accepts a member, ``"ResNet18_Weights.SENTINEL2_RGB_MOCO"`` or just
    ``"SENTINEL2_RGB_MOCO"`` (looked up among ``backbone``'s weights).

    Examples
    --------
    >>> resolve_weights("SENTINEL2_RGB_MOCO").meta["in_chans"]
    3
    >>> resolve_weights("sentinel2_typo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.UnknownModelError: Unknown weights 'sentinel2_typo' for backbone 'resnet18'...
    """
    from torchvision.models._api import WeightsEnum

    if isinstance(weights, WeightsEnum):
        return weights
    from torchgeo.models import get_model_weights, get_weight

    name = str(weights)
    if "." in name:
        try:
            return get_weight(name)
        except (KeyError, ValueError, AttributeError) as exc:
            raise UnknownModelError(
                f"Unknown weights {name!r}: {exc}. `torchgeo.models.get_model_weights('{backbone}')` lists valid names."
            ) from None
    try:
        enum = get_model_weights(backbone)
    except (KeyError, ValueError):
        raise UnknownModelError(
            f"torchgeo has no pretrained weights for backbone {backbone!r}; use weights=None or a backbone such "
            "as resnet18/resnet50."
        ) from None
    members = {m.name.upper(): m for m in enum}
    if name.upper() in members:
        return members[name.upper()]
    sentinel = [m for m in members if m.startswith("SENTINEL2")]
    raise UnknownModelError(
        f"Unknown weights {name!r} for backbone {backbone!r}; Sentinel-2 ones are {sentinel} (all: {sorted(members)})."
    )


def bands_for_weights(weights: Any, backbone: str = "resnet18") -> list[str]:
    """The Earth Search band keys, in order, that pretrained weights expect.

    Raises
    ------
    UnknownModelError
        If the weights need bands the demo (Earth Search L2A) does not have.

    Examples
    --------
    >>> bands_for_weights("SENTINEL2_RGB_MOCO")
    ['red', 'green', 'blue']
    """
    w = resolve_weights(weights, backbone)
    keys = [_BAND_ID_TO_KEY.get(b, b) for b in w.meta.get("bands", [])]
    unavailable = [k for k in keys if k in ("nir09", "cirrus") or k not in _BAND_ID_TO_KEY.values()]
    if unavailable:
        raise UnknownModelError(
            f"{w} was trained on bands {w.meta.get('bands')}, including {unavailable} which L2A products on Earth "
            "Search (and the demo) "
            "do not carry. Use weights made for L2A bands, e.g. 'SENTINEL2_RGB_MOCO', or weights=None."
        )
    return keys


def _weights_cached(weights) -> bool:
    import torch

    name = Path(urlparse(weights.url).path).name
    return (Path(torch.hub.get_dir()) / "checkpoints" / name).is_file()


def check_weights_reachable(weights, timeout: float = 3.0) -> None:
    """Fail fast with :class:`OfflineError` if pretrained weights are neither cached nor downloadable.

    Examples
    --------
    Needs the internet (skipped under doctest):

    >>> check_weights_reachable(resolve_weights("SENTINEL2_RGB_MOCO"), timeout=0.5)  # doctest: +SKIP
    """
    if _weights_cached(weights):
        return
    host = urlparse(weights.url).hostname or "hf.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        raise OfflineError(
            f"Pretrained weights {weights} must be downloaded from {host}, which cannot be reached "
            f"({exc.__class__.__name__}: {exc}). "
            "Train from scratch with `pretrained_weights = None` (the default), or run once online so the file "
            "lands in "
            f"torch's cache ({Path('~/.cache/torch/hub/checkpoints').as_posix()})."
        ) from None


def make_segmentation_task(
    in_channels: int,
    num_classes: int = 7,
    *,
    model: str = "unet",
    backbone: str = "resnet18",
    weights: Any = None,
    lr: float = 1e-3,
    ignore_index: int | None = 0,
    class_names: Sequence[str] | None = None,
    patience: int = 5,
    loss: str = "ce",
    freeze_backbone: bool = False,
):
    """Torchgeo's ``SemanticSegmentation`` task with validated names.

    Parameters
    ----------
    in_channels : int
        Bands per chip.
    num_classes : int
        Including the ignored "unlabelled" class 0.
    model : str
        One of :data:`ARCHITECTURES`.
    backbone : str
        Encoder name (see :func:`known_backbones`).
    weights : None, str or WeightsEnum
        None: random initialisation (works offline). A torchgeo weights name
        such as ``"SENTINEL2_RGB_MOCO"``: downloaded (needs the network, fails
        fast without), and ``in_channels`` must match the weights' bands.
    lr, patience : float, int
        AdamW learning rate and ReduceLROnPlateau patience.
    ignore_index : int or None
        Label value left out of loss and metrics (0, unlabelled pixels).

    Raises
    ------
    UnknownModelError
        Unknown architecture, backbone or weights, or a band count that does not match the weights.
    OfflineError
        Pretrained weights asked for while offline.

    Examples
    --------
    >>> make_segmentation_task(in_channels=4, backbone="resnet1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.UnknownModelError: Unknown backbone 'resnet1'...
    """
    if model not in ARCHITECTURES:
        raise UnknownModelError(
            f"Unknown model {model!r}; torchgeo's SemanticSegmentation supports {list(ARCHITECTURES)}."
        )
    _check_backbone(backbone)
    resolved = None
    if weights not in (None, False):
        if weights is True:
            raise UnknownModelError(
                "weights=True means ImageNet RGB weights, which do not fit multispectral chips; name Sentinel-2 "
                "weights (e.g. 'SENTINEL2_RGB_MOCO') or use None."
            )
        resolved = resolve_weights(weights, backbone)
        expected = resolved.meta.get("in_chans")
        if expected is not None and expected != in_channels:
            raise UnknownModelError(
                f"{resolved} expects {expected} bands ({resolved.meta.get('bands')}) but the chips have {in_channels}. "
                "Select the bands with geoml_helpers.learn.deep.models.bands_for_weights(weights)."
            )
        check_weights_reachable(resolved)
    from torchgeo.tasks import SemanticSegmentation

    return SemanticSegmentation(
        model=cast(Any, model),  # a Literal in torchgeo; checked above (torchgeo checks loss)
        backbone=backbone,
        weights=resolved,
        in_channels=in_channels,
        task="multiclass",
        num_classes=num_classes,
        labels=list(class_names) if class_names is not None else None,
        loss=cast(Any, loss),
        ignore_index=ignore_index,
        lr=lr,
        patience=patience,
        freeze_backbone=freeze_backbone,
    )


# --------------------------------------------------------------------------------------
# Prediction over an area with overlapping tiles, and scores
# --------------------------------------------------------------------------------------


def _blend_window(size: int) -> np.ndarray:
    """A 2-D weight that is highest at the chip centre and small (not zero) at its edges."""
    ramp = np.hanning(size + 2)[1:-1]
    return np.outer(ramp, ramp).astype("float32") + 1e-3


def predict_scene(
    task: Any,
    image_dataset: Any,
    normalize: Any,
    *,
    chip_size: int,
    stride: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> tuple[np.ndarray, Any]:
    """Class map of the whole image from overlapping chips blended with a Hann window (no seams).

    Parameters
    ----------
    task : LightningModule
        A trained segmentation task.
    image_dataset : GeoDataset
        The image dataset (e.g. ``datamodule.image_dataset``).
    normalize : callable
        The datamodule's ``normalize`` (the same statistics as in training).
    chip_size, stride : int
        Chip side and step in pixels (default stride half a chip).

    Returns
    -------
    (numpy.ndarray, affine.Affine)
        ``uint8`` class map (argmax over the blended probabilities) and its transform.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> classes, transform = predict_scene(task, dm.image_dataset, dm.normalize, chip_size=32)  # doctest: +SKIP
    """
    import torch
    from rasterio.transform import from_origin
    from torchgeo.samplers import GridGeoSampler
    from tqdm.auto import tqdm

    from geoml_helpers.learn.deep.torchgeo_data import _exact_stride, _quiet_torchgeo_deprecations, chip_dataloader

    _quiet_torchgeo_deprecations()
    x, y, _ = image_dataset.bounds
    rx, ry = image_dataset.res
    width, height = round((x.stop - x.start) / rx), round((y.stop - y.start) / ry)
    stride = stride or chip_size // 2
    for extent in (width, height):  # the last chip ends on the far edge
        stride = _exact_stride(extent, chip_size, stride)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sampler = GridGeoSampler(image_dataset, size=chip_size, stride=stride)
    loader = chip_dataloader(image_dataset, sampler, batch_size=batch_size)
    window = torch.from_numpy(_blend_window(chip_size))
    probs = None
    weight = torch.zeros((height, width))
    task.eval()
    with torch.inference_mode():
        for batch in tqdm(loader, desc="predicting chips", disable=not progress):
            out = task(normalize(batch["image"].float().to(task.device))).softmax(dim=1).cpu()
            if probs is None:
                probs = torch.zeros((out.shape[1], height, width))
            for p, b in zip(out, batch["bounds"]):
                c0 = round((float(b[0]) - x.start) / rx)
                r0 = round((y.stop - float(b[4])) / ry)
                h, w = min(chip_size, height - r0), min(chip_size, width - c0)  # the grid may run past the far edge
                probs[:, r0 : r0 + h, c0 : c0 + w] += p[:, :h, :w] * window[:h, :w]
                weight[r0 : r0 + h, c0 : c0 + w] += window[:h, :w]
        if probs is None:
            raise GeomlError("The image is smaller than one chip; use a smaller chip_size.")
        probs = probs / weight.clamp_min(1e-6)
    return probs.argmax(dim=0).numpy().astype("uint8"), from_origin(x.start, y.stop, rx, ry)


def confusion_matrix(
    truth: np.ndarray,
    predicted: np.ndarray,
    num_classes: int,
    mask: np.ndarray | None = None,
    ignore_index: int | None = 0,
) -> np.ndarray:
    """``(num_classes, num_classes)`` counts of (true, predicted) pixels, leaving out ``ignore_index``.

    Examples
    --------
    >>> confusion_matrix(np.array([1, 1, 2, 0]), np.array([1, 2, 2, 1]), 3).tolist()
    [[0, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    keep = np.ones(truth.shape, bool) if mask is None else mask.astype(bool)
    if ignore_index is not None:
        keep &= truth != ignore_index
    t, p = truth[keep].astype(np.int64), predicted[keep].astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_scores(
    confusion: np.ndarray, class_names: Sequence[str] | None = None, ignore_index: int | None = 0
) -> tuple[float, dict[str, float]]:
    """Mean IoU over the classes present in the truth, and the IoU of each.

    Examples
    --------
    >>> cm = np.array([[0, 0, 0], [0, 3, 1], [0, 0, 4]])
    >>> miou, per_class = iou_scores(cm, ["none", "a", "b"])
    >>> round(miou, 3), {k: round(v, 2) for k, v in per_class.items()}
    (0.775, {'a': 0.75, 'b': 0.8})
    """
    tp = np.diag(confusion).astype(float)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(tp))]
    per_class: dict[str, float] = {}
    for k in range(len(tp)):
        if k == ignore_index or confusion[k].sum() == 0:
            continue
        per_class[names[k]] = float(tp[k] / (tp[k] + fp[k] + fn[k]))
    miou = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return miou, per_class
