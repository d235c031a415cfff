"""Sentinel-2 L2A-like acquisitions: reflectance, clouds, SCL, COG assets and Earth Search-shaped STAC items.

Each acquisition is simulated on the 10 m grid and written at each band's
native resolution (10, 20 or 60 m) as uint16 digital numbers with the
processing-baseline >= 04.00 convention: ``reflectance = DN * 0.0001 - 0.1``
with ``DN = 0`` as nodata. The STAC items carry the same properties and
extensions as Earth Search v1's ``sentinel-2-l2a`` collection.

Examples
--------
>>> [band.key for band in S2_BANDS][:3]
['coastal', 'blue', 'green']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from geoml_helpers.demo.landscape import WATER, Landscape, hillshade, smooth_noise
from geoml_helpers.demo.spectra import blend_edges, class_fractions, endmember_spectra, mix

SCALE: float = 0.0001
OFFSET: float = -0.1
NODATA_DN: int = 0
EPSG: int = 32734  # WGS 84 / UTM zone 34S
MGRS_TILE: str = "34HCH"
PROCESSING_BASELINE: str = "05.10"

# SCL codes of the Sen2Cor scene classification.
SCL_NODATA, SCL_SATURATED, SCL_DARK, SCL_CLOUD_SHADOW, SCL_VEGETATION, SCL_NOT_VEGETATED = 0, 1, 2, 3, 4, 5
SCL_WATER, SCL_UNCLASSIFIED, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS, SCL_SNOW = 6, 7, 8, 9, 10, 11


@dataclass(frozen=True)
class S2Band:
    """One Sentinel-2 MSI band under its Earth Search v1 asset key."""

    key: str
    s2_name: str
    common_name: str
    wavelength_um: float
    fwhm_um: float
    resolution_m: int
    description: str


S2_BANDS: tuple[S2Band, ...] = (
    S2Band("coastal", "B01", "coastal", 0.443, 0.027, 60, "Coastal aerosol (band 1)"),
    S2Band("blue", "B02", "blue", 0.490, 0.098, 10, "Blue (band 2)"),
    S2Band("green", "B03", "green", 0.560, 0.045, 10, "Green (band 3)"),
    S2Band("red", "B04", "red", 0.665, 0.038, 10, "Red (band 4)"),
    S2Band("rededge1", "B05", "rededge", 0.704, 0.019, 20, "Red edge 1 (band 5)"),
    S2Band("rededge2", "B06", "rededge", 0.740, 0.018, 20, "Red edge 2 (band 6)"),
    S2Band("rededge3", "B07", "rededge", 0.783, 0.028, 20, "Red edge 3 (band 7)"),
    S2Band("nir", "B08", "nir", 0.842, 0.145, 10, "NIR 1 (band 8)"),
    S2Band("nir08", "B8A", "nir08", 0.865, 0.033, 20, "NIR 2 (band 8A)"),
    S2Band("swir16", "B11", "swir16", 1.610, 0.143, 20, "SWIR 1 (band 11)"),
    S2Band("swir22", "B12", "swir22", 2.190, 0.242, 20, "SWIR 2 (band 12)"),
)
"""The reflective bands, in Sentinel-2 band order."""

BAND_KEYS: tuple[str, ...] = tuple(b.key for b in S2_BANDS)


def band_by_key(key: str) -> S2Band:
    """Look up a band by its Earth Search key.

    Examples
    --------
    >>> band_by_key("swir16").resolution_m
    20
    """
    for band in S2_BANDS:
        if band.key == key:
            return band
    raise KeyError(f"No Sentinel-2 band {key!r}; known keys: {', '.join(BAND_KEYS)}")


def band_spectra() -> np.ndarray:
    """Endmember reflectance integrated over each band's width, ``(endmember, band)``.

    Examples
    --------
    >>> band_spectra().shape
    (7, 11)
    """
    columns = []
    for band in S2_BANDS:
        samples = np.linspace(band.wavelength_um - band.fwhm_um / 2, band.wavelength_um + band.fwhm_um / 2, 7)
        columns.append(endmember_spectra(samples).mean(axis=1))
    return np.stack(columns, axis=1).astype(np.float32)


@dataclass(frozen=True)
class Acquisition:
    """Per-date settings drawn before any pixel is simulated."""

    index: int
    date: dt.date
    platform: str
    cloud_target: float
    nodata_edge: bool
    sun_azimuth: float
    sun_elevation: float

    @property
    def item_id(self) -> str:
        """Earth Search-style id, e.g. ``S2B_34HCH_20240114_0_L2A``."""
        letter = self.platform[-1].upper()
        return f"S2{letter}_{MGRS_TILE}_{self.date:%Y%m%d}_0_L2A"

    @property
    def doy(self) -> int:
        """Day of the year."""
        return self.date.timetuple().tm_yday


def acquisition_schedule(n_dates: int, seed: int, year: int = 2024) -> list[Acquisition]:
    """Acquisition dates spread over one year on the 5-day revisit grid.

    Winter (June-August) is cloudier, as in the Western Cape's winter-rain
    climate. Some dates are forced to be partly cloudy, one almost overcast
    and one with a nodata swath edge, so every profile shows each case.

    Examples
    --------
    >>> schedule = acquisition_schedule(12, seed=0)
    >>> len(schedule), schedule[0].date.year
    (12, 2024)
    """
    rng = np.random.default_rng([seed, 17])
    first = dt.date(year, 1, 4)
    steps = np.round(np.linspace(0, 360, n_dates, endpoint=False) / 5).astype(int) * 5
    forced_overcast = {int(n_dates * 0.45)}
    forced_partly = {int(n_dates * 0.25), int(n_dates * 0.6), int(n_dates * 0.85)}
    forced_edge = {int(n_dates * 0.7)}
    acquisitions = []
    for index, step in enumerate(steps):
        date = first + dt.timedelta(days=int(step))
        doy = date.timetuple().tm_yday
        winter = 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 190) / 365.25)
        draw = rng.random()
        if index in forced_overcast:
            cloud = 0.82 + 0.1 * rng.random()
        elif index in forced_partly:
            cloud = 0.15 + 0.35 * rng.random()
        elif draw < 0.15 + 0.35 * winter:
            cloud = 0.03 + 0.25 * rng.random()
        else:
            cloud = 0.0
        declination = 23.44 * np.sin(2 * np.pi * (284 + doy) / 365.0)
        sun_elevation = 90.0 - abs(-33.95 - declination) - 9.0
        sun_azimuth = 45.0 + 20.0 * np.cos(2 * np.pi * (doy - 172) / 365.25)
        acquisitions.append(
            Acquisition(
                index=index,
                date=date,
                platform="sentinel-2a" if index % 2 == 0 else "sentinel-2b",
                cloud_target=float(cloud),
                nodata_edge=index in forced_edge,
                sun_azimuth=float(sun_azimuth),
                sun_elevation=float(sun_elevation),
            )
        )
    return acquisitions


CLOUD_SPECTRUM: np.ndarray = np.array(
    [0.52, 0.50, 0.49, 0.48, 0.48, 0.48, 0.47, 0.47, 0.46, 0.38, 0.28], dtype=np.float32
)
"""Reflectance of an opaque cloud in each band of :data:`S2_BANDS`."""
SHADOW_DARKENING: float = 0.65
"""Share of the direct light a cloud shadow removes."""


def classify_scl(
    opacity: np.ndarray,
    shadow: np.ndarray,
    red: np.ndarray,
    nir: np.ndarray,
    water: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A Sen2Cor-like scene classification from cloud opacity, shadow and the clear-sky surface.

    With the imperfections of a real SCL: thin cloud edges are missed, and a
    few pixels stay unclassified.

    Examples
    --------
    >>> z = np.zeros((2, 2), np.float32)
    >>> cloud = np.array([[0, 0.9], [0, 0]], np.float32)
    >>> classify_scl(cloud, z, z + 0.05, z + 0.4, np.zeros((2, 2), bool), np.random.default_rng(0)).tolist()
    [[4, 9], [4, 4]]
    """
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    scl = np.full(opacity.shape, SCL_NOT_VEGETATED, dtype=np.uint8)
    scl[ndvi > 0.35] = SCL_VEGETATION
    scl[(nir < 0.08) & ~water] = SCL_DARK
    scl[water] = SCL_WATER
    scl[rng.random(opacity.shape) < 0.004] = SCL_UNCLASSIFIED
    scl[(shadow > 0.35) & (opacity < 0.1)] = SCL_CLOUD_SHADOW
    scl[(opacity >= 0.12) & (opacity < 0.35)] = SCL_THIN_CIRRUS
    scl[(opacity >= 0.35) & (opacity < 0.7)] = SCL_CLOUD_MEDIUM
    scl[opacity >= 0.7] = SCL_CLOUD_HIGH
    return scl


