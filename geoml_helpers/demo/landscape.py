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

from geoml_helpers.demo.classes import CLASS_NAMES

FYNBOS, INVASIVE, WATER, BARE, CULTIVATED, BUILT = (1, 2, 3, 4, 5, 6)

CROP_VINEYARD, CROP_CEREAL, CROP_FALLOW = (0, 1, 2)

INVASIVE_COVER_THRESHOLD: float = 0.25
"""Alien canopy cover from which a stand is mapped as invasive trees (below it: fynbos with scattered aliens)."""
ROCK_COVER_THRESHOLD: float = 0.6
"""Outcrop cover from which the terrain is mapped as bare rock (below it: rocky fynbos)."""
MEAN_FIRE_RETURN_YEARS: float = 10.0
"""Mean of the (exponential) distribution of veld ages, i.e. years since the last fire."""


def stand_cover(uniform: np.ndarray, invaded: np.ndarray) -> np.ndarray:
    """Alien canopy cover of whole stands from uniform draws, as in density-class maps of invasive aliens.

    About 45 % of invaded stands are open (cover 0.27-0.45), the rest dense (0.5-0.9);
    about 35 % of fynbos stands hold scattered aliens (0.04-0.22), the rest none.

    Examples
    --------
    >>> stand_cover(np.array([0.1, 0.9]), np.array([True, True])).astype(float).round(2).tolist()
    [0.31, 0.83]
    >>> stand_cover(np.array([0.1, 0.9]), np.array([False, False])).astype(float).round(2).tolist()
    [0.09, 0.0]
    """
    u = np.asarray(uniform, dtype=np.float32)
    invaded_cover = np.where(u < 0.45, 0.27 + 0.18 * (u / 0.45), 0.5 + 0.4 * ((u - 0.45) / 0.55))
    scattered_cover = np.where(u < 0.35, 0.04 + 0.18 * (u / 0.35), 0.0)
    return np.where(invaded, invaded_cover, scattered_cover).astype(np.float32)


def tree_cover_across_edges(
    stand: np.ndarray, distance_inside_px: np.ndarray, distance_outside_px: np.ndarray, inside: np.ndarray
) -> np.ndarray:
    """Alien canopy cover near the edges of invaded stands.

    Inside a stand the cover rises from the mapping threshold at the edge to the
    stand's own cover; outside it falls through the invasion front to the
    surrounding fynbos stand's (scattered) cover.

    Examples
    --------
    >>> d = np.array([1.0, 30.0])
    >>> tree_cover_across_edges(np.array([0.8, 0.8]), d, d, np.array([True, True])).astype(float).round(2).tolist()
    [0.29, 0.8]
    >>> tree_cover_across_edges(np.array([0.0, 0.0]), d, d, np.array([False, False])).astype(float).round(2).tolist()
    [0.2, 0.0]
    """
    rise = INVASIVE_COVER_THRESHOLD + (np.maximum(stand, INVASIVE_COVER_THRESHOLD) - INVASIVE_COVER_THRESHOLD) * (
        1.0 - np.exp(-(distance_inside_px - 0.5) / 6.0)
    )
    front = 0.9 * INVASIVE_COVER_THRESHOLD * np.exp(-(distance_outside_px - 0.5) / 4.0)
    return np.where(inside, rise, np.maximum(front, stand)).astype(np.float32)


