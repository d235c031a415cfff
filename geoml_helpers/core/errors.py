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


# --- discover / load ---------------------------------------------------------------------------------------------


class LoadingError(GeomlError, ValueError):
    """Items cannot be loaded onto the requested grid as asked; the message names the item or band and the fix."""


# --- learn -------------------------------------------------------------------------------------------------------


class FeatureInputError(GeomlError, ValueError):
    """The reflectance array or its band names cannot produce the features.

    Pass ``(time, band, y, x)`` with named bands.
    """


class TooFewSamplesError(GeomlError, ValueError):
    """A class has too few samples (or groups) for the folds asked for; use fewer folds or label more polygons."""


class UncertaintyError(GeomlError, ValueError):
    """Inputs that cannot give an interval (lengths differ, a single block or polygon); hold out more units."""


class FewPolygonsWarning(UserWarning):
    """A class has fewer polygons in a split than a score needs; digitise more or merge the class."""


class UnknownModelError(GeomlError, ValueError):
    """An unknown architecture, backbone or weights name; the message lists the valid names."""


class NoPolygonLabelsError(LabelError):
    """A project with point labels only: segmentation needs polygons; digitise polygons or use the pixel classifier."""


class BandMissingError(GeomlError, KeyError):
    """A band asked for is not in the scene (no asset, or no file on disk); the message lists the bands there are."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class ChipSizeError(GeomlError, ValueError):
    """A chip does not fit inside the regions (spatial blocks) it must be drawn from; use a smaller ``chip_size``."""


class DatasetLayoutError(GeomlError, ValueError):
    """A dataset or file is not laid out as the fast path needs (grid, tiles, bands).

    Rebuild it with ``build_chip_stack``.
    """


class InputDimsError(GeomlError, ValueError):
    """``input_dims`` do not fit the cube (unknown dimension, larger than the cube, overlapping val/test tiles).

    The message gives sizes that fit.
    """


class EmptyDatasetError(GeomlError, ValueError):
    """No sample holds a single usable target pixel for the split.

    Check the split's blocks, the labels and ``drop_nan``.
    """


class ChunkAlignmentWarning(UserWarning):
    """``input_dims`` and the zarr chunks disagree, so every sample reads more than it needs.

    Rechunk with ``rechunk_to_zarr``.
    """


class WholeCubeReadWarning(ChunkAlignmentWarning):
    """The cube is one chunk along the sampled dimensions, so every sample decompresses all of it.

    Rechunk with ``rechunk_to_zarr``.
    """


# --- scale -------------------------------------------------------------------------------------------------------


class LayoutError(GeomlError, ValueError):
    """Unknown chunk layout or access pattern; the message lists the valid ones."""


class ClusterConfigError(GeomlError, ValueError):
    """Unknown cluster kind or unusable cluster settings; the message lists the kinds and settings that work."""


class CoiledCredentialsError(GeomlError, PermissionError):
    """coiled is asked for but no credentials are configured; run ``coiled login`` or use the local cluster."""


# --- publish -----------------------------------------------------------------------------------------------------


class TiledInferenceError(GeomlError, ValueError):
    """Tile settings or model output that cannot work (overlap not smaller than the tile, wrong output shape)."""


class ModelFileError(GeomlError, FileNotFoundError):
    """A model file is missing or unreadable.

    Run notebook 04 to train and save one, or retrain with this library version.
    """


class ModelMismatchError(GeomlError, ValueError):
    """A model expects other input features/bands than the cube provides.

    Build the features as in training, or retrain.
    """


class StacValidationError(GeomlError, ValueError):
    """A STAC document does not validate; the message lists the schema errors to fix."""


class AreaEstimationError(GeomlError, ValueError):
    """Inputs that cannot give an area estimate (shapes, empty strata); the message names the input to fix."""


# --- services and course -----------------------------------------------------------------------------------------


class ObjectStoreError(GeomlError, OSError):
    """The local object store could not start or misbehaved; the message points to its log."""


class ObjectStoreUnreachableError(GeomlError, ConnectionError):
    """An S3 endpoint did not answer; start the local store or check the endpoint URL."""


class BucketExistsError(GeomlError, FileExistsError):
    """A bucket that should be new already exists; choose another name or pass ``exist_ok=True``."""


class NotebookFailed(GeomlError, RuntimeError):
    """A notebook raised; the message names the notebook and the cell, and the executed copy to open."""


class TileGridError(GeomlError, ValueError):
    """An MGRS tile name or an AOI cannot be placed on the Sentinel-2 grid; the message gives the valid form."""


class MissingCredentialsError(GeomlError, PermissionError):
    """An opt-in online service was asked for, but its credentials are not set.

    The message names the variable to set.
    """
