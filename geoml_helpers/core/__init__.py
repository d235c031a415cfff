"""Core: errors, course profiles and atomic file writes used by every stage.

Used by all notebooks. Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.core.classes import (
    NODATA_CLASS,
    PALETTE,
    ClassInfo,
    ClassTable,
)
from geoml_helpers.core.errors import (
    GeomlError,
    UnknownProfileError,
    DataDirectoryError,
    IncompleteDataError,
    PortInUseError,
    StacApiUnreachableError,
    EmptySearchError,
    MissingDependencyError,
    OfflineError,
    LabelError,
)
from geoml_helpers.core.profiles import (
    PROFILE_NAMES,
    DemoProfile,
    _PROFILES,
    get_profile,
    find_project_root,
    data_root,
    ensure_writable,
    outputs_dir,
)

__all__ = [
    "NODATA_CLASS",
    "PALETTE",
    "ClassInfo",
    "ClassTable",
    "DataDirectoryError",
    "DemoProfile",
    "EmptySearchError",
    "GeomlError",
    "IncompleteDataError",
    "LabelError",
    "MissingDependencyError",
    "OfflineError",
    "PROFILE_NAMES",
    "PortInUseError",
    "StacApiUnreachableError",
    "UnknownProfileError",
    "_PROFILES",
    "data_root",
    "ensure_writable",
    "find_project_root",
    "get_profile",
    "outputs_dir",
]
