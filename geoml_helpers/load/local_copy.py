"""Copy a STAC item's band assets to local disk, cut to the AOI: for readers that need local files (torchgeo).

torchgeo's ``RasterDataset`` finds its files by globbing a folder and reads the band name from the file
name, so it cannot read Earth Search's ``https://.../B04.tif`` hrefs (nor the replica's
``http://127.0.0.1:PORT/...`` ones) directly. :func:`copy_item_locally` reads only the AOI's window of each
band (HTTP range requests for a COG), writes it as ``<folder>/<item id>/<band>.tif`` and returns the item
with ``file://`` hrefs. That is the "copy to local disk" storage tier: a whole 10980 px tile would be about
1 GB a scene, the window of a few km² is a few MB.

Examples
--------
>>> copy_item_locally({"id": "x", "assets": {}}, "/tmp/x", (0, 0, 1, 1), "EPSG:32632")["assets"]
{}
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

from geoml_helpers.load.loading import REFLECTANCE_BANDS

__all__ = ["COPIED_BANDS", "copy_item_locally"]

COPIED_BANDS = (*REFLECTANCE_BANDS, "scl")
"""Assets copied by default: the course's bands under their course names (``_course_assets`` adds them)."""


def copy_item_locally(
    item: dict,
    folder: str | os.PathLike[str],
    bounds: Sequence[float],
    crs: str,
    bands: Sequence[str] | None = None,
    margin_m: float = 320.0,
) -> dict:
    """Copy the AOI window of each band asset of ``item`` to ``folder``; return the item with local hrefs.

    Parameters
    ----------
    item : dict
        A STAC item (as a dict) whose band hrefs are URLs or local files.
    folder : path-like
        Files go to ``<folder>/<item id>/<band>.tif`` (the layout the torchgeo datasets glob). A file already
        there is reused.
    bounds : sequence of float
        ``(xmin, ymin, xmax, ymax)`` of the AOI in ``crs``.
    crs : str
        CRS of ``bounds``; each file keeps its asset's own CRS and pixel grid.
    bands : sequence of str, optional
        Asset keys to copy; defaults to those of :data:`COPIED_BANDS` the item has (an asset the item lacks
        is left out, and its reader says so).
    margin_m : float
        Extra context around the AOI, in metres.

    Returns
    -------
    dict
        A copy of ``item``: each copied asset's ``href`` is a ``file://`` URI and its ``proj:shape`` and
        ``proj:transform`` describe the window.

    Examples
    --------
    Needs a served item (skipped under doctest):

    >>> local = copy_item_locally(item, "scenes", prepared.bounds, prepared.crs)  # doctest: +SKIP
    >>> local["assets"]["red"]["href"]  # doctest: +SKIP
    'file:///.../scenes/S2A_32UQU_20220209_0_L2A/red.tif'
    """
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    from geoml_helpers.load.cog import write_cog

    local = copy.deepcopy(item)
    assets = local.get("assets", {})
    keys = list(bands) if bands is not None else [b for b in COPIED_BANDS if b in assets]
    target = Path(folder) / str(item["id"])
    xmin, ymin, xmax, ymax = bounds
    padded = (xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m)
    for key in keys:
        if key not in assets:
            continue
        path = target / f"{key}.tif"
        if not path.is_file():
            with rasterio.open(assets[key]["href"]) as src:
                box = transform_bounds(crs, src.crs, *padded, densify_pts=21)
                window = from_bounds(*box, transform=src.transform).round_offsets().round_lengths()
                window = window.intersection(Window(0, 0, src.width, src.height))
                data = src.read(1, window=window)
                write_cog(
                    path, data, transform=src.window_transform(window), crs=src.crs.to_string(),
                    nodata=src.nodata, blocksize=256 if min(data.shape) >= 256 else 128,
                )  # fmt: skip
        with rasterio.open(path) as copied:
            assets[key] = {
                **assets[key],
                "href": path.resolve().as_uri(),
                "proj:shape": [copied.height, copied.width],
                "proj:transform": list(copied.transform)[:6],
            }
    return local
