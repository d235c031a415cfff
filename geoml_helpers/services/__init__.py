"""Services: local processes, the STAC API server and the S3-compatible object store.

Used by notebooks 01, 07 and 08. Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.services.object_store import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    BucketExistsError,
    LocalObjectStore,
    ObjectStoreError,
    ObjectStoreUnreachableError,
    StorePorts,
    check_endpoint,
    connect_s3,
    create_bucket,
    upload_tree,
    weed_executable,
)
from geoml_helpers.services.processes import (
    HOST,
    ServerProcess,
    die_with_parent,
    free_port,
    port_is_free,
    terminate_process,
)
from geoml_helpers.services.stac_server import (
    LocalStacServer,
    main,
)

__all__ = [
    "BucketExistsError",
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "HOST",
    "LocalObjectStore",
    "LocalStacServer",
    "ObjectStoreError",
    "ObjectStoreUnreachableError",
    "ServerProcess",
    "StorePorts",
    "check_endpoint",
    "connect_s3",
    "create_bucket",
    "die_with_parent",
    "free_port",
    "main",
    "port_is_free",
    "terminate_process",
    "upload_tree",
    "weed_executable",
]
