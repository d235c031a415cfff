"""How sure is a score? Block-bootstrap intervals, and how many polygons a score rests on.

Pixels of one polygon or one block are near-copies of each other, so a test
set of 5 000 pixels from 6 polygons holds about 6 independent pieces of
evidence, not 5 000. Treating the pixels as independent makes every interval
far too narrow. The *block bootstrap* resamples the independent units
instead: draw as many blocks (or polygons) as there are, with replacement,
pool their pixels, recompute the score, and repeat; the spread of the scores
is the uncertainty (Efron & Tibshirani 1993; Lahiri 2003, ch. 2; for
land-cover maps, Lyons et al. 2018, Remote Sens. Environ. 208: 145-153).

The scores come from one confusion matrix per unit, so a resample is a sum
of matrices and a thousand resamples take milliseconds.

Examples
--------
>>> y_true = np.array([1, 1, 2, 2, 1, 2, 1, 2])
>>> y_pred = np.array([1, 2, 2, 2, 1, 2, 1, 1])
>>> groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
>>> table = block_bootstrap(y_true, y_pred, groups, n_boot=200, seed=0)
>>> table.loc["accuracy", ["estimate", "n_groups"]].tolist()
[0.75, 4.0]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import FewPolygonsWarning, UncertaintyError

DEFAULT_MIN_POLYGONS: int = 5
"""Fewer polygons than this of a class in a split get a warning: a score on them is anecdote, not evidence."""


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """``(k, k)`` counts, rows = true class, columns = predicted class; other values are ignored."""
    try:  # one confusion-count implementation for the package, wherever it lives
        from geoml_helpers.learn.metrics import confusion_counts
    except ImportError:
        from geoml_helpers.publish.area_estimation import confusion_counts
    # confusion_counts(mapped, reference) has rows = mapped (predicted); transpose to rows = true.
    return confusion_counts(y_pred, y_true, list(labels)).T


def scores_from_confusion(confusion: np.ndarray, labels: Sequence[int]) -> dict[str, float]:
    """Accuracy, macro F1, mIoU and per-class F1 and IoU of one ``(k, k)`` matrix (rows true, columns predicted).

    A class with no true and no predicted pixel is left out of the means, as
    scikit-learn does when ``labels`` is not given. A class's own F1 and IoU
    are NaN when it has no true pixel (nothing to recall).

    Examples
    --------
    >>> s = scores_from_confusion(np.array([[3, 1], [0, 4]]), [1, 2])
    >>> round(s["accuracy"], 3), round(s["f1_1"], 3), round(s["iou_2"], 3)
    (0.875, 0.857, 0.8)
    """
    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(cm)
    true_n, pred_n = cm.sum(axis=1), cm.sum(axis=0)
    present = (true_n + pred_n) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (true_n + pred_n), np.nan)
        iou = np.where(present, tp / (true_n + pred_n - tp), np.nan)
    # Per class, a score needs true pixels of that class (recall is undefined without them).
    f1_class, iou_class = np.where(true_n > 0, f1, np.nan), np.where(true_n > 0, iou, np.nan)
    total = cm.sum()
    scores = {
        "accuracy": float(tp.sum() / total) if total else np.nan,
        "macro_f1": float(np.nanmean(f1)) if present.any() else np.nan,
        "miou": float(np.nanmean(iou)) if present.any() else np.nan,
    }
    for label, f, i in zip(labels, f1_class, iou_class):
        scores[f"f1_{label}"] = float(f)
        scores[f"iou_{label}"] = float(i)
    return scores


def block_bootstrap(
    y_true,
    y_pred,
    groups,
    *,
    labels: Sequence[int] | None = None,
    class_names: Mapping[int, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Scores with percentile confidence intervals from resampling whole groups (blocks or polygons).

    Parameters
    ----------
    y_true, y_pred : array-like (n,)
        True and predicted class of every test pixel.
    groups : array-like (n,)
        The independent unit of every pixel: its spatial block or polygon id.
        Resampling pixels instead would treat near-copies as independent.
    labels : sequence of int, optional
        Classes to score (default: every class in ``y_true`` or ``y_pred``).
    class_names : mapping, optional
        Id -> name, for the ``metric`` labels (``f1_invasive_trees``).
    n_boot : int
        Resamples.
    seed : int
        The resamples are a pure function of ``seed``.
    confidence : float
        Central share of the resampled scores the interval spans.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``metric`` (``accuracy``, ``macro_f1``, ``miou``, then
        ``f1_<class>`` and ``iou_<class>``): ``estimate`` (on all pixels),
        ``ci_low``, ``ci_high``, ``n_groups`` (units the score rests on:
        groups holding that class for a per-class score; under 2 the interval
        is NaN, as one unit cannot show how much a score varies), ``n_pixels``,
        ``undefined_share`` (resamples where the score was undefined). Wide
        intervals and small ``n_groups`` mean the same thing: little evidence.

    Raises
    ------
    UncertaintyError
        When the inputs differ in length or there are fewer than 2 groups.

    Notes
    -----
    Long because: the per-group confusion matrices, the weighted resampling and the table are one estimator, and the
    table needs the point estimates, the draws and the group counts together.
    """
    y_true, y_pred, groups = (np.asarray(a).ravel() for a in (y_true, y_pred, groups))
    if not (y_true.shape == y_pred.shape == groups.shape):
        raise UncertaintyError(
            f"y_true {y_true.shape}, y_pred {y_pred.shape} and groups {groups.shape} need one value per pixel."
        )
    if not 0 < confidence < 1:
        raise UncertaintyError(f"confidence must lie in (0, 1), got {confidence}.")
    labels = [int(c) for c in (labels if labels is not None else np.union1d(y_true, y_pred))]
    unit_ids, unit_of = np.unique(groups, return_inverse=True)
    if unit_ids.size < 2:
        raise UncertaintyError(
            f"All {y_true.size} test pixels lie in one group ({unit_ids[0]!r}): there is nothing to resample. "
            "Hold out more blocks or polygons for testing."
        )
    per_unit = np.stack([_confusion(y_true[unit_of == u], y_pred[unit_of == u], labels) for u in range(unit_ids.size)])
    point = scores_from_confusion(per_unit.sum(axis=0), labels)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, unit_ids.size, size=(n_boot, unit_ids.size))
    # Summing the drawn units' matrices: bincount of unit indices as weights, one matmul for all resamples.
    weights = np.stack([np.bincount(d, minlength=unit_ids.size) for d in draws]).astype(np.float64)
    matrices = np.tensordot(weights, per_unit.astype(np.float64), axes=(1, 0))
    resampled = pd.DataFrame([scores_from_confusion(m, labels) for m in matrices])
    alpha = (1 - confidence) / 2
    names = dict(class_names or {})
    units_with = {c: int(np.unique(unit_of[(y_true == c)]).size) for c in labels}
    rows = []
    for metric, estimate in point.items():
        values = resampled[metric].to_numpy()
        finite = values[np.isfinite(values)]
        low, high = np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (np.nan, np.nan)
        kind, _, label = metric.partition("_")
        per_class = kind in ("f1", "iou") and label.lstrip("-").isdigit()
        name = f"{kind}_{names.get(int(label), label)}" if per_class else metric
        n_groups = units_with[int(label)] if per_class else int(unit_ids.size)
        n_pixels = int((y_true == int(label)).sum()) if per_class else int(y_true.size)
        if n_groups < 2:  # one polygon or block cannot show how much the score varies: no interval
            low, high = np.nan, np.nan
        rows.append(
            {
                "metric": name,
                "estimate": estimate,
                "ci_low": float(low),
                "ci_high": float(high),
                "n_groups": n_groups,
                "n_pixels": n_pixels,
                "undefined_share": float(1 - finite.size / n_boot),
            }
        )
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs.update(n_boot=n_boot, seed=seed, confidence=confidence)
    return table