def veld_age_from_draw(uniform: np.ndarray) -> np.ndarray:
    """Years since the last fire from uniform draws: exponential with mean :data:`MEAN_FIRE_RETURN_YEARS`, at most 40.

    Examples
    --------
    >>> veld_age_from_draw(np.array([0.0, 0.5])).astype(float).round(1).tolist()
    [0.0, 6.9]
    """
    return np.minimum(-MEAN_FIRE_RETURN_YEARS * np.log1p(-np.clip(uniform, 0.0, 0.999)), 40.0).astype(np.float32)


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
        ``float32`` (y, x) field in ``[0, 1]``: vegetation density. It is
        smooth at the patch scale with a persistent pixel-scale texture (species mix,
        canopy gaps) that no temporal averaging removes.
    tree_cover : numpy.ndarray
        ``float32`` (y, x) alien tree canopy cover in ``[0, 1]``. The class is a
        threshold on a continuum, as in real invasive-alien mapping: a pixel is
        ``invasive_trees`` where the stand's cover reaches :data:`INVASIVE_COVER_THRESHOLD`,
        so open stands at the edges and the scattered trees of an invasion front in the
        fynbos look alike on both sides of the line.
    rock_cover : numpy.ndarray
        ``float32`` (y, x) share of bare sandstone in ``[0, 1]``. Another continuum: the
        mapped ``bare_rock_sand`` class is where the terrain's outcrop cover reaches
        :data:`ROCK_COVER_THRESHOLD`; rocky fynbos just below it looks much the same.
    veld_age : numpy.ndarray
        ``float32`` (y, x) years since the last fire, in patches (fire scars). Freshly
        burnt fynbos is sparse and looks like rock with restios; old veld is tall,
        woody and greens up less in winter.
    """

    classes: np.ndarray
    elevation: np.ndarray
    field_id: np.ndarray
    crop_type: np.ndarray
    sowing_shift: np.ndarray
    vigour: np.ndarray
    tree_cover: np.ndarray
    veld_age: np.ndarray
    rock_cover: np.ndarray

    def class_pixels(self) -> dict[int, np.ndarray]:
        """Flat indices of the pixels of each class present, in class order (computed once, then cached).

        Examples
        --------
        >>> scene = make_landscape(96, seed=0)
        >>> pixels = scene.class_pixels()
        >>> sum(p.size for p in pixels.values()) == scene.classes.size
        True
        """
        cached = self.__dict__.get("_class_pixels")
        if cached is None:
            flat = self.classes.ravel()
            order = np.argsort(flat, kind="stable")
            counts = np.bincount(flat, minlength=len(CLASS_NAMES) + 1)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            cached = {c: order[bounds[c] : bounds[c + 1]] for c in range(counts.size) if counts[c]}
            self.__dict__["_class_pixels"] = cached  # caches live in __dict__, which a frozen dataclass leaves writable
        return cached

    def of_class(self, layer: str, class_id: int) -> np.ndarray:
        """The values of a per-pixel layer (e.g. ``"vigour"``) on the pixels of one class, flat, cached.

        Examples
        --------
        >>> scene = make_landscape(96, seed=0)
        >>> scene.of_class("vigour", 1).shape == scene.class_pixels()[1].shape
        True
        """
        cache = self.__dict__.setdefault("_of_class", {})
        key = (layer, class_id)
        if key not in cache:
            cache[key] = np.ascontiguousarray(getattr(self, layer).ravel()[self.class_pixels()[class_id]])
        return cache[key]


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

    Notes
    -----
    Long because: every layer comes from the one seeded generator in a fixed order, so the function reads top to
    bottom as the recipe of the landscape; moving a draw into a helper that reorders them would change the demo
    world.

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
    elevation = (
        ridge + 0.30 * smooth_noise(rng, shape, 18 * scale**0.5) + 0.15 * smooth_noise(rng, shape, 6 * scale**0.5)
    )
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
    crop_type = rng.choice([CROP_VINEYARD, CROP_CEREAL, CROP_FALLOW], size=n_fields, p=[0.45, 0.40, 0.15]).astype(
        np.int8
    )
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
    rockiness = elevation + 0.25 * rock_noise
    bare = rockiness > np.quantile(rockiness, 0.90)
    classes[bare & ~town] = BARE
    # Outcrop cover rises upslope: rocky fynbos below the peaks, and rock with sparse fynbos on them.
    start, mapped = np.quantile(rockiness, [0.72, 0.90])
    rock_cover = ROCK_COVER_THRESHOLD * np.clip((rockiness - start) / (mapped - start), 0.0, None)

    # A dam in the valley: the lowest basin of a smoothed copy of the terrain.
    basin = ndimage.gaussian_filter(elevation, 6 * scale**0.5)
    basin_centre = np.unravel_index(
        np.argmin(np.where((xx > 0.18) & (xx < 0.45) & (yy > 0.45) & (yy < 0.8), basin, np.inf)), shape
    )
    dam_radius = 0.08 + 0.02 * rng.random()
    dam_shape = np.hypot(yy - yy[basin_centre], xx - xx[basin_centre]) - 0.04 * smooth_noise(rng, shape, 3 * scale**0.5)
    water = dam_shape < dam_radius
    # A river leaving the dam towards the edge, a few pixels wide.
    river_path = np.abs(yy - (yy[basin_centre] + 0.25 * (xx - xx[basin_centre]) + 0.03 * np.sin(xx * 25))) < (
        1.6 / size_px
    )
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

    # Alien canopy cover: dense plantations; wattle stands thinning out at their edges into an invasion front.
    invaded = classes == INVASIVE
    stands = stand_cover(rng.random(1024, dtype=np.float32)[_patches(rng, shape, 25 * scale**0.5, 1024)], invaded)
    cover = tree_cover_across_edges(
        stands, ndimage.distance_transform_edt(invaded), ndimage.distance_transform_edt(~invaded), invaded
    )
    cover[invaded & plantation] = 0.8
    cover[~invaded & (classes != FYNBOS)] = 0.0
    rock_cover = np.where((classes == FYNBOS) | (classes == INVASIVE) | (classes == BARE), rock_cover, 0.0)
    rock_cover = np.minimum(rock_cover, 1.0).astype(np.float32)
    # Fire scars: irregular patches, each burnt in its own year.
    veld_age = veld_age_from_draw(rng.random(1024))[_patches(rng, shape, 45 * scale**0.5, 1024)]

    missing = set(CLASS_NAMES) - set(np.unique(classes).tolist())
    if missing:
        raise RuntimeError(
            f"Landscape of size {size_px} with seed {seed} lacks classes {sorted(missing)}; try another seed."
        )
    return Landscape(classes, elevation, field_id, crop_type, sowing_shift, vigour, cover, veld_age, rock_cover)


def _patches(rng: np.random.Generator, shape: tuple[int, int], size_px: float, n_ids: int) -> np.ndarray:
    """Irregular patch ids in ``[0, n_ids)``: Voronoi cells of random centres with warped, wiggly borders."""
    n_centres = max(4, int(shape[0] * shape[1] / size_px**2))
    seeds = np.ones(shape, dtype=bool)
    seeds[rng.integers(0, shape[0], n_centres), rng.integers(0, shape[1], n_centres)] = False
    _, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    patch_id = (iy * shape[1] + ix) % n_ids
    warp = size_px * 0.35
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    wy = yy + warp * (smooth_noise(rng, shape, size_px / 4) - 0.5)
    wx = xx + warp * (smooth_noise(rng, shape, size_px / 4) - 0.5)
    return ndimage.map_coordinates(patch_id, [wy, wx], order=0, mode="nearest").astype(np.int64)


def _despeckle(classes: np.ndarray) -> np.ndarray:
    """Replace isolated pixels by the majority of their 3x3 neighbourhood."""
    counts = np.stack([ndimage.uniform_filter((classes == c).astype(np.float32), 3) for c in range(7)])
    majority = counts.argmax(axis=0).astype(np.uint8)
    isolated = counts[classes, np.arange(classes.shape[0])[:, None], np.arange(classes.shape[1])[None, :]] < (1.5 / 9)
    out = classes.copy()
    out[isolated] = majority[isolated]
    return out


def hillshade(
    elevation: np.ndarray, sun_azimuth_deg: float, sun_elevation_deg: float, relief_m: float = 900.0
) -> np.ndarray:
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
