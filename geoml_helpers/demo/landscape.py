"""A spatially coherent land-cover map of a Cape Floristic Region valley.

The map is built the way the real landscape is arranged: sandstone peaks on
the high ground, a dam in the valley floor, a town and fields (vineyards and
winter cereals) on the flat lowlands, fynbos on the slopes, and invasive
alien trees in pine plantations and along the drainage lines where wattles
spread.

Examples
--------
>>> import numpy as np
>>> scene = make_landscape(120, seed=0)
>>> scene.classes.shape, scene.classes.dtype
((120, 120), dtype('uint8'))
>>> sorted(np.unique(scene.classes).tolist())[:1]
[1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .classes import CLASS_NAMES

FYNBOS, INVASIVE, WATER, BARE, CULTIVATED, BUILT = (1, 2, 3, 4, 5, 6)

CROP_VINEYARD, CROP_CEREAL, CROP_FALLOW = (0, 1, 2)


@dataclass(frozen=True)
class Landscape:
    """The static part of the demo world, on the 10 m grid.

    Attributes
    ----------
    classes : numpy.ndarray
        ``uint8`` (y, x) land-cover class ids (see :mod:`.classes`).
    elevation : numpy.ndarray
        ``float32`` (y, x) relative elevation in ``[0, 1]``.
    field_id : numpy.ndarray
        ``int32`` (y, x) id of the agricultural parcel, ``-1`` outside fields.
    crop_type : numpy.ndarray
        ``int8`` per-field crop type (vineyard, cereal, fallow), indexed by ``field_id``.
    sowing_shift : numpy.ndarray
        ``float32`` per-field shift of the crop calendar in days.
    vigour : numpy.ndarray
        ``float32`` (y, x) field in ``[0, 1]``: vegetation density, post-fire age. It is
        smooth at the patch scale with a persistent pixel-scale texture (species mix,
        canopy gaps) that no temporal averaging removes.
    """

    classes: np.ndarray
    elevation: np.ndarray
    field_id: np.ndarray
    crop_type: np.ndarray
    sowing_shift: np.ndarray
    vigour: np.ndarray


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to ``[0, 1]``.

    Examples
    --------
    >>> field = smooth_noise(np.random.default_rng(1), (32, 32), 4.0)
    >>> float(field.min()), float(field.max())
    (0.0, 1.0)
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_px, mode="reflect")
    field -= field.min()
    peak = field.max()
    return (field / peak if peak > 0 else field).astype(np.float32)


def _fields(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Partition the grid into rectangular parcels of 12-36 pixels (120-360 m)."""
    height, width = shape
    field_id = np.empty(shape, dtype=np.int32)
    next_id = 0
    y = 0
    while y < height:
        row_h = int(rng.integers(12, 37))
        x = 0
        while x < width:
            col_w = int(rng.integers(12, 37))
            field_id[y : y + row_h, x : x + col_w] = next_id
            next_id += 1
            x += col_w
        y += row_h
    return field_id