def polygon_counts(
    labels: pd.DataFrame,
    *,
    class_col: str = "class_id",
    split_col: str = "split",
    polygon_col: str | None = "polygon_id",
    class_names: Mapping[int, str] | None = None,
    minimum: int = DEFAULT_MIN_POLYGONS,
    warn: bool = True,
) -> pd.DataFrame:
    """Polygons per class and split, with a warning for every count under ``minimum``.

    A score per class rests on its polygons, not its pixels: one test polygon
    of built-up gives an F1 of 0 or 1, and nothing in between is evidence.

    Parameters
    ----------
    labels : pandas.DataFrame or geopandas.GeoDataFrame
        One row per polygon (or per pixel, with ``polygon_col`` naming the polygon).
    class_col, split_col, polygon_col : str
        Column names; ``polygon_col=None`` counts rows.
    class_names : mapping, optional
        Id -> name for the index.
    minimum : int
        Counts below this are flagged.
    warn : bool
        Emit a :class:`FewPolygonsWarning` naming the classes and splits under the minimum.

    Returns
    -------
    pandas.DataFrame
        Classes x splits, polygon counts (0 where a class is absent);
        ``attrs["below_minimum"]``: list of ``(class, split, count)``.

    Examples
    --------
    >>> labels = pd.DataFrame({"class_id": [1, 1, 1, 2], "polygon_id": [0, 1, 2, 3],
    ...                        "split": ["train", "test", "test", "train"]})
    >>> counts = polygon_counts(labels, minimum=2, warn=False)
    >>> counts.to_dict("index"), counts.attrs["below_minimum"]
    ({1: {'test': 2, 'train': 1}, 2: {'test': 0, 'train': 1}}, [(1, 'train', 1), (2, 'test', 0), (2, 'train', 1)])
    """
    frame = pd.DataFrame(labels)
    missing = {class_col, split_col} - set(frame.columns)
    if missing:
        raise UncertaintyError(
            f"The labels lack the columns {sorted(missing)}; pass class_col= and split_col= for yours."
        )
    if polygon_col is not None and polygon_col in frame.columns:
        counts = frame.groupby([class_col, split_col])[polygon_col].nunique()
    else:
        counts = frame.groupby([class_col, split_col]).size()
    table = counts.unstack(split_col, fill_value=0).astype(int)
    table = table.reindex(columns=sorted(table.columns), fill_value=0)
    below = [(c, s, int(table.loc[c, s])) for c in table.index for s in table.columns if table.loc[c, s] < minimum]
    names = dict(class_names or {})
    if names:
        table.index = [names.get(c, c) for c in table.index]
    table.index.name = class_col
    table.attrs["below_minimum"] = [(names.get(c, c), s, n) for c, s, n in below]
    if warn and below:
        listed = ", ".join(f"{names.get(c, c)} in {s}: {n}" for c, s, n in below)
        warnings.warn(
            f"Fewer than {minimum} polygons for {listed}. Scores of these classes rest on a handful of polygons; "
            "read their intervals, digitise more polygons, or merge the class with a similar one.",
            FewPolygonsWarning,
            stacklevel=2,
        )
    return table


