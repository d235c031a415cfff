"""Area of each land-cover class, with confidence intervals, per management block.

Counting the pixels of a class map gives the *mapped* area, which is biased by
the map's errors: if the model misses a third of the invasive trees, their
mapped area is a third too small. Olofsson et al. (2014, "Good practices for
estimating area and assessing accuracy of land change", Remote Sensing of
Environment 148: 42-57) correct it with the confusion matrix of a reference
sample, stratified by map class:

* ``W_i``: share of the area mapped as class ``i``;
* ``n_ij``: reference samples mapped as ``i`` whose true class is ``j``;
* estimated area share of true class ``j``: ``p_j = sum_i W_i n_ij / n_i``;
* its standard error: ``S(p_j) = sqrt(sum_i W_i^2 (n_ij/n_i)(1 - n_ij/n_i) / (n_i - 1))``;
* area ``A p_j`` with a 95 % confidence interval ``A (p_j +/- 1.96 S(p_j))``;
* user's accuracy ``p_ii / W_i``, producer's accuracy ``p_jj / p_j``, overall ``sum_j p_jj``.

Because ``sum_j p_j = sum_i W_i``, the adjusted areas of a region add up to
the region's mapped area: nothing is created or lost, only moved between
classes. Pixels without a prediction (nodata) keep their mapped area.

Standard errors (Olofsson et al. 2014, eq. 5 and 7): user's accuracy
``V(U_i) = U_i (1 - U_i) / (n_i - 1)``; overall accuracy
``V(O) = sum_i W_i^2 U_i (1 - U_i) / (n_i - 1)``; producer's accuracy
``V(P_j) = [W_j^2 (1 - P_j)^2 U_j (1 - U_j) / (n_j - 1)
+ P_j^2 sum_{i != j} W_i^2 (n_ij/n_i)(1 - n_ij/n_i) / (n_i - 1)] / p_j^2``.

All of this holds only for a *probability* sample: every pixel of stratum
``i`` has the same known chance ``n_i / N_i`` of being chosen.
:func:`olofsson_sample_size`, :func:`allocate_sample`,
:func:`stratified_random_sample` and :func:`label_sample` draw and label one;
:func:`repeated_draws` shows over many draws what happens with and without it.

For sub-regions (management blocks) use :func:`domain_areas`: Stehman's
(2014) ratio estimator over the sample units that fall in each block. The
older :func:`area_by_block` applies the whole-scene matrix to each block's
mapped shares: a model-based shortcut whose intervals are not design-based
(they assume the error rates are the same in every block).

Examples
--------
>>> counts = np.array([[45, 5], [10, 40]])          # rows: map class, columns: reference class
>>> table = olofsson_area(counts, mapped_pixels=[600, 400], pixel_area_m2=100, class_ids=[1, 2])
>>> round(float(table["area_ha"].sum()), 6)
10.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import AreaEstimationError
from geoml_helpers.learn.metrics import confusion_counts

Z_95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""


def olofsson_area(
    counts,
    mapped_pixels: Sequence[float] | np.ndarray,
    pixel_area_m2: float,
    class_ids: Sequence[int],
    class_names: Mapping[int, str] | None = None,
    *,
    nodata_pixels: float = 0,
    z: float = Z_95,
) -> pd.DataFrame:
    """Area-adjusted estimates with confidence intervals (Olofsson et al. 2014).

    Parameters
    ----------
    counts : array-like (k, k)
        Reference-sample confusion matrix, rows = map class, columns = reference class.
    mapped_pixels : sequence of k numbers
        Pixels mapped as each class in the region.
    pixel_area_m2 : float
        Area of one pixel (100 m² for 10 m pixels).
    class_ids : sequence of k int
    class_names : mapping, optional
        Id -> name for the table.
    nodata_pixels : float
        Pixels of the region without a prediction; reported as their own row
        (mapped area, no adjustment) so that the rows add up to the region.
    z : float
        Normal quantile of the interval (1.96 for 95 %).

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class_id``, ``class_name``, ``mapped_ha``,
        ``area_ha``, ``ci_ha`` (half-width), ``ci_low_ha``, ``ci_high_ha``,
        ``users_accuracy``, ``producers_accuracy``, ``n_reference``, and the
        standard errors ``se_ha``, ``users_accuracy_se``,
        ``producers_accuracy_se``; ``attrs["overall_accuracy"]`` and
        ``attrs["overall_accuracy_se"]``. A map class without reference samples
        cannot be adjusted: its area stays as mapped, with an unknown (NaN)
        interval, and ``attrs["unsampled_classes"]`` lists it.

    Raises
    ------
    AreaEstimationError
        On shape mismatches.

    Notes
    -----
    Long because: it follows the estimators of Olofsson et al. (2014) in order (area proportions, their standard
    errors, user's and producer's accuracies), so that a reader can check them against the paper in one place.
    """
    n = np.asarray(counts, dtype=np.float64)
    mapped = np.asarray(mapped_pixels, dtype=np.float64)
    k = len(class_ids)
    if n.shape != (k, k) or mapped.shape != (k,):
        raise AreaEstimationError(
            f"counts must be ({k}, {k}) and mapped_pixels ({k},) for {k} classes; got {n.shape} and {mapped.shape}."
        )
    total_px = mapped.sum() + float(nodata_pixels)
    if total_px <= 0:
        raise AreaEstimationError("The region has no pixels; check the class map and the region's geometry.")
    names = dict(class_names or {})
    w = mapped / total_px
    n_i = n.sum(axis=1)
    sampled = n_i > 0
    # Row proportions n_ij / n_i; an unsampled map class is assumed correct (identity) but flagged.
    rows = np.where(sampled[:, None], n / np.where(sampled, n_i, 1)[:, None], np.eye(k))
    p = w[:, None] * rows
    p_j = p.sum(axis=0)
    var_terms = np.where(
        (n_i > 1)[:, None], w[:, None] ** 2 * rows * (1 - rows) / np.where(n_i > 1, n_i - 1, 1)[:, None], 0.0
    )
    se = np.sqrt(var_terms.sum(axis=0))
    unknown = (~sampled) & (w > 0)
    se_j = np.where(unknown, np.nan, se)  # an unsampled class's own error rates are unknown
    area_ha = total_px * pixel_area_m2 / 1e4
    diag = np.diag(p)
    users = np.where(w > 0, diag / np.where(w > 0, w, 1), np.nan)
    producers = np.where(p_j > 0, diag / np.where(p_j > 0, p_j, 1), np.nan)
    users_se, producers_se, overall_se = _accuracy_standard_errors(w, rows, n_i, p_j, users, producers)
    table = pd.DataFrame(
        {
            "class_id": list(class_ids),
            "class_name": [names.get(int(c), str(c)) for c in class_ids],
            "mapped_ha": mapped * pixel_area_m2 / 1e4,
            "area_ha": p_j * area_ha,
            "ci_ha": z * se_j * area_ha,
            "users_accuracy": np.where(sampled, users, np.nan),
            "producers_accuracy": producers,
            "n_reference": n_i.astype(np.int64),
            "se_ha": se_j * area_ha,
            "users_accuracy_se": np.where(sampled, users_se, np.nan),
            "producers_accuracy_se": np.where(unknown.any(), np.nan, producers_se),
        }
    )
    table["ci_low_ha"] = (table["area_ha"] - table["ci_ha"]).clip(lower=0)
    table["ci_high_ha"] = table["area_ha"] + table["ci_ha"]
    if nodata_pixels:
        nodata_ha = float(nodata_pixels) * pixel_area_m2 / 1e4
        table = pd.concat(
            [
                table,
                pd.DataFrame(
                    [
                        {
                            "class_id": 0,
                            "class_name": "no prediction",
                            "mapped_ha": nodata_ha,
                            "area_ha": nodata_ha,
                            "ci_ha": 0.0,
                            "ci_low_ha": nodata_ha,
                            "ci_high_ha": nodata_ha,
                            "n_reference": 0,
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
    table = table[
        [
            "class_id",
            "class_name",
            "mapped_ha",
            "area_ha",
            "ci_ha",
            "ci_low_ha",
            "ci_high_ha",
            "users_accuracy",
            "producers_accuracy",
            "n_reference",
            "se_ha",
            "users_accuracy_se",
            "producers_accuracy_se",
        ]
    ]
    table.attrs["overall_accuracy"] = float(diag.sum())
    table.attrs["overall_accuracy_se"] = float(np.nan if unknown.any() else overall_se)
    table.attrs["unsampled_classes"] = [int(c) for c, u in zip(class_ids, unknown) if u]
    return table


def _accuracy_standard_errors(w, rows, n_i, p_j, users, producers) -> tuple[np.ndarray, np.ndarray, float]:
    """Standard errors of user's, producer's and overall accuracy (Olofsson et al. 2014, eq. 5 and 7)."""
    k = w.size
    dof = np.where(n_i > 1, n_i - 1, np.nan)  # one sample unit gives no variance estimate
    u = np.diag(rows)
    users_var = u * (1 - u) / dof
    overall_var = float(np.nansum(w**2 * users_var))
    row_var = w[:, None] ** 2 * rows * (1 - rows) / dof[:, None]
    producers_var = np.full(k, np.nan)
    for j in range(k):
        if p_j[j] <= 0:
            continue
        others = np.nansum(np.delete(row_var[:, j], j))
        own = w[j] ** 2 * (1 - producers[j]) ** 2 * users_var[j] if w[j] > 0 else 0.0
        producers_var[j] = (own + producers[j] ** 2 * others) / p_j[j] ** 2
    return np.sqrt(users_var), np.sqrt(producers_var), float(np.sqrt(overall_var))


MANAGEMENT_UNITS: tuple[tuple[str, str], ...] = (
    ("MU1", "Upper catchment"),
    ("MU2", "Eastern slopes"),
    ("MU3", "Lower valley"),
    ("MU4", "Plantation edge"),
)
"""Ids and names of the demo's management blocks (north-west, north-east, south-west, south-east)."""