@dataclass
class SimulatedScene:
    """The pixels of one acquisition at native resolutions."""

    dn: dict[str, np.ndarray]
    """uint16 DN per band key at the band's native resolution."""
    scl: np.ndarray
    """uint8 scene classification at 20 m."""
    visual: np.ndarray
    """uint8 (3, y, x) true-colour image at 10 m."""


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of the last two axes."""
    if factor == 1:
        return array
    *lead, h, w = array.shape
    return array.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def simulate_acquisition(landscape: Landscape, acq: Acquisition, seed: int) -> SimulatedScene:
    """Simulate one Sentinel-2 L2A acquisition over the landscape.

    Parameters
    ----------
    landscape : Landscape
        The static world on the 10 m grid.
    acq : Acquisition
        Date, clouds and sun geometry for this acquisition.
    seed : int
        World seed; combined with the acquisition index.

    Returns
    -------
    SimulatedScene

    Examples
    --------
    >>> from geoml_helpers.demo.landscape import make_landscape
    >>> scene = simulate_acquisition(make_landscape(96, 0), acquisition_schedule(4, 0)[0], seed=0)
    >>> scene.dn["red"].shape, scene.dn["swir16"].shape, scene.scl.dtype
    ((96, 96), (48, 48), dtype('uint8'))
    """
    rng = np.random.default_rng([seed, 1000 + acq.index])
    size = landscape.classes.shape[0]
    scale = size / 240.0

    fractions = blend_edges(class_fractions(landscape, acq.doy, rng))
    surface = mix(fractions, band_spectra())  # (band, y, x) at 10 m
    surface *= hillshade(landscape.elevation, acq.sun_azimuth, acq.sun_elevation)[None]
    # Residual atmospheric error of the L2A correction: a per-date bias, strongest in the blue.
    bias = rng.normal(0.0, 1.0, size=(len(S2_BANDS), 1, 1)).astype(np.float32) * np.array(
        [0.008, 0.006, 0.004, 0.003, 0.003, 0.003, 0.003, 0.003, 0.003, 0.002, 0.002], dtype=np.float32
    ).reshape(-1, 1, 1)
    surface += bias

    # Clouds with soft edges, and their shadows cast away from the sun.
    opacity = np.zeros(landscape.classes.shape, dtype=np.float32)
    shadow = np.zeros_like(opacity)
    if acq.cloud_target > 0:
        field = smooth_noise(rng, opacity.shape, 9 * scale**0.5)
        threshold = np.quantile(field, 1.0 - acq.cloud_target)
        opacity = np.clip((field - threshold) / 0.06, 0.0, 1.0).astype(np.float32)
        length_px = 1500.0 / np.tan(np.radians(acq.sun_elevation)) / 10.0
        dy = int(round(length_px * np.cos(np.radians(acq.sun_azimuth))))
        dx = int(round(-length_px * np.sin(np.radians(acq.sun_azimuth))))
        shifted = np.roll(np.roll(opacity, dy, axis=0), dx, axis=1)
        if dy > 0:
            shifted[:dy] = 0
        if dx < 0:
            shifted[:, dx:] = 0
        shadow = shifted * (1.0 - opacity)
    reflectance = surface * (1.0 - SHADOW_DARKENING * shadow)[None]
    reflectance = reflectance * (1.0 - opacity)[None] + CLOUD_SPECTRUM[:, None, None] * opacity[None]

    # Nodata swath edge across one corner.
    yy, xx = np.mgrid[0:size, 0:size] / size
    edge = (xx + 0.6 * yy) > 1.25 if acq.nodata_edge else np.zeros((size, size), dtype=bool)

    noise_sigma = {10: 0.004, 20: 0.005, 60: 0.006}
    dn: dict[str, np.ndarray] = {}
    for band_index, band in enumerate(S2_BANDS):
        factor = band.resolution_m // 10
        native = _block_mean(reflectance[band_index], factor)
        native = native + rng.normal(0.0, noise_sigma[band.resolution_m], size=native.shape).astype(np.float32)
        values = np.clip(np.round((native - OFFSET) / SCALE), 1, 32767).astype(np.uint16)
        values[_block_mean(edge.astype(np.float32), factor) > 0] = NODATA_DN
        dn[band.key] = values

    # Scene classification at 20 m, with the imperfections of a real SCL: thin cloud edges are missed.
    op20 = _block_mean(opacity, 2)
    sh20 = _block_mean(shadow, 2)
    red20 = _block_mean(surface[3], 2)
    nir20 = _block_mean(surface[7], 2)
    water20 = _block_mean((landscape.classes == WATER).astype(np.float32), 2) > 0.5
    scl = classify_scl(op20, sh20, red20, nir20, water20, rng)
    scl[_block_mean(edge.astype(np.float32), 2) > 0] = SCL_NODATA

    rgb = reflectance[[3, 2, 1]]
    visual = np.clip(np.round(rgb / 0.25 * 254) + 1, 1, 255).astype(np.uint8)
    visual[:, edge] = 0
    return SimulatedScene(dn=dn, scl=scl, visual=visual)


def scl_percentages(scl: np.ndarray) -> dict[str, float]:
    """Earth Search ``s2:*_percentage`` properties and ``eo:cloud_cover`` from an SCL array.

    Percentages are of the valid (non-nodata) pixels, except the nodata share itself.

    Examples
    --------
    >>> scl = np.array([[9, 4], [4, 0]], dtype=np.uint8)
    >>> round(scl_percentages(scl)["eo:cloud_cover"], 2)
    33.33
    """
    total = scl.size
    valid = max(int((scl != SCL_NODATA).sum()), 1)

    def share(*codes: int) -> float:
        return round(100.0 * float(np.isin(scl, codes).sum()) / valid, 6)

    return {
        "eo:cloud_cover": share(SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS),
        "s2:nodata_pixel_percentage": round(100.0 * float((scl == SCL_NODATA).sum()) / total, 6),
        "s2:saturated_defective_pixel_percentage": share(SCL_SATURATED),
        "s2:dark_features_percentage": share(SCL_DARK),
        "s2:cloud_shadow_percentage": share(SCL_CLOUD_SHADOW),
        "s2:vegetation_percentage": share(SCL_VEGETATION),
        "s2:not_vegetated_percentage": share(SCL_NOT_VEGETATED),
        "s2:water_percentage": share(SCL_WATER),
        "s2:unclassified_percentage": share(SCL_UNCLASSIFIED),
        "s2:medium_proba_clouds_percentage": share(SCL_CLOUD_MEDIUM),
        "s2:high_proba_clouds_percentage": share(SCL_CLOUD_HIGH),
        "s2:thin_cirrus_percentage": share(SCL_THIN_CIRRUS),
        "s2:snow_ice_percentage": share(SCL_SNOW),
    }
