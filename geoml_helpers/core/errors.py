"""Exceptions raised by geoml_helpers.

Every message says what went wrong *and* what to do about it, because most
readers meet these errors in a notebook during a workshop.
"""

from __future__ import annotations


class GeomlError(Exception):
    """Base class of every error raised on purpose by geoml_helpers."""


class UnknownProfileError(GeomlError, ValueError):
    """A profile name other than ``ci``, ``workshop`` or ``full`` was given."""


class DataDirectoryError(GeomlError, OSError):
    """The data directory cannot be created or written to."""


class IncompleteDataError(GeomlError, FileNotFoundError):
    """Demo data is missing or was only partly built."""


class PortInUseError(GeomlError, OSError):
    """The requested TCP port is already taken by another process."""


class StacApiUnreachableError(GeomlError, ConnectionError):
    """A STAC API did not answer in time."""


class EmptySearchError(GeomlError, LookupError):
    """A STAC search matched no items."""


class MissingDependencyError(GeomlError, ImportError):
    """An optional package needed for this step is not installed."""


class OfflineError(GeomlError, ConnectionError):
    """An opt-in online path was asked for, but the network cannot be reached."""


class LabelError(GeomlError, ValueError):
    """Label polygons are unusable as given (CRS, geometry, extent)."""


class BookError(GeomlError, RuntimeError):
    """The course book cannot be built or failed a check; the message names the page and the fix."""


class ProjectFileError(GeomlError, ValueError):
    """A project TOML file has an unknown key, a wrong type or a bad value; the message names the key and the fix."""


class UnknownSourceError(GeomlError, ValueError):
    """A STAC source name is neither a known name nor a URL; the message lists the known names."""


class SourceCheckError(GeomlError, ValueError):
    """A STAC collection differs from what the course assumes; the message names the field and the fix."""


class AoiTooLargeError(GeomlError, ValueError):
    """The imagery of an AOI and date range exceeds what a profile allows; the message gives the volume and the tier."""
