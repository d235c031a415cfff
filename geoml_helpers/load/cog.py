"""Writing Cloud-Optimised GeoTIFFs, atomically and reproducibly.

A COG is an ordinary GeoTIFF whose internal tiles and overviews are laid out
so that a client can read any window with a few HTTP range requests.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from affine import Affine
>>> path = pathlib.Path(tempfile.mkdtemp()) / "example.tif"
>>> transform = Affine(10, 0, 300000, 0, -10, 6250000)
>>> _ = write_cog(path, np.ones((1, 64, 64), "uint16"), transform=transform, crs="EPSG:32734", nodata=0)
>>> path.exists()
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from geoml_helpers.core.atomic import atomic_write


def write_cog(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    transform,
    crs: str,
    nodata: float | int | None = None,
    band_names: Sequence[str] | None = None,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
    scales: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    overview_resampling: str = "average",
    blocksize: int = 256,
    tags: Mapping[str, str] | None = None,
    photometric: str | None = None,
) -> Path:
    """Write a ``(band, y, x)`` or ``(y, x)`` array as a COG with overviews.

    The file appears under its final name only when it is complete: it is
    written next to it under a temporary name and then renamed.

    Parameters
    ----------
    path : path-like
        Destination ``.tif``.
    data : numpy.ndarray
        Pixel values; the dtype is kept.
    transform : affine.Affine
        Pixel-to-CRS transform of the top-left corner.
    crs : str
        Any CRS string rasterio understands, e.g. ``"EPSG:32734"``.
    nodata : number, optional
        Value marking missing pixels.
    band_names : sequence of str, optional
        Band descriptions.
    colormap : mapping, optional
        RGBA colour table for a single-band ``uint8`` class map.
    scales, offsets : sequence of float, optional
        Per-band ``scale``/``offset`` metadata (value = DN * scale + offset).
    overview_resampling : str
        ``average`` for continuous data, ``nearest``/``mode`` for classes.
    blocksize : int
        Internal tile size in pixels.
    tags : mapping, optional
        Dataset-level metadata tags.
    photometric : str, optional
        E.g. ``"RGB"`` for a three-band 8-bit image.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    path = Path(path)
    array = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = array.shape
    profile = {
        "driver": "GTiff",
        "count": count,
        "height": height,
        "width": width,
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with atomic_write(path) as tmp_name, MemoryFile() as memfile:
        with memfile.open(**profile) as mem:
            mem.write(array)
            if band_names:
                for index, name in enumerate(band_names, start=1):
                    mem.set_band_description(index, name)
            if colormap:
                mem.write_colormap(1, dict(colormap))
            if scales is not None:
                mem.scales = tuple(float(s) for s in scales)
            if offsets is not None:
                mem.offsets = tuple(float(o) for o in offsets)
            if tags:
                mem.update_tags(**tags)
            options = {
                "COMPRESS": "DEFLATE",
                "PREDICTOR": "2" if array.dtype.kind in "iu" else "3" if array.dtype.kind == "f" else "1",
                "BLOCKSIZE": str(blocksize),
                "OVERVIEW_RESAMPLING": overview_resampling.upper(),
                "NUM_THREADS": "1",
            }
            if photometric:
                options["PHOTOMETRIC"] = photometric
            rasterio.shutil.copy(mem, str(tmp_name), driver="COG", **options)
    return path


def is_valid_cog(path: str | os.PathLike[str]) -> tuple[bool, list[str]]:
    """Check a file with rio-cogeo's validator.

    Returns
    -------
    (bool, list of str)
        Whether it is a valid COG, and the errors found.

    Examples
    --------
    >>> is_valid_cog  # doctest: +ELLIPSIS
    <function is_valid_cog at ...>
    """
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    return bool(valid), list(errors)
