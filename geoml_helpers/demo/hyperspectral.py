"""An EnMAP-like hyperspectral scene of the same valley: about 200 bands, 420-2450 nm, 30 m.

The scene is simulated from the same endmember fractions as the Sentinel-2
series on one spring date, aggregated to 30 m, with the water-vapour
absorption bands (around 1400 and 1900 nm) much noisier, as in a real
imaging spectrometer's L2A product.

Examples
--------
>>> wavelengths_nm(5).tolist()
[420.0, 927.5, 1435.0, 1942.5, 2450.0]
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from geoml_helpers.demo.landscape import Landscape, hillshade
from geoml_helpers.demo.spectra import blend_edges, class_fractions, endmember_spectra, mix

ACQUISITION_DATE = dt.date(2024, 9, 18)
RESOLUTION_M = 30
SCALE = 0.0001


def wavelengths_nm(n_bands: int) -> np.ndarray:
    """Band centres in nanometres, evenly spaced from 420 to 2450 nm.

    Examples
    --------
    >>> float(wavelengths_nm(200)[1] - wavelengths_nm(200)[0]) > 10
    True
    """
    return np.linspace(420.0, 2450.0, n_bands)


def water_vapour_transmission(wl_nm: np.ndarray) -> np.ndarray:
    """Rough two-way atmospheric transmission of the 1400 and 1900 nm absorption bands.

    Examples
    --------
    >>> bool(water_vapour_transmission(np.array([1900.0]))[0] < 0.2)
    True
    """
    absorption = (
        0.9 * np.exp(-(((wl_nm - 1400.0) / 40.0) ** 2))
        + 0.95 * np.exp(-(((wl_nm - 1890.0) / 60.0) ** 2))
        + 0.3 * np.exp(-(((wl_nm - 1130.0) / 25.0) ** 2))
    )
    return np.clip(1.0 - absorption, 0.02, 1.0)


def simulate_hyperspectral(landscape: Landscape, n_bands: int, seed: int) -> np.ndarray:
    """Reflectance cube ``(band, y, x)`` at 30 m as ``float32``.

    Examples
    --------
    >>> from geoml_helpers.demo.landscape import make_landscape
    >>> simulate_hyperspectral(make_landscape(96, 0), 20, seed=0).shape
    (20, 32, 32)
    """
    rng = np.random.default_rng([seed, 5000])
    doy = ACQUISITION_DATE.timetuple().tm_yday
    fractions = blend_edges(class_fractions(landscape, doy, rng))
    h, w = landscape.classes.shape
    fractions = fractions.reshape(fractions.shape[0], h // 3, 3, w // 3, 3).mean(axis=(2, 4))
    illumination = hillshade(landscape.elevation, 40.0, 55.0).reshape(h // 3, 3, w // 3, 3).mean(axis=(1, 3))
    wl = wavelengths_nm(n_bands)
    spectra = endmember_spectra(wl / 1000.0)
    cube = mix(fractions, spectra) * illumination[None]
    transmission = water_vapour_transmission(wl).astype(np.float32)
    # Noise grows where the atmosphere lets little light through (low signal-to-noise ratio).
    sigma = (0.003 / np.sqrt(transmission)).astype(np.float32)
    cube = cube + rng.normal(0.0, 1.0, size=cube.shape).astype(np.float32) * sigma[:, None, None]
    return np.clip(cube, 0.0, 1.0).astype(np.float32)
