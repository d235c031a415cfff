"""Discover: STAC search, STAC metadata and training labels.

Used by notebook 01 (discover data). Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.discover.labels import (
    REQUIRED_COLUMNS,
    LabelReport,
    validate_labels,
    read_labels,
    rasterize_labels,
    class_means,
)
from geoml_helpers.discover.stac_metadata import (
    EARTH_SEARCH_TO_BAND_ID,
    BAND_ID_TO_EARTH_SEARCH,
    NON_REFLECTANCE_KEYS,
    Scaling,
    asset_key,
    canonical_band_name,
    reflectance_scaling,
    item_epsg,
    band_resolutions,
)
from geoml_helpers.discover.stac_search import (
    EARTH_SEARCH_URL,
    STAC_APIS,
    DEFAULT_COLLECTION,
    check_reachable,
    supported_cloud_filter,
    StacSource,
    open_stac_source,
    SearchResult,
    search_items,
)

__all__ = [
    "BAND_ID_TO_EARTH_SEARCH",
    "DEFAULT_COLLECTION",
    "EARTH_SEARCH_TO_BAND_ID",
    "EARTH_SEARCH_URL",
    "LabelReport",
    "NON_REFLECTANCE_KEYS",
    "REQUIRED_COLUMNS",
    "STAC_APIS",
    "Scaling",
    "SearchResult",
    "StacSource",
    "asset_key",
    "band_resolutions",
    "canonical_band_name",
    "check_reachable",
    "class_means",
    "item_epsg",
    "open_stac_source",
    "rasterize_labels",
    "read_labels",
    "reflectance_scaling",
    "search_items",
    "supported_cloud_filter",
    "validate_labels",
]
