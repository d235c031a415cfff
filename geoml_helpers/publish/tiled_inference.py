"""Whole-scene inference in overlapping tiles, blended without seams, with dask.

A scene is too big to predict in one go (memory) and a convolutional model
sees less context at the edge of a tile than in its middle, so cutting the
scene into tiles and stitching the predictions leaves visible *seams*. The
cure used here:

1. cut the scene into **cores** of ``tile x tile`` pixels (the dask chunks of
   the output) and predict each core with an extra ``overlap`` pixels of
   context on every side (the **padded tile**);
2. give every pixel of a padded tile a weight that is 1 inside, ramps
   linearly to 0 across a band ``overlap`` pixels wide centred on the core's
   edge, and is 0 in the outer half of the margin; the weights of
   neighbouring tiles add up to exactly 1;
3. the result is the weighted sum of class probabilities; class = arg max,
   confidence = max probability.

Each pixel with a non-zero weight therefore has at least ``overlap / 2``
pixels of context in every direction: for a model whose receptive field
radius is at most that, tiled inference *equals* whole-array inference; for a
bigger one the tiles' disagreements fade linearly instead of jumping.

Memory is bounded: dask holds a few padded tiles and output cores at a time,
never the whole scene's probabilities, as long as the caller computes the
class map and the confidence together (:func:`predict_scene` does).

The model is any function ``tile (…, y, x) -> probabilities (class, y, x)``;
:func:`sklearn_predictor` and :func:`torch_predictor` make one from a fitted
scikit-learn classifier or a PyTorch segmentation network.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).random((3, 50, 40)).astype("float32")
>>> probs = lambda t: np.stack([t[0], 1 - t[0]])           # a per-pixel "model"
>>> tiled = predict_tiled(x, probs, n_classes=2, tile=16, overlap=4).compute()
>>> bool(np.allclose(tiled, probs(x), atol=1e-6))
True
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geoml_helpers.core.errors import ModelFileError, ModelMismatchError, TiledInferenceError
from geoml_helpers.core.memory import PeakMemory

Predictor = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------- weights
def ramp_weights(length: int, core_start: int, core_stop: int, overlap: int, before: bool, after: bool) -> np.ndarray:
    """1-D blending weights of a padded tile along one axis.

    Parameters
    ----------
    length : int
        Length of the padded tile (clipped to the scene).
    core_start, core_stop : int
        The core's position *within* the padded tile.
    overlap : int
        Context margin; the ramp is ``overlap`` pixels wide, centred on the core's edges.
    before, after : bool
        Whether a neighbouring tile exists on that side (no ramp at the scene's edge).

    Examples
    --------
    >>> ramp_weights(12, 4, 8, 4, True, True).round(3).tolist()
    [0.0, 0.0, 0.125, 0.375, 0.625, 0.875, 0.875, 0.625, 0.375, 0.125, 0.0, 0.0]
    """
    t = np.arange(length, dtype=np.float64) + 0.5
    w = np.ones(length, dtype=np.float64)
    if overlap > 0:
        if before:
            w = np.minimum(w, np.clip((t - (core_start - overlap / 2)) / overlap, 0.0, 1.0))
        if after:
            w = np.minimum(w, np.clip(((core_stop + overlap / 2) - t) / overlap, 0.0, 1.0))
    return w


def _tile_edges(size: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, size)) for start in range(0, size, tile)]


def _predict_padded(
    block: np.ndarray, predictor: Predictor, n_classes: int, wy: np.ndarray, wx: np.ndarray
) -> np.ndarray:
    probs = np.asarray(predictor(np.asarray(block)), dtype=np.float32)
    if probs.shape != (n_classes, *block.shape[-2:]):
        raise TiledInferenceError(
            f"The model returned an array of shape {probs.shape} for a tile of shape {block.shape}; "
            f"it must return class probabilities shaped (n_classes={n_classes}, y, x). "
            "Wrap it with sklearn_predictor/torch_predictor, or check n_classes."
        )
    weights = (wy[:, None] * wx[None, :]).astype(np.float32)
    return np.concatenate([probs * weights, weights[None]], axis=0)


def predict_tiled(
    data,
    predictor: Predictor,
    n_classes: int,
    *,
    tile: int = 256,
    overlap: int = 32,
):
    """Lazy blended class probabilities ``(class, y, x)`` of a scene, tile by tile.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array or xarray.DataArray
        Input with the two spatial dimensions last, e.g. ``(feature, y, x)``
        or ``(time, band, y, x)``. A dask array is read lazily, tile by tile.
    predictor : callable
        ``tile -> probabilities (n_classes, y, x)``; pixels without a valid
        prediction get all-zero probabilities.
    n_classes : int
        Length of the class axis the predictor returns.
    tile : int
        Side of the core of each tile (and of the output chunks).
    overlap : int
        Context added on each side; blended over ``overlap`` pixels.

    Returns
    -------
    dask.array.Array
        float32 ``(n_classes, y, x)``, chunked ``tile x tile``.

    Raises
    ------
    TiledInferenceError
        If ``overlap`` is negative or not smaller than ``tile``.
    """
    import dask
    import dask.array as da

    if overlap < 0 or overlap >= tile:
        raise TiledInferenceError(
            f"overlap={overlap} must be >= 0 and smaller than tile={tile}; try overlap = tile // 8."
        )
    array = getattr(data, "data", data)
    if not isinstance(array, da.Array):
        array = da.from_array(np.asarray(array), chunks=(*array.shape[:-2], tile, tile))
    ny, nx = array.shape[-2:]
    rows, cols = _tile_edges(ny, tile), _tile_edges(nx, tile)

    padded: dict[tuple[int, int], tuple[object, tuple[int, int], tuple[int, int]]] = {}
    for i, (y0, y1) in enumerate(rows):
        for j, (x0, x1) in enumerate(cols):
            py0, py1 = max(0, y0 - overlap), min(ny, y1 + overlap)
            px0, px1 = max(0, x0 - overlap), min(nx, x1 + overlap)
            wy = ramp_weights(py1 - py0, y0 - py0, y1 - py0, overlap, i > 0, i < len(rows) - 1)
            wx = ramp_weights(px1 - px0, x0 - px0, x1 - px0, overlap, j > 0, j < len(cols) - 1)
            window = array[..., py0:py1, px0:px1]
            # not pure: tokenizing the predictor (a closure over a torch module) cost ~0.5 s per tile
            task = dask.delayed(_predict_padded, pure=False)(window, predictor, n_classes, wy, wx)
            padded[i, j] = (task, (py0, py1), (px0, px1))

    blocks = []
    for i, (y0, y1) in enumerate(rows):
        row_blocks = []
        for j, (x0, x1) in enumerate(cols):
            pieces = []
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if (i + di, j + dj) not in padded:
                        continue
                    task, (py0, py1), (px0, px1) = padded[i + di, j + dj]
                    oy0, oy1, ox0, ox1 = max(y0, py0), min(y1, py1), max(x0, px0), min(x1, px1)
                    if oy0 >= oy1 or ox0 >= ox1:
                        continue
                    src = (slice(oy0 - py0, oy1 - py0), slice(ox0 - px0, ox1 - px0))
                    dst = (slice(oy0 - y0, oy1 - y0), slice(ox0 - x0, ox1 - x0))
                    pieces.append((task, src, dst))
            combined = dask.delayed(_combine_placed, pure=True)(pieces, (y1 - y0, x1 - x0), n_classes)
            row_blocks.append(da.from_delayed(combined, shape=(n_classes, y1 - y0, x1 - x0), dtype=np.float32))
        blocks.append(row_blocks)
    return da.concatenate([da.concatenate(row, axis=2) for row in blocks], axis=1)


def _combine_placed(pieces, shape: tuple[int, int], n_classes: int) -> np.ndarray:
    acc = np.zeros((n_classes + 1, *shape), dtype=np.float32)
    for weighted, (sy, sx), (dy, dx) in pieces:
        acc[:, dy, dx] += weighted[:, sy, sx]
    weight = acc[-1]
    out = np.zeros((n_classes, *shape), dtype=np.float32)
    np.divide(acc[:-1], weight, out=out, where=weight > 0)
    return out


def classes_and_confidence(probs, class_ids: Sequence[int], nodata: int = 0):
    """Class map (``uint8``; ``nodata`` where every probability is 0) and confidence (max probability).

    Works lazily on dask arrays and eagerly on numpy arrays.

    Examples
    --------
    >>> p = np.array([[[0.2, 0.0]], [[0.8, 0.0]]], dtype="float32")
    >>> cls, conf = classes_and_confidence(p, [1, 2])
    >>> cls.tolist(), conf.tolist()
    ([[2, 0]], [[0.800000011920929, 0.0]])
    """
    lookup = np.asarray([nodata, *class_ids], dtype=np.uint8)
    best = probs.argmax(axis=0)
    conf = probs.max(axis=0)
    valid = probs.sum(axis=0) > 0
    index = (best + 1) * valid
    classes = lookup[index] if isinstance(index, np.ndarray) else index.map_blocks(lambda b: lookup[b], dtype=np.uint8)
    return classes, conf


# ------------------------------------------------------------------ predictors
def sklearn_predictor(
    model,
    class_ids: Sequence[int],
    *,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    invalid_as_nodata: bool = True,
    batch_pixels: int = 65536,
) -> Predictor:
    """Wrap a fitted scikit-learn classifier as a tile predictor.

    Parameters
    ----------
    model : sklearn classifier
        With ``predict_proba`` and ``classes_``.
    class_ids : sequence of int
        The class axis of the output; the model's ``classes_`` are placed on it
        (a class the model never saw gets probability 0).
    transform : callable, optional
        Tile -> features ``(feature, y, x)``, e.g. :func:`geoml_helpers.learn.features.pixel_features`
        applied to a ``(time, band, y, x)`` tile.
    invalid_as_nodata : bool
        Pixels with a non-finite feature get all-zero probabilities (nodata).
    batch_pixels : int
        Pixels per ``predict_proba`` call (bounds memory inside a tile).

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> m = DummyClassifier(strategy="prior").fit(np.zeros((4, 2)), [1, 1, 1, 3])
    >>> sklearn_predictor(m, [1, 2, 3])(np.zeros((2, 1, 1)))[:, 0, 0].tolist()
    [0.75, 0.0, 0.25]
    """
    class_ids = list(class_ids)
    positions = [class_ids.index(int(c)) for c in model.classes_]

    def predict(tile: np.ndarray) -> np.ndarray:
        feats = transform(tile) if transform is not None else tile
        feats = feats.reshape(-1, *feats.shape[-2:])
        ny, nx = feats.shape[-2:]
        flat = feats.reshape(feats.shape[0], -1).T
        valid = np.isfinite(flat).all(axis=1) if invalid_as_nodata else np.ones(flat.shape[0], bool)
        out = np.zeros((len(class_ids), flat.shape[0]), dtype=np.float32)
        index = np.flatnonzero(valid)
        with (
            warnings.catch_warnings()
        ):  # features come in training order without names (checked by check_model_features)
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            for start in range(0, index.size, batch_pixels):
                chunk = index[start : start + batch_pixels]
                out[np.ix_(positions, chunk)] = model.predict_proba(flat[chunk]).T
        return out.reshape(len(class_ids), ny, nx)

    return predict


def torch_predictor(
    module,
    *,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    invalid_as_nodata: bool = True,
    device: str = "cpu",
    pad_multiple: int = 1,
) -> Predictor:
    """Wrap a PyTorch network ``(1, C, y, x) -> logits (1, n_classes, y, x)`` as a tile predictor.

    The tile's leading dimensions are flattened into channels; NaN inputs are
    replaced by 0 for the network and (with ``invalid_as_nodata``) the pixel
    gets all-zero probabilities. Runs under ``torch.no_grad()`` in eval mode.

    Parameters
    ----------
    module : torch.nn.Module
        The network, e.g. a trained torchgeo ``SemanticSegmentation`` task.
    transform : callable, optional
        Tile -> network input, in numpy (e.g. the training normalisation
        ``lambda t: (t - mean) / std``, or a median over time).
    invalid_as_nodata : bool
        Pixels with a non-finite input get all-zero probabilities (nodata).
    device : str
        Where the network runs.
    pad_multiple : int
        Pad each tile at its bottom and right edges (by reflection) to a
        multiple of this size and crop the output back: a U-Net with a
        ResNet encoder needs sides divisible by 32. Padded pixels lie outside
        the tile, so they only act as context.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Conv2d(2, 3, 1)
    >>> torch_predictor(net)(np.zeros((2, 4, 4), "float32")).shape
    (3, 4, 4)
    >>> torch_predictor(net, pad_multiple=32)(np.zeros((2, 40, 7), "float32")).shape
    (3, 40, 7)
    """
    import torch

    module = module.to(device).eval()

    def predict(tile: np.ndarray) -> np.ndarray:
        x = transform(tile) if transform is not None else tile
        x = np.asarray(x, dtype=np.float32).reshape(-1, *tile.shape[-2:])
        valid = np.isfinite(x).all(axis=0)
        ny, nx = x.shape[-2:]
        batch = torch.from_numpy(np.nan_to_num(x, nan=0.0))[None].to(device)
        pad_y, pad_x = -ny % pad_multiple, -nx % pad_multiple
        if pad_y or pad_x:
            # reflection needs the padding to be shorter than the side; a thin scene-edge tile repeats its edge instead
            mode = "reflect" if pad_y < ny and pad_x < nx else "replicate"
            batch = torch.nn.functional.pad(batch, (0, pad_x, 0, pad_y), mode=mode)
        with torch.no_grad():
            logits = module(batch)[..., :ny, :nx]
            probs = torch.softmax(logits, dim=1)[0].cpu().numpy().astype(np.float32)
        if invalid_as_nodata:
            probs *= valid[None]
        return probs

    return predict


# ------------------------------------------------------------------ the scene
@dataclass
class SceneResult:
    """Output of :func:`predict_scene`."""

    classes: np.ndarray
    confidence: np.ndarray
    seconds: float
    peak_rss_mb: float
    baseline_rss_mb: float
    n_tiles: int


def predict_scene(
    data,
    predictor: Predictor,
    class_ids: Sequence[int],
    *,
    tile: int = 256,
    overlap: int = 32,
    progress: bool = True,
    scheduler: str | None = "threads",
    num_workers: int | None = None,
) -> SceneResult:
    """Class map and confidence of a whole scene, with time and peak memory.

    Parameters
    ----------
    data, predictor, tile, overlap
        See :func:`predict_tiled`.
    class_ids : sequence of int
        Class id of each position of the predictor's class axis.
    progress : bool
        Show a dask progress bar.
    scheduler : str, optional
        dask scheduler (``threads`` by default; ``None`` uses the active
        distributed client, if any).
    num_workers : int, optional
        Threads for the ``threads`` scheduler (fewer threads = fewer tiles in memory).

    Returns
    -------
    SceneResult
    """
    import contextlib

    import dask

    probs = predict_tiled(data, predictor, len(class_ids), tile=tile, overlap=overlap)
    classes, conf = classes_and_confidence(probs, class_ids)
    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    if progress and scheduler is not None:
        from dask.diagnostics import ProgressBar

        context = ProgressBar()
    kwargs: dict[str, Any] = {"scheduler": scheduler} if scheduler is not None else {}
    if num_workers is not None:
        kwargs["num_workers"] = num_workers
    started = time.perf_counter()
    with PeakMemory() as mem, context:
        classes, conf = dask.compute(classes, conf, **kwargs)
    n_tiles = len(probs.chunks[1]) * len(probs.chunks[2])
    return SceneResult(
        np.asarray(classes), np.asarray(conf), time.perf_counter() - started, mem.peak_mb, mem.baseline_mb, n_tiles
    )


# ------------------------------------------------------------------ model files
def check_model_features(model, feature_names: Sequence[str], source: str = "the model") -> None:
    """Raise :class:`ModelMismatchError` unless ``model`` expects exactly ``feature_names``.

    Uses ``feature_names_in_`` when the model was fitted on a DataFrame and
    ``n_features_in_`` otherwise.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> m = DummyClassifier().fit(np.zeros((2, 3)), [1, 2])
    >>> check_model_features(m, ["a", "b"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.ModelMismatchError: ...
    """
    names = list(feature_names)
    expected = getattr(model, "feature_names_in_", None)
    if expected is not None and list(expected) != names:
        missing = [n for n in expected if n not in names][:5]
        extra = [n for n in names if n not in set(expected)][:5]
        raise ModelMismatchError(
            f"{source} was trained on {len(expected)} features that do not match the cube's {len(names)} "
            f"(the model needs e.g. {missing}, the cube offers e.g. {extra} that it does not know, or the order "
            "differs). "
            "Compute the features with the same function and band list as in training (geoml_helpers.learn.features), "
            "or retrain the model on this cube (notebook 04)."
        )
    n_expected = getattr(model, "n_features_in_", None)
    if n_expected is not None and int(n_expected) != len(names):
        raise ModelMismatchError(
            f"{source} expects {n_expected} input features but the cube gives {len(names)}. "
            "The model was trained on other bands or features: rebuild the features exactly as in training, "
            "or retrain it on this cube (notebook 04)."
        )


def load_sklearn_model(path: str | os.PathLike[str], feature_names: Sequence[str] | None = None):
    """Load a joblib-saved scikit-learn model (or a dict holding one under ``"model"``) and check its inputs.

    Raises
    ------
    ModelFileError
        If the file does not exist or cannot be unpickled.
    ModelMismatchError
        If ``feature_names`` is given and the model expects other features.

    Examples
    --------
    >>> load_sklearn_model("/nonexistent/rf.joblib")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.ModelFileError: ...
    """
    from pathlib import Path

    import joblib

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"No model file at {path}. Run notebook 04 to train and save the random forest "
            "(`python -m geoml_helpers.course.runner --only 04`), or leave `model_path` unset to train a small "
            "one here."
        )
    try:
        obj = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ModelFileError(
            f"Cannot load the model at {path} ({type(exc).__name__}: {exc}). Retrain it (notebook 04); it may "
            "come from another library version."
        ) from exc
    model = obj.get("model") if isinstance(obj, dict) else obj
    if model is None or not hasattr(model, "predict_proba"):
        raise ModelFileError(
            f"{path} holds no classifier with predict_proba (found {type(obj).__name__}). Save the fitted "
            "estimator itself with joblib.dump(model, path)."
        )
    if isinstance(obj, dict) and feature_names is not None and obj.get("feature_names") is not None:
        stored = list(obj["feature_names"])
        if stored != list(feature_names):
            raise ModelMismatchError(
                f"The model at {path} was trained on {len(stored)} features {stored[:3]}... but the cube gives "
                f"{len(feature_names)} {list(feature_names)[:3]}.... Compute the features as in training, or "
                "retrain it (notebook 04)."
            )
    if feature_names is not None:
        check_model_features(model, feature_names, source=f"The model at {path}")
    return model