def management_blocks(
    bounds: Sequence[float], crs: str, resolution: float = 10.0, split: tuple[float, float] = (0.45, 0.55)
):
    """Four named management blocks that tile the area of interest exactly.

    The area is cut at ``split[0]`` of its width and ``split[1]`` of its
    height (from the north), snapped to the pixel grid, so every pixel of the
    demo grid belongs to exactly one block. Deterministic: the same bounds
    give the same blocks.

    Parameters
    ----------
    bounds : (xmin, ymin, xmax, ymax)
        The area of interest, e.g. ``demo.bounds``.
    crs : str
        Its CRS, e.g. ``demo.crs``.
    resolution : float
        Pixel size to snap the cut lines to.
    split : (float, float)
        Fractions of width and height where the cuts lie.

    Returns
    -------
    geopandas.GeoDataFrame
        ``block_id``, ``block_name``, ``area_ha``, geometry.

    Examples
    --------
    >>> blocks = management_blocks((0, 0, 1000, 1000), "EPSG:32734")
    >>> blocks["block_id"].tolist(), float(blocks["area_ha"].sum())
    (['MU1', 'MU2', 'MU3', 'MU4'], 100.0)
    """
    import geopandas as gpd
    from shapely.geometry import box

    xmin, ymin, xmax, ymax = map(float, bounds)
    xcut = xmin + round((xmax - xmin) * split[0] / resolution) * resolution
    ycut = ymax - round((ymax - ymin) * split[1] / resolution) * resolution
    geoms = [
        box(xmin, ycut, xcut, ymax),
        box(xcut, ycut, xmax, ymax),
        box(xmin, ymin, xcut, ycut),
        box(xcut, ymin, xmax, ycut),
    ]
    frame = gpd.GeoDataFrame(
        {"block_id": [u[0] for u in MANAGEMENT_UNITS], "block_name": [u[1] for u in MANAGEMENT_UNITS]},
        geometry=geoms,
        crs=crs,
    )
    frame["area_ha"] = frame.geometry.area / 1e4
    return frame


