"""Endmember spectra and the seasonal mixing that turns land cover into reflectance.

Every pixel is a linear mixture of a few pure materials (endmembers): green
leaves, evergreen tree canopy, dry vegetation, bright sandstone soil, dark
farm soil, water and impervious surfaces. Each class draws its fractions from
its own distribution, and the fractions move with the seasons:

* fynbos greens up with the winter rains (June-September in the southern
  hemisphere) and dries out in the hot, dry summer;
* invasive alien trees (pines, wattles, eucalypts) are evergreen, and dense;
* vineyards are green in summer and bare in winter, cereals the reverse;
* the dam gets muddier with winter run-off.

That is what makes time series useful here and single dates hard.

Examples
--------
>>> import numpy as np
>>> spectra = endmember_spectra(np.array([0.665, 0.842]))
>>> spectra.shape
(7, 2)
"""

from __future__ import annotations

import numpy as np

from geoml_helpers.demo.landscape import (
    BARE,
    BUILT,
    CROP_CEREAL,
    CROP_FALLOW,
    CROP_VINEYARD,
    CULTIVATED,
    FYNBOS,
    INVASIVE,
    WATER,
    Landscape,
)

ENDMEMBERS: tuple[str, ...] = (
    "green_leaf",
    "tree_canopy",
    "dry_vegetation",
    "sandstone",
    "dark_soil",
    "water",
    "impervious",
)

# Anchor points (wavelength in micrometres, reflectance), read off typical library spectra
# (USGS splib07-like shapes); interpolated linearly between anchors.
_ANCHORS: dict[str, list[tuple[float, float]]] = {
    "green_leaf": [
        (0.40, 0.030),
        (0.45, 0.035),
        (0.50, 0.045),
        (0.55, 0.095),
        (0.60, 0.060),
        (0.65, 0.040),
        (0.68, 0.035),
        (0.70, 0.090),
        (0.72, 0.210),
        (0.75, 0.400),
        (0.80, 0.470),
        (0.90, 0.480),
        (1.00, 0.470),
        (1.10, 0.450),
        (1.20, 0.400),
        (1.30, 0.380),
        (1.45, 0.190),
        (1.55, 0.290),
        (1.65, 0.300),
        (1.80, 0.240),
        (1.95, 0.070),
        (2.10, 0.140),
        (2.20, 0.150),
        (2.30, 0.120),
        (2.50, 0.060),
    ],
    "tree_canopy": [
        (0.40, 0.020),
        (0.45, 0.022),
        (0.50, 0.028),
        (0.55, 0.050),
        (0.60, 0.032),
        (0.65, 0.022),
        (0.68, 0.020),
        (0.70, 0.050),
        (0.72, 0.130),
        (0.75, 0.250),
        (0.80, 0.300),
        (0.90, 0.310),
        (1.00, 0.300),
        (1.10, 0.290),
        (1.20, 0.260),
        (1.30, 0.240),
        (1.45, 0.100),
        (1.55, 0.160),
        (1.65, 0.170),
        (1.80, 0.130),
        (1.95, 0.040),
        (2.10, 0.070),
        (2.20, 0.075),
        (2.30, 0.060),
        (2.50, 0.030),
    ],
    "dry_vegetation": [
        (0.40, 0.060),
        (0.50, 0.090),
        (0.60, 0.140),
        (0.70, 0.190),
        (0.80, 0.240),
        (1.00, 0.290),
        (1.20, 0.330),
        (1.45, 0.260),
        (1.65, 0.370),
        (1.80, 0.340),
        (1.95, 0.180),
        (2.05, 0.270),
        (2.10, 0.250),
        (2.20, 0.300),
        (2.30, 0.270),
        (2.50, 0.210),
    ],
    "sandstone": [
        (0.40, 0.120),
        (0.50, 0.180),
        (0.60, 0.260),
        (0.70, 0.310),
        (0.80, 0.340),
        (1.00, 0.380),
        (1.30, 0.420),
        (1.45, 0.380),
        (1.65, 0.450),
        (1.95, 0.380),
        (2.15, 0.410),
        (2.20, 0.370),
        (2.30, 0.400),
        (2.50, 0.350),
    ],
    "dark_soil": [
        (0.40, 0.050),
        (0.50, 0.080),
        (0.60, 0.120),
        (0.70, 0.160),
        (0.80, 0.190),
        (1.00, 0.220),
        (1.30, 0.260),
        (1.45, 0.230),
        (1.65, 0.300),
        (1.95, 0.230),
        (2.20, 0.260),
        (2.50, 0.220),
    ],
    "water": [
        (0.40, 0.060),
        (0.45, 0.065),
        (0.50, 0.060),
        (0.55, 0.050),
        (0.60, 0.030),
        (0.65, 0.020),
        (0.70, 0.012),
        (0.75, 0.006),
        (0.80, 0.004),
        (0.90, 0.003),
        (1.00, 0.002),
        (1.60, 0.001),
        (2.50, 0.001),
    ],
    "impervious": [
        (0.40, 0.100),
        (0.50, 0.130),
        (0.60, 0.160),
        (0.70, 0.180),
        (0.80, 0.200),
        (1.00, 0.220),
        (1.30, 0.240),
        (1.65, 0.270),
        (2.20, 0.250),
        (2.50, 0.220),
    ],
}


