"""Pixels of the replica: the project's own label classes, painted with the demo's mixing model.

Every label class gets a seeded spectral signature and phenology: endmember
fractions (green leaves, tree canopy, dry vegetation, soils, water,
impervious) at the dormant and the peak of its season, a peak day and a
season length. Class names steer the draw where they say what the class is
(``forest``, ``grassland``, ``cropland``, ``water``, ``built-up`` ...); other
names get a random, still distinct, signature. Label polygons are painted
with their class; the rest of the AOI is a patchwork of the same classes
(background land cover), so a model trained on the labels meets the same
classes elsewhere.

All spatial randomness (background patches, pixel texture, clouds and their
shadows) is a function of *ground* coordinates, so the two tiles of an AOI
that straddles a UTM zone boundary show the same landscape and the same
clouds on the same day, in two CRSs, as real overlapping tiles do.

The imagery is synthetic: every COG says so in its metadata
(``GEOML_SYNTHETIC``), and every item in ``geoml:synthetic``.

Examples
--------
>>> sig = class_signature("grassland", seed=0)
>>> sig.fractions(180.0).shape, round(float(sig.fractions(180.0).sum()), 3)
((7,), 1.0)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from geoml_helpers.demo.sentinel2 import (
    CLOUD_SPECTRUM,
    S2_BANDS,
    SHADOW_DARKENING,
    S2Band,
    classify_scl,
    scl_percentages,
)
from geoml_helpers.demo.spectra import ENDMEMBERS, blend_edges, endmember_spectra, mix, unit_noise

SYNTHETIC_NOTE = (
    "SYNTHETIC imagery of the geoml Earth Search replica: pixels are painted from the project's label classes "
    "with a linear mixing model, seeded clouds and shadows. Not real Sentinel-2 data."
)

NIR09 = S2Band("nir09", "B09", "nir09", 0.945, 0.026, 60, "NIR 3 (band 9)")
"""Band 9 (water vapour absorption), which Earth Search serves and the demo does not simulate."""
REPLICA_BANDS: tuple[S2Band, ...] = S2_BANDS[:9] + (NIR09,) + S2_BANDS[9:]
"""The 12 L2A reflectance bands in Sentinel-2 order (band 10, cirrus, is not in L2A)."""

_GL, _TC, _DV, _SS, _DS, _WA, _IM = range(len(ENDMEMBERS))

# (dormant, peak) endmember fractions, peak day of year (northern hemisphere), season width in days.
_ARCHETYPES: dict[str, tuple[list[float], list[float], float, float]] = {
    "water": ([0, 0, 0, 0.06, 0, 0.94, 0], [0.05, 0, 0, 0.1, 0, 0.85, 0], 200.0, 90.0),
    "forest": ([0.05, 0.8, 0.08, 0, 0.07, 0, 0], [0.25, 0.68, 0.02, 0, 0.05, 0, 0], 185.0, 110.0),
    "grass": ([0.25, 0, 0.45, 0, 0.3, 0, 0], [0.85, 0, 0.08, 0, 0.07, 0, 0], 165.0, 120.0),
    "crop": ([0.02, 0, 0.18, 0, 0.8, 0, 0], [0.9, 0, 0.02, 0, 0.08, 0, 0], 215.0, 60.0),
    "built": ([0.08, 0.06, 0.06, 0, 0.1, 0, 0.7], [0.18, 0.1, 0.02, 0, 0.08, 0, 0.62], 185.0, 100.0),
    "bare": ([0.02, 0, 0.1, 0.8, 0.08, 0, 0], [0.06, 0, 0.1, 0.76, 0.08, 0, 0], 180.0, 80.0),
    "wetland": ([0.15, 0, 0.35, 0, 0.2, 0.3, 0], [0.6, 0, 0.1, 0, 0.1, 0.2, 0], 190.0, 100.0),
    "shrub": ([0.2, 0.2, 0.35, 0.1, 0.15, 0, 0], [0.45, 0.25, 0.15, 0.05, 0.1, 0, 0], 160.0, 110.0),
}
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "water": ("water", "lake", "river", "pond", "reservoir", "sea", "dam"),
    "forest": ("forest", "wood", "tree", "conifer", "plantation"),
    "grass": ("grass", "meadow", "pasture", "lawn", "prairie", "hay"),
    "crop": ("crop", "arable", "field", "maize", "corn", "cereal", "wheat", "agri", "cultivat"),
    "built": ("built", "urban", "settlement", "town", "city", "village", "road", "impervious", "industr"),
    "bare": ("bare", "rock", "sand", "quarry", "soil"),
    "wetland": ("wet", "marsh", "bog", "fen", "swamp", "moor"),
    "shrub": ("shrub", "scrub", "heath", "bush", "fynbos"),
}


def _stable_seed(*parts: object) -> list[int]:
    """Seed words from text and numbers, the same in every Python process (``hash()`` is salted)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


