"""A whole synthetic Sentinel-2 tile (10980 x 10980 px at 10 m), generated lazily, chunk by chunk.

The tile is a dask array of monthly, analysis-ready reflectance
``(time, band, y, x)`` shaped like :func:`geoml_helpers.load.cube.ensure_analysis_ready_cube`'s
``reflectance``. Nothing exists until a chunk is computed, and every chunk is
generated on its own from the seed and its global pixel coordinates, so

* the whole tile (about 64 GB as float32 for 12 months) is never in memory,
* a chunk has the same values whatever the chunking or the order of computation,
* chunks join seamlessly: the landscape is built from *lattice noise*
  (random values at the nodes of a coarse global grid, hashed from their
  global coordinates, smoothly interpolated), not from filters over the whole
  image as :mod:`.landscape` does.

The land cover follows the ideas of :mod:`.landscape` (fields on the low
ground, sandstone on the peaks, dams in basins, invasive trees along the
drainage and in plantations, fynbos elsewhere) and the reflectance reuses
:func:`.spectra.class_fractions` and the Sentinel-2 band spectra of
:mod:`.sentinel2`, so a model trained on the demo cube applies here.

Examples
--------
>>> tile = lazy_s2_tile(size_px=1024, chunk_px=512)
>>> tile.shape, tile.chunks[2]
((12, 11, 1024, 1024), (512, 512))
>>> block = tile[:, :, :64, :64].compute()  # only one chunk is generated
>>> block.dtype
dtype('float32')
"""

from __future__ import annotations

import numpy as np

from geoml_helpers.demo.landscape import (
    BARE,
    BUILT,
    CULTIVATED,
    FYNBOS,
    INVASIVE,
    INVASIVE_COVER_THRESHOLD,
    ROCK_COVER_THRESHOLD,
    WATER,
    Landscape,
    veld_age_from_draw,
)
from geoml_helpers.demo.sentinel2 import BAND_KEYS, EPSG, band_spectra
from geoml_helpers.demo.spectra import class_fractions, unit_noise

TILE_SIZE_PX: int = 10980
"""Width and height of a Sentinel-2 MGRS tile at 10 m."""
TILE_ORIGIN: tuple[float, float] = (300000.0, 6300040.0)
"""Upper-left corner (EPSG:32734) of the synthetic tile; it contains the demo area."""
FIELD_PX: int = 24
"""Side of the square field parcels (240 m)."""


