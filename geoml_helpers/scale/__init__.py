"""Scale: dask clusters and rechunking to zarr.

Used by notebook 07 (scaling out). Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.scale.clusters import (
    HOST,
    CLUSTER_KINDS,
    COILED_API,
    ClusterConfigError,
    CoiledCredentialsError,
    ClusterHandle,
    coiled_credentials,
    check_coiled_ready,
    worker_environment,
    start_cluster,
)
from geoml_helpers.scale.rechunk import (
    LAYOUTS,
    ACCESS_PATTERNS,
    LayoutError,
    layout_chunks,
    rechunk_to_zarr,
    AccessResult,
    measure_access,
    access_table,
    Throughput,
    read_throughput,
    TIERS,
    decision_table,
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