def area_by_block(
    class_map: np.ndarray,
    transform,
    blocks,
    counts,
    class_ids: Sequence[int],
    class_names: Mapping[int, str] | None = None,
    *,
    nodata: int = 0,
    first: int | None = 2,
    z: float = Z_95,
) -> pd.DataFrame:
    """Area-adjusted class areas with 95 % intervals for the whole map and each block.

    Model-based: each block reuses the whole scene's error rates, so the
    intervals are not design-based (Stehman 2014). With a stratified random
    sample, use :func:`domain_areas`, which uses the units inside each block.

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(y, x)`` class ids, ``nodata`` where there is no prediction.
    transform : affine.Affine
        The map's pixel grid.
    blocks : geopandas.GeoDataFrame
        Regions with ``block_id`` and ``block_name`` (e.g. :func:`management_blocks`),
        in the map's CRS. A pixel belongs to the block that holds its centre.
    counts : array-like (k, k)
        Test-sample confusion matrix (rows map, columns reference).
    class_ids, class_names
        See :func:`olofsson_area`.
    first : int, optional
        Class listed first in every region (default 2, invasive alien trees).

    Returns
    -------
    pandas.DataFrame
        :func:`olofsson_area`'s columns plus ``block_id`` and ``block_name``;
        the whole map is the region ``block_id="AOI"``.
    """
    from geoml_helpers.load.rasterize import burn_shapes

    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    ids = list(class_ids)
    regions: list[tuple[str, str, np.ndarray]] = [("AOI", "Whole area of interest", np.ones(class_map.shape, bool))]
    shapes = [(geom, k + 1) for k, geom in enumerate(blocks.geometry)]
    index = burn_shapes(shapes, class_map.shape, transform, dtype="int32")
    for k, row in enumerate(blocks.itertuples()):
        regions.append((str(row.block_id), str(row.block_name), index == k + 1))
    tables = []
    for block_id, block_name, mask in regions:
        values = class_map[mask]
        mapped = np.array([(values == c).sum() for c in ids], dtype=np.float64)
        nodata_px = float(values.size - mapped.sum())
        table = olofsson_area(counts, mapped, pixel_area, ids, class_names, nodata_pixels=nodata_px, z=z)
        if first is not None:
            table = pd.concat([table[table["class_id"] == first], table[table["class_id"] != first]], ignore_index=True)
        table.insert(0, "block_name", block_name)
        table.insert(0, "block_id", block_id)
        table.attrs = dict(table.attrs)
        tables.append(table)
    result = pd.concat(tables, ignore_index=True)
    result.attrs["overall_accuracy"] = tables[0].attrs.get("overall_accuracy")
    return result


