"""What Earth Search v1 would hold for an AOI and date range: datatakes, items and the collection.

The plan follows the real catalogue:

* a 5-day revisit from a main relative orbit, alternating Sentinel-2A and 2B;
* a second, neighbouring relative orbit 3 days later in the cycle, whose swath
  edge cuts through the AOI (partial swaths: nodata on one side, and an item
  geometry that is only the imaged part of the tile);
* one item per tile and datatake, for every tile that covers the AOI (two
  tiles, in two UTM zones, when the AOI straddles a zone boundary);
* the processing baseline of the date (02.14 up to March 2021, 03.0x, then
  04.00 from 2022-01-25 with the +1000 DN offset, then 05.xx), with
  ``earthsearch:boa_offset_applied`` true on items Element 84 reprocessed;
* the variants that trip real code: some items carry only ``proj:code``
  (projection extension v2) and no ``proj:epsg``; one datatake is 100 %
  cloudy; one item lacks an asset.

Documents are shaped like the real ones in ``tests/data/real-stac/`` (same
property, asset and field keys). Asset hrefs hold ``{endpoint}`` until the
object store's URL is known at serve time.

Examples
--------
>>> baseline_on(dt.date(2022, 1, 24)), baseline_on(dt.date(2022, 1, 25))
('03.01', '04.00')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from geoml_helpers import __version__
from geoml_helpers.demo.sentinel2 import S2_BANDS
from geoml_helpers.replica.grid import S2Tile
from geoml_helpers.replica.paint import NIR09, SYNTHETIC_NOTE

COLLECTION_ID = "sentinel-2-l2a"
BUCKET = "sentinel-cogs"
KEY_PREFIX = "sentinel-s2-l2a-cogs"
ENDPOINT_PLACEHOLDER = "{endpoint}"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
BASELINE_04_DATE = dt.date(2022, 1, 25)
"""From this date Sentinel-2 L2A DNs carry a +1000 offset (processing baseline 04.00)."""

# (first date, baseline). Dates of the later baselines are approximate; 04.00's is exact.
BASELINES: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2015, 6, 23), "02.14"),
    (dt.date(2021, 3, 30), "03.00"),
    (dt.date(2021, 6, 30), "03.01"),
    (BASELINE_04_DATE, "04.00"),
    (dt.date(2022, 12, 6), "05.09"),
    (dt.date(2023, 12, 13), "05.10"),
    (dt.date(2024, 7, 23), "05.11"),
)

ITEM_EXTENSIONS = [
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
]
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"

_BANDS = {b.key: b for b in S2_BANDS + (NIR09,)}
_FILE_OF = {b.key: b.s2_name for b in _BANDS.values()} | {"scl": "SCL", "visual": "TCI", "aot": "AOT", "wvp": "WVP"}
COG_ASSETS: tuple[str, ...] = (
    "aot",
    "blue",
    "coastal",
    "green",
    "nir",
    "nir08",
    "nir09",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "scl",
    "swir16",
    "swir22",
    "visual",
    "wvp",
)
"""Assets written as COGs on the object store, with Earth Search's keys."""
ASSET_ORDER: tuple[str, ...] = (
    "aot", "blue", "coastal", "granule_metadata", "green", "nir", "nir08", "nir09", "red", "rededge1", "rededge2",
    "rededge3", "scl", "swir16", "swir22", "thumbnail", "tileinfo_metadata", "visual", "wvp",
)  # fmt: skip
JP2_ASSETS: tuple[str, ...] = (
    "aot",
    "blue",
    "coastal",
    "green",
    "nir",
    "nir08",
    "nir09",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "scl",
    "swir16",
    "swir22",
    "visual",
    "wvp",
)


def asset_resolution(key: str) -> int:
    """Native resolution in metres of a COG asset.

    Examples
    --------
    >>> asset_resolution("red"), asset_resolution("scl"), asset_resolution("nir09")
    (10, 20, 60)
    """
    if key in _BANDS:
        return _BANDS[key].resolution_m
    return 10 if key == "visual" else 20


def asset_filename(key: str) -> str:
    """File name of an asset in Earth Search's bucket, e.g. ``B8A.tif`` for ``nir08``."""
    return {
        "thumbnail": "thumbnail.jpg",
        "granule_metadata": "granule_metadata.xml",
        "tileinfo_metadata": "tileinfo_metadata.json",
    }.get(key, f"{_FILE_OF.get(key, key)}.tif")


