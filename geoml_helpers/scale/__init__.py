"""Scale: dask clusters and rechunking to zarr.

Used by notebook 07 (scaling out). Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.scale.clusters import (
    CLUSTER_KINDS,
    COILED_API,
    HOST,
    ClusterConfigError,
    ClusterHandle,
    CoiledCredentialsError,
    check_coiled_ready,
    coiled_credentials,
    start_cluster,
    worker_environment,
)
from geoml_helpers.scale.rechunk import (
    ACCESS_PATTERNS,
    LAYOUTS,
    TIERS,
    AccessResult,
    LayoutError,
    Throughput,
    access_table,
    decision_table,
    layout_chunks,
    measure_access,
    read_throughput,
    rechunk_to_zarr,
)

__all__ = [
    "ACCESS_PATTERNS",
    "AccessResult",
    "CLUSTER_KINDS",
    "COILED_API",
    "ClusterConfigError",
    "ClusterHandle",
    "CoiledCredentialsError",
    "HOST",
    "LAYOUTS",
    "LayoutError",
    "TIERS",
    "Throughput",
    "access_table",
    "check_coiled_ready",
    "coiled_credentials",
    "decision_table",
    "layout_chunks",
    "measure_access",
    "read_throughput",
    "rechunk_to_zarr",
    "start_cluster",
    "worker_environment",
]