# --- A probability sample by the book: size, allocation, draw, labels --------------------------------------------


def olofsson_sample_size(
    mapped_share: Sequence[float], users_accuracy: Sequence[float], target_se: float = 0.01
) -> int:
    """Total sample size for a target standard error of overall accuracy (Olofsson et al. 2014, eq. 13).

    ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))`` the
    standard deviation of stratum ``i`` (Cochran 1977, eq. 5.25), where
    ``U_i`` is the user's accuracy you *anticipate* for map class ``i`` (a
    guess: from a pilot sample, or 0.9 for easy classes and 0.6-0.7 for hard
    ones). Overall accuracy then has about the standard error ``target_se``.

    Parameters
    ----------
    mapped_share : sequence of float
        ``W_i``, the share of the map in each class (sums to 1).
    users_accuracy : sequence of float
        Anticipated user's accuracy of each map class, in (0, 1).
    target_se : float
        Target standard error of overall accuracy (0.01 is Olofsson's example).

    Returns
    -------
    int

    Raises
    ------
    AreaEstimationError
        For shares that do not sum to 1 or accuracies outside (0, 1].

    Examples
    --------
    Olofsson et al. (2014, sect. 5.1.1): four strata, anticipated user's accuracies 0.7, 0.6, 0.9 and 0.95:

    >>> olofsson_sample_size([0.02, 0.015, 0.32, 0.645], [0.7, 0.6, 0.9, 0.95], target_se=0.01)
    641
    """
    w = np.asarray(mapped_share, dtype=np.float64)
    u = np.asarray(users_accuracy, dtype=np.float64)
    if w.shape != u.shape or w.ndim != 1:
        raise AreaEstimationError(f"mapped_share {w.shape} and users_accuracy {u.shape} need one value per map class.")
    if abs(w.sum() - 1) > 1e-6 or (w < 0).any():
        raise AreaEstimationError(
            f"mapped_share must be non-negative and sum to 1 (it sums to {w.sum():.4f}); "
            "divide the mapped pixels by their total."
        )
    if ((u <= 0) | (u > 1)).any() or target_se <= 0:
        raise AreaEstimationError("Anticipated user's accuracies must lie in (0, 1] and target_se must be positive.")
    return int(math.ceil((np.sum(w * np.sqrt(u * (1 - u))) / target_se) ** 2))