def reliability_table(confidence, correct, *, n_bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data: in bins of stated confidence, how often the prediction was right.

    A random forest's "probability" is the share of trees that voted for the
    class (a *vote share*), not a calibrated probability: before publishing it
    as one, check that predictions stated at 80 % are right about 80 % of the
    time (Niculescu-Mizil & Caruana 2005, "Predicting good probabilities with
    supervised learning", ICML). Use test pixels or, better, the units of a
    probability sample.

    Parameters
    ----------
    confidence : array-like (n,)
        Stated confidence of each prediction, in [0, 1] (e.g. the top vote share).
    correct : array-like of bool (n,)
        Whether the prediction was right.
    n_bins : int
        Equal-width bins over [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high``, ``mean_confidence``,
        ``accuracy``, ``count``; ``attrs["expected_calibration_error"]`` (the
        count-weighted mean gap |accuracy - confidence|).

    Examples
    --------
    >>> conf = np.array([0.95, 0.9, 0.92, 0.55, 0.6, 0.52])
    >>> right = np.array([True, True, True, True, False, False])
    >>> t = reliability_table(conf, right, n_bins=4)
    >>> t[["count", "accuracy"]].values.tolist(), round(t.attrs["expected_calibration_error"], 3)
    ([[3.0, 0.3333333333333333], [3.0, 1.0]], 0.15)
    """
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if confidence.shape != correct.shape:
        raise UncertaintyError(
            f"confidence {confidence.shape} and correct {correct.shape} need one value per prediction."
        )
    if ((confidence < 0) | (confidence > 1)).any():
        raise UncertaintyError("confidence must lie in [0, 1]; divide percentages by 100.")
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "bin_low": edges[b],
                    "bin_high": edges[b + 1],
                    "mean_confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                    "count": float(inside.sum()),
                }
            )
    table = pd.DataFrame(rows)
    gap = (table["accuracy"] - table["mean_confidence"]).abs()
    table.attrs["expected_calibration_error"] = float((gap * table["count"]).sum() / table["count"].sum())
    return table
