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

Per management block, the same estimator runs with the block's own ``W_i``
and the scene's confusion matrix (assuming the error rates do not change
from block to block; with enough reference samples, use each block's own).

Examples
--------
>>> counts = np.array([[45, 5], [10, 40]])          # rows: map class, columns: reference class
>>> table = olofsson_area(counts, mapped_pixels=[600, 400], pixel_area_m2=100, class_ids=[1, 2])
>>> round(float(table["area_ha"].sum()), 6)
10.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import GeomlError

Z_95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""


class AreaEstimationError(GeomlError, ValueError):
    """Inputs that cannot give an area estimate (shapes, empty strata)."""


def confusion_counts(mapped, reference, class_ids: Sequence[int]) -> np.ndarray:
    """Counts ``n_ij`` of samples mapped as ``class_ids[i]`` with reference class ``class_ids[j]``.

    Samples whose map or reference value is not in ``class_ids`` (nodata) are ignored.

    Examples
    --------
    >>> confusion_counts([1, 1, 2, 2, 0], [1, 2, 2, 2, 1], [1, 2]).tolist()
    [[1, 1], [0, 2]]
    """
    mapped, reference = np.asarray(mapped).ravel(), np.asarray(reference).ravel()
    if mapped.shape != reference.shape:
        raise AreaEstimationError(f"mapped ({mapped.shape}) and reference ({reference.shape}) samples differ in number; pass the same pixels of both.")
    ids = np.asarray(class_ids)
    m, r = _index(mapped, ids), _index(reference, ids)
    keep = (m >= 0) & (r >= 0)
    counts = np.zeros((ids.size, ids.size), dtype=np.int64)
    np.add.at(counts, (m[keep], r[keep]), 1)
    return counts


def _index(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    order = np.argsort(ids)
    pos = np.searchsorted(ids[order], values)
    pos = np.clip(pos, 0, ids.size - 1)
    found = ids[order][pos] == values
    return np.where(found, order[pos], -1)


def olofsson_area(
    counts,
    mapped_pixels: Sequence[float],
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
        ``users_accuracy``, ``producers_accuracy``, ``n_reference``;
        ``attrs["overall_accuracy"]``. A map class without reference samples
        cannot be adjusted: its area stays as mapped, with an unknown (NaN)
        interval, and ``attrs["unsampled_classes"]`` lists it.

    Raises
    ------
    AreaEstimationError
        On shape mismatches.
    """
    n = np.asarray(counts, dtype=np.float64)
    mapped = np.asarray(mapped_pixels, dtype=np.float64)
    k = len(class_ids)
    if n.shape != (k, k) or mapped.shape != (k,):
        raise AreaEstimationError(f"counts must be ({k}, {k}) and mapped_pixels ({k},) for {k} classes; got {n.shape} and {mapped.shape}.")
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
        }
    )
    table["ci_low_ha"] = (table["area_ha"] - table["ci_ha"]).clip(lower=0)
    table["ci_high_ha"] = table["area_ha"] + table["ci_ha"]
    if nodata_pixels:
        nodata_ha = float(nodata_pixels) * pixel_area_m2 / 1e4
        table = pd.concat(
            [table, pd.DataFrame([{"class_id": 0, "class_name": "no prediction", "mapped_ha": nodata_ha, "area_ha": nodata_ha, "ci_ha": 0.0, "ci_low_ha": nodata_ha, "ci_high_ha": nodata_ha, "n_reference": 0}])],
            ignore_index=True,
        )
    table = table[["class_id", "class_name", "mapped_ha", "area_ha", "ci_ha", "ci_low_ha", "ci_high_ha", "users_accuracy", "producers_accuracy", "n_reference"]]
    table.attrs["overall_accuracy"] = float(diag.sum())
    table.attrs["unsampled_classes"] = [int(c) for c, u in zip(class_ids, unknown) if u]
    return table


MANAGEMENT_UNITS: tuple[tuple[str, str], ...] = (
    ("MU1", "Upper catchment"),
    ("MU2", "Eastern slopes"),
    ("MU3", "Lower valley"),
    ("MU4", "Plantation edge"),
)
"""Ids and names of the demo's management blocks (north-west, north-east, south-west, south-east)."""


def management_blocks(bounds: Sequence[float], crs: str, resolution: float = 10.0, split: tuple[float, float] = (0.45, 0.55)):
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
    geoms = [box(xmin, ycut, xcut, ymax), box(xcut, ycut, xmax, ymax), box(xmin, ymin, xcut, ycut), box(xcut, ymin, xmax, ycut)]
    frame = gpd.GeoDataFrame(
        {"block_id": [u[0] for u in MANAGEMENT_UNITS], "block_name": [u[1] for u in MANAGEMENT_UNITS]}, geometry=geoms, crs=crs
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
    from rasterio import features

    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    ids = list(class_ids)
    regions: list[tuple[str, str, np.ndarray]] = [("AOI", "Whole area of interest", np.ones(class_map.shape, bool))]
    shapes = [(geom, k + 1) for k, geom in enumerate(blocks.geometry)]
    index = features.rasterize(shapes, out_shape=class_map.shape, transform=transform, fill=0, dtype="int32")
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