@dataclass(frozen=True)
class ClassSignature:
    """A class's seeded spectral behaviour through the year.

    Attributes
    ----------
    name : str
    archetype : str
        The archetype its name matched, or ``"random"``.
    dormant, peak : tuple of float
        Endmember fractions (order of :data:`geoml_helpers.demo.spectra.ENDMEMBERS`).
    peak_doy : float
        Day of the year of the peak (already shifted for the southern hemisphere).
    width_days : float
        Season length: how long the class stays near its peak.
    """

    name: str
    archetype: str
    dormant: tuple[float, ...]
    peak: tuple[float, ...]
    peak_doy: float
    width_days: float

    def season(self, doy: float) -> float:
        """How far into its peak state the class is on ``doy``, 0 to 1 (a periodic bell).

        Examples
        --------
        >>> s = class_signature("cropland", seed=1)
        >>> s.season(s.peak_doy) > s.season(s.peak_doy + 150)
        True
        """
        distance = (doy - self.peak_doy + 182.625) % 365.25 - 182.625
        return float(np.exp(-0.5 * (distance / (self.width_days / 2.0)) ** 2))

    def fractions(self, doy: float) -> np.ndarray:
        """Endmember fractions on ``doy``, summing to 1."""
        s = self.season(doy)
        f = np.asarray(self.dormant) * (1 - s) + np.asarray(self.peak) * s
        return (f / f.sum()).astype(np.float32)


def archetype_of(name: str) -> str:
    """The archetype a class name asks for, or ``"random"``.

    Examples
    --------
    >>> archetype_of("Mixed forest"), archetype_of("built_up"), archetype_of("class 7")
    ('forest', 'built', 'random')
    """
    lower = name.lower()
    for archetype, words in _KEYWORDS.items():
        if any(word in lower for word in words):
            return archetype
    return "random"


def class_signature(name: str, seed: int, southern: bool = False) -> ClassSignature:
    """The seeded signature of one class (the same name and seed give the same signature).

    Examples
    --------
    >>> class_signature("water", 3).archetype
    'water'
    """
    rng = np.random.default_rng(_stable_seed("class", name, seed))
    archetype = archetype_of(name)
    if archetype == "random":
        dormant = rng.dirichlet(np.full(len(ENDMEMBERS), 0.7))
        peak = dormant.copy()
        peak[_GL] += rng.uniform(0.1, 0.5)
        peak_doy, width = rng.uniform(100, 260), rng.uniform(50, 140)
    else:
        d, p, peak_doy, width = _ARCHETYPES[archetype]
        dormant = np.asarray(d, dtype=float) + rng.uniform(0, 0.04, len(ENDMEMBERS)) * (np.asarray(d) > 0)
        peak = np.asarray(p, dtype=float) + rng.uniform(0, 0.04, len(ENDMEMBERS)) * (np.asarray(p) > 0)
        peak_doy += rng.uniform(-12, 12)
        width *= rng.uniform(0.85, 1.15)
    if southern:
        peak_doy = (peak_doy + 182.625) % 365.25
    dormant, peak = dormant / dormant.sum(), peak / peak.sum()
    return ClassSignature(
        name,
        archetype,
        tuple(np.round(dormant, 4)),
        tuple(np.round(peak, 4)),
        round(float(peak_doy), 2),
        round(float(width), 2),
    )


def band_spectra(bands: tuple[S2Band, ...] = REPLICA_BANDS) -> np.ndarray:
    """Endmember reflectance averaged over each band's width, ``(endmember, band)``.

    Examples
    --------
    >>> band_spectra().shape
    (7, 12)
    """
    columns = [
        endmember_spectra(np.linspace(b.wavelength_um - b.fwhm_um / 2, b.wavelength_um + b.fwhm_um / 2, 7)).mean(axis=1)
        for b in bands
    ]
    return np.stack(columns, axis=1).astype(np.float32)