def _payload_hash(text: str) -> str:
    """A 32-hex-digit id like Earth Search's payload ids (an identifier, not security)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def baseline_on(date: dt.date) -> str:
    """The processing baseline of an acquisition date (see :data:`BASELINES`)."""
    current = BASELINES[0][1]
    for first, baseline in BASELINES:
        if date >= first:
            current = baseline
    return current


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


@dataclass(frozen=True)
class Datatake:
    """One pass of a satellite over the AOI.

    Attributes
    ----------
    start : datetime.datetime
        Sensing start (UTC) over the AOI.
    platform : str
        ``sentinel-2a`` or ``sentinel-2b``.
    relative_orbit : int
    absolute_orbit : int
    partial : bool
        The swath edge crosses the AOI: part of it is not imaged.
    cloud_target : float
        Share of the AOI under cloud.
    """

    start: dt.datetime
    platform: str
    relative_orbit: int
    absolute_orbit: int
    partial: bool
    cloud_target: float

    @property
    def letter(self) -> str:
        """``A`` or ``B``."""
        return self.platform[-1].upper()

    @property
    def date(self) -> dt.date:
        """Acquisition date (UTC)."""
        return self.start.date()


def sun_position(when: dt.datetime, lon: float, lat: float) -> tuple[float, float]:
    """Approximate solar azimuth (clockwise from north) and elevation in degrees.

    Examples
    --------
    >>> az, el = sun_position(dt.datetime(2022, 6, 21, 10, 30), 12.0, 47.9)
    >>> 140 < az < 190, 60 < el < 67
    (True, True)
    """
    doy = when.timetuple().tm_yday
    decl = math.radians(23.44 * math.sin(2 * math.pi * (284 + doy) / 365.0))
    solar_hours = when.hour + when.minute / 60 + when.second / 3600 + lon / 15.0
    hour_angle = math.radians(15.0 * (solar_hours - 12.0))
    phi = math.radians(lat)
    elevation = math.asin(math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle))
    azimuth = (
        math.degrees(
            math.atan2(-math.sin(hour_angle), math.tan(decl) * math.cos(phi) - math.sin(phi) * math.cos(hour_angle))
        )
        % 360.0
    )
    return azimuth, math.degrees(elevation)


def plan_datatakes(
    start: dt.date, end: dt.date, lon: float, seed: int, cloudy_share: float = 0.4, second_orbit: bool = True
) -> list[Datatake]:
    """Datatakes over an AOI at longitude ``lon`` between ``start`` and ``end`` (inclusive), in time order.

    The main orbit passes every 5 days (2A and 2B alternating); the second
    orbit 3 days after each main pass, imaging the AOI only in part. The
    datatake nearest the middle of the range is 100 % cloudy.

    Examples
    --------
    >>> takes = plan_datatakes(dt.date(2022, 1, 1), dt.date(2022, 1, 31), 12.0, seed=0)
    >>> len(takes), sorted({t.partial for t in takes}), max(t.cloud_target for t in takes)
    (12, [False, True], 1.0)
    """
    import random

    if end < start:
        raise ValueError(f"The date range ends ({end}) before it starts ({start}); give 'START/END' in time order.")
    main_orbit = 1 + _digest("orbit", round(lon, 1)) % 143
    neighbour = (main_orbit + 42) % 143 + 1  # adjacent ground tracks are 43 orbits apart in the 143-orbit cycle
    utc_hours = 10.5 - lon / 15.0  # 10:30 mean local solar time at the descending node
    epoch = dt.date(2015, 7, 3)  # 2A's first operational cycle; the phase is arbitrary but fixed
    takes: list[Datatake] = []
    day = start
    while day <= end:
        days = (day - epoch).days
        for partial, phase, orbit in ((False, 0, main_orbit), (True, 3, neighbour)):
            if partial and not second_orbit:
                continue
            if (days - phase) % 5 != 0:
                continue
            rng = random.Random(_digest("datatake", seed, day.isoformat(), orbit))
            cloud = 0.0 if rng.random() > cloudy_share else round(0.05 + 0.6 * rng.random() ** 1.5, 3)
            platform = "sentinel-2a" if ((days - phase) // 5) % 2 == 0 else "sentinel-2b"
            when = dt.datetime.combine(day, dt.time()) + dt.timedelta(
                hours=utc_hours + (0.05 if partial else 0.0), seconds=rng.randint(0, 59)
            )
            takes.append(Datatake(when, platform, orbit, 14_000 + days * 143 // 10 + orbit, partial, cloud))
        day += dt.timedelta(days=1)
    if takes:
        middle = start + (end - start) / 2
        overcast = min((t for t in takes if not t.partial), key=lambda t: abs(t.date - middle), default=None)
        if overcast is not None:
            takes[takes.index(overcast)] = Datatake(
                overcast.start, overcast.platform, overcast.relative_orbit, overcast.absolute_orbit, False, 1.0
            )
    return takes


@dataclass(frozen=True)
class ItemPlan:
    """One item: a tile imaged by a datatake, with its metadata variants.

    Attributes
    ----------
    tile : S2Tile
    datatake : Datatake
    baseline : str
    boa_offset_applied : bool
        Whether Element 84 removed the +1000 offset from the pixels (then the
        declared ``raster:bands`` offset -0.1 must be ignored).
    proj_code_only : bool
        Projection extension v2: ``proj:code`` and no ``proj:epsg``.
    missing_assets : tuple of str
    sequence : int
    """

    tile: S2Tile
    datatake: Datatake
    baseline: str
    boa_offset_applied: bool
    proj_code_only: bool
    missing_assets: tuple[str, ...]
    sequence: int = 0

    @property
    def id(self) -> str:
        """Earth Search id, e.g. ``S2A_32UQU_20220203_0_L2A``."""
        return f"S2{self.datatake.letter}_{self.tile.name}_{self.datatake.date:%Y%m%d}_{self.sequence}_L2A"

    @property
    def offset_in_pixels(self) -> bool:
        """Whether the DNs carry the +1000 offset (baseline >= 04.00 and not harmonised by Element 84)."""
        return float(self.baseline) >= 4.0 and not self.boa_offset_applied

    @property
    def key_prefix(self) -> str:
        """The object key of the item's folder, as on ``s3://sentinel-cogs``."""
        t, d = self.tile, self.datatake.date
        return f"{KEY_PREFIX}/{t.zone}/{t.latitude_band}/{t.grid_square}/{d.year}/{d.month}/{self.id}"


