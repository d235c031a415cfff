"""Model factory for semantic segmentation.

A trained network predicts a whole scene through the one tiled, blended
inference of :func:`geoml_helpers.publish.tiled_inference.predict_scene`
(with :func:`~geoml_helpers.publish.tiled_inference.torch_predictor`), and is
scored with :mod:`geoml_helpers.learn.metrics`.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

from geoml_helpers.core.errors import OfflineError, UnknownModelError

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
