"""STAC Collections and Items for the demo world, shaped like Earth Search v1.

Hrefs are stored relative to the profile folder so that a built data folder
can be moved and hashed; :meth:`geoml_helpers.demo.DemoData.s2_items` and the
STAC server resolve them to ``file://`` URLs.

Examples
--------
>>> doc = s2_collection_document([-33.97, 18.9, -33.93, 18.95], "2024-01-04T08:45:00Z", "2024-12-20T08:45:00Z")
>>> doc["id"], "item_assets" in doc
('sentinel-2-l2a', True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geoml_helpers import __version__
from geoml_helpers.demo.sentinel2 import EPSG, MGRS_TILE, PROCESSING_BASELINE, S2_BANDS, Acquisition

S2_COLLECTION_ID = "sentinel-2-l2a"
HYPERSPECTRAL_COLLECTION_ID = "enmap-like-l2a"

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ZARR_TYPE = "application/vnd.zarr"

S2_ITEM_EXTENSIONS = [
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
]


def _eo_band(band) -> dict:
    return {
        "name": band.key,
        "common_name": band.common_name,
        "description": band.description,
        "center_wavelength": band.wavelength_um,
        "full_width_half_max": band.fwhm_um,
    }


def footprint_lonlat(bounds_utm: Sequence[float], epsg: int = EPSG, densify: int = 8) -> tuple[dict, list[float]]:
    """GeoJSON polygon and bbox in lon/lat of a UTM rectangle.

    Examples
    --------
    >>> geom, bbox = footprint_lonlat([310800, 6236800, 313200, 6239200])
    >>> geom["type"], round(bbox[0], 2)
    ('Polygon', 18.95)
    """
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = bounds_utm
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    t = np.linspace(0, 1, densify + 1)[:-1]
    xs = np.concatenate(
        [xmin + (xmax - xmin) * t, np.full_like(t, xmax), xmax - (xmax - xmin) * t, np.full_like(t, xmin)]
    )
    ys = np.concatenate(
        [np.full_like(t, ymax), ymax - (ymax - ymin) * t, np.full_like(t, ymin), ymin + (ymax - ymin) * t]
    )
    lon, lat = to_lonlat.transform(xs, ys)
    ring = [[round(float(x), 9), round(float(y), 9)] for x, y in zip(lon, lat)]
    ring.append(ring[0])
    bbox = [round(float(min(lon)), 9), round(float(min(lat)), 9), round(float(max(lon)), 9), round(float(max(lat)), 9)]
    return {"type": "Polygon", "coordinates": [ring]}, bbox


def s2_item_document(
    acq: Acquisition, bounds_utm: Sequence[float], size_px: int, properties_from_scl: dict, asset_dir: str
) -> dict:
    """The STAC Item of one acquisition, with Earth Search v1's properties and extensions.

    Notes
    -----
    Long because: most of it is the literal Item (assets, properties, extensions), kept whole so that it reads like
    the JSON it writes.
    """
    xmin, _ymin, _xmax, ymax = bounds_utm
    geometry, bbox = footprint_lonlat(bounds_utm)
    assets: dict[str, dict] = {}
    for band in S2_BANDS:
        n = size_px * 10 // band.resolution_m
        assets[band.key] = {
            "href": f"{asset_dir}/{band.key}.tif",
            "type": COG_TYPE,
            "title": f"{band.description} - {band.resolution_m}m",
            "eo:bands": [_eo_band(band)],
            "gsd": band.resolution_m,
            "proj:shape": [n, n],
            "proj:transform": [band.resolution_m, 0, xmin, 0, -band.resolution_m, ymax],
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": band.resolution_m,
                    "scale": 0.0001,
                    "offset": -0.1,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    assets["scl"] = {
        "href": f"{asset_dir}/scl.tif",
        "type": COG_TYPE,
        "title": "Scene classification map (SCL)",
        "proj:shape": [size_px // 2, size_px // 2],
        "proj:transform": [20, 0, xmin, 0, -20, ymax],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    assets["visual"] = {
        "href": f"{asset_dir}/visual.tif",
        "type": COG_TYPE,
        "title": "True color image",
        "eo:bands": [_eo_band(b) for b in S2_BANDS if b.key in ("red", "green", "blue")][::-1],
        "proj:shape": [size_px, size_px],
        "proj:transform": [10, 0, xmin, 0, -10, ymax],
        "roles": ["visual"],
    }
    datetime = f"{acq.date:%Y-%m-%d}T08:4{acq.index % 10}:{(acq.index * 7) % 60:02d}.024000Z"
    letter = acq.platform[-1].upper()
    properties = {
        "created": f"{acq.date:%Y-%m-%d}T12:00:00.000Z",
        "platform": acq.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": properties_from_scl["eo:cloud_cover"],
        "proj:epsg": EPSG,
        "mgrs:utm_zone": int(MGRS_TILE[:2]),
        "mgrs:latitude_band": MGRS_TILE[2],
        "mgrs:grid_square": MGRS_TILE[3:],
        "grid:code": f"MGRS-{MGRS_TILE}",
        "view:sun_azimuth": round(acq.sun_azimuth, 6),
        "view:sun_elevation": round(acq.sun_elevation, 6),
        **{k: v for k, v in properties_from_scl.items() if k.startswith("s2:")},
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": PROCESSING_BASELINE,
        "s2:product_uri": (
            f"S2{letter}_MSIL2A_{acq.date:%Y%m%d}T083601_N0510_R064_T{MGRS_TILE}_{acq.date:%Y%m%d}T120000.SAFE"
        ),
        "s2:datatake_type": "INS-NOBS",
        "s2:sequence": "0",
        "datetime": datetime,
        "earthsearch:boa_offset_applied": False,
        "processing:software": {"geoml-demo": __version__},
        "geoml:synthetic": True,
        "updated": f"{acq.date:%Y-%m-%d}T12:00:00.000Z",
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": S2_ITEM_EXTENSIONS + ["https://stac-extensions.github.io/processing/v1.1.0/schema.json"],
        "id": acq.item_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "links": [
            {
                "rel": "collection",
                "href": "./collection.json",
                "type": "application/json",
                "title": "Sentinel-2 Level-2A (geoml synthetic demo)",
            }
        ],
        "assets": assets,
        "collection": S2_COLLECTION_ID,
    }


def s2_collection_document(bbox: Sequence[float], start: str, end: str) -> dict:
    """The ``sentinel-2-l2a`` Collection with ``item_assets``, like Earth Search's."""
    item_assets: dict[str, dict] = {}
    for band in S2_BANDS:
        item_assets[band.key] = {
            "title": band.description,
            "type": COG_TYPE,
            "eo:bands": [_eo_band(band)],
            "gsd": band.resolution_m,
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": band.resolution_m,
                    "scale": 0.0001,
                    "offset": -0.1,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    item_assets["scl"] = {
        "title": "Scene classification map (SCL)",
        "type": COG_TYPE,
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    item_assets["visual"] = {"title": "True color image", "type": COG_TYPE, "roles": ["visual"]}
    return {
        "type": "Collection",
        "id": S2_COLLECTION_ID,
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
        ],
        "title": "Sentinel-2 Level-2A (geoml synthetic demo)",
        "description": (
            "A deterministic, synthetic Sentinel-2 L2A-like time series over the Cape Floristic Region "
            "(UTM 34S), shaped like Earth Search v1's sentinel-2-l2a collection. Not real data."
        ),
        "keywords": ["sentinel", "earth observation", "synthetic", "fynbos"],
        "license": "CC0-1.0",
        "providers": [{"name": "geoml", "roles": ["producer", "processor", "host"]}],
        "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[start, end]]}},
        "summaries": {
            "platform": ["sentinel-2a", "sentinel-2b"],
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [10, 20, 60],
            "eo:bands": [_eo_band(b) for b in S2_BANDS],
        },
        "item_assets": item_assets,
        "links": [],
    }


def hyperspectral_documents(
    bounds_utm: Sequence[float], wavelengths_nm: np.ndarray, size_px: int, datetime: str
) -> tuple[dict, dict]:
    """Collection and Item of the EnMAP-like scene (COG and zarr assets).

    Notes
    -----
    Long because: most of it is the literal Collection and Item, kept whole so that they read like the JSON they
    write.
    """
    geometry, bbox = footprint_lonlat(bounds_utm)
    xmin, _ymin, _xmax, ymax = bounds_utm
    bands = [
        {
            "name": f"b{i + 1:03d}",
            "center_wavelength": round(float(w) / 1000.0, 5),
            "full_width_half_max": round(float(wavelengths_nm[1] - wavelengths_nm[0]) * 1.2 / 1000.0, 5),
        }
        for i, w in enumerate(wavelengths_nm)
    ]
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": f"ENMAP_LIKE_L2A_{datetime[:10].replace('-', '')}",
        "geometry": geometry,
        "bbox": bbox,
        "properties": {
            "datetime": datetime,
            "platform": "enmap-like",
            "instruments": ["hsi"],
            "gsd": 30,
            "eo:cloud_cover": 0.0,
            "proj:epsg": EPSG,
            "proj:shape": [size_px, size_px],
            "proj:transform": [30, 0, xmin, 0, -30, ymax],
            "geoml:synthetic": True,
        },
        "links": [{"rel": "collection", "href": "./collection.json", "type": "application/json"}],
        "assets": {
            "reflectance": {
                "href": "hyperspectral/enmap_like_l2a.tif",
                "type": COG_TYPE,
                "title": "Surface reflectance, all bands (int16, scale 0.0001)",
                "eo:bands": bands,
                "raster:bands": [
                    {"nodata": -9999, "data_type": "int16", "scale": 0.0001, "offset": 0, "spatial_resolution": 30}
                ],
                "roles": ["data", "reflectance"],
            },
            "zarr": {
                "href": "hyperspectral/enmap_like_l2a.zarr",
                "type": ZARR_TYPE,
                "title": "Surface reflectance cube (band, y, x) as zarr",
                "roles": ["data", "reflectance"],
            },
        },
        "collection": HYPERSPECTRAL_COLLECTION_ID,
    }
    collection = {
        "type": "Collection",
        "id": HYPERSPECTRAL_COLLECTION_ID,
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "title": "EnMAP-like L2A hyperspectral scene (geoml synthetic demo)",
        "description": "A synthetic imaging-spectrometer scene (420-2450 nm, 30 m) of the demo valley. Not real data.",
        "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[datetime, datetime]]}},
        "summaries": {"gsd": [30], "instruments": ["hsi"]},
        "links": [],
    }
    return collection, item
