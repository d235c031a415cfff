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