def plan_items(tiles: Sequence[S2Tile], datatakes: Sequence[Datatake]) -> list[ItemPlan]:
    """Items for every tile and datatake, with the metadata variants spread deterministically.

    * baseline >= 04.00: ``boa_offset_applied`` true, except every third such item;
    * every fourth item: ``proj:code`` only;
    * the second main-orbit item of the first tile has no ``swir22`` asset.

    Examples
    --------
    >>> from geoml_helpers.replica.grid import tile_by_name
    >>> takes = plan_datatakes(dt.date(2022, 1, 10), dt.date(2022, 2, 20), 12.0, seed=0)
    >>> plans = plan_items([tile_by_name("32UQU"), tile_by_name("33UTP")], takes)
    >>> sorted({p.baseline for p in plans}), any(p.missing_assets for p in plans), any(p.proj_code_only for p in plans)
    (['03.01', '04.00'], True, True)
    """
    plans: list[ItemPlan] = []
    new_baseline_count = 0
    main_count = {t.name: 0 for t in tiles}
    for take in datatakes:
        for tile in tiles:
            baseline = baseline_on(take.date)
            applied = False
            if float(baseline) >= 4.0:
                applied = new_baseline_count % 3 != 2
                new_baseline_count += 1
            missing: tuple[str, ...] = ()
            if not take.partial:
                if tile is tiles[0] and main_count[tile.name] == 1:
                    missing = ("swir22",)
                main_count[tile.name] += 1
            plans.append(ItemPlan(tile, take, baseline, applied, len(plans) % 4 == 3, missing))
    return plans


# --------------------------------------------------------------------------- documents
def _eo_band(key: str) -> dict:
    b = _BANDS[key]
    return {
        "name": b.key,
        "common_name": b.common_name,
        "description": b.description,
        "center_wavelength": b.wavelength_um,
        "full_width_half_max": b.fwhm_um,
    }


