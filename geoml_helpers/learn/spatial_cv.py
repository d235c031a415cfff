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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import TooFewSamplesError

CV_SCHEMES: tuple[str, ...] = ("random", "polygon", "block")
"""``random``: K-fold on shuffled pixels; ``polygon``/``block``: GroupKFold on polygon or block ids."""


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
    geoml_helpers.core.errors.TooFewSamplesError: Class 2 has 1 sample(s), fewer than the 2 CV folds. Lower ...
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
    Needs the built demo data (skipped under doctest):

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


# --- Block size from the data: the empirical variogram ------------------------------------------------------------

VARIOGRAM_MODELS: tuple[str, ...] = ("exponential", "spherical", "nested_exponential")
"""Variogram models :func:`fit_variogram` knows. ``nested_exponential`` is a short-range structure (patches) plus a
long-range one (a landscape-wide gradient, e.g. rainfall or elevation) that a single model cannot separate: the
single model's range then lands somewhere between the two, or past the longest lag."""


@dataclass(frozen=True)
class EmpiricalVariogram:
    """Semivariance by distance class, averaged over standardised variables.

    Attributes
    ----------
    lag_m : numpy.ndarray
        Mean pair distance of each lag class (metres).
    semivariance : numpy.ndarray
        ``gamma(h) = mean over pairs and variables of (z_i - z_j)^2 / 2``; with
        standardised variables the sill is about 1.
    n_pairs : numpy.ndarray
        Pairs in each lag class.
    """

    lag_m: np.ndarray
    semivariance: np.ndarray
    n_pairs: np.ndarray


@dataclass(frozen=True)
class VariogramModel:
    """A fitted variogram: ``nugget``, partial ``sill`` and practical ``range_m``.

    ``range_m`` is the distance where the semivariance reaches 95 % of the
    partial sill above the nugget (the *practical* range): beyond it two pixels
    are, for this purpose, no more alike than any two pixels of the scene.
    ``at_max_lag`` is true when the fit ran into the longest lag computed:
    the autocorrelation may reach further than the variogram could see.
    """

    model: str
    nugget: float
    sill: float
    range_m: float
    max_lag_m: float
    at_max_lag: bool = False
    long_sill: float = 0.0
    long_range_m: float = math.inf

    def __call__(self, h) -> np.ndarray:
        """Semivariance at distances ``h`` (metres)."""
        h = np.asarray(h, dtype=np.float64)
        if self.model == "nested_exponential":
            short = _variogram_curve("exponential", h, self.nugget, self.sill, self.range_m)
            return short + _variogram_curve("exponential", h, 0.0, self.long_sill, self.long_range_m)
        return _variogram_curve(self.model, h, self.nugget, self.sill, self.range_m)

    def distance_at(self, fraction: float = 0.95) -> float:
        """Distance where the semivariance reaches ``fraction`` of the partial sill.

        Examples
        --------
        >>> m = VariogramModel("exponential", 0.1, 0.9, 300.0, 1000.0)
        >>> round(m.distance_at(0.95), 1), round(m.distance_at(0.5), 1)
        (299.6, 69.3)
        """
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction}.")
        if self.model in ("exponential", "nested_exponential"):  # nested: of the short structure
            return float(-self.range_m * math.log(1 - fraction) / 3.0)
        # spherical: 1.5 t - 0.5 t^3 = fraction for t in [0, 1]; range_m is its 95 % distance
        return float(_spherical_t(fraction) * self.range_m / _spherical_t(0.95))


def _spherical_t(fraction: float) -> float:
    roots = np.roots([-0.5, 0.0, 1.5, -fraction])
    return float(min(r.real for r in roots if abs(r.imag) < 1e-9 and 0 <= r.real <= 1 + 1e-9))


def _variogram_curve(model: str, h: np.ndarray, nugget: float, sill: float, range_m: float) -> np.ndarray:
    if model == "exponential":
        return nugget + sill * (1 - np.exp(-3.0 * h / range_m))
    if model == "spherical":
        a = range_m / _spherical_t(0.95)  # where the curve reaches the sill
        t = np.minimum(h / a, 1.0)
        return nugget + sill * (1.5 * t - 0.5 * t**3)
    raise ValueError(f"Unknown variogram model {model!r}; use one of {', '.join(VARIOGRAM_MODELS)}.")


