"""geoml_helpers: the small, tested package behind the geoml notebooks.

Importing this package does no I/O and reads no configuration; every path,
profile and server is resolved when a function is called.

Modules
-------
profiles      Course profiles (``ci``, ``workshop``, ``full``) and the data directory.
errors        The exceptions the helpers raise, each naming its fix.
demo          The deterministic synthetic Sentinel-2 / hyperspectral / labels world.
stac_server   A real STAC API (rustac) on 127.0.0.1 as a context manager and a CLI.
stac_search   Searching an API the same way for the demo server and Earth Search.
stac_metadata Scale/offset, projection and asset-key handling for real and demo items.
runner        The papermill runner that executes every notebook in a profile.
"""

__version__ = "0.1.0"