def asset_documents(tile: S2Tile, offset: float, href_of) -> dict[str, dict]:
    """The assets of an item (or, with ``href_of`` returning ``None``, the collection's ``item_assets``).

    Notes
    -----
    Long because: most of it is the literal asset documents of Earth Search v1 (roles, bands, raster metadata), kept
    whole so they can be compared field by field with a real item.
    """

    def with_href(key: str, jp2: bool, body: dict) -> dict:
        href = href_of(key, jp2)
        return ({"href": href} if href is not None else {}) | body

    def data_asset(key: str, jp2: bool) -> dict:
        res = asset_resolution(key)
        kind = "image/jp2" if jp2 else COG_TYPE
        if key in _BANDS:
            band = _BANDS[key]
            return with_href(
                key,
                jp2,
                {
                    "type": kind,
                    "title": f"{band.description} - {res}m",
                    "eo:bands": [_eo_band(key)],
                    "gsd": res,
                    "proj:shape": list(tile.shape(res)),
                    "proj:transform": tile.proj_transform(res),
                    "raster:bands": [
                        {
                            "nodata": 0,
                            "data_type": "uint16",
                            "bits_per_sample": 15,
                            "spatial_resolution": res,
                            "scale": 0.0001,
                            "offset": offset,
                        }
                    ],
                    "roles": ["data", "reflectance"],
                },
            )
        if key == "scl":
            return with_href(
                key,
                jp2,
                {
                    "type": kind,
                    "title": "Scene classification map (SCL)",
                    "proj:shape": list(tile.shape(20)),
                    "proj:transform": tile.proj_transform(20),
                    "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
                    "roles": ["data", "reflectance"],
                },
            )
        if key == "visual":
            return with_href(
                key,
                jp2,
                {
                    "type": kind,
                    "title": "True color image",
                    "eo:bands": [_eo_band(k) for k in ("red", "green", "blue")],
                    "proj:shape": list(tile.shape(10)),
                    "proj:transform": tile.proj_transform(10),
                    "roles": ["visual"],
                },
            )
        title, extra = (
            ("Aerosol optical thickness (AOT)", {}) if key == "aot" else ("Water vapour (WVP)", {"unit": "cm"})
        )
        return with_href(
            key,
            jp2,
            {
                "type": kind,
                "title": title,
                "proj:shape": list(tile.shape(20)),
                "proj:transform": tile.proj_transform(20),
                "raster:bands": [
                    {
                        "nodata": 0,
                        "data_type": "uint16",
                        "bits_per_sample": 15,
                        "spatial_resolution": 20,
                        **extra,
                        "scale": 0.001,
                        "offset": 0,
                    }
                ],
                "roles": ["data", "reflectance"],
            },
        )

    assets: dict[str, dict] = {}
    for key in ASSET_ORDER:
        if key == "thumbnail":
            assets[key] = with_href(
                key, False, {"type": "image/jpeg", "title": "Thumbnail image", "roles": ["thumbnail"]}
            )
        elif key == "granule_metadata":
            assets[key] = with_href(key, False, {"type": "application/xml", "roles": ["metadata"]})
        elif key == "tileinfo_metadata":
            assets[key] = with_href(key, False, {"type": "application/json", "roles": ["metadata"]})
        else:
            assets[key] = data_asset(key, False)
    for key in JP2_ASSETS:
        assets[f"{key}-jp2"] = data_asset(key, True)
    return assets


