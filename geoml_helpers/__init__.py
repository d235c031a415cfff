"""geoml_helpers: the small, tested package behind the geoml notebooks.

The package follows the course's pipeline, one subpackage per stage. Importing
``geoml_helpers`` does no I/O and imports no stage; every path, profile and
server is resolved when a function is called.

Stage map
---------
==================  ========================================================  ==========
subpackage          what it holds                                             notebook
==================  ========================================================  ==========
``core``            errors (each names its fix), profiles, atomic writes      all
``discover``        STAC search, STAC metadata, labels                        01
``load``            STAC loading, preparation, the cube, COGs, rasterising    02
``explore``         plotting helpers and the dashboard                        03
``learn``           features, sampling, spatial CV, lazy prediction           04
``learn.deep``      torchgeo data, datamodule, models, training, xbatcher     05, 06
``scale``           dask clusters, rechunking                                 07
``publish``         tiled inference, STAC publishing, area estimation         08
``services``        local processes, the STAC API, the object store           01, 07, 08
``course``          the notebook runner, environment check, book builder      00, book
``demo``            the deterministic synthetic world behind the demo         01-08
``replica``         an offline Earth Search replica for any project's AOI     01-08
==================  ========================================================  ==========

The command line ``geoml`` (:mod:`geoml_helpers.cli`) runs the stages in this order.

Examples
--------
>>> import geoml_helpers
>>> geoml_helpers.STAGES[0]
'core'
"""

__version__ = "0.1.0"

STAGES: tuple[str, ...] = (
    "core",
    "discover",
    "load",
    "explore",
    "learn",
    "scale",
    "publish",
    "services",
    "course",
    "demo",
    "replica",
)
"""The stage subpackages in pipeline order."""

__all__ = ["STAGES", "__version__"]