def empirical_variogram(
    values,
    coords,
    *,
    n_lags: int = 15,
    max_lag_m: float | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> EmpiricalVariogram:
    """Empirical variogram of one or more variables at scattered points (numpy + scipy).

    Every variable is standardised (mean 0, variance 1) so that features of
    different units weigh alike; the semivariance is the mean over variables.
    Draw the points at random over the whole scene (not only inside label
    polygons, which are clustered and would see only short distances).

    Parameters
    ----------
    values : array-like (n,) or (n, p)
        Variables at the points (features, or model residuals).
    coords : array-like (n, 2)
        Point coordinates in metres (a projected CRS).
    n_lags : int
        Distance classes between 0 and ``max_lag_m``.
    max_lag_m : float, optional
        Longest distance considered; default half the largest distance
        between points (beyond it, few pairs and edge effects).
    max_points : int
        At most this many points (a seeded random subset): the pair count grows as n^2.
    seed : int

    Returns
    -------
    EmpiricalVariogram

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 1000, (400, 2))
    >>> v = empirical_variogram(np.sin(xy[:, 0] / 150), xy, n_lags=8)
    >>> bool(v.semivariance[0] < v.semivariance[-1])
    True
    """
    from scipy.spatial.distance import pdist

    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (values.shape[0], 2):
        raise ValueError(f"coords must be (n, 2) for n = {values.shape[0]} points; got {coords.shape}.")
    keep = np.isfinite(values).all(axis=1)
    values, coords = values[keep], coords[keep]
    if values.shape[0] > max_points:
        pick = np.random.default_rng(seed).choice(values.shape[0], max_points, replace=False)
        values, coords = values[pick], coords[pick]
    if values.shape[0] < 10:
        raise ValueError(f"Only {values.shape[0]} points with finite values; a variogram needs at least 10.")
    sd = values.std(axis=0)
    z = (values[:, sd > 0] - values[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    distance = pdist(coords)
    half_sq = pdist(z, "sqeuclidean") / (2.0 * z.shape[1])
    max_lag_m = float(max_lag_m or distance.max() / 2)
    edges = np.linspace(0, max_lag_m, n_lags + 1)
    which = np.digitize(distance, edges) - 1
    inside = (which >= 0) & (which < n_lags)
    n_pairs = np.bincount(which[inside], minlength=n_lags)
    gamma = np.bincount(which[inside], weights=half_sq[inside], minlength=n_lags) / np.maximum(n_pairs, 1)
    lag = np.bincount(which[inside], weights=distance[inside], minlength=n_lags) / np.maximum(n_pairs, 1)
    full = n_pairs > 0
    return EmpiricalVariogram(lag[full], gamma[full], n_pairs[full])


def feature_variogram(
    features, *, n_points: int = 2000, n_lags: int = 20, max_lag_m: float | None = None, seed: int = 0
):
    """Empirical variogram of a feature cube at ``n_points`` random valid pixels of the whole scene.

    Parameters
    ----------
    features : xarray.DataArray
        ``(feature, y, x)`` with ``x``/``y`` pixel-centre coordinates in metres
        (e.g. :func:`geoml_helpers.learn.features.cube_features`, computed or lazy).
    n_points, n_lags, max_lag_m, seed
        See :func:`empirical_variogram`.

    Returns
    -------
    EmpiricalVariogram

    Examples
    --------
    >>> import xarray as xr
    >>> yy, xx = np.mgrid[0:60, 0:60] * 10.0
    >>> f = xr.DataArray(np.stack([np.sin(xx / 80), np.cos(yy / 80)]), dims=("feature", "y", "x"),
    ...                  coords={"y": np.arange(60) * 10.0, "x": np.arange(60) * 10.0})
    >>> fit_variogram(feature_variogram(f, n_points=500)).range_m > 50
    True
    """
    import xarray as xr

    rng = np.random.default_rng(seed)
    ny, nx = features.sizes["y"], features.sizes["x"]
    # Draw more pixels than needed, read only those, then keep n_points valid ones.
    pick = rng.choice(ny * nx, min(ny * nx, 2 * n_points), replace=False)
    rows, cols = np.unravel_index(pick, (ny, nx))
    values = features.isel(y=xr.DataArray(rows, dims="pixel"), x=xr.DataArray(cols, dims="pixel"))
    values = np.asarray(values.transpose("pixel", ...).values, dtype=np.float64)
    coords = np.column_stack([features["x"].values[cols], features["y"].values[rows]])
    valid = np.isfinite(values).all(axis=1)
    values, coords = values[valid][:n_points], coords[valid][:n_points]
    return empirical_variogram(values, coords, n_lags=n_lags, max_lag_m=max_lag_m, max_points=n_points, seed=seed)


def fit_variogram(variogram: EmpiricalVariogram, model: str = "exponential") -> VariogramModel:
    """Fit a nugget + exponential or spherical model by weighted least squares (weights: pair counts).

    Parameters
    ----------
    variogram : EmpiricalVariogram
    model : {"exponential", "spherical", "nested_exponential"}
        ``nested_exponential`` fits nugget + short + long exponential
        structures; its ``range_m`` is the short one (``long_range_m`` the other).

    Returns
    -------
    VariogramModel
        Its ``range_m`` is the practical range (95 % of the partial sill).

    Examples
    --------
    >>> h = np.linspace(10, 1000, 20)
    >>> v = EmpiricalVariogram(h, 0.1 + 0.9 * (1 - np.exp(-3 * h / 250)), np.full(20, 100))
    >>> round(fit_variogram(v).range_m)
    250
    """
    from scipy.optimize import curve_fit

    if model not in VARIOGRAM_MODELS:
        raise ValueError(f"Unknown variogram model {model!r}; use one of {', '.join(VARIOGRAM_MODELS)}.")
    h, gamma, pairs = variogram.lag_m, variogram.semivariance, variogram.n_pairs
    max_lag = float(h.max())
    top = float(gamma.max())
    if model == "nested_exponential":
        # long range = short range x ratio (ratio >= 3) keeps the two structures in order
        def nested(d, c0, c1, a1, c2, ratio):
            return _variogram_curve("exponential", d, c0, c1, a1) + _variogram_curve(
                "exponential", d, 0.0, c2, a1 * ratio
            )

        params, _ = curve_fit(
            nested,
            h,
            gamma,
            p0=(float(gamma[0]) * 0.5, top / 3, max_lag / 10, top / 3, 10.0),
            bounds=([0.0, 1e-9, max_lag / 1000, 0.0, 3.0], [top, 2 * top + 1e-9, max_lag, 2 * top + 1e-9, 1000.0]),
            sigma=1 / np.sqrt(np.maximum(pairs, 1)),
            maxfev=50000,
        )
        c0, c1, a1, c2, ratio = (float(p) for p in params)
        return VariogramModel(model, c0, c1, a1, max_lag, a1 >= max_lag, long_sill=c2, long_range_m=a1 * ratio)
    start = (float(gamma[0]) * 0.5, max(top - float(gamma[0]) * 0.5, 1e-6), max_lag / 3)
    bounds = ([0.0, 1e-9, max_lag / 1000], [top, 2 * top + 1e-9, 2 * max_lag])
    params, _ = curve_fit(
        lambda d, c0, c, a: _variogram_curve(model, d, c0, c, a),
        h,
        gamma,
        p0=start,
        bounds=bounds,
        sigma=1 / np.sqrt(np.maximum(pairs, 1)),
        maxfev=20000,
    )
    nugget, sill, range_m = (float(p) for p in params)
    return VariogramModel(model, nugget, sill, range_m, max_lag, at_max_lag=range_m >= max_lag)


@dataclass(frozen=True)
class BlockSizeChoice:
    """The CV block side chosen from a variogram, and why.

    Attributes
    ----------
    block_px, block_m : int, float
        Side of the square blocks in pixels and metres.
    range_m : float
        The variogram's practical range behind it.
    capped : bool
        True when the scene is too small for blocks a range wide (fewer than
        ``min_blocks`` of them); the blocks were shrunk, and block CV is then
        still somewhat optimistic.
    reason : str
        One sentence for the reader.
    """

    block_px: int
    block_m: float
    range_m: float
    capped: bool
    reason: str


def block_size_from_variogram(
    model: VariogramModel,
    *,
    pixel_size_m: float = 10.0,
    multiple: float = 1.0,
    scene_size_m: tuple[float, float] | None = None,
    min_blocks: int = 10,
) -> BlockSizeChoice:
    """Side of square CV blocks: the practical range (times ``multiple``), in whole pixels.

    Test pixels closer to training pixels than the range are partly
    predictable from their neighbours alone; blocks at least a range wide
    keep most test pixels farther than that (Roberts et al. 2017, Ecography
    40: 913-929; Valavi et al. 2019, blockCV, Methods Ecol. Evol. 10: 225-232).
    When the scene cannot hold ``min_blocks`` such blocks (2 per fold for 5
    folds), the side is shrunk until it can, and the choice says so.

    Parameters
    ----------
    model : VariogramModel
        From :func:`fit_variogram`.
    pixel_size_m : float
    multiple : float
        Blocks of ``multiple`` ranges.
    scene_size_m : (width, height), optional
        Extent of the scene, to check that enough blocks fit.
    min_blocks : int

    Returns
    -------
    BlockSizeChoice

    Examples
    --------
    >>> block_size_from_variogram(VariogramModel("exponential", 0.0, 1.0, 333.0, 1200.0)).block_px
    34
    >>> long_range = VariogramModel("exponential", 0.0, 1.0, 1100.0, 1600.0)
    >>> choice = block_size_from_variogram(long_range, scene_size_m=(2400, 2400))
    >>> choice.block_px, choice.capped
    (75, True)
    """
    if not np.isfinite(model.range_m) or model.range_m <= 0:
        raise ValueError(f"The variogram range is {model.range_m}; fit the variogram on more points or a larger area.")
    wanted_m = model.range_m * multiple
    reason = f"blocks of {multiple:g} x the practical range of {model.range_m:.0f} m"
    capped = False
    if model.at_max_lag:
        capped = True
        reason = (
            f"the fitted range ({model.range_m:.0f} m) reached the longest lag ({model.max_lag_m:.0f} m): "
            "the autocorrelation may reach further than the variogram saw"
        )
    if scene_size_m is not None:
        width, height = scene_size_m
        largest_m = math.sqrt(width * height / min_blocks)
        if wanted_m > largest_m:
            capped = True
            reason += (
                f"; the {width / 1000:g} x {height / 1000:g} km scene holds only "
                f"{width * height / wanted_m**2:.1f} such blocks, fewer than {min_blocks}, so the blocks were "
                f"shrunk to {largest_m:.0f} m and block CV stays somewhat optimistic"
            )
            wanted_m = largest_m
    block_px = max(1, int(math.floor(wanted_m / pixel_size_m)) if capped else int(math.ceil(wanted_m / pixel_size_m)))
    return BlockSizeChoice(block_px, block_px * pixel_size_m, model.range_m, capped, reason)


def grid_block_ids(x, y, block_size_m: float, origin: tuple[float, float] | None = None) -> np.ndarray:
    """Id of the square block of side ``block_size_m`` that holds each point.

    Examples
    --------
    >>> grid_block_ids([5, 15, 25], [5, 5, 25], 20.0).tolist()
    [0, 0, 3]
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x0, y0 = origin if origin is not None else (float(x.min()), float(y.min()))
    col = np.floor((x - x0) / block_size_m).astype(np.int64)
    row = np.floor((y - y0) / block_size_m).astype(np.int64)
    return row * (int(col.max()) + 1) + col


class BufferedGroupKFold:
    """Grouped K-fold (blocks) with a buffer: training points within ``buffer_m`` of any test point are dropped.

    Blocks that touch still leave test pixels at the block edge next to
    training pixels; removing the training pixels within one range of the
    test block takes those neighbours away (Roberts et al. 2017; Valavi et
    al. 2019). A scikit-learn splitter: pass it as ``cv=`` with ``groups=``.

    Parameters
    ----------
    coords : array-like (n, 2)
        The samples' coordinates in metres, in the order of ``X``.
    buffer_m : float
        Training points closer than this to a test point are dropped (0: plain grouped K-fold).
    n_splits : int
    seed : int

    Examples
    --------
    >>> xy = np.column_stack([np.arange(10) * 10.0, np.zeros(10)])
    >>> cv = BufferedGroupKFold(xy, buffer_m=15, n_splits=2, seed=0)
    >>> train, test = next(cv.split(xy, groups=np.repeat([0, 1], 5)))
    >>> sorted(test.tolist()), sorted(train.tolist())
    ([5, 6, 7, 8, 9], [0, 1, 2, 3])
    """

    def __init__(self, coords, buffer_m: float, n_splits: int = 5, seed: int = 0):
        self.coords = np.asarray(coords, dtype=np.float64)
        self.buffer_m = float(buffer_m)
        self.n_splits = n_splits
        self.seed = seed

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803 (scikit-learn's name)
        """Number of folds."""
        return self.n_splits

    def split(self, X, y=None, groups=None):  # noqa: N803
        """Yield ``(train, test)`` index arrays; every test point is at least ``buffer_m`` from every training point."""
        from scipy.spatial import cKDTree

        if groups is None:
            raise ValueError("BufferedGroupKFold needs groups= (the block id of every sample).")
        if len(self.coords) != len(groups):
            raise ValueError(
                f"coords has {len(self.coords)} rows but there are {len(groups)} samples; pass the samples' x, y."
            )
        for train, test in make_cv("block", self.n_splits, self.seed).split(X, y, groups):
            if self.buffer_m > 0:
                tree = cKDTree(self.coords[test])
                distance, _ = tree.query(self.coords[train], k=1, distance_upper_bound=self.buffer_m)
                train = train[~np.isfinite(distance)]
            yield train, test


def cv_versus_block_size(
    estimator,
    samples: pd.DataFrame,
    block_sizes_m: Sequence[float],
    *,
    buffer_m: float,
    n_splits: int = 5,
    seed: int = 0,
    scoring: str = "accuracy",
) -> pd.DataFrame:
    """Random CV, block CV and buffered block CV of one estimator, as the block size varies.

    Parameters
    ----------
    estimator : sklearn estimator
    samples : pandas.DataFrame
        From :func:`geoml_helpers.learn.sampling.sample_pixels` (features plus ``class_id``, ``x``, ``y``).
    block_sizes_m : sequence of float
        Side of the square CV blocks to try (e.g. half, one and two variogram ranges).
    buffer_m : float
        Buffer of the buffered scheme (the variogram range).
    n_splits, seed, scoring
        As in :func:`compare_cv`.

    Returns
    -------
    pandas.DataFrame
        ``scheme`` (``random``, ``block``, ``buffered_block``), ``block_size_m``
        (NaN for random), ``fold``, ``score``, ``n_train``, ``n_test``, ``note``.
        A block size with too few blocks for ``n_splits`` gets one row per scheme
        with a NaN score and the reason in ``note``; a fold whose buffer removed
        every training sample gets a NaN score; a fold whose buffer removed a
        class is scored (that class is then missed) and noted.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> scores = cv_versus_block_size(rf, samples, [240, 480, 960], buffer_m=240)  # doctest: +SKIP
    >>> scores.groupby(["scheme", "block_size_m"]).score.mean()  # doctest: +SKIP
    """
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    from geoml_helpers.learn.sampling import feature_matrix

    X, y = feature_matrix(samples)
    xy = samples[["x", "y"]].to_numpy(dtype=np.float64)
    scorer = get_scorer(scoring)
    rows: list[dict] = []

    def row(scheme: str, size: float, fold: int, score: float, n_train: int, n_test: int, note: str) -> dict:
        return {
            "scheme": scheme,
            "block_size_m": size,
            "fold": fold,
            "score": score,
            "n_train": n_train,
            "n_test": n_test,
            "note": note,
        }

    def run(scheme: str, size: float, splits) -> None:
        for fold, (train, test) in enumerate(splits):
            if train.size == 0:
                rows.append(
                    row(scheme, size, fold, math.nan, 0, int(test.size), "the buffer removed every training sample")
                )
                continue
            # A class the buffer removed from training is scored as missed: that is what the fold's model would do.
            missing = sorted(set(np.unique(y[test]).tolist()) - set(np.unique(y[train]).tolist()))
            note = f"no training sample of class {missing} left" if missing else ""
            model = clone(estimator).fit(X[train], y[train])
            rows.append(
                row(scheme, size, fold, float(scorer(model, X[test], y[test])), int(train.size), int(test.size), note)
            )

    run("random", math.nan, make_cv("random", n_splits, seed).split(X, y))
    for size in block_sizes_m:
        groups = grid_block_ids(xy[:, 0], xy[:, 1], float(size))
        try:
            check_cv_feasible(y, n_splits, groups)
        except TooFewSamplesError as exc:
            rows += [row(scheme, float(size), -1, math.nan, 0, 0, str(exc)) for scheme in ("block", "buffered_block")]
            continue
        run("block", float(size), make_cv("block", n_splits, seed).split(X, y, groups))
        run("buffered_block", float(size), BufferedGroupKFold(xy, buffer_m, n_splits, seed).split(X, y, groups))
    return pd.DataFrame(rows)


# --- Where the model may be applied: the area of applicability ----------------------------------------------------


@dataclass(frozen=True)
class ApplicabilityModel:
    """What :func:`dissimilarity_index` needs from the training data (Meyer & Pebesma 2021).

    Attributes
    ----------
    mean, scale : numpy.ndarray
        Training mean and standard deviation of every predictor.
    weights : numpy.ndarray
        Predictor weights (e.g. permutation importance), applied after scaling.
    train : numpy.ndarray
        Scaled, weighted training predictors ``(n, p)``.
    mean_distance : float
        Mean distance between training points in that space (``d-bar``).
    train_di : numpy.ndarray
        Cross-validated dissimilarity index of every training point: distance
        to the nearest training point of *another* fold over ``d-bar``.
    threshold : float
        Largest training DI that is not an outlier (``<= Q3 + 1.5 IQR``); the
        model applies where the DI is at most this.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    train: np.ndarray
    mean_distance: float
    train_di: np.ndarray
    threshold: float


def fit_applicability(X_train, folds, *, weights=None, max_points: int = 5000, seed: int = 0) -> ApplicabilityModel:  # noqa: N803
    """Prepare the area-of-applicability check from the training predictors and their CV folds.

    Meyer & Pebesma (2021, "Predicting into unknown space? Estimating the
    area of applicability of spatial prediction models", Methods Ecol. Evol.
    12: 1620-1633): predictors are standardised with the training statistics
    and weighted by their importance; the dissimilarity index (DI) of a new
    point is its distance to the nearest training point divided by the mean
    distance between training points; the threshold comes from the training
    points' own DI under the spatial CV folds (nearest point of another fold).

    The DI sees only the predictors: a place whose features look like the
    training data but whose classes relate to them differently (another
    region's land-cover definitions) is inside the AOA and still mapped badly.

    Parameters
    ----------
    X_train : array-like (n, p)
    folds : array-like (n,)
        CV fold (or block) of every training point; use the spatial blocks, so
        that the threshold reflects what "new place" means.
    weights : array-like (p,), optional
        Predictor importance (negative values count as 0); default all 1.
    max_points : int
        Training points kept (seeded subset) to bound the n^2 work.
    seed : int

    Returns
    -------
    ApplicabilityModel

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> aoa = fit_applicability(X, np.arange(200) % 5)
    >>> bool(dissimilarity_index(aoa, np.zeros((1, 3)))[0] < aoa.threshold)
    True
    >>> bool(dissimilarity_index(aoa, np.full((1, 3), 8.0))[0] > aoa.threshold)
    True
    """
    from scipy.spatial.distance import pdist

    X = np.asarray(X_train, dtype=np.float64)
    folds = np.asarray(folds)
    keep = np.isfinite(X).all(axis=1)
    X, folds = X[keep], folds[keep]
    if X.shape[0] > max_points:
        pick = np.random.default_rng(seed).choice(X.shape[0], max_points, replace=False)
        X, folds = X[pick], folds[pick]
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    w = np.ones(X.shape[1]) if weights is None else np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    if w.shape != (X.shape[1],) or w.sum() <= 0:
        raise ValueError(f"weights must be {X.shape[1]} non-negative numbers, not all 0.")
    train = (X - mean) / scale * w
    mean_distance = float(pdist(train).mean())
    nearest_other = np.full(train.shape[0], np.inf)
    for f in np.unique(folds):
        inside = folds == f
        if inside.all():
            raise ValueError("All training points are in one fold; pass the spatial CV folds or blocks.")
        nearest_other[inside] = _nearest_distance(train[~inside], train[inside])
    train_di = nearest_other / mean_distance
    q1, q3 = np.percentile(train_di, [25, 75])
    threshold = float(train_di[train_di <= q3 + 1.5 * (q3 - q1)].max())
    return ApplicabilityModel(mean, scale, w, train, mean_distance, train_di, threshold)


def _nearest_distance(reference: np.ndarray, query: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Euclidean distance from every query row to its nearest reference row (brute force, in chunks)."""
    ref_sq = (reference**2).sum(axis=1)
    out = np.empty(query.shape[0])
    for start in range(0, query.shape[0], chunk):
        q = query[start : start + chunk]
        d2 = (q**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ reference.T
        out[start : start + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def dissimilarity_index(model: ApplicabilityModel, X_new) -> np.ndarray:  # noqa: N803
    """DI of new points: distance to the nearest training point over the mean training distance.

    Rows with a NaN predictor get NaN.
    """
    X = np.asarray(X_new, dtype=np.float64)
    out = np.full(X.shape[0], np.nan)
    ok = np.isfinite(X).all(axis=1)
    if ok.any():
        scaled = (X[ok] - model.mean) / model.scale * model.weights
        out[ok] = _nearest_distance(model.train, scaled) / model.mean_distance
    return out


def applicability_map(model: ApplicabilityModel, features, *, step: int = 1):
    """Dissimilarity index and area of applicability of a feature cube, as maps.

    Parameters
    ----------
    model : ApplicabilityModel
        From :func:`fit_applicability`.
    features : xarray.DataArray
        ``(feature, y, x)``, e.g. :func:`geoml_helpers.learn.features.cube_features` (computed here).
    step : int
        Compute every ``step``-th pixel along each axis: the nearest-neighbour
        search costs (pixels x training points), so a preview on large scenes
        uses ``step=4`` (16 x fewer pixels).

    Returns
    -------
    xarray.Dataset
        ``di`` (float32, NaN where a feature is missing) and ``inside_aoa``
        (bool: DI at most the threshold) on the cube's ``y``/``x``;
        ``attrs["threshold"]`` and ``attrs["share_inside"]``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> aoa = fit_applicability(X_train, samples["block_id"], weights=importance)  # doctest: +SKIP
    >>> applicability_map(aoa, cube_features(cube))["inside_aoa"].mean()  # doctest: +SKIP
    """
    import xarray as xr

    if step > 1:
        features = features[..., ::step, ::step]
    values = np.asarray(features.values if hasattr(features, "values") else features, dtype=np.float64)
    n_feat, ny, nx = values.shape
    di = dissimilarity_index(model, values.reshape(n_feat, -1).T).reshape(ny, nx).astype(np.float32)
    coords = {d: features[d] for d in ("y", "x") if hasattr(features, "coords") and d in features.coords}
    inside = np.isfinite(di) & (di <= model.threshold)
    ds = xr.Dataset({"di": (("y", "x"), di), "inside_aoa": (("y", "x"), inside)}, coords=coords)
    ds.attrs["threshold"] = model.threshold
    ds.attrs["share_inside"] = float(inside.mean())
    return ds