# --------------------------------------------------------------------------- ground-anchored noise
@dataclass(frozen=True)
class GroundFrame:
    """Local metric coordinates around an AOI centre, shared by every tile and CRS.

    Attributes
    ----------
    lon0, lat0 : float
        Origin (the AOI centre).
    """

    lon0: float
    lat0: float

    def to_ground(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """East and north metres from the origin (equirectangular; exact enough over a few tens of km).

        Examples
        --------
        >>> GroundFrame(12.0, 48.0).to_ground(np.array([12.0]), np.array([48.001]))[1].round(1).tolist()
        [111.2]
        """
        x = (np.asarray(lon) - self.lon0) * 111_320.0 * np.cos(np.radians(self.lat0))
        y = (np.asarray(lat) - self.lat0) * 111_195.0
        return x.astype(np.float64), y.astype(np.float64)


def smooth_field(
    x: np.ndarray, y: np.ndarray, seed_words: list[int], wavelengths_m: tuple[float, float], waves: int = 12
) -> np.ndarray:
    """A smooth random field in ``[0, 1]`` roughly, defined everywhere on the ground (sum of random plane waves).

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(0, 1000, 100.0), np.arange(0, 1000, 100.0))
    >>> f = smooth_field(x, y, [1, 2], (200.0, 800.0))
    >>> f.shape, bool(np.all(f == smooth_field(x, y, [1, 2], (200.0, 800.0))))
    ((10, 10), True)
    """
    rng = np.random.default_rng(seed_words)
    angles = rng.uniform(0, np.pi, waves)
    k = 2 * np.pi / rng.uniform(*wavelengths_m, waves)
    phases = rng.uniform(0, 2 * np.pi, waves)
    x32, y32 = np.asarray(x, np.float32), np.asarray(y, np.float32)
    total = np.zeros(np.shape(x), dtype=np.float32)
    for a, kk, p in zip(angles, k, phases):
        phase = x32 * np.float32(kk * np.cos(a))
        phase += y32 * np.float32(kk * np.sin(a))
        phase += np.float32(p)
        total += np.cos(phase)
    total *= np.float32(1.0 / (2.0 * np.sqrt(waves) * 1.2))
    total += np.float32(0.5)
    return total


def coarse_field(x: np.ndarray, y: np.ndarray, step: int, function) -> np.ndarray:
    """``function(x, y)`` evaluated on every ``step``-th pixel and repeated: for fields smooth at that scale.

    Examples
    --------
    >>> x, y = np.meshgrid(np.arange(10.0), np.arange(7.0))
    >>> coarse_field(x, y, 4, lambda a, b: a + b).shape
    (7, 10)
    """
    if step <= 1:
        return function(x, y)
    h, w = np.shape(x)
    coarse = function(x[step // 2 :: step, step // 2 :: step], y[step // 2 :: step, step // 2 :: step])
    full = np.repeat(np.repeat(coarse, step, axis=0), step, axis=1)
    pad_y, pad_x = max(h - full.shape[0], 0), max(w - full.shape[1], 0)
    if pad_y or pad_x:
        full = np.pad(full, ((0, pad_y), (0, pad_x)), mode="edge")
    return full[:h, :w]


# --------------------------------------------------------------------------- one tile's static landscape
@dataclass
class TileCanvas:
    """The painted AOI window of one tile at 10 m: class ids and the ground coordinates of every pixel.

    Attributes
    ----------
    classes : numpy.ndarray
        ``int16`` (h, w) class index into ``class_names``; -1 outside the AOI.
    labelled : numpy.ndarray
        ``bool`` (h, w): inside a label polygon (as opposed to background land cover).
    x, y : numpy.ndarray
        Ground metres (see :class:`GroundFrame`) of the pixel centres.
    """

    classes: np.ndarray
    labelled: np.ndarray
    x: np.ndarray
    y: np.ndarray
    texture: np.ndarray


def paint_canvas(
    labels_utm,
    class_index: np.ndarray,
    aoi_utm,
    *,
    transform,
    shape: tuple[int, int],
    epsg: int,
    frame: GroundFrame,
    n_classes: int,
    seed: int,
    weights: np.ndarray | None = None,
) -> TileCanvas:
    """Rasterise labels and background land cover on one tile's AOI window.

    Parameters
    ----------
    labels_utm : GeoSeries
        Label polygons in the tile's CRS.
    class_index : numpy.ndarray
        Class index of each polygon.
    aoi_utm : shapely geometry
        The AOI in the tile's CRS; pixels outside are -1.
    transform : affine.Affine
        Transform of the window (10 m).
    shape : (h, w)
    epsg : int
    frame : GroundFrame
    n_classes : int
    seed : int
    weights : numpy.ndarray, optional
        Share of each class in the labels' area: the background holds the classes in about these shares, so
        that three small ponds among the labels do not turn a fifth of the background into lakes.
    """
    from pyproj import Transformer

    from geoml_helpers.load.rasterize import burn_shapes

    h, w = shape
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs = transform.c + cols * transform.a
    ys = transform.f + rows * transform.e
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(xs, ys)
    gx, gy = frame.to_ground(lon, lat)
    # Background: each class owns the patches where its own smooth field is the highest (fields ~300 m-1.5 km).
    fields = np.stack(
        [smooth_field(gx, gy, _stable_seed("background", c, seed), (400.0, 2500.0)) for c in range(n_classes)]
    )
    if weights is not None:
        share = np.clip(np.asarray(weights, dtype=np.float32), 1e-4, None)
        fields += (0.25 * np.log(share / share.max()))[:, None, None].astype(np.float32)
    background = np.argmax(fields, axis=0).astype(np.int16)
    shapes = [(geom, int(c) + 1) for geom, c in zip(labels_utm, class_index)]
    labelled_class = burn_shapes(shapes, shape, transform, fill=0, dtype="int16")
    inside = burn_shapes([(aoi_utm, 1)], shape, transform, fill=0, dtype="uint8", all_touched=True).astype(bool)
    classes = np.where(labelled_class > 0, labelled_class - 1, background)
    classes[~inside] = -1
    texture = (smooth_field(gx, gy, _stable_seed("texture", seed), (25.0, 120.0), waves=16) - 0.5) * 2.0
    return TileCanvas(classes=classes, labelled=labelled_class > 0, x=gx, y=gy, texture=texture.astype(np.float32))


# --------------------------------------------------------------------------- one acquisition
@dataclass(frozen=True)
class Sky:
    """Clouds of one datatake: the same over every tile it images.

    Attributes
    ----------
    cloud_target : float
        Share of the AOI under cloud (1.0: the whole AOI is overcast).
    threshold : float
        Level of the cloud field above which there is cloud.
    seed_words : list of int
    shadow_shift_m : (float, float)
        Ground offset from a shadow to the cloud that casts it.
    """

    cloud_target: float
    threshold: float
    seed_words: tuple[int, ...]
    shadow_shift_m: tuple[float, float]

    def opacity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cloud opacity 0-1 at ground coordinates."""
        if self.cloud_target <= 0:
            return np.zeros(np.shape(x), np.float32)
        if self.cloud_target >= 1:
            return np.ones(np.shape(x), np.float32)
        field = smooth_field(x, y, list(self.seed_words), (1500.0, 7000.0), waves=10)
        return np.clip((field - self.threshold) / 0.08, 0.0, 1.0).astype(np.float32)


def make_sky(
    cloud_target: float,
    seed_words: list[int],
    *,
    sun_azimuth: float,
    sun_elevation: float,
    reference_x: np.ndarray,
    reference_y: np.ndarray,
    cloud_height_m: float = 1500.0,
) -> Sky:
    """Clouds covering ``cloud_target`` of the reference points (a grid over the AOI).

    Examples
    --------
    >>> x, y = np.meshgrid(np.linspace(-2000, 2000, 40), np.linspace(-2000, 2000, 40))
    >>> sky = make_sky(0.3, [7], sun_azimuth=160.0, sun_elevation=30.0, reference_x=x, reference_y=y)
    >>> 0.2 < float((sky.opacity(x, y) > 0.5).mean()) < 0.4
    True
    """
    threshold = 0.0
    if 0 < cloud_target < 1:
        field = smooth_field(reference_x, reference_y, list(seed_words), (1500.0, 7000.0), waves=10)
        threshold = float(np.quantile(field, 1.0 - cloud_target)) - 0.04  # the soft edge is half inside
    length = cloud_height_m / np.tan(np.radians(max(sun_elevation, 5.0)))
    shift = (float(length * np.sin(np.radians(sun_azimuth))), float(length * np.cos(np.radians(sun_azimuth))))
    return Sky(float(cloud_target), threshold, tuple(seed_words), shift)


@dataclass
class PaintedScene:
    """Reflectance-like outputs of one tile and acquisition, on the 10 m AOI window.

    Attributes
    ----------
    reflectance : numpy.ndarray
        ``float32`` (band, h, w) top-of-canopy reflectance under the clouds, in :data:`REPLICA_BANDS` order.
    scl : numpy.ndarray
        ``uint8`` (h/2, w/2) scene classification at 20 m (0 = nodata).
    valid : numpy.ndarray
        ``bool`` (h, w): imaged (inside the AOI and the swath).
    """

    reflectance: np.ndarray
    scl: np.ndarray
    valid: np.ndarray


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks of the last two axes (sizes must divide).

    Examples
    --------
    >>> block_mean(np.arange(16.0).reshape(4, 4), 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if factor == 1:
        return array
    *lead, h, w = array.shape
    return array.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def paint_scene(
    canvas: TileCanvas,
    signatures: list[ClassSignature],
    doy: float,
    sky: Sky,
    swath_valid: np.ndarray,
    seed_words: list[int],
) -> PaintedScene:
    """Reflectance and SCL of one acquisition over one tile's AOI window.

    ``swath_valid`` marks the pixels the datatake imaged (a partial swath leaves the rest nodata).
    """
    rng = np.random.default_rng(seed_words)
    h, w = canvas.classes.shape
    n = len(ENDMEMBERS)
    table = np.stack([s.fractions(doy) for s in signatures])  # (class, endmember)
    index = np.clip(canvas.classes, 0, None)
    fractions = np.moveaxis(table[index], -1, 0)  # (endmember, h, w)
    # Persistent pixel texture (vigour): trades green leaves against soil; plus this date's jitter.
    vigour = canvas.texture * 0.08
    fractions[_GL] *= 1.0 + vigour * 2.0
    fractions[_DS] *= 1.0 - vigour
    jitter = unit_noise(rng, (n, h, w)) * np.float32(0.012)
    fractions = np.clip(fractions + jitter * (fractions > 0), 0.0, None)
    fractions /= np.maximum(fractions.sum(axis=0, keepdims=True), 1e-6)
    surface = mix(blend_edges(fractions.astype(np.float32)), band_spectra())
    bias = rng.normal(0.0, 0.003, size=(surface.shape[0], 1, 1)).astype(np.float32)
    surface += bias

    # Clouds vary over kilometres: a 30 m evaluation grid is plenty (and 9 times cheaper).
    opacity = coarse_field(canvas.x, canvas.y, 3, sky.opacity)
    cast = coarse_field(canvas.x + sky.shadow_shift_m[0], canvas.y + sky.shadow_shift_m[1], 3, sky.opacity)
    shadow = cast * (1.0 - opacity)
    cloud = np.insert(CLOUD_SPECTRUM, 9, 0.30)  # nir09 sits in a water-vapour band: clouds look darker there
    reflectance = surface * (1.0 - SHADOW_DARKENING * shadow)[None]
    reflectance = reflectance * (1.0 - opacity)[None] + cloud[:, None, None] * opacity[None]
    reflectance += unit_noise(rng, reflectance.shape) * np.float32(0.002)

    valid = (canvas.classes >= 0) & swath_valid
    water_index = [i for i, s in enumerate(signatures) if s.archetype == "water"]
    water20 = block_mean(np.isin(canvas.classes, water_index).astype(np.float32), 2) > 0.5
    red20, nir20 = block_mean(surface[3], 2), block_mean(surface[7], 2)
    scl = classify_scl(block_mean(opacity, 2), block_mean(shadow, 2), red20, nir20, water20, rng)
    scl[block_mean(valid.astype(np.float32), 2) < 1.0] = 0
    return PaintedScene(reflectance=reflectance.astype(np.float32), scl=scl, valid=valid)


def scene_statistics(scene: PaintedScene) -> dict[str, float]:
    """``eo:cloud_cover`` and the ``s2:*_percentage`` properties over the imaged AOI pixels."""
    stats = scl_percentages(scene.scl)
    stats.pop("s2:nodata_pixel_percentage")
    return stats