def item_document(
    plan: ItemPlan,
    geometry: dict,
    bbox: list[float],
    statistics: dict[str, float],
    nodata_percentage: float,
    sun: tuple[float, float],
) -> dict:
    """The STAC Item of one plan, shaped like Earth Search v1's (see the module docstring).

    ``statistics`` holds ``eo:cloud_cover`` and the ``s2:*_percentage`` values.

    Notes
    -----
    Long because: most of it is the literal Item, shaped like Earth Search v1's, kept whole so it can be compared
    field by field with a real one.
    """
    tile, take = plan.tile, plan.datatake
    d = take.date
    offset = -0.1 if float(plan.baseline) >= 4.0 else 0
    n = plan.baseline.replace(".", "")
    generated = take.start + dt.timedelta(hours=1, minutes=_digest(plan.id) % 50)
    created = (generated + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    stamp = f"{take.start:%Y%m%dT%H%M%S}"
    gen = f"{generated:%Y%m%dT%H%M%S}"

    def href_of(key: str, jp2: bool) -> str:
        if jp2:
            return f"s3://sentinel-s2-l2a/tiles/{tile.zone}/{tile.latitude_band}/{tile.grid_square}/{d.year}/{d.month}/{d.day}/{plan.sequence}/{_FILE_OF[key]}.jp2"
        return f"{ENDPOINT_PLACEHOLDER}/{BUCKET}/{plan.key_prefix}/{asset_filename(key)}"

    properties: dict = {
        "created": created,
        "platform": take.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": statistics["eo:cloud_cover"],
    }
    properties |= {"proj:code": f"EPSG:{tile.epsg}"} if plan.proj_code_only else {"proj:epsg": tile.epsg}
    doy = d.timetuple().tm_yday
    properties |= {
        "mgrs:utm_zone": tile.zone,
        "mgrs:latitude_band": tile.latitude_band,
        "mgrs:grid_square": tile.grid_square,
        "grid:code": f"MGRS-{tile.name}",
        "view:sun_azimuth": round(sun[0], 9),
        "view:sun_elevation": round(sun[1], 9),
        "s2:degraded_msi_data_percentage": 0,
        "s2:nodata_pixel_percentage": round(nodata_percentage, 6),
        **{k: v for k, v in statistics.items() if k.startswith("s2:")},
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": plan.baseline,
        "s2:product_uri": f"S2{take.letter}_MSIL2A_{stamp}_N{n}_R{take.relative_orbit:03d}_T{tile.name}_{gen}.SAFE",
        "s2:generation_time": f"{generated:%Y-%m-%dT%H:%M:%S}.000000Z",
        "s2:datatake_id": f"GS2{take.letter}_{stamp}_{take.absolute_orbit:06d}_N{plan.baseline}",
        "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": f"S2{take.letter}_OPER_MSI_L2A_DS_2APS_{gen}_S{stamp}_N{plan.baseline}",
        "s2:granule_id": (
            f"S2{take.letter}_OPER_MSI_L2A_TL_2APS_{gen}_A{take.absolute_orbit:06d}_T{tile.name}_N{plan.baseline}"
        ),
        "s2:reflectance_conversion_factor": round(1.0 + 0.0334 * math.cos(2 * math.pi * (doy - 4) / 365.25), 12),
        "datetime": f"{take.start:%Y-%m-%dT%H:%M:%S}.{_digest('ms', plan.id) % 1000:03d}000Z",
        "s2:sequence": str(plan.sequence),
        "earthsearch:s3_path": f"s3://{BUCKET}/{plan.key_prefix}",
        "earthsearch:payload_id": f"roda-sentinel2/workflow-sentinel2-to-stac/{_payload_hash(plan.id)}",
        "earthsearch:boa_offset_applied": plan.boa_offset_applied,
        "processing:software": {"sentinel2-to-stac": "0.1.1", "geoml-replica": __version__},
        "geoml:synthetic": True,
        "updated": created,
    }
    assets = asset_documents(tile, offset, href_of)
    for key in plan.missing_assets:
        assets.pop(key, None)
        assets.pop(f"{key}-jp2", None)
    extensions = list(ITEM_EXTENSIONS)
    if plan.proj_code_only:
        extensions[extensions.index("https://stac-extensions.github.io/projection/v1.1.0/schema.json")] = PROJECTION_V2
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": plan.id,
        "properties": properties,
        "geometry": geometry,
        "links": [
            {"rel": "canonical", "href": f"s3://{BUCKET}/{plan.key_prefix}/{plan.id}.json", "type": "application/json"},
            {"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"},
        ],
        "assets": assets,
        "bbox": bbox,
        "stac_extensions": extensions,
        "collection": COLLECTION_ID,
    }


def collection_document(tiles: Sequence[S2Tile], bbox: Sequence[float], start: str, end: str) -> dict:
    """The ``sentinel-2-l2a`` Collection, shaped like Earth Search v1's, saying that the data are synthetic."""
    item_assets = asset_documents(tiles[0], 0, lambda key, jp2: None)
    return {
        "type": "Collection",
        "id": COLLECTION_ID,
        "stac_version": "1.0.0",
        "title": "Sentinel-2 Level-2A (geoml Earth Search replica, SYNTHETIC)",
        "description": (
            "A local replica of Earth Search v1's sentinel-2-l2a collection for one project's AOI: "
            "real-shaped items on the real MGRS tile grid, full-size COGs served over HTTP. " + SYNTHETIC_NOTE
        ),
        "links": [
            {
                "rel": "license",
                "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
                "title": "proprietary",
            }
        ],
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
            "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
        ],
        "item_assets": item_assets,
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[start, end]]}},
        "license": "proprietary",
        "keywords": ["sentinel", "earth observation", "esa", "synthetic", "geoml replica"],
        "providers": [
            {"name": "ESA", "roles": ["producer"], "url": "https://earth.esa.int/web/guest/home"},
            {"name": "geoml (synthetic replica of Element 84's Earth Search)", "roles": ["processor", "host"]},
        ],
        "summaries": {
            "platform": ["sentinel-2a", "sentinel-2b"],
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [10, 20, 60],
            "view:off_nadir": [0],
            "sci:citation": ["Copernicus Sentinel data [Year]"],
            "eo:bands": [
                _eo_band(k)
                for k in (
                    "coastal",
                    "blue",
                    "green",
                    "red",
                    "rededge1",
                    "rededge2",
                    "rededge3",
                    "nir",
                    "nir08",
                    "nir09",
                    "swir16",
                    "swir22",
                )
            ],
        },
    }
