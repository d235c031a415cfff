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

from .landscape import BARE, BUILT, CROP_CEREAL, CROP_FALLOW, CROP_VINEYARD, CULTIVATED, FYNBOS, INVASIVE, WATER, Landscape

ENDMEMBERS: tuple[str, ...] = ("green_leaf", "tree_canopy", "dry_vegetation", "sandstone", "dark_soil", "water", "impervious")

# Anchor points (wavelength in micrometres, reflectance), read off typical library spectra
# (USGS splib07-like shapes); interpolated linearly between anchors.
_ANCHORS: dict[str, list[tuple[float, float]]] = {
    "green_leaf": [(0.40, 0.030), (0.45, 0.035), (0.50, 0.045), (0.55, 0.095), (0.60, 0.060), (0.65, 0.040), (0.68, 0.035), (0.70, 0.090), (0.72, 0.210), (0.75, 0.400), (0.80, 0.470), (0.90, 0.480), (1.00, 0.470), (1.10, 0.450), (1.20, 0.400), (1.30, 0.380), (1.45, 0.190), (1.55, 0.290), (1.65, 0.300), (1.80, 0.240), (1.95, 0.070), (2.10, 0.140), (2.20, 0.150), (2.30, 0.120), (2.50, 0.060)],
    "tree_canopy": [(0.40, 0.020), (0.45, 0.022), (0.50, 0.028), (0.55, 0.050), (0.60, 0.032), (0.65, 0.022), (0.68, 0.020), (0.70, 0.050), (0.72, 0.130), (0.75, 0.250), (0.80, 0.300), (0.90, 0.310), (1.00, 0.300), (1.10, 0.290), (1.20, 0.260), (1.30, 0.240), (1.45, 0.100), (1.55, 0.160), (1.65, 0.170), (1.80, 0.130), (1.95, 0.040), (2.10, 0.070), (2.20, 0.075), (2.30, 0.060), (2.50, 0.030)],
    "dry_vegetation": [(0.40, 0.060), (0.50, 0.090), (0.60, 0.140), (0.70, 0.190), (0.80, 0.240), (1.00, 0.290), (1.20, 0.330), (1.45, 0.260), (1.65, 0.370), (1.80, 0.340), (1.95, 0.180), (2.05, 0.270), (2.10, 0.250), (2.20, 0.300), (2.30, 0.270), (2.50, 0.210)],
    "sandstone": [(0.40, 0.120), (0.50, 0.180), (0.60, 0.260), (0.70, 0.310), (0.80, 0.340), (1.00, 0.380), (1.30, 0.420), (1.45, 0.380), (1.65, 0.450), (1.95, 0.380), (2.15, 0.410), (2.20, 0.370), (2.30, 0.400), (2.50, 0.350)],
    "dark_soil": [(0.40, 0.050), (0.50, 0.080), (0.60, 0.120), (0.70, 0.160), (0.80, 0.190), (1.00, 0.220), (1.30, 0.260), (1.45, 0.230), (1.65, 0.300), (1.95, 0.230), (2.20, 0.260), (2.50, 0.220)],
    "water": [(0.40, 0.060), (0.45, 0.065), (0.50, 0.060), (0.55, 0.050), (0.60, 0.030), (0.65, 0.020), (0.70, 0.012), (0.75, 0.006), (0.80, 0.004), (0.90, 0.003), (1.00, 0.002), (1.60, 0.001), (2.50, 0.001)],
    "impervious": [(0.40, 0.100), (0.50, 0.130), (0.60, 0.160), (0.70, 0.180), (0.80, 0.200), (1.00, 0.220), (1.30, 0.240), (1.65, 0.270), (2.20, 0.250), (2.50, 0.220)],
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


def class_fractions(landscape: Landscape, doy: float, rng: np.random.Generator) -> np.ndarray:
    """Endmember fractions of every pixel on one day of the year.

    Each pixel first gets the fractions of its own class; mixed edge pixels are
    made later by blending neighbouring pixels (see :func:`blend_edges`).

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
    classes = landscape.classes
    shape = classes.shape
    fractions = np.zeros((len(ENDMEMBERS),) + shape, dtype=np.float32)
    gl, tc, dv, ss, ds, wa, im = range(len(ENDMEMBERS))
    vigour = landscape.vigour
    jitter = 2.2 * rng.normal(0.0, 1.0, size=(3,) + shape).astype(np.float32)

    # Fynbos: a winter-rain shrubland; post-fire age (vigour) sets how dense it is.
    winter = _season(doy, 225.0)
    m = classes == FYNBOS
    # Rain arrives later and lasts longer upslope: the green-up peak shifts with elevation (a regional gradient).
    local_winter = (0.5 + 0.5 * np.cos(2 * np.pi * (doy - 225.0 - 90.0 * (landscape.elevation[m] - 0.5)) / 365.25)).astype(np.float32)
    green = (0.16 + 0.20 * local_winter) * (0.55 + 0.75 * vigour[m]) + 0.035 * jitter[0][m]
    dry = 0.34 - 0.10 * winter + 0.05 * jitter[1][m]
    canopy = 0.55 * vigour[m] ** 2  # tall proteoid shrubs look a little like tree canopy
    fractions[gl][m], fractions[dv][m], fractions[tc][m] = green, dry, canopy
    fractions[ss][m] = 1.0 - green - dry - canopy

    # Invasive alien trees: evergreen canopy with a little seasonal flush, open stands at the edges.
    m = classes == INVASIVE
    density = 0.25 + 0.55 * vigour[m] + 0.05 * jitter[0][m]
    flush = 0.06 * _season(doy, 300.0)
    fractions[tc][m] = density
    fractions[gl][m] = 0.06 + flush + 0.03 * jitter[1][m]
    fractions[dv][m] = 0.10 + 0.03 * jitter[2][m]
    fractions[ss][m] = 1.0 - fractions[tc][m] - fractions[gl][m] - fractions[dv][m]

    # Water: the dam gets muddier after winter rains.
    m = classes == WATER
    turbidity = 0.04 + 0.06 * _season(doy, 200.0) + 0.02 * np.abs(jitter[0][m])
    fractions[wa][m] = 1.0 - turbidity
    fractions[ss][m] = turbidity

    # Bare rock and sand: bright sandstone with sparse restios and lichens.
    m = classes == BARE
    sparse = 0.05 + 0.35 * vigour[m] * winter + 0.03 * jitter[0][m]
    fractions[gl][m] = sparse
    fractions[dv][m] = 0.12 + 0.05 * jitter[1][m]
    fractions[ss][m] = 1.0 - sparse - fractions[dv][m]

    # Cultivated: per-field crop calendars.
    m = classes == CULTIVATED
    fid = landscape.field_id[m]
    crop = landscape.crop_type[fid]
    shift = landscape.sowing_shift[fid]
    vineyard = np.clip(np.cos(2 * np.pi * (doy + shift - 20.0) / 365.25), 0, None) ** 1.5  # summer canopy, Jan peak
    cereal = np.clip(np.sin(np.pi * (doy + shift - 140.0) / 160.0), 0, None) * ((doy + shift) > 140) * ((doy + shift) < 300)
    stubble = ((doy + shift) >= 300) * 0.35
    fallow = 0.12 + 0.30 * winter
    green = np.select([crop == CROP_VINEYARD, crop == CROP_CEREAL, crop == CROP_FALLOW], [0.08 + 0.55 * vineyard, 0.05 + 0.75 * cereal, fallow])
    dry = np.select([crop == CROP_VINEYARD, crop == CROP_CEREAL, crop == CROP_FALLOW], [0.15 * np.ones_like(vineyard), 0.10 + stubble, 0.30 * np.ones_like(vineyard)])
    green = green + 0.04 * jitter[0][m]
    dry = dry + 0.04 * jitter[1][m]
    fractions[gl][m] = green
    fractions[dv][m] = dry
    fractions[ds][m] = 1.0 - green - dry

    # Built-up: roofs and roads with gardens and street trees.
    m = classes == BUILT
    gardens = 0.08 + 0.35 * vigour[m] + 0.04 * jitter[0][m]
    fractions[gl][m] = gardens * (0.7 + 0.3 * winter)
    fractions[tc][m] = 0.25 * gardens
    fractions[ds][m] = 0.10 + 0.04 * jitter[1][m]
    fractions[im][m] = 1.0 - fractions[gl][m] - fractions[tc][m] - fractions[ds][m]

    np.clip(fractions, 0.0, 1.0, out=fractions)
    fractions /= np.maximum(fractions.sum(axis=0, keepdims=True), 1e-6)
    return fractions


def blend_edges(fractions: np.ndarray, sigma_px: float = 0.6) -> np.ndarray:
    """Mix neighbouring pixels so that class edges hold mixed pixels, as a real sensor's PSF does.

    Examples
    --------
    >>> f = np.zeros((2, 5, 5), dtype=np.float32); f[0, :, :2] = 1; f[1, :, 2:] = 1
    >>> bool(0 < blend_edges(f)[0, 2, 2] < 1)
    True
    """
    from scipy import ndimage

    return np.stack([ndimage.gaussian_filter(layer, sigma_px, mode="nearest") for layer in fractions]).astype(np.float32)


def mix(fractions: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """Linear mixing: reflectance per band from fractions ``(e, y, x)`` and spectra ``(e, b)``.

    Examples
    --------
    >>> mix(np.ones((1, 2, 2), np.float32), np.array([[0.1, 0.4]], np.float32))[:, 0, 0].tolist()
    [0.10000000149011612, 0.4000000059604645]
    """
    return np.tensordot(spectra.T, fractions, axes=1).astype(np.float32)