def allocate_sample(n_total: int, mapped_pixels: Sequence[float], min_per_class: int = 50) -> np.ndarray:
    """Sample units per map class: at least ``min_per_class`` each, the rest in proportion to area.

    Proportional allocation alone gives a rare class too few units to
    estimate its user's accuracy; Olofsson et al. (2014, sect. 5.1.2)
    recommend 50-100 units for each rare class and the rest proportionally.
    No class gets more units than it has pixels.

    Parameters
    ----------
    n_total : int
        Total sample size (e.g. from :func:`olofsson_sample_size`); raised to
        ``min_per_class`` times the number of classes if smaller.
    mapped_pixels : sequence of float
        Pixels mapped as each class.
    min_per_class : int

    Returns
    -------
    numpy.ndarray
        ``int64`` units per class, summing to ``n_total`` (or to every pixel, if fewer).

    Examples
    --------
    >>> allocate_sample(300, [9000, 800, 200], min_per_class=50).tolist()
    [200, 50, 50]
    """
    pixels = np.asarray(mapped_pixels, dtype=np.float64)
    if (pixels < 0).any() or pixels.sum() <= 0:
        raise AreaEstimationError("mapped_pixels must be non-negative with at least one mapped pixel.")
    cap = np.floor(pixels).astype(np.int64)
    n_total = int(min(max(n_total, min_per_class * int((cap > 0).sum())), int(cap.sum())))
    n = np.minimum(cap, min_per_class)
    while n.sum() < n_total:
        room = cap - n
        left = n_total - n.sum()
        share = np.where(room > 0, pixels, 0.0)
        # Each class's proportional target, topped up from the minimum, then largest remainders first.
        target = np.maximum(n_total * share / share.sum(), n) - n
        extra = np.minimum(np.floor(target * left / max(target.sum(), 1e-12)).astype(np.int64), room)
        if extra.sum() == 0:
            extra[np.argmax(np.where(room > 0, target, -1))] = 1
        n = n + extra
    return n


def stratified_random_sample(
    class_map: np.ndarray,
    n_per_class: Sequence[int],
    class_ids: Sequence[int],
    *,
    seed: int = 0,
    transform=None,
) -> pd.DataFrame:
    """A stratified random sample of pixels, strata = map classes (every pixel of a class equally likely).

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(y, x)`` map classes; pixels whose value is not in ``class_ids`` (nodata) are never drawn.
    n_per_class : sequence of int
        Units to draw in each class (e.g. :func:`allocate_sample`).
    class_ids : sequence of int
    seed : int
        The draw is a pure function of ``seed``.
    transform : affine.Affine, optional
        If given, the table gets the pixel-centre coordinates ``x`` and ``y``
        (for the field team or the photo-interpreter).

    Returns
    -------
    pandas.DataFrame
        ``row``, ``col``, ``map_class`` (and ``x``, ``y``); ``attrs["stratum_pixels"]``
        holds ``N_h``, the pixels of each class, for the estimators.

    Examples
    --------
    >>> m = np.array([[1, 1, 1, 2], [1, 1, 2, 2]])
    >>> s = stratified_random_sample(m, [2, 1], [1, 2], seed=0)
    >>> s["map_class"].tolist(), s.attrs["stratum_pixels"]
    ([1, 1, 2], {1: 5, 2: 3})
    """
    class_map = np.asarray(class_map)
    ids = [int(c) for c in class_ids]
    wanted = np.asarray(n_per_class, dtype=np.int64)
    if wanted.shape != (len(ids),):
        raise AreaEstimationError(f"n_per_class needs one count per class ({len(ids)}), got {wanted.shape}.")
    rng = np.random.default_rng(seed)
    flat = class_map.ravel()
    chosen, strata, sizes = [], [], {}
    for c, n in zip(ids, wanted):
        members = np.flatnonzero(flat == c)
        sizes[c] = int(members.size)
        if n > members.size:
            raise AreaEstimationError(
                f"Class {c} has {members.size} mapped pixels, fewer than the {n} sample units asked for; "
                "lower its allocation."
            )
        chosen.append(rng.choice(members, int(n), replace=False))
        strata.append(np.full(int(n), c))
    index = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    rows, cols = np.unravel_index(index, class_map.shape)
    sample = pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            "map_class": np.concatenate(strata).astype(np.int64),
        }
    )
    if transform is not None:
        sample["x"] = transform.c + (sample["col"] + 0.5) * transform.a
        sample["y"] = transform.f + (sample["row"] + 0.5) * transform.e
    sample.attrs["stratum_pixels"] = sizes
    return sample


def label_sample(sample: pd.DataFrame, reference: np.ndarray) -> pd.DataFrame:
    """The sample with a ``reference`` column: the true class at each unit.

    In a real project the reference class comes from a photo-interpreter or
    a field visit, blind to the map; in the demo world it is read from the
    wall-to-wall truth raster (``demo.truth_path``).

    Examples
    --------
    >>> s = pd.DataFrame({"row": [0, 1], "col": [1, 0], "map_class": [1, 2]})
    >>> label_sample(s, np.array([[1, 2], [2, 2]]))["reference"].tolist()
    [2, 2]
    """
    reference = np.asarray(reference)
    out = sample.copy()
    out.attrs = dict(sample.attrs)
    out["reference"] = reference[out["row"].to_numpy(), out["col"].to_numpy()].astype(np.int64)
    return out


