"""The embedded demo world: a deterministic, synthetic piece of the Cape Floristic Region.

Submodules, one concept each:

``classes``       The land-cover classes and their colours.
``landscape``     A spatially coherent land-cover map with terrain and fields.
``spectra``       Endmember spectra and per-class, per-season mixing (phenology).
``sentinel2``     Sentinel-2 L2A-like acquisitions: reflectance, clouds, SCL, COGs, STAC items.
``hyperspectral`` An EnMAP-like cube (about 200 bands, 30 m) as COG and zarr.
``labels``        Label polygons, spatial blocks and their train/val/test split.
``build``         Builds a whole profile atomically; ``ensure_demo_data`` builds on demand.
``user_project``  A user-style labels file and project TOML made from the demo's labels (tests, trying ``geoml init``).

Build from the command line with ``python -m geoml_helpers.demo build --profile ci``.
"""

from geoml_helpers.demo.build import DemoData, build_demo_data, ensure_demo_data, open_demo_data
from geoml_helpers.demo.user_project import USER_CLASS_COLUMN, USER_CLASS_NAMES, write_user_labels, write_user_project

__all__ = [
    "USER_CLASS_COLUMN",
    "USER_CLASS_NAMES",
    "DemoData",
    "build_demo_data",
    "ensure_demo_data",
    "open_demo_data",
    "write_user_labels",
    "write_user_project",
]
