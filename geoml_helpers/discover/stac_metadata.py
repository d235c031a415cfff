"""Reading STAC metadata correctly: scale/offset, projection and asset keys.

Three traps this module handles, each seen in real catalogues:

1. **The Earth Search BOA offset.** Since processing baseline 04.00 (January
   2022) Sentinel-2 L2A DNs carry a +1000 offset, so ``reflectance = DN *
   0.0001 - 0.1``. Earth Search v1 ``sentinel-2-l2a`` items with
   ``earthsearch:boa_offset_applied: true`` have *already* had it removed from
   the pixels yet still declare ``raster:bands`` offset ``-0.1``; applying it
   again makes every reflectance 0.1 too low. The metadata rule below lets
   the property win, but that rests on one maintainer comment
   (Element84/earth-search#9), and items flagged ``false`` whose pixels are
   already harmonised have been reported (#24, #66, #71): check the pixels
   with :func:`check_offset`, or use ``sentinel-2-c1-l2a``, whose DNs
   consistently keep the offset that ``raster:bands`` declares (#41).
2. **``proj:epsg`` versus ``proj:code``.** Projection extension v1 writes an
   integer ``proj:epsg``; v2 (pystac >= 1.12) writes ``proj:code: "EPSG:32734"``.
3. **Asset keys.** Earth Search uses common names (``red``, ``nir08``, ``scl``);
   Planetary Computer uses band ids (``B04``, ``B8A``, ``SCL``) and has no
   ``raster:bands``, so the scaling follows from the processing baseline.

Examples
--------
>>> item = {"properties": {"s2:processing_baseline": "05.10"}, "assets": {"B04": {}}}
>>> reflectance_scaling(item, "red")
Scaling(scale=0.0001, offset=-0.1, source='processing baseline 05.10 >= 04.00')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Earth Search key -> Sentinel-2 band id (Planetary Computer and Copernicus keys).
EARTH_SEARCH_TO_BAND_ID: dict[str, str] = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
    "visual": "visual",
    "aot": "AOT",
    "wvp": "WVP",
}
BAND_ID_TO_EARTH_SEARCH: dict[str, str] = {v: k for k, v in EARTH_SEARCH_TO_BAND_ID.items()}

NON_REFLECTANCE_KEYS = frozenset({"scl", "visual", "aot", "wvp"})


@dataclass(frozen=True)
class Scaling:
    """``value = DN * scale + offset``, and where the numbers came from."""

    scale: float
    offset: float
    source: str

    def apply(self, dn):
        """Scale an array of DNs (nodata handling is the caller's).

        Examples
        --------
        >>> import numpy as np
        >>> Scaling(0.0001, -0.1, "x").apply(np.array([2000])).round(4).tolist()
        [0.1]
        """
        return dn * self.scale + self.offset


def _get(item: Any, key: str) -> Any:
    """Read a field from a dict or a pystac object."""
    if isinstance(item, Mapping):
        return item.get(key)
    if key == "properties":
        return getattr(item, "properties", None)
    if key == "assets":
        assets = getattr(item, "assets", None)
        return {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in (assets or {}).items()}
    return getattr(item, key, None)


def asset_key(item: Any, band: str) -> str:
    """The key under which ``band`` is stored in ``item``, whatever the provider's convention.

    Parameters
    ----------
    item : dict or pystac.Item
    band : str
        An Earth Search key (``red``, ``nir08``) or a band id (``B04``, ``B8A``).

    Raises
    ------
    KeyError
        If the item has no asset for that band; the message lists the keys it has.

    Examples
    --------
    >>> asset_key({"assets": {"B8A": {}}}, "nir08")
    'B8A'
    >>> asset_key({"assets": {"nir08": {}}}, "B8A")
    'nir08'
    """
    assets = _get(item, "assets") or {}
    candidates = [
        band,
        EARTH_SEARCH_TO_BAND_ID.get(band, band),
        BAND_ID_TO_EARTH_SEARCH.get(band, band),
        band.lower(),
        band.upper(),
    ]
    for key in candidates:
        if key in assets:
            return key
    raise KeyError(
        f"Item {_get(item, 'id')!r} has no asset for band {band!r}; its assets are {sorted(assets)}. "
        "Check the band name, or that the collection carries this band."
    )


def canonical_band_name(key: str) -> str:
    """Earth Search's name for an asset key of either convention.

    Examples
    --------
    >>> canonical_band_name("B11"), canonical_band_name("swir16")
    ('swir16', 'swir16')
    """
    return BAND_ID_TO_EARTH_SEARCH.get(key, BAND_ID_TO_EARTH_SEARCH.get(key.upper(), key))


def _baseline(properties: Mapping[str, Any]) -> float | None:
    for key in ("s2:processing_baseline", "processing:version", "sentinel:processing_baseline"):
        value = properties.get(key)
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def reflectance_scaling(item: Any, band: str) -> Scaling:
    """How to turn one band's DNs into surface reflectance.

    The rules, in order:

    1. ``earthsearch:boa_offset_applied`` is true: the pixels are already
       harmonised, so the offset is 0 whatever ``raster:bands`` says.
    2. ``raster:bands`` declares ``scale``/``offset``: use them.
    3. No ``raster:bands`` (Planetary Computer): scale 0.0001, offset -0.1 for
       processing baseline >= 04.00, else 0.

    Parameters
    ----------
    item : dict or pystac.Item
    band : str
        Band in either naming convention.

    Returns
    -------
    Scaling

    Examples
    --------
    >>> es = {"properties": {"earthsearch:boa_offset_applied": True},
    ...       "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}}
    >>> reflectance_scaling(es, "red").offset
    0.0
    """
    properties = _get(item, "properties") or {}
    key = asset_key(item, band)
    asset = (_get(item, "assets") or {})[key]
    raster_bands = asset.get("raster:bands") or asset.get("bands") or []
    declared = raster_bands[0] if raster_bands else {}
    scale = declared.get("scale")
    offset = declared.get("offset")
    baseline = _baseline(properties)
    if properties.get("earthsearch:boa_offset_applied") is True:
        return Scaling(
            float(scale if scale is not None else 0.0001),
            0.0,
            "earthsearch:boa_offset_applied is true: pixels already harmonised, declared offset ignored",
        )
    if scale is not None or offset is not None:
        return Scaling(float(scale if scale is not None else 1.0), float(offset or 0.0), "raster:bands")
    if canonical_band_name(key) in NON_REFLECTANCE_KEYS:
        return Scaling(1.0, 0.0, "not a reflectance band")
    if baseline is not None and baseline >= 4.0:
        return Scaling(0.0001, -0.1, f"processing baseline {properties.get('s2:processing_baseline')} >= 04.00")
    if baseline is not None:
        return Scaling(0.0001, 0.0, f"processing baseline {properties.get('s2:processing_baseline')} < 04.00")
    return Scaling(0.0001, 0.0, "no metadata: assumed scale 0.0001 and no offset")


def item_epsg(item: Any) -> int | None:
    """The item's EPSG code from ``proj:epsg`` (projection v1) or ``proj:code`` (v2).

    Asset-level values are used when the item has none.

    Examples
    --------
    >>> item_epsg({"properties": {"proj:code": "EPSG:32734"}, "assets": {}})
    32734
    >>> item_epsg({"properties": {"proj:epsg": 32613}, "assets": {}})
    32613
    """
    sources = [_get(item, "properties") or {}] + list((_get(item, "assets") or {}).values())
    for source in sources:
        epsg = source.get("proj:epsg")
        if epsg is not None:
            return int(epsg)
        code = source.get("proj:code")
        if isinstance(code, str) and code.upper().startswith("EPSG:"):
            return int(code.split(":", 1)[1])
    return None


def band_resolutions(item: Any) -> dict[str, float]:
    """Native ground resolution of every data asset that declares one, keyed by Earth Search name.

    Examples
    --------
    >>> band_resolutions({"assets": {"B05": {"gsd": 20.0, "roles": ["data"]}}})
    {'rededge1': 20.0}
    """
    out: dict[str, float] = {}
    for key, asset in (_get(item, "assets") or {}).items():
        raster_bands = asset.get("raster:bands") or []
        resolution = asset.get("gsd") or (raster_bands[0].get("spatial_resolution") if raster_bands else None)
        if resolution is None and asset.get("proj:transform"):
            resolution = abs(asset["proj:transform"][0])
        if resolution is not None and "data" in asset.get("roles", ["data"]):
            out[canonical_band_name(key)] = float(resolution)
    return out


# --- Checking the offset on the pixels, not only in the metadata --------------------------------------------------

BASELINE_04_DATE = "2022-01-25"
"""First sensing day of processing baseline 04.00: L2A DNs carry +1000 (the BOA offset) from then on."""

SCL_CLASSES: dict[int, str] = {
    0: "no data",
    1: "saturated or defective",
    2: "topographic casted shadows",
    3: "cloud shadows",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow or ice",
}
"""Sen2Cor scene classification (SCL) classes since processing baseline 04.00 (2022-01-25)."""

SCL_CLOUD_AND_SHADOW: tuple[int, ...] = (3, 8, 9, 10)
"""SCL classes masked as cloud or cloud shadow by :func:`cloud_shadow_mask` (cloud shadows, medium and high
probability clouds, thin cirrus). Class 2 is left out: since baseline 04.00 it is terrain shadow, which is no cloud
and, in mountains, would mask whole slopes every winter; mask it only if your model cannot cope with shade."""


def scl_class_names(item_or_baseline: Any = None) -> dict[int, str]:
    """SCL class names for an item (or a processing baseline string): class 2 changed meaning at baseline 04.00.

    Before 04.00 class 2 was "dark area pixels" (dark features or shadows of
    any kind); from 04.00 (2022-01-25) it is "topographic casted shadows".
    Without a baseline, the current names are returned.

    Examples
    --------
    >>> scl_class_names("02.14")[2], scl_class_names("05.10")[2]
    ('dark area pixels', 'topographic casted shadows')
    >>> scl_class_names({"properties": {"s2:processing_baseline": "04.00"}})[2]
    'topographic casted shadows'
    """
    if item_or_baseline is None:
        baseline = None
    elif isinstance(item_or_baseline, str):
        baseline = _baseline({"s2:processing_baseline": item_or_baseline})
    else:
        baseline = _baseline(_get(item_or_baseline, "properties") or {})
    names = dict(SCL_CLASSES)
    if baseline is not None and baseline < 4.0:
        names[2] = "dark area pixels"
    return names


@dataclass(frozen=True)
class OffsetCheck:
    """What the pixels of one item say about its BOA offset, against what its metadata says.

    Attributes
    ----------
    item_id : str
    scaling : Scaling
        The scaling :func:`reflectance_scaling` derives from the metadata.
    dn_low : float
        0.5th percentile of the valid DNs of the dark bands (blue, red) over
        clear land and water: near 1000 when the DNs still carry the +1000
        offset, near 0-300 when they are harmonised.
    dns_carry_offset : bool
        The pixels' verdict: the DNs still hold +1000.
    negative_share : float
        Share of valid pixels with negative reflectance after the metadata's scaling.
    vegetation_negative_share : float
        The same over vegetation (SCL 4, or NDVI > 0.5): red over green leaves
        is a few percent, so a double offset shows here first.
    verdict : str
        ``"consistent"``, ``"offset applied twice"`` (the metadata subtracts an
        offset the pixels no longer hold) or ``"offset missing"`` (the DNs hold
        +1000 but the metadata applies none).
    """

    item_id: str
    scaling: Scaling
    dn_low: float
    dns_carry_offset: bool
    negative_share: float
    vegetation_negative_share: float
    verdict: str

    @property
    def ok(self) -> bool:
        """True when the metadata and the pixels agree."""
        return self.verdict == "consistent"


def check_offset(item: Any, dn: Mapping[str, Any], scl=None) -> OffsetCheck:
    """Check an item's declared BOA offset against its pixels.

    Metadata alone cannot be trusted here: Earth Search ``sentinel-2-l2a``
    items flagged ``earthsearch:boa_offset_applied: false`` whose pixels are
    already harmonised have been reported (Element84/earth-search#24, #66, #71;
    cirrus-earth-search#33), and the flag of ``true`` items rests on one
    maintainer comment (earth-search#9). The pixels settle it: since baseline
    04.00 a raw L2A DN is ``10000 * reflectance + 1000``, so dark surfaces
    (water, shade, the red band over vegetation) sit just above 1000; once
    harmonised they sit near 0-300. A scaling that subtracts 0.1 from
    harmonised DNs turns vegetation's red reflectance negative.

    Parameters
    ----------
    item : dict or pystac.Item
    dn : mapping
        Raw DNs (``uint16``, 0 = nodata) of at least ``red`` and ``nir`` (any
        naming convention), read from the item's assets over the area of interest.
        ``blue`` is used when present.
    scl : array-like, optional
        The SCL over the same area (a coarser grid, e.g. 20 m, is resampled
        by nearest neighbour); clouds, shadows, snow and no-data are left out,
        and class 4 marks vegetation. Without it NDVI > 0.5 marks vegetation.

    Returns
    -------
    OffsetCheck

    Examples
    --------
    >>> item = {"id": "x", "properties": {"earthsearch:boa_offset_applied": False},
    ...         "assets": {k: {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]} for k in ("red", "nir")}}
    >>> raw = {"red": np.array([1250, 1300, 1400]), "nir": np.array([4000, 4200, 3900])}
    >>> check_offset(item, raw).verdict
    'consistent'
    >>> check_offset(item, {k: v - 1000 for k, v in raw.items()}).verdict   # harmonised pixels, same metadata
    'offset applied twice'
    """
    keys = {canonical_band_name(k): k for k in dn}
    if "red" not in keys or "nir" not in keys:
        raise KeyError(f"check_offset needs the red and nir DNs; got {sorted(dn)}.")
    red = np.asarray(dn[keys["red"]], dtype=np.float64)
    nir = np.asarray(dn[keys["nir"]], dtype=np.float64)
    dark = [red] + ([np.asarray(dn[keys["blue"]], dtype=np.float64)] if "blue" in keys else [])
    valid = (red > 0) & (nir > 0)
    vegetation = None
    if scl is not None:
        scl = np.asarray(scl)
        if scl.shape != red.shape:  # the SCL is 20 m: nearest neighbour onto the bands' grid
            rows = np.arange(red.shape[0]) * scl.shape[0] // red.shape[0]
            cols = np.arange(red.shape[1]) * scl.shape[1] // red.shape[1]
            scl = scl[np.ix_(rows, cols)]
        valid &= ~np.isin(scl, (0, 1, 3, 8, 9, 10, 11))
        vegetation = valid & (scl == 4)
    if not valid.any():
        raise ValueError(f"Item {_get(item, 'id')!r}: no valid clear pixel to check; pass a clearer item or area.")
    dn_low = float(np.percentile(np.concatenate([band[valid] for band in dark]), 0.5))
    carry = dn_low >= 900  # harmonised dark pixels reach well below 900; +1000 DNs cannot
    scaling_red = reflectance_scaling(item, keys["red"] if keys["red"] in (_get(item, "assets") or {}) else "red")
    refl_red = scaling_red.apply(red)
    refl_nir = reflectance_scaling(item, "nir").apply(nir)
    if vegetation is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            ndvi = (refl_nir - refl_red) / (refl_nir + refl_red)
        vegetation = valid & (ndvi > 0.5)
    negative = float((refl_red[valid] < 0).mean())
    veg_negative = float((refl_red[vegetation] < 0).mean()) if vegetation.any() else float("nan")
    applies_offset = scaling_red.offset < 0
    if carry and not applies_offset:
        verdict = "offset missing"
    elif not carry and applies_offset:
        verdict = "offset applied twice"
    else:
        verdict = "consistent"
    return OffsetCheck(str(_get(item, "id")), scaling_red, dn_low, bool(carry), negative, veg_negative, verdict)


def offset_metadata(item: Any) -> dict[str, Any]:
    """What an item's metadata says about the BOA offset, and whether only a pixel check can settle it.

    Returns
    -------
    dict
        ``id``, ``collection``, ``datetime``, ``baseline``, ``boa_offset_applied``,
        ``declared_offset`` (from ``raster:bands``, None if absent), ``scaling``
        (:func:`reflectance_scaling` of ``red``) and ``needs_pixel_check``: true for
        Earth Search ``sentinel-2-l2a`` items of baseline >= 04.00, whose flag
        has been found wrong (earth-search#24, #66, #71); ``sentinel-2-c1-l2a``
        keeps consistent DNs with the declared offset (earth-search#41).

    Examples
    --------
    >>> c1 = {"id": "a", "collection": "sentinel-2-c1-l2a", "properties": {"s2:processing_baseline": "05.11"},
    ...       "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}}
    >>> offset_metadata(c1)["needs_pixel_check"]
    False
    """
    properties = _get(item, "properties") or {}
    assets = _get(item, "assets") or {}
    key = asset_key(item, "red")
    bands = assets[key].get("raster:bands") or assets[key].get("bands") or []
    baseline = _baseline(properties)
    collection = _get(item, "collection") or properties.get("collection")
    earth_search_l2a = collection == "sentinel-2-l2a" and "earthsearch:boa_offset_applied" in properties
    return {
        "id": _get(item, "id"),
        "collection": collection,
        "datetime": properties.get("datetime"),
        "baseline": baseline,
        "boa_offset_applied": properties.get("earthsearch:boa_offset_applied"),
        "declared_offset": bands[0].get("offset") if bands else None,
        "scaling": reflectance_scaling(item, "red"),
        "needs_pixel_check": bool(earth_search_l2a and baseline is not None and baseline >= 4.0),
    }


def baseline_jump(
    dates, reflectance, *, change_date: str = BASELINE_04_DATE, tolerance: float = 0.05
) -> dict[str, Any]:
    """Compare a stable target's reflectance before and after the baseline 04.00 change (2022-01-25).

    A time series scaled with a wrong offset on one side of the change jumps
    by 0.1 there. Pass the per-date median reflectance of something that does
    not change much (a dark target: deep water, a car park; or a band over
    evergreen vegetation), after your scaling.

    Returns
    -------
    dict
        ``before``, ``after`` (medians), ``jump`` (after minus before),
        ``flagged`` (``|jump| > tolerance``); NaN and False when one side has no date.

    Examples
    --------
    >>> d = ["2021-06-01", "2021-12-01", "2022-06-01", "2022-12-01"]
    >>> baseline_jump(d, [0.04, 0.05, -0.06, -0.05])["flagged"]
    True
    >>> baseline_jump(d, [0.04, 0.05, 0.045, 0.05])["flagged"]
    False
    """
    when = np.asarray(dates, dtype="datetime64[D]")
    values = np.asarray(reflectance, dtype=np.float64)
    after = when >= np.datetime64(change_date)
    if after.all() or not after.any():
        return {"before": float("nan"), "after": float("nan"), "jump": float("nan"), "flagged": False}
    before_m, after_m = float(np.nanmedian(values[~after])), float(np.nanmedian(values[after]))
    jump = after_m - before_m
    return {"before": before_m, "after": after_m, "jump": jump, "flagged": bool(abs(jump) > tolerance)}


# --- Clouds over *your* area: a dilated SCL mask and the AOI's clear fraction -------------------------------------


def cloud_shadow_mask(scl, *, classes: tuple[int, ...] = SCL_CLOUD_AND_SHADOW, dilate_px: int = 0):
    """Boolean mask of cloud and cloud-shadow pixels from an SCL array, grown by ``dilate_px`` pixels.

    Why dilate: Sen2Cor's SCL labels the bright core of a cloud but misses
    its thin edges and the soft edge of its shadow, where reflectance is
    still contaminated; such pixels look like real change to a model.
    Growing the mask by a disc of radius ``dilate_px`` catches them at the
    cost of some clear pixels. Fmask dilates its cloud and shadow masks by 3
    Landsat pixels, about 90 m (Zhu & Woodcock 2012, Remote Sens. Environ.
    118: 83-94); at the SCL's 20 m that is 4-5 pixels. Choose by looking:
    overlay the mask on the true-colour image of a cloudy date, and raise the
    radius until the haloes are gone.

    Parameters
    ----------
    scl : array-like (y, x)
    classes : tuple of int
        SCL classes to mask (default :data:`SCL_CLOUD_AND_SHADOW`).
    dilate_px : int
        Radius of the disc, in pixels of ``scl`` (0: no dilation).

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> scl = np.full((7, 7), 4); scl[3, 3] = 9
    >>> int(cloud_shadow_mask(scl).sum()), int(cloud_shadow_mask(scl, dilate_px=2).sum())
    (1, 13)
    """
    from scipy.ndimage import binary_dilation

    mask = np.isin(np.asarray(scl), classes)
    if dilate_px <= 0:
        return mask
    r = int(dilate_px)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return binary_dilation(mask, structure=(yy**2 + xx**2) <= r * r)


def aoi_clear_fraction(scl, *, dilate_px: int = 0, classes: tuple[int, ...] = SCL_CLOUD_AND_SHADOW) -> float:
    """Share of the AOI's valid pixels that are clear: not cloud or shadow after dilation, not no-data.

    The item's ``eo:cloud_cover`` is for the whole 110 km tile; a tile 5 %
    cloudy can cover a small AOI completely, and a 60 % cloudy tile can leave
    it clear. Read the SCL over the AOI only and use this.

    Examples
    --------
    >>> scl = np.full((10, 10), 4); scl[:2] = 9; scl[-1] = 0
    >>> round(aoi_clear_fraction(scl), 3), round(aoi_clear_fraction(scl, dilate_px=1), 3)
    (0.778, 0.667)
    """
    scl = np.asarray(scl)
    valid = scl != 0
    if not valid.any():
        return 0.0
    clear = valid & ~cloud_shadow_mask(scl, classes=classes, dilate_px=dilate_px)
    return float(clear.sum() / valid.sum())


def read_asset_window(item: Any, band: str, bounds: tuple[float, float, float, float], crs: str | None = None):
    """Read one asset of an item over ``bounds`` (in ``crs``, default the asset's), without reading the whole tile.

    COGs are read by HTTP range or local window; only the blocks that cover
    the area are fetched.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> scl = read_asset_window(item, "scl", demo.bounds, demo.crs)  # doctest: +SKIP
    """
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    href = (_get(item, "assets") or {})[asset_key(item, band)]["href"]
    with rasterio.open(href) as src:
        box = transform_bounds(crs, src.crs, *bounds) if crs is not None and str(src.crs) != str(crs) else bounds
        window = from_bounds(*box, transform=src.transform).round_offsets().round_lengths()
        return src.read(1, window=window, boundless=True, fill_value=0)


def clear_fraction_table(
    items, bounds: tuple[float, float, float, float], crs: str | None = None, *, dilate_px: int = 2
):
    """AOI-level clear fraction of every item next to its tile-level ``eo:cloud_cover``, clearest first.

    Parameters
    ----------
    items : iterable of dict or pystac.Item
        Items with an SCL asset.
    bounds, crs
        The area of interest.
    dilate_px : int
        See :func:`cloud_shadow_mask` (pixels of the SCL, 20 m).

    Returns
    -------
    pandas.DataFrame
        ``id``, ``datetime``, ``eo_cloud_cover`` (tile, %), ``aoi_clear_fraction``, sorted by the latter.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> clear_fraction_table(demo.s2_items(), demo.bounds, demo.crs).head(3)  # doctest: +SKIP
    """
    import pandas as pd

    rows = []
    for item in items:
        properties = _get(item, "properties") or {}
        scl = read_asset_window(item, "scl", bounds, crs)
        rows.append(
            {
                "id": _get(item, "id"),
                "datetime": properties.get("datetime"),
                "eo_cloud_cover": properties.get("eo:cloud_cover"),
                "aoi_clear_fraction": aoi_clear_fraction(scl, dilate_px=dilate_px),
            }
        )
    return pd.DataFrame(rows).sort_values("aoi_clear_fraction", ascending=False, ignore_index=True)
