"""Confusion counts and the per-class scores made from them: one implementation for every notebook.

Notebook 05 scores the U-Net's map on the test blocks (IoU), notebook 08
feeds the same counts into the area estimate (Olofsson et al. 2014). Both
use :func:`confusion_counts`, whose rows are the **map** (predicted) classes
and whose columns are the **reference** (true) classes, the convention of the
accuracy-assessment literature. (scikit-learn's ``confusion_matrix`` puts the
truth in the rows: its transpose.)

Examples
--------
>>> counts = confusion_counts([1, 1, 2, 2], [1, 2, 2, 2], [1, 2])
>>> counts.tolist()
[[1, 1], [0, 2]]
>>> iou_scores(counts, ["a", "b"])
(0.5833333333333333, {'a': 0.5, 'b': 0.6666666666666666})
>>> f1_scores(counts, ["a", "b"])[0]
0.7333333333333334
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geoml_helpers.core.errors import AreaEstimationError

__all__ = ["confusion_counts", "f1_scores", "iou_scores"]


def _positions(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each value in ``ids``, -1 where it is not one of them."""
    order = np.argsort(ids)
    pos = np.clip(np.searchsorted(ids[order], values), 0, ids.size - 1)
    return np.where(ids[order][pos] == values, order[pos], -1)


def confusion_counts(mapped, reference, class_ids: Sequence[int], *, mask=None) -> np.ndarray:
    """Counts ``n_ij`` of pixels (or samples) mapped as ``class_ids[i]`` whose reference class is ``class_ids[j]``.

    Parameters
    ----------
    mapped, reference : array-like
        Predicted and true class ids of the same pixels, any shape (flattened).
    class_ids : sequence of int
        The classes, in the order of the rows and columns. A pixel whose
        mapped or reference value is not one of them (nodata, unlabelled) is
        left out; include such a value (e.g. 0) to count it.
    mask : array-like of bool, optional
        Only these pixels count (e.g. the test blocks).

    Returns
    -------
    numpy.ndarray
        ``int64`` ``(k, k)``: rows mapped, columns reference.

    Raises
    ------
    AreaEstimationError
        If ``mapped``, ``reference`` (and ``mask``) hold different numbers of pixels.

    Examples
    --------
    >>> confusion_counts([1, 1, 2, 2, 0], [1, 2, 2, 2, 1], [1, 2]).tolist()
    [[1, 1], [0, 2]]
    >>> truth = np.array([[1, 2], [0, 2]])
    >>> confusion_counts(np.array([[1, 0], [1, 2]]), truth, [0, 1, 2], mask=truth > 0).tolist()
    [[0, 0, 1], [0, 1, 0], [0, 0, 1]]
    """
    mapped, reference = np.asarray(mapped).ravel(), np.asarray(reference).ravel()
    if mapped.shape != reference.shape:
        raise AreaEstimationError(
            f"mapped ({mapped.shape}) and reference ({reference.shape}) samples differ in number; "
            "pass the same pixels of both."
        )
    ids = np.asarray(class_ids)
    m, r = _positions(mapped, ids), _positions(reference, ids)
    keep = (m >= 0) & (r >= 0)
    if mask is not None:
        mask = np.asarray(mask, bool).ravel()
        if mask.shape != mapped.shape:
            raise AreaEstimationError(
                f"mask has {mask.size} pixels but the maps have {mapped.size}; pass a mask of the maps' shape."
            )
        keep &= mask
    counts = np.zeros((ids.size, ids.size), dtype=np.int64)
    np.add.at(counts, (m[keep], r[keep]), 1)
    return counts


def _per_class(counts: np.ndarray, class_names: Sequence[str] | None, score) -> tuple[float, dict[str, float]]:
    counts = np.asarray(counts)
    tp = np.diag(counts).astype(float)
    mapped_n, reference_n = counts.sum(axis=1), counts.sum(axis=0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(tp))]
    present = [k for k in range(len(tp)) if reference_n[k] > 0]
    per_class = {names[k]: float(score(tp[k], mapped_n[k], reference_n[k])) for k in present}
    return (float(np.mean(list(per_class.values()))) if per_class else float("nan")), per_class


def iou_scores(counts: np.ndarray, class_names: Sequence[str] | None = None) -> tuple[float, dict[str, float]]:
    """Mean IoU over the classes present in the reference, and the IoU of each: ``TP / (TP + FP + FN)``.

    A class without reference pixels (e.g. "unlabelled", left out by a mask)
    has no IoU and does not enter the mean.

    Parameters
    ----------
    counts : numpy.ndarray
        :func:`confusion_counts` (rows mapped, columns reference).
    class_names : sequence of str, optional
        Name of each row/column (default its position).

    Examples
    --------
    >>> counts = np.array([[0, 0, 0], [0, 3, 0], [0, 1, 4]])
    >>> miou, per_class = iou_scores(counts, ["none", "a", "b"])
    >>> round(miou, 3), {k: round(v, 2) for k, v in per_class.items()}
    (0.775, {'a': 0.75, 'b': 0.8})
    """
    return _per_class(counts, class_names, lambda tp, mapped, reference: tp / (mapped + reference - tp))


def f1_scores(counts: np.ndarray, class_names: Sequence[str] | None = None) -> tuple[float, dict[str, float]]:
    """Macro F1 over the classes present in the reference, and the F1 of each: ``2 TP / (mapped + reference)``.

    Examples
    --------
    >>> macro, per_class = f1_scores(np.array([[3, 0], [1, 4]]), ["a", "b"])
    >>> round(macro, 3), {k: round(v, 3) for k, v in per_class.items()}
    (0.873, {'a': 0.857, 'b': 0.889})
    """
    return _per_class(counts, class_names, lambda tp, mapped, reference: 2 * tp / (mapped + reference))