def _hash_uniform(seed: int, salt: int, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Deterministic uniform values in ``[0, 1)`` from integer lattice coordinates (a SplitMix64-style hash)."""
    with np.errstate(over="ignore"):
        h = (iy.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            ix.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        )
        h ^= np.uint64((seed * 1_000_003 + salt * 7919) & 0xFFFFFFFFFFFFFFFF)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float64) / float(1 << 24)).astype(np.float32)


def lattice_noise(y0: int, x0: int, height: int, width: int, cell_px: float, *, seed: int, salt: int) -> np.ndarray:
    """Smooth noise in ``[0, 1]`` on a window of the global pixel grid.

    Values at the nodes of a lattice with spacing ``cell_px`` come from a hash
    of the node coordinates; between nodes they are interpolated with a
    smoothstep. Any window of the same global grid gives the same values.

    Examples
    --------
    >>> a = lattice_noise(0, 0, 8, 8, 4.0, seed=0, salt=1)
    >>> b = lattice_noise(4, 4, 4, 4, 4.0, seed=0, salt=1)
    >>> bool(np.allclose(a[4:, 4:], b))
    True
    """
    gy = (y0 + np.arange(height, dtype=np.float64)) / cell_px
    gx = (x0 + np.arange(width, dtype=np.float64)) / cell_px
    iy0, ix0 = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    fy, fx = (gy - iy0).astype(np.float32), (gx - ix0).astype(np.float32)
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    ny = np.arange(iy0[0], iy0[-1] + 2)
    nx = np.arange(ix0[0], ix0[-1] + 2)
    nodes = _hash_uniform(seed, salt, ny[:, None], nx[None, :])
    ry, rx = iy0 - ny[0], ix0 - nx[0]
    top = nodes[ry][:, rx] * (1 - fx) + nodes[ry][:, rx + 1] * fx
    bottom = nodes[ry + 1][:, rx] * (1 - fx) + nodes[ry + 1][:, rx + 1] * fx
    return np.ascontiguousarray(top * (1 - fy)[:, None] + bottom * fy[:, None], dtype=np.float32)


def tile_landscape(y0: int, x0: int, height: int, width: int, seed: int) -> Landscape:
    """The land cover of one window of the tile, from global coordinates only.

    Examples
    --------
    >>> scene = tile_landscape(0, 0, 256, 256, seed=0)
    >>> scene.classes.shape, scene.classes.dtype
    ((256, 256), dtype('uint8'))
    """

    def noise(cell: float, salt: int) -> np.ndarray:
        return lattice_noise(y0, x0, height, width, cell, seed=seed, salt=salt)

    elevation = 0.55 * noise(900, 1) + 0.30 * noise(180, 2) + 0.15 * noise(45, 3)
    vigour = noise(12, 4)
    classes = np.full((height, width), FYNBOS, dtype=np.uint8)

    # Fields: square parcels on the low ground, with narrow margins between them.
    fy = (y0 + np.arange(height)) // FIELD_PX
    fx = (x0 + np.arange(width)) // FIELD_PX
    uy, ux = np.unique(fy), np.unique(fx)
    field_key = (fy - uy[0])[:, None] * len(ux) + (fx - ux[0])[None, :]
    farmed_draw = _hash_uniform(seed, 5, uy[:, None], ux[None, :]).ravel()
    crop_draw = _hash_uniform(seed, 6, uy[:, None], ux[None, :]).ravel()
    shift_draw = _hash_uniform(seed, 7, uy[:, None], ux[None, :]).ravel()
    margin = (((y0 + np.arange(height)) % FIELD_PX) == 0)[:, None] | (((x0 + np.arange(width)) % FIELD_PX) == 0)[
        None, :
    ]
    lowland = elevation < 0.42
    classes[lowland & (farmed_draw[field_key] < 0.75) & ~margin] = CULTIVATED
    crop_type = np.select([crop_draw < 0.45, crop_draw < 0.85], [0, 1], 2).astype(np.int8)
    sowing_shift = ((shift_draw - 0.5) * 40.0).astype(np.float32)

    # Towns on part of the low ground.
    classes[lowland & (noise(400, 8) > 0.80) & (noise(30, 9) > 0.35)] = BUILT
    # Sandstone peaks.
    rockiness = elevation + 0.25 * noise(40, 10)
    classes[rockiness > 0.80] = BARE
    # Dams in the lowest basins.
    classes[(elevation + 0.2 * noise(60, 11)) < 0.33] = WATER
    # Invasive trees: plantations (whole parcels) on mid slopes and thickets spreading in the fynbos.
    mid = (elevation > 0.45) & (elevation < 0.7)
    plantation = mid & (farmed_draw[field_key] > 0.85)
    spread = noise(25, 12)
    thicket = spread > 0.72
    shrubland = classes == FYNBOS
    classes[(plantation | thicket) & shrubland] = INVASIVE
    # Alien canopy cover rises into the thickets and thins out through an invasion front around them.
    tree_cover = np.where(
        thicket,
        INVASIVE_COVER_THRESHOLD + 0.6 * (1.0 - np.exp(-(spread - 0.72) / 0.08)),
        0.9 * INVASIVE_COVER_THRESHOLD * np.exp(-(0.72 - spread) / 0.04),
    ).astype(np.float32)
    tree_cover[plantation & shrubland] = 0.8
    tree_cover[~shrubland] = 0.0
    # Fire scars: warped square cells of about 600 m, each burnt in its own year.
    warp = 20.0 * (noise(30, 13) - 0.5)
    cell_y = np.floor((y0 + np.arange(height)[:, None] + warp) / 60.0).astype(np.int64)
    cell_x = np.floor((x0 + np.arange(width)[None, :] - warp) / 60.0).astype(np.int64)
    veld_age = veld_age_from_draw(_hash_uniform(seed, 14, cell_y, cell_x))

    # Outcrop cover rises upslope to the mapping threshold at the edge of the peaks.
    slopes = (classes == FYNBOS) | (classes == INVASIVE) | (classes == BARE)
    rock_cover = np.where(slopes, ROCK_COVER_THRESHOLD * np.clip((rockiness - 0.65) / 0.15, 0.0, None), 0.0)
    rock_cover = np.minimum(rock_cover, 1.0).astype(np.float32)

    field_id = np.where(classes == CULTIVATED, field_key, -1).astype(np.int32)
    return Landscape(classes, elevation, field_id, crop_type, sowing_shift, vigour, tree_cover, veld_age, rock_cover)


def _chunk(block_info=None, *, seed: int, doys: np.ndarray, cloud_fraction: float) -> np.ndarray:
    """Generate one chunk ``(time, band, y, x)``; dask passes its location in ``block_info``."""
    info = block_info[None]
    (t0, t1), (b0, b1), (y0, y1), (x0, x1) = info["array-location"]
    landscape = tile_landscape(y0, x0, y1 - y0, x1 - x0, seed)
    spectra = band_spectra()
    out = np.empty((t1 - t0, b1 - b0, y1 - y0, x1 - x0), dtype=np.float32)
    for i, t in enumerate(range(t0, t1)):
        rng = np.random.default_rng([seed, t, y0, x0])
        fractions = class_fractions(landscape, float(doys[t]), rng)
        reflectance = out[i]
        np.matmul(spectra[:, b0:b1].T, fractions.reshape(fractions.shape[0], -1), out=reflectance.reshape(b1 - b0, -1))
        noise = unit_noise(rng, reflectance.shape[1:])
        noise *= np.float32(0.004)
        reflectance += noise  # sensor noise, shared by the bands
        if cloud_fraction > 0:
            cloudy = lattice_noise(y0, x0, y1 - y0, x1 - x0, 50, seed=seed, salt=100 + t) > (1 - cloud_fraction)
            np.copyto(reflectance, np.float32(np.nan), where=cloudy[None])
    return out


def lazy_s2_tile(
    size_px: int = TILE_SIZE_PX,
    chunk_px: int = 512,
    n_months: int = 12,
    seed: int = 0,
    cloud_fraction: float = 0.05,
    year: int = 2024,
):
    """A whole synthetic Sentinel-2 tile of monthly composites as a lazy ``xarray.DataArray``.

    Parameters
    ----------
    size_px : int
        Width and height in 10 m pixels (10980 for a real tile; smaller for tests).
    chunk_px : int
        Spatial chunk side; one chunk holds all months and bands.
    n_months : int
        Monthly composites (mid-month dates of ``year``).
    seed : int
        Seed of everything; chunks are deterministic functions of it and their position.
    cloud_fraction : float
        Approximate share of NaN (no clear observation) per month, in blobs.
    year : int

    Returns
    -------
    xarray.DataArray
        ``reflectance`` float32 ``(time, band, y, x)``, dask-backed, with
        ``time``/``band``/``y``/``x`` coordinates and CRS EPSG:32734.

    Examples
    --------
    >>> lazy_s2_tile().nbytes / 1e9 > 60  # the full tile: never materialise it
    True
    """
    import dask.array as da
    import rioxarray  # noqa: F401
    import xarray as xr

    times = np.array([np.datetime64(f"{year}-{m:02d}-15") for m in range(1, n_months + 1)], dtype="datetime64[ns]")
    doys = (times.astype("datetime64[D]") - np.datetime64(f"{year}-01-01")).astype(int) + 1
    shape = (n_months, len(BAND_KEYS), size_px, size_px)
    chunks = (n_months, len(BAND_KEYS), chunk_px, chunk_px)
    data = da.map_blocks(
        _chunk,
        seed=seed,
        doys=doys,
        cloud_fraction=cloud_fraction,
        chunks=da.core.normalize_chunks(chunks, shape),
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0), dtype=np.float32),
        name=f"synthetic-s2-tile-{seed}-{size_px}-{chunk_px}-{n_months}",
    )
    x = TILE_ORIGIN[0] + (np.arange(size_px) + 0.5) * 10.0
    y = TILE_ORIGIN[1] - (np.arange(size_px) + 0.5) * 10.0
    tile = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={"time": times, "band": list(BAND_KEYS), "y": y, "x": x},
        name="reflectance",
        attrs={"long_name": "synthetic monthly surface reflectance", "units": "1"},
    )
    return tile.rio.write_crs(f"EPSG:{EPSG}")


def tile_truth(size_px: int = TILE_SIZE_PX, chunk_px: int = 512, seed: int = 0):
    """The tile's true land cover as a lazy ``uint8`` dask array ``(y, x)``.

    Examples
    --------
    >>> tile_truth(1024)[:8, :8].compute().dtype
    dtype('uint8')
    """
    import dask.array as da

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return tile_landscape(y0, x0, y1 - y0, x1 - x0, seed).classes

    return da.map_blocks(
        block,
        chunks=da.core.normalize_chunks((chunk_px, chunk_px), (size_px, size_px)),
        dtype=np.uint8,
        meta=np.empty((0, 0), np.uint8),
    )
