"""An Earth Search replica: real-shaped Sentinel-2 L2A items, full MGRS tiles and HTTP range reads, offline.

For a project's labels, AOI and date range, the replica holds what Earth Search
v1's ``sentinel-2-l2a`` collection would: one item per MGRS tile and datatake
(two tiles in two UTM zones where the AOI straddles a zone boundary, two
relative orbits with partial swaths), the metadata variants over time
(processing baselines 02.14 to 05.xx, ``earthsearch:boa_offset_applied``,
``proj:code`` without ``proj:epsg``, a 100 % cloudy scene, a missing asset),
and full-size 10980 x 10980 COGs, sparse outside the AOI, in Earth Search's key
layout on a real S3-compatible store, read with GDAL's ``/vsicurl/``. The
pixels are SYNTHETIC: painted from the project's own label classes with the
demo's mixing model, clouds, shadows and SCL.

Modules, one concept each:

``grid``    The Sentinel-2 MGRS tile grid (which tiles, CRS, transforms, shapes).
``items``   Datatakes, items and the collection, shaped like the real documents.
``paint``   Pixel content: class signatures, background land cover, clouds, SCL.
``assets``  Full-size sparse COGs written directly in the COG layout.
``build``   :class:`ReplicaSpec` and the atomic :func:`build_replica`.
``server``  :func:`serve_replica`: STAC API + object store on 127.0.0.1.

Command line: ``python -m geoml_helpers.replica serve --labels PATH --class-column COL --datetime A/B``.

Examples
--------
>>> from geoml_helpers.replica import tiles_for_aoi
>>> [t.name for t in tiles_for_aoi((11.98, 47.86, 12.02, 47.88))]
['32UQU', '33UTP']
"""

from geoml_helpers.replica.assets import overview_count, write_sparse_cog
from geoml_helpers.replica.build import (
    SOURCE_NAME,
    ReplicaData,
    ReplicaSpec,
    build_replica,
    ensure_replica,
    open_replica,
)
from geoml_helpers.replica.grid import S2Tile, TileGridError, tile_by_name, tiles_for_aoi
from geoml_helpers.replica.items import (
    BASELINES,
    COLLECTION_ID,
    Datatake,
    ItemPlan,
    baseline_on,
    collection_document,
    item_document,
    plan_datatakes,
    plan_items,
)
from geoml_helpers.replica.paint import SYNTHETIC_NOTE, ClassSignature, class_signature
from geoml_helpers.replica.server import RunningReplica, serve_replica, start_replica, upload_objects

__all__ = [
    "BASELINES",
    "COLLECTION_ID",
    "ClassSignature",
    "Datatake",
    "ItemPlan",
    "ReplicaData",
    "ReplicaSpec",
    "RunningReplica",
    "S2Tile",
    "SOURCE_NAME",
    "SYNTHETIC_NOTE",
    "TileGridError",
    "baseline_on",
    "build_replica",
    "class_signature",
    "collection_document",
    "ensure_replica",
    "item_document",
    "open_replica",
    "overview_count",
    "plan_datatakes",
    "plan_items",
    "serve_replica",
    "start_replica",
    "tile_by_name",
    "tiles_for_aoi",
    "upload_objects",
    "write_sparse_cog",
]
