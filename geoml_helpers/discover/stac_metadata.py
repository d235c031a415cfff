"""Reading STAC metadata correctly: scale/offset, projection and asset keys.

Three traps this module handles, each seen in real catalogues:

1. **The Earth Search BOA offset.** Since processing baseline 04.00 (January
   2022) Sentinel-2 L2A DNs carry a +1000 offset, so ``reflectance = DN *
   0.0001 - 0.1``. Earth Search v1 ``sentinel-2-l2a`` items with
   ``earthsearch:boa_offset_applied: true`` have *already* had it removed from
   the pixels yet still declare ``raster:bands`` offset ``-0.1``; applying it
   again makes every reflectance 0.1 too low. The property wins (Element 84's
   maintainers say the same, Element84/earth-search#9).
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