def endmember_spectra(wavelengths_um: np.ndarray) -> np.ndarray:
    """Reflectance of each endmember at the given wavelengths.

    Parameters
    ----------
    wavelengths_um : numpy.ndarray
        Centre wavelengths in micrometres.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(len(ENDMEMBERS), len(wavelengths_um))``.

    Examples
    --------
    >>> s = endmember_spectra(np.array([0.665, 0.842]))
    >>> bool(s[0, 1] > s[0, 0])  # leaves are bright in the NIR
    True
    """
    wl = np.asarray(wavelengths_um, dtype=np.float64)
    rows = []
    for name in ENDMEMBERS:
        x, y = zip(*_ANCHORS[name])
        rows.append(np.interp(wl, x, y))
    return np.asarray(rows, dtype=np.float32)


def _season(doy: float, peak_doy: float) -> float:
    """Cosine seasonality in ``[0, 1]`` that peaks on ``peak_doy``."""
    return 0.5 + 0.5 * float(np.cos(2 * np.pi * (doy - peak_doy) / 365.25))


def unit_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Bell-shaped ``float32`` noise with mean 0 and variance 1, three times cheaper than Gaussian.

    The sum of two uniforms (a triangular distribution): drawing normal
    deviates was the largest single cost of generating a synthetic tile.

    Examples
    --------
    >>> x = unit_noise(np.random.default_rng(0), (100_000,))
    >>> abs(round(float(x.mean()), 2)), round(float(x.std()), 2), bool(abs(x).max() <= 6**0.5)
    (0.0, 1.0, True)
    """
    noise = rng.random(shape, dtype=np.float32)
    noise += rng.random(shape, dtype=np.float32)
    noise -= np.float32(1.0)
    noise *= np.float32(6**0.5)
    return noise


def class_fractions(landscape: Landscape, doy: float, rng: np.random.Generator) -> np.ndarray:
    """Endmember fractions of every pixel on one day of the year.

    Each pixel first gets the fractions of its own class; mixed edge pixels are
    made later by blending neighbouring pixels (see :func:`blend_edges`). Fynbos
    and invasive trees share one model, a shrubland with some alien canopy cover
    (:attr:`Landscape.tree_cover`), so the classes meet on a continuum.

    Parameters
    ----------
    landscape : Landscape
        The static world.
    doy : float
        Day of the year of the acquisition (1-366).
    rng : numpy.random.Generator
        Source of the per-date, per-pixel variability.

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(len(ENDMEMBERS), y, x)``; fractions sum to about 1.

    Examples
    --------
    >>> from geoml_helpers.demo.landscape import make_landscape
    >>> f = class_fractions(make_landscape(96, 0), 200, np.random.default_rng(0))
    >>> f.shape[0] == len(ENDMEMBERS)
    True
    """
    shape = landscape.classes.shape
    fractions = np.zeros((len(ENDMEMBERS), shape[0] * shape[1]), dtype=np.float32)
    # Per class, on that class's pixels only (gathered once per landscape): no full-image masks per date.
    for class_id, pixels in landscape.class_pixels().items():
        model = _CLASS_MODELS.get(class_id)
        if model is None:
            continue
        jitter = unit_noise(rng, (3, pixels.size))
        jitter *= np.float32(2.2)
        for layer, values in zip(fractions, model(landscape, class_id, float(doy), jitter)):
            layer[pixels] = values  # row by row: twice as fast as one 2-d fancy assignment
    np.clip(fractions, 0.0, 1.0, out=fractions)
    fractions /= np.maximum(fractions.sum(axis=0, keepdims=True), 1e-6)
    return fractions.reshape((len(ENDMEMBERS),) + shape)


_GL, _TC, _DV, _SS, _DS, _WA, _IM = range(len(ENDMEMBERS))


def _vegetated_slopes(landscape: Landscape, class_id: int, doy: float, jitter: np.ndarray) -> np.ndarray:
    """Mountain land: fynbos of some post-fire age, alien trees and rock outcrops in the shares the landscape gives.

    One model behind three classes (fynbos, invasive trees, bare rock), which differ only in those shares.
    """
    t = _slope_terms(landscape, class_id)
    out = np.empty((len(ENDMEMBERS), t["green_scale"].size), dtype=np.float32)

    # Fynbos, a winter-rain shrubland. Rain arrives later and lasts longer upslope: the green-up shifts with elevation.
    winter = _season(doy, 225.0)
    local_winter = 0.5 + 0.5 * np.cos(np.float32(2 * np.pi / 365.25) * (np.float32(doy - 225.0) - t["rain_delay"]))
    green = (0.14 + 0.26 * local_winter * t["flush_left"]) * t["green_scale"] + 0.035 * jitter[0]
    dry = (0.34 - 0.10 * winter) * t["dry_scale"] + t["dead"] + 0.05 * jitter[1]
    fynbos = (green, t["canopy"], dry, t["soil"] - green - dry, t["ash"])

    # Alien trees: an evergreen canopy with a small spring flush. Under a dense stand the fynbos is shaded out (litter,
    # bare soil); in an open stand it survives between the trees.
    cover = np.clip(t["cover"] + 0.04 * jitter[2], 0.0, 0.95)
    understorey = (1.0 - cover) * np.clip((0.55 - cover) / 0.35, 0.0, 1.0)
    litter = 1.0 - cover - understorey
    flush = 0.06 * _season(doy, 300.0)
    out[_TC] = cover * 0.84 + understorey * fynbos[1]
    out[_GL] = cover * (0.10 + flush) + understorey * fynbos[0]
    out[_DV] = cover * 0.06 + understorey * fynbos[2] + litter * 0.45
    out[_SS] = understorey * fynbos[3] + litter * 0.55
    out[_DS] = understorey * fynbos[4]
    out[_WA] = 0.0
    out[_IM] = 0.0

    # Sandstone outcrops with lichens take their share of the pixel.
    rock = t["rock"]
    out *= 1.0 - rock
    out[_GL] += rock * (0.03 + 0.04 * winter)
    out[_DV] += rock * 0.07
    out[_SS] += rock * (0.90 - 0.04 * winter)
    return out


def _slope_terms(landscape: Landscape, class_id: int) -> dict[str, np.ndarray]:
    """The parts of :func:`_vegetated_slopes` that do not change with the date, per class.

    Computed once per landscape.
    """
    cache = landscape.__dict__.setdefault("_slope_terms", {})
    if class_id not in cache:
        vigour = landscape.of_class("vigour", class_id)
        age = landscape.of_class("veld_age", class_id)
        recovery = 1.0 - np.exp(-(age + 0.2) / 2.5)  # cover returns within a few years of a fire
        senescence = np.clip((age - 12.0) / 12.0, 0.0, 1.0)  # old veld: woody, with dead material, less winter flush
        canopy = (0.55 * vigour**2) * np.clip(age / 10.0, 0.0, 1.0) + 0.15 * senescence  # tall proteoid shrubs
        ash = 0.35 * np.exp(-age / 0.8)  # a fresh burn is dark
        rock = landscape.of_class("rock_cover", class_id)
        terms = {
            "rain_delay": 90.0 * (landscape.of_class("elevation", class_id) - 0.5),
            "flush_left": 1.0 - 0.5 * senescence,
            "green_scale": (0.55 + 0.75 * vigour) * recovery,
            "dry_scale": 0.35 + 0.65 * recovery,
            "dead": 0.12 * senescence,
            "canopy": canopy,
            "ash": ash,
            "soil": 1.0 - canopy - ash,
            "cover": landscape.of_class("tree_cover", class_id) * (0.75 + 0.5 * vigour),
            "rock": np.clip(
                rock + 0.3 * (0.5 - vigour) * (rock > 0), 0.0, 1.0
            ),  # pixel texture: boulders, pockets of soil
        }
        cache[class_id] = {key: np.asarray(value, dtype=np.float32) for key, value in terms.items()}
    return cache[class_id]


def _water(landscape: Landscape, class_id: int, doy: float, jitter: np.ndarray) -> np.ndarray:
    """The dam gets muddier after winter rains."""
    out = np.zeros((len(ENDMEMBERS), jitter.shape[1]), dtype=np.float32)
    turbidity = 0.04 + 0.06 * _season(doy, 200.0) + 0.02 * np.abs(jitter[0])
    out[_WA] = 1.0 - turbidity
    out[_SS] = turbidity
    return out


def _cultivated(landscape: Landscape, class_id: int, doy: float, jitter: np.ndarray) -> np.ndarray:
    """Per-field crop calendars: vineyards green in summer, cereals in winter, fallow with weeds."""
    out = np.zeros((len(ENDMEMBERS), jitter.shape[1]), dtype=np.float32)
    fid = landscape.of_class("field_id", class_id)
    crop = landscape.crop_type[fid]
    day = doy + landscape.sowing_shift[fid]
    vineyard = np.clip(np.cos(2 * np.pi * (day - 20.0) / 365.25), 0, None) ** 1.5  # summer canopy, Jan peak
    cereal = np.clip(np.sin(np.pi * (day - 140.0) / 160.0), 0, None) * (day > 140) * (day < 300)
    stubble = (day >= 300) * 0.35
    fallow = 0.12 + 0.30 * _season(doy, 225.0)
    is_crop = [crop == CROP_VINEYARD, crop == CROP_CEREAL, crop == CROP_FALLOW]
    green = np.select(is_crop, [0.08 + 0.55 * vineyard, 0.05 + 0.75 * cereal, fallow + 0 * vineyard])
    dry = np.select(is_crop, [0.15 + 0 * vineyard, 0.10 + stubble, 0.30 + 0 * vineyard])
    out[_GL] = green + 0.04 * jitter[0]
    out[_DV] = dry + 0.04 * jitter[1]
    out[_DS] = 1.0 - out[_GL] - out[_DV]
    return out


def _built(landscape: Landscape, class_id: int, doy: float, jitter: np.ndarray) -> np.ndarray:
    """Roofs and roads with gardens and street trees."""
    out = np.zeros((len(ENDMEMBERS), jitter.shape[1]), dtype=np.float32)
    gardens = 0.08 + 0.35 * landscape.of_class("vigour", class_id) + 0.04 * jitter[0]
    out[_GL] = gardens * (0.7 + 0.3 * _season(doy, 225.0))
    out[_TC] = 0.25 * gardens
    out[_DS] = 0.10 + 0.04 * jitter[1]
    out[_IM] = 1.0 - out[_GL] - out[_TC] - out[_DS]
    return out


_CLASS_MODELS = {
    FYNBOS: _vegetated_slopes,
    INVASIVE: _vegetated_slopes,
    BARE: _vegetated_slopes,
    WATER: _water,
    CULTIVATED: _cultivated,
    BUILT: _built,
}


def blend_edges(fractions: np.ndarray, sigma_px: float = 0.6) -> np.ndarray:
    """Mix neighbouring pixels so that class edges hold mixed pixels, as a real sensor's PSF does.

    Examples
    --------
    >>> f = np.zeros((2, 5, 5), dtype=np.float32); f[0, :, :2] = 1; f[1, :, 2:] = 1
    >>> bool(0 < blend_edges(f)[0, 2, 2] < 1)
    True
    """
    from scipy import ndimage

    return np.stack([ndimage.gaussian_filter(layer, sigma_px, mode="nearest") for layer in fractions]).astype(
        np.float32
    )


def mix(fractions: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """Linear mixing: reflectance per band from fractions ``(e, y, x)`` and spectra ``(e, b)``.

    Examples
    --------
    >>> mix(np.ones((1, 2, 2), np.float32), np.array([[0.1, 0.4]], np.float32))[:, 0, 0].tolist()
    [0.10000000149011612, 0.4000000059604645]
    """
    return np.tensordot(spectra.T, fractions, axes=1).astype(np.float32)