def sample_estimates(
    sample: pd.DataFrame,
    class_map: np.ndarray,
    pixel_area_m2: float,
    class_ids: Sequence[int],
    class_names: Mapping[int, str] | None = None,
    *,
    z: float = Z_95,
) -> pd.DataFrame:
    """Area, user's, producer's and overall accuracy with standard errors, from a labelled stratified sample.

    :func:`confusion_counts` of the sample, then :func:`olofsson_area` with
    the map's own pixel counts as the strata sizes.

    Examples
    --------
    >>> m = np.array([[1, 1, 2, 2]])
    >>> s = pd.DataFrame({"row": [0, 0, 0, 0], "col": [0, 1, 2, 3],
    ...                   "map_class": [1, 1, 2, 2], "reference": [1, 2, 2, 2]})
    >>> sample_estimates(s, m, 100.0, [1, 2])["area_ha"].round(3).tolist()
    [0.01, 0.03]
    """
    ids = list(class_ids)
    counts = confusion_counts(sample["map_class"], sample["reference"], ids)
    mapped = np.array([(np.asarray(class_map) == c).sum() for c in ids], dtype=np.float64)
    return olofsson_area(counts, mapped, pixel_area_m2, ids, class_names, z=z)


# --- Sub-regions: Stehman's (2014) domain estimation --------------------------------------------------------------


def _region_index(blocks, shape: tuple[int, int], transform) -> np.ndarray:
    """``int32`` raster: 1 + row number of the block holding each pixel centre, 0 outside every block."""
    from geoml_helpers.load.rasterize import burn_shapes

    shapes = [(geom, k + 1) for k, geom in enumerate(blocks.geometry)]
    return burn_shapes(shapes, shape, transform, dtype="int32")


def _stratified_ratio(
    y: np.ndarray, x: np.ndarray, strata: np.ndarray, stratum_pixels: Mapping[int, int], fpc: bool
) -> tuple[float, float]:
    """Stehman's (2014, eq. 26-27) combined ratio estimator ``R = sum N_h ybar_h / sum N_h xbar_h`` and its SE."""
    y_hat = x_hat = 0.0
    parts = []
    for h, big_n in stratum_pixels.items():
        sel = strata == h
        n_h = int(sel.sum())
        if n_h == 0:
            continue
        parts.append((big_n, n_h, y[sel], x[sel]))
        y_hat += big_n * y[sel].mean()
        x_hat += big_n * x[sel].mean()
    if x_hat <= 0:
        return math.nan, math.nan
    ratio = y_hat / x_hat
    var = 0.0
    for big_n, n_h, yh, xh in parts:
        if n_h < 2:
            return ratio, math.nan  # a stratum with one unit gives no variance estimate
        s_yy, s_xx = yh.var(ddof=1), xh.var(ddof=1)
        s_xy = float(np.cov(yh, xh, ddof=1)[0, 1])
        correction = (1 - n_h / big_n) if fpc else 1.0
        var += big_n**2 * correction * (s_yy + ratio**2 * s_xx - 2 * ratio * s_xy) / n_h
    return ratio, math.sqrt(max(var, 0.0)) / x_hat


