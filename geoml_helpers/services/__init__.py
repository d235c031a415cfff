"""Services: local processes, the STAC API server, the S3-compatible object store, their addresses behind a proxy.

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
    close_s3_sessions_on_their_own_loop,
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
from geoml_helpers.services.proxy import (
    DASK_DEFAULT_LINK,
    app_url,
    dask_dashboard_link,
    jupyter_base_url,
    use_proxy_for_dask_dashboard,
)
from geoml_helpers.services.stac_server import (
    LocalStacServer,
    main,
)

__all__ = [
    "close_s3_sessions_on_their_own_loop",
    "BucketExistsError",
    "DASK_DEFAULT_LINK",
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "HOST",
    "LocalObjectStore",
    "LocalStacServer",
    "ObjectStoreError",
    "ObjectStoreUnreachableError",
    "ServerProcess",
    "StorePorts",
    "app_url",
    "check_endpoint",
    "connect_s3",
    "create_bucket",
    "dask_dashboard_link",
    "die_with_parent",
    "free_port",
    "jupyter_base_url",
    "main",
    "port_is_free",
    "terminate_process",
    "upload_tree",
    "use_proxy_for_dask_dashboard",
    "weed_executable",
]
