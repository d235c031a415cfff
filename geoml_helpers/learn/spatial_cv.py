"""Random versus spatial cross-validation, and why the random one flatters a model.

Neighbouring pixels look alike (spatial autocorrelation) and pixels of one
label polygon are near-copies. A random K-fold puts pixels of the same
polygon in training and validation folds, so it measures how well the model
*remembers* polygons, not how well it maps new places. Grouped K-fold on the
spatial blocks (or at least the polygons) keeps every group on one side.

Examples
--------
>>> import numpy as np
>>> y = np.array([1, 1, 2, 2, 1, 2, 1, 2, 1, 2])
>>> groups = np.repeat(np.arange(5), 2)
>>> [len(test) for _, test in make_cv("block", 5).split(np.zeros((10, 1)), y, groups)]
[2, 2, 2, 2, 2]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import GeomlError

CV_SCHEMES: tuple[str, ...] = ("random", "polygon", "block")
"""``random``: K-fold on shuffled pixels; ``polygon``/``block``: GroupKFold on polygon or block ids."""


class TooFewSamplesError(GeomlError, ValueError):
    """A class has too few samples (or groups) for the requested number of folds."""


def check_cv_feasible(y, n_splits: int, groups=None, class_names: Mapping[int, str] | None = None) -> None:
    """Fail early, with a clear message, when ``n_splits`` folds cannot work.

    The rules: every class needs at least ``n_splits`` samples; with groups,
    there must be at least ``n_splits`` groups, and every class must appear in
    at least 2 groups (otherwise, whenever its only group is held out, the
    model never saw that class in training).

    Raises
    ------
    TooFewSamplesError
        Naming the classes at fault and what to do.

    Examples
    --------
    >>> check_cv_feasible([1, 1, 1, 2], n_splits=2)
    Traceback (most recent call last):
    ...
    geoml_helpers.learn.spatial_cv.TooFewSamplesError: Class 2 has 1 sample(s), fewer than the 2 CV folds. Lower ...
    """
    y = np.asarray(y)
    names = class_names or {}

    def label(c) -> str:
        return f"{c} ({names[c]})" if c in names else f"{c}"

    if n_splits < 2:
        raise TooFewSamplesError(f"n_splits={n_splits}: cross-validation needs at least 2 folds.")
    classes, counts = np.unique(y, return_counts=True)
    few = [(c, n) for c, n in zip(classes.tolist(), counts.tolist()) if n < n_splits]
    if few:
        detail = ", ".join(f"{label(c)} has {n} sample(s)" for c, n in few)
        raise TooFewSamplesError(
            f"Class {detail}, fewer than the {n_splits} CV folds. Lower n_splits, digitise more polygons of that "
            "class, or merge it with a similar class."
        )
    if groups is None:
        return
    groups = np.asarray(groups)
    n_groups = np.unique(groups).size
    if n_groups < n_splits:
        raise TooFewSamplesError(
            f"Only {n_groups} groups (blocks/polygons) for {n_splits} folds. Lower n_splits to at most {n_groups} "
            "or use smaller blocks."
        )
    lonely = [c for c in classes.tolist() if np.unique(groups[y == c]).size < 2]
    if lonely:
        raise TooFewSamplesError(
            f"Class {', '.join(label(c) for c in lonely)} occurs in a single group, so whenever that group is "
            "held out the model has never seen it. "
            "Digitise that class in another block, merge it with a similar class, or drop it from this experiment."
        )


def make_cv(scheme: str, n_splits: int = 5, seed: int = 0):
    """The scikit-learn splitter of a CV scheme.

    Parameters
    ----------
    scheme : {"random", "polygon", "block"}
        ``random`` is a shuffled ``KFold``; the others a shuffled ``GroupKFold``
        (pass the polygon or block ids as ``groups``).
    n_splits : int
    seed : int

    Examples
    --------
    >>> type(make_cv("random")).__name__, type(make_cv("block")).__name__
    ('KFold', 'GroupKFold')
    """
    from sklearn.model_selection import GroupKFold, KFold

    if scheme == "random":
        return KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    if scheme in ("polygon", "block"):
        return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    raise ValueError(f"Unknown CV scheme {scheme!r}; use one of {', '.join(CV_SCHEMES)}.")


def compare_cv(
    estimator,
    samples: pd.DataFrame,
    *,
    schemes: tuple[str, ...] = CV_SCHEMES,
    n_splits: int = 5,
    seed: int = 0,
    scoring: str = "accuracy",
    class_names: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """Cross-validate one estimator under several CV schemes on the same samples.

    Parameters
    ----------
    estimator : sklearn estimator
        Cloned for every fold.
    samples : pandas.DataFrame
        From :func:`geoml_helpers.learn.sampling.sample_pixels` (features plus
        ``class_id``, ``polygon_id``, ``block_id``).
    schemes : tuple of str
        Among :data:`CV_SCHEMES`.
    n_splits, seed : int
    scoring : str
        Any scikit-learn scorer name.
    class_names : mapping, optional
        For error messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``scheme``, ``fold``, ``score``.

    Raises
    ------
    TooFewSamplesError
        See :func:`check_cv_feasible`.

    Examples
    --------
    >>> compare_cv(RandomForestClassifier(), samples).groupby("scheme").score.mean()  # doctest: +SKIP
    """
    from sklearn.model_selection import cross_val_score

    from geoml_helpers.learn.sampling import feature_matrix

    X, y = feature_matrix(samples)
    rows = []
    for scheme in schemes:
        groups = None if scheme == "random" else samples[f"{scheme}_id"].to_numpy()
        check_cv_feasible(y, n_splits, groups, class_names)
        scores = cross_val_score(
            estimator, X, y, groups=groups, cv=make_cv(scheme, n_splits, seed), scoring=scoring, n_jobs=1
        )
        rows += [{"scheme": scheme, "fold": i, "score": float(s)} for i, s in enumerate(scores)]
    return pd.DataFrame(rows)