def domain_areas(
    sample: pd.DataFrame,
    class_map: np.ndarray,
    transform,
    blocks,
    class_ids: Sequence[int],
    class_names: Mapping[int, str] | None = None,
    *,
    fpc: bool = True,
    z: float = Z_95,
) -> pd.DataFrame:
    """Class areas per sub-region (domain) from the sample units that fall in it (Stehman 2014).

    The strata are the map classes of the whole area; a management block is a
    *domain* that cuts across them. For block ``d`` and class ``j`` let
    ``y_u = 1`` if unit ``u`` lies in ``d`` and its reference class is ``j``,
    and ``x_u = 1`` if it lies in ``d``. The share of ``d`` covered by ``j`` is
    the combined ratio estimator ``R = sum_h N_h ybar_h / sum_h N_h xbar_h``
    with ``V(R) = sum_h N_h^2 (1 - n_h/N_h) (s2_yh + R^2 s2_xh - 2 R s_xyh) / n_h / X^2``
    (Stehman 2014, "Estimating area and map accuracy for stratified random
    sampling when the strata are different from the map classes", IJRS 35:
    4923-4939, eq. 26-27; Cochran 1977 sect. 6.11). The area is ``R`` times the
    block's known area, so a block's classes add up to the block.

    Only the units inside a block inform it: a block with few units gets a
    wide interval, which is the honest answer. Compare :func:`area_by_block`,
    which borrows the whole scene's error rates.

    Parameters
    ----------
    sample : pandas.DataFrame
        A labelled stratified sample (:func:`stratified_random_sample` then
        :func:`label_sample`): ``row``, ``col``, ``map_class``, ``reference``.
    class_map : numpy.ndarray
        The map the sample was stratified by (gives ``N_h``).
    transform : affine.Affine
        Its pixel grid.
    blocks : geopandas.GeoDataFrame
        ``block_id``, ``block_name`` and geometry in the map's CRS.
    class_ids, class_names
        As in :func:`olofsson_area`.
    fpc : bool
        Apply the finite population correction ``1 - n_h/N_h``.
    z : float
        Normal quantile of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per block and class: ``block_id``, ``block_name``,
        ``class_id``, ``class_name``, ``mapped_ha``, ``area_ha``, ``se_ha``,
        ``ci_low_ha``, ``ci_high_ha``, ``n_units`` (sample units in the block),
        ``n_units_class`` (of them, with this reference class).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> sample = label_sample(stratified_random_sample(class_map, alloc, ids, seed=0), truth)  # doctest: +SKIP
    >>> domain_areas(sample, class_map, transform, management_blocks(bounds, crs), ids)  # doctest: +SKIP
    """
    class_map = np.asarray(class_map)
    ids = [int(c) for c in class_ids]
    names = dict(class_names or {})
    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    index = _region_index(blocks, class_map.shape, transform)
    unit_block = index[sample["row"].to_numpy(), sample["col"].to_numpy()]
    strata = sample["map_class"].to_numpy()
    reference = sample["reference"].to_numpy()
    stratum_pixels = {c: int((class_map == c).sum()) for c in ids}
    rows = []
    for k, block in enumerate(blocks.itertuples()):
        inside = unit_block == k + 1
        block_px = int((index == k + 1).sum())
        block_ha = block_px * pixel_area / 1e4
        x = inside.astype(np.float64)
        for c in ids:
            y = (inside & (reference == c)).astype(np.float64)
            ratio, se = _stratified_ratio(y, x, strata, stratum_pixels, fpc)
            area, se_ha = ratio * block_ha, se * block_ha
            rows.append(
                {
                    "block_id": str(block.block_id),
                    "block_name": str(block.block_name),
                    "class_id": c,
                    "class_name": names.get(c, str(c)),
                    "mapped_ha": float(((index == k + 1) & (class_map == c)).sum() * pixel_area / 1e4),
                    "area_ha": area,
                    "se_ha": se_ha,
                    "ci_low_ha": max(area - z * se_ha, 0.0) if np.isfinite(se_ha) else math.nan,
                    "ci_high_ha": area + z * se_ha,
                    "n_units": int(inside.sum()),
                    "n_units_class": int(y.sum()),
                }
            )
    return pd.DataFrame(rows)


# --- Why the design matters: repeated draws -----------------------------------------------------------------------


