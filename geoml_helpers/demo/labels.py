"""Label polygons, spatial blocks and the train/val/test split.

Labels look like what an analyst digitises: compact polygons well inside
homogeneous patches, more of them for rare classes, none across a block
boundary. Splits are assigned per spatial block, never per polygon or pixel,
so that spatially autocorrelated pixels cannot leak between train and test.

Examples
--------
>>> from geoml_helpers.demo.landscape import make_landscape
>>> from affine import Affine
>>> world = make_landscape(96, seed=0)
>>> blocks = make_blocks(96, 48, Affine(10, 0, 300000, 0, -10, 6250000), seed=0)
>>> sorted(blocks["split"].unique().tolist())
['test', 'train', 'val']
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from scipy import ndimage

from geoml_helpers.demo.classes import CLASS_NAMES

SPLIT_SHARES: dict[str, float] = {"train": 0.6, "val": 0.2, "test": 0.2}


def make_blocks(
    size_px: int,
    block_px: int,
    transform: Affine,
    seed: int,
    crs: str = "EPSG:32734",
    classes: np.ndarray | None = None,
):
    """Square spatial blocks with a split column.

    When ``classes`` is given, the split is redrawn (deterministically) until
    every split holds every class, or the draw covering most (split, class) pairs is kept, so that each split can be
    evaluated per class.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``block_id``, ``row``, ``col``, ``split``, ``geometry``.
    """
    import geopandas as gpd
    from shapely.geometry import box

    n = size_px // block_px
    rows, cols = np.divmod(np.arange(n * n), n)
    geoms = []
    for r, c in zip(rows, cols):
        x0, y0 = transform @ (c * block_px, r * block_px)
        x1, y1 = transform @ ((c + 1) * block_px, (r + 1) * block_px)
        geoms.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    n_val = max(1, round(n * n * SPLIT_SHARES["val"]))
    n_test = max(1, round(n * n * SPLIT_SHARES["test"]))
    rng = np.random.default_rng([seed, 99])
    best_split, best_score = None, -1
    for _attempt in range(300):
        order = rng.permutation(n * n)
        split = np.array(["train"] * (n * n), dtype=object)
        split[order[:n_test]] = "test"
        split[order[n_test : n_test + n_val]] = "val"
        score = 0 if classes is None else _classes_covered(classes, block_px, split, n)
        if score > best_score:
            best_split, best_score = split, score
        if classes is None or score == 3 * len(CLASS_NAMES):
            break
    assert best_split is not None  # the loop draws at least once
    split = best_split
    return gpd.GeoDataFrame(
        {
            "block_id": np.arange(n * n, dtype=np.int32),
            "row": rows.astype(np.int32),
            "col": cols.astype(np.int32),
            "split": split.astype(str),
        },
        geometry=geoms,
        crs=crs,
    )


def _classes_covered(classes: np.ndarray, block_px: int, split: np.ndarray, n: int) -> int:
    """How many (split, class) pairs have at least 30 pixels; the best is 3 x 6."""
    wanted = set(CLASS_NAMES)
    covered = 0
    for name in SPLIT_SHARES:
        present: set[int] = set()
        for block in np.flatnonzero(split == name):
            r, c = divmod(int(block), n)
            window = classes[r * block_px : (r + 1) * block_px, c * block_px : (c + 1) * block_px]
            counts = np.bincount(window.ravel(), minlength=7)
            present |= {k for k in wanted if counts[k] >= 30}
        covered += len(present)
    return covered


def make_label_polygons(
    classes: np.ndarray, blocks, block_px: int, polygons_per_block: int, transform: Affine, seed: int
):
    """Digitise label polygons inside homogeneous patches, within single blocks.

    Rare classes are favoured so that every class gets training data.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``polygon_id``, ``class_id``, ``class_name``, ``block_id``,
        ``split``, ``area_m2``, ``geometry``.

    Notes
    -----
    Long because: one seeded loop draws every polygon in turn; helpers would pass the generator and the used-pixel
    mask back and forth, and any change in draw order changes the demo's labels.
    """
    import geopandas as gpd
    from rasterio import features
    from shapely.geometry import shape as shapely_shape

    rng = np.random.default_rng([seed, 7])
    frequency = np.bincount(classes.ravel(), minlength=7).astype(float)
    weight_of_class = np.where(frequency > 0, 1.0 / np.sqrt(np.maximum(frequency, 1)), 0.0)
    # Analysts digitise inside patches: shrink each class region by two pixels first.
    interior = np.zeros_like(classes)
    for class_id in CLASS_NAMES:
        core = ndimage.binary_erosion(classes == class_id, iterations=2)
        interior[core] = class_id

    records = []
    yy, xx = np.mgrid[0:block_px, 0:block_px]
    for block in blocks.itertuples():
        r0, c0 = block.row * block_px, block.col * block_px
        window = interior[r0 : r0 + block_px, c0 : c0 + block_px]
        used = np.zeros_like(window, dtype=bool)
        for _ in range(polygons_per_block):
            present = [c for c in CLASS_NAMES if ((window == c) & ~used).sum() >= 12]
            if not present:
                break
            p = np.array([weight_of_class[c] for c in present])
            class_id = int(rng.choice(present, p=p / p.sum()))
            candidates = np.flatnonzero(((window == class_id) & ~used).ravel())
            centre = int(rng.choice(candidates))
            cy, cx = divmod(centre, block_px)
            radius = rng.uniform(4, 9)
            stretch = rng.uniform(0.6, 1.6)
            disk = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * stretch)) ** 2 <= 1.0
            mask = disk & (window == class_id) & ~used
            mask = ndimage.binary_opening(mask)
            labelled, count = ndimage.label(mask)
            if count == 0:
                continue
            keep = (
                labelled == labelled[cy, cx]
                if labelled[cy, cx]
                else labelled == (np.bincount(labelled.ravel())[1:].argmax() + 1)
            )
            if keep.sum() < 8:
                continue
            used |= ndimage.binary_dilation(keep, iterations=2)
            block_transform = transform @ Affine.translation(c0, r0)
            shapes = [
                shapely_shape(geom)
                for geom, value in features.shapes(keep.astype(np.uint8), mask=keep, transform=block_transform)
                if value == 1
            ]
            polygon = max(shapes, key=lambda g: g.area).simplify(5.0, preserve_topology=True)
            if not polygon.is_valid or polygon.is_empty:
                continue
            records.append(
                {
                    "class_id": class_id,
                    "class_name": CLASS_NAMES[class_id],
                    "block_id": int(block.block_id),
                    "split": block.split,
                    "geometry": polygon,
                }
            )
    labels = gpd.GeoDataFrame(records, geometry="geometry", crs=blocks.crs)
    labels.insert(0, "polygon_id", np.arange(len(labels), dtype=np.int32))
    labels["class_id"] = labels["class_id"].astype(np.int32)
    labels["block_id"] = labels["block_id"].astype(np.int32)
    labels["area_m2"] = labels.geometry.area.round(1)
    return labels[["polygon_id", "class_id", "class_name", "block_id", "split", "area_m2", "geometry"]]
