"""Discover: STAC search, STAC metadata and training labels.

Used by notebook 01 (discover data). Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.discover.labels import (
    REQUIRED_COLUMNS,
    LabelReport,
    class_means,
    rasterize_labels,
    read_labels,
    validate_labels,
)
from geoml_helpers.discover.stac_metadata import (
    BAND_ID_TO_EARTH_SEARCH,
    EARTH_SEARCH_TO_BAND_ID,
    NON_REFLECTANCE_KEYS,
    Scaling,
    asset_key,
    band_resolutions,
    canonical_band_name,
    item_epsg,
    reflectance_scaling,
)
from geoml_helpers.discover.stac_search import (
    DEFAULT_COLLECTION,
    EARTH_SEARCH_URL,
    STAC_APIS,
    SearchResult,
    StacSource,
    check_reachable,
    open_stac_source,
    search_items,
    supported_cloud_filter,
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