def repeated_draws(
    class_map: np.ndarray,
    reference: np.ndarray,
    n_per_class: Sequence[int],
    class_ids: Sequence[int],
    *,
    convenience_mask: np.ndarray | None = None,
    n_draws: int = 200,
    seed: int = 0,
    pixel_area_m2: float = 100.0,
    z: float = Z_95,
) -> pd.DataFrame:
    """Draw the reference sample ``n_draws`` times and estimate every class's area each time.

    Two designs with the same number of units per draw:

    ``probability``
        :func:`stratified_random_sample` with ``n_per_class``, estimated with
        :func:`olofsson_area` (a design-based estimator on its own design).
    ``convenience``
        the same total drawn at random from the pixels of ``convenience_mask``
        only (e.g. the test polygons: drawn where the class was obvious), and
        then estimated as if it were stratified by map class, as a course
        that "reuses the test labels" would do.

    Both are labelled from ``reference`` (the truth), so the only difference
    is *where* the units are. In the synthetic world the true area is known,
    so each draw's error and whether its interval covers the truth are known.

    Parameters
    ----------
    class_map, reference : numpy.ndarray
        ``(y, x)`` map classes and true classes.
    n_per_class : sequence of int
        Probability-sample allocation (:func:`allocate_sample`).
    class_ids : sequence of int
    convenience_mask : numpy.ndarray of bool, optional
        Pixels open to the convenience sample; without it only the probability design runs.
    n_draws : int
    seed : int
        Draw ``i`` of each design uses the seed ``(seed, i)``.
    pixel_area_m2 : float
    z : float

    Returns
    -------
    pandas.DataFrame
        One row per design, draw and class: ``design``, ``draw``, ``class_id``,
        ``true_ha``, ``mapped_ha``, ``area_ha``, ``ci_low_ha``, ``ci_high_ha``,
        ``error_ha`` (estimate minus truth), ``covered``.

    Examples
    --------
    >>> truth = np.repeat([[1, 1, 1, 2]], 50, axis=0)
    >>> mapped = truth.copy(); mapped[::7, 0] = 2
    >>> draws = repeated_draws(mapped, truth, [30, 30], [1, 2], n_draws=20, seed=0)
    >>> float(draws.groupby("class_id")["true_ha"].first()[2])
    0.5
    """
    class_map, reference = np.asarray(class_map), np.asarray(reference)
    ids = [int(c) for c in class_ids]
    wanted = np.asarray(n_per_class, dtype=np.int64)
    mapped = np.array([(class_map == c).sum() for c in ids], dtype=np.float64)
    true_ha = np.array([(reference == c).sum() for c in ids], dtype=np.float64) * pixel_area_m2 / 1e4
    flat_map, flat_ref = class_map.ravel(), reference.ravel()
    designs = ["probability"]
    if convenience_mask is not None:
        pool = np.flatnonzero(np.asarray(convenience_mask, bool).ravel() & np.isin(flat_map, ids))
        if pool.size < wanted.sum():
            raise AreaEstimationError(
                f"The convenience mask holds {pool.size} mapped pixels, fewer than the {wanted.sum()} units per draw."
            )
        designs.append("convenience")
    members = [np.flatnonzero(flat_map == c) for c in ids]
    frames = []
    for design in designs:
        for draw in range(n_draws):
            rng = np.random.default_rng([seed, draw, designs.index(design)])
            if design == "probability":
                index = np.concatenate([rng.choice(m, int(n), replace=False) for m, n in zip(members, wanted)])
            else:
                index = rng.choice(pool, int(wanted.sum()), replace=False)
            counts = confusion_counts(flat_map[index], flat_ref[index], ids)
            table = olofsson_area(counts, mapped, pixel_area_m2, ids, z=z)
            frames.append(
                pd.DataFrame(
                    {
                        "design": design,
                        "draw": draw,
                        "class_id": ids,
                        "true_ha": true_ha,
                        "mapped_ha": table["mapped_ha"].to_numpy(),
                        "area_ha": table["area_ha"].to_numpy(),
                        "ci_low_ha": table["ci_low_ha"].to_numpy(),
                        "ci_high_ha": table["ci_high_ha"].to_numpy(),
                        "overall_accuracy": table.attrs["overall_accuracy"],
                    }
                )
            )
    draws = pd.concat(frames, ignore_index=True)
    draws["error_ha"] = draws["area_ha"] - draws["true_ha"]
    # An interval that is NaN (an unsampled class) does not cover anything.
    draws["covered"] = (draws["ci_low_ha"] <= draws["true_ha"]) & (draws["true_ha"] <= draws["ci_high_ha"])
    return draws


def summarise_draws(draws: pd.DataFrame) -> pd.DataFrame:
    """Coverage, bias and spread of :func:`repeated_draws` per design and class.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``design`` and ``class_id``: ``true_ha``, ``mean_area_ha``,
        ``bias_ha`` (mean error), ``mean_abs_error_ha``, ``rmse_ha``,
        ``coverage`` (share of intervals holding the truth), ``n_draws``.

    Examples
    --------
    >>> d = pd.DataFrame({"design": "p", "class_id": 1, "true_ha": 10.0, "area_ha": [9.0, 11.0],
    ...                   "error_ha": [-1.0, 1.0], "covered": [True, False]})
    >>> summarise_draws(d)[["bias_ha", "coverage"]].values.tolist()
    [[0.0, 0.5]]
    """
    grouped = draws.groupby(["design", "class_id"])
    return pd.DataFrame(
        {
            "true_ha": grouped["true_ha"].first(),
            "mean_area_ha": grouped["area_ha"].mean(),
            "bias_ha": grouped["error_ha"].mean(),
            "mean_abs_error_ha": grouped["error_ha"].apply(lambda e: float(np.abs(e).mean())),
            "rmse_ha": grouped["error_ha"].apply(lambda e: float(np.sqrt((e**2).mean()))),
            "coverage": grouped["covered"].mean(),
            "n_draws": grouped.size(),
        }
    )