def make_landscape(size_px: int, seed: int) -> Landscape:
    """Generate the land-cover map and its companions for a square area.

    Parameters
    ----------
    size_px : int
        Width and height in 10 m pixels.
    seed : int
        Seed of every random draw; the result is identical for identical inputs.

    Returns
    -------
    Landscape

    Examples
    --------
    >>> a = make_landscape(96, seed=3)
    >>> b = make_landscape(96, seed=3)
    >>> bool((a.classes == b.classes).all())
    True
    """
    rng = np.random.default_rng(seed)
    shape = (size_px, size_px)
    scale = size_px / 240.0  # feature sizes grow slowly with the area so small profiles still hold every class
    yy, xx = np.mgrid[0:size_px, 0:size_px].astype(np.float32) / size_px

    # Terrain: a mountain block to the south-east rising from a valley floor in the north-west.
    ridge = 0.55 * (0.6 * xx + 0.4 * yy)
    elevation = ridge + 0.30 * smooth_noise(rng, shape, 18 * scale**0.5) + 0.15 * smooth_noise(rng, shape, 6 * scale**0.5)
    elevation = (elevation - elevation.min()) / (elevation.max() - elevation.min())
    elevation = elevation.astype(np.float32)

    classes = np.full(shape, FYNBOS, dtype=np.uint8)

    # Lowlands: fields in rectangular parcels.
    field_id = _fields(rng, shape)
    n_fields = int(field_id.max()) + 1
    lowland = elevation < np.quantile(elevation, 0.42)
    field_elev = ndimage.mean(elevation, labels=field_id, index=np.arange(n_fields))
    field_is_farmed = (rng.random(n_fields) < 0.78) & (np.asarray(field_elev) < np.quantile(elevation, 0.45))
    farmed = field_is_farmed[field_id] & lowland
    # Narrow unfarmed margins between parcels (roads, hedges) keep fields distinct.
    margins = ndimage.morphological_gradient(field_id, size=2) > 0
    classes[farmed & ~margins] = CULTIVATED
    crop_type = rng.choice([CROP_VINEYARD, CROP_CEREAL, CROP_FALLOW], size=n_fields, p=[0.45, 0.40, 0.15]).astype(np.int8)
    sowing_shift = rng.normal(0.0, 12.0, size=n_fields).astype(np.float32)

    # Town: a compact blob on the valley floor with a street grid.
    cy, cx = 0.22 + 0.08 * rng.random(), 0.25 + 0.1 * rng.random()
    town_noise = smooth_noise(rng, shape, 5 * scale**0.5)
    town_distance = np.hypot(yy - cy, (xx - cx) * 0.8) - 0.10 * town_noise
    town = town_distance < 0.07
    classes[town] = BUILT
    streets = town & (((np.arange(size_px) % 14) < 1)[:, None] | ((np.arange(size_px) % 17) < 1)[None, :])
    classes[streets] = BUILT

    # Sandstone peaks and scree on the high ground.
    rock_noise = smooth_noise(rng, shape, 4 * scale**0.5)
    bare = (elevation + 0.25 * rock_noise) > np.quantile(elevation + 0.25 * rock_noise, 0.90)
    classes[bare & ~town] = BARE

    # A dam in the valley: the lowest basin of a smoothed copy of the terrain.
    basin = ndimage.gaussian_filter(elevation, 6 * scale**0.5)
    basin_centre = np.unravel_index(np.argmin(np.where((xx > 0.18) & (xx < 0.45) & (yy > 0.45) & (yy < 0.8), basin, np.inf)), shape)
    dam_radius = 0.08 + 0.02 * rng.random()
    dam_shape = np.hypot(yy - yy[basin_centre], xx - xx[basin_centre]) - 0.04 * smooth_noise(rng, shape, 3 * scale**0.5)
    water = dam_shape < dam_radius
    # A river leaving the dam towards the edge, a few pixels wide.
    river_path = np.abs(yy - (yy[basin_centre] + 0.25 * (xx - xx[basin_centre]) + 0.03 * np.sin(xx * 25))) < (1.6 / size_px)
    water |= river_path & (xx > xx[basin_centre]) & (elevation < np.quantile(elevation, 0.6))
    classes[water] = WATER

    # Invasive alien trees: pine plantations (blocky) on the mid slopes ...
    mid_slope = (elevation > np.quantile(elevation, 0.45)) & (elevation < np.quantile(elevation, 0.8))
    plantation_fields = rng.random(n_fields) < 0.18
    plantation = plantation_fields[field_id] & mid_slope & (classes == FYNBOS)
    classes[plantation] = INVASIVE
    # ... and wattle/eucalypt thickets spreading along drainage lines and into the fynbos.
    distance_to_water = ndimage.distance_transform_edt(~water).astype(np.float32) / size_px
    spread = smooth_noise(rng, shape, 3 * scale**0.5)
    thicket = (spread - 3.0 * distance_to_water) > np.quantile(spread, 0.80)
    classes[thicket & (classes == FYNBOS)] = INVASIVE
    scattered = smooth_noise(rng, shape, 2.5 * scale**0.5) > 0.78
    classes[scattered & (classes == FYNBOS) & (elevation > np.quantile(elevation, 0.3))] = INVASIVE

    # Remove single-pixel speckle the way a human interpreter would see the landscape.
    classes = _despeckle(classes)

    texture = smooth_noise(rng, shape, 0.7)
    vigour = (0.6 * smooth_noise(rng, shape, 4 * scale**0.5) + 0.4 * texture).astype(np.float32)
    missing = set(CLASS_NAMES) - set(np.unique(classes).tolist())
    if missing:
        raise RuntimeError(f"Landscape of size {size_px} with seed {seed} lacks classes {sorted(missing)}; try another seed.")
    return Landscape(classes, elevation, field_id, crop_type, sowing_shift, vigour)


def _despeckle(classes: np.ndarray) -> np.ndarray:
    """Replace isolated pixels by the majority of their 3x3 neighbourhood."""
    counts = np.stack([ndimage.uniform_filter((classes == c).astype(np.float32), 3) for c in range(7)])
    majority = counts.argmax(axis=0).astype(np.uint8)
    isolated = counts[classes, np.arange(classes.shape[0])[:, None], np.arange(classes.shape[1])[None, :]] < (1.5 / 9)
    out = classes.copy()
    out[isolated] = majority[isolated]
    return out


def hillshade(elevation: np.ndarray, sun_azimuth_deg: float, sun_elevation_deg: float, relief_m: float = 900.0) -> np.ndarray:
    """Lambertian illumination factor of the terrain for one sun position.

    Parameters
    ----------
    elevation : numpy.ndarray
        Relative elevation in ``[0, 1]`` on the 10 m grid.
    sun_azimuth_deg, sun_elevation_deg : float
        Sun position in degrees.
    relief_m : float
        Height difference between the lowest and highest pixel.

    Returns
    -------
    numpy.ndarray
        ``float32`` factor, about 1 on flat ground.

    Examples
    --------
    >>> flat = np.zeros((8, 8), dtype=np.float32)
    >>> round(float(hillshade(flat, 45, 60).mean()), 3)
    1.0
    """
    dz_dy, dz_dx = np.gradient(elevation.astype(np.float64) * relief_m, 10.0)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dx, dz_dy)
    zenith = np.radians(90.0 - sun_elevation_deg)
    azimuth = np.radians(sun_azimuth_deg)
    cos_i = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth - aspect)
    return np.clip(cos_i / np.cos(zenith), 0.35, 1.6).astype(np.float32)
