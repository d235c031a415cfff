"""Read throughput: local disk (baseline) vs. COG over HTTP and zarr on a real S3-compatible store.

Runs offline on the demo data: starts SeaweedFS on 127.0.0.1 (geoml_helpers.services.object_store), uploads the
analysis-ready cube (time-series chunks) and its composite COG, and times full reads, best of ``--repeats``.
Prints each source's MB/s and its ratio to the local-disk baseline measured in the same run, and writes
``build/benchmarks/object_store_throughput.json``.

    python benchmarks/object_store_throughput.py --profile ci
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import rasterio
import xarray as xr

from geoml_helpers.learn.deep.loader_benchmark import write_benchmark_json
from geoml_helpers.load.cube import ensure_analysis_ready_cube, ensure_composite_cog
from geoml_helpers.scale.rechunk import decision_table, read_throughput, rechunk_to_zarr
from geoml_helpers.services.object_store import LocalObjectStore

GDAL_HTTP = dict(
    GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
    VSI_CACHE=False,
    GDAL_CACHEMAX=16 * 2**20,
)  # bytes: rasterio passes an int to GDALSetCacheMax64


def read_cog(path: str) -> int:
    """Read every band of the COG at ``path`` (local or ``s3://``) and return the bytes read."""
    with rasterio.Env(**GDAL_HTTP), rasterio.open(path) as src:
        return src.read().nbytes


def main(argv: list[str] | None = None) -> int:
    """Time reads from local disk, a COG over HTTP and zarr on the S3-compatible store; write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="build/benchmarks/object_store_throughput.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")

    cube = ensure_analysis_ready_cube(args.profile, args.data_dir)
    composite = ensure_composite_cog(args.profile, args.data_dir)
    with tempfile.TemporaryDirectory(prefix="geoml-bench-") as tmp, LocalObjectStore() as store:
        local_zarr = Path(tmp) / "cube.zarr"
        rechunk_to_zarr(cube, local_zarr, "timeseries")
        fs = store.filesystem()
        store.create_bucket("bench")
        fs.put_file(str(composite), "bench/composite.tif")
        rechunk_to_zarr(cube, "s3://bench/cube.zarr", "timeseries", storage_options=store.storage_options)
        cog_url = "/vsicurl/" + store.http_url("bench", "composite.tif")
        sources = {
            "local_disk": lambda: read_cog(str(composite)),
            "cog_object_store": lambda: read_cog(cog_url),
            "zarr_local_disk": lambda: xr.open_zarr(local_zarr)["reflectance"].values.nbytes,
            "zarr_object_store": lambda: (
                xr.open_zarr("s3://bench/cube.zarr", storage_options=store.storage_options)["reflectance"].values.nbytes
            ),
        }
        results = {name: read_throughput(name, read, repeats=args.repeats) for name, read in sources.items()}
    baseline = results["local_disk"].mb_per_s
    rows = [
        {
            "source": r.source,
            "megabytes": round(r.megabytes, 3),
            "seconds": round(r.seconds, 4),
            "mb_per_s": round(r.mb_per_s, 1),
            "ratio_to_local_disk": round(r.mb_per_s / baseline, 3),
        }
        for r in results.values()
    ]
    print(f"{'source':<20}{'MB':>9}{'s':>9}{'MB/s':>9}{'x local':>9}")
    for row in rows:
        print(
            f"{row['source']:<20}{row['megabytes']:>9.2f}{row['seconds']:>9.3f}{row['mb_per_s']:>9.1f}"
            f"{row['ratio_to_local_disk']:>9.2f}"
        )
    table = decision_table(results)
    print(table.round(3).to_string(index=False))
    payload = {
        "profile": args.profile,
        "baseline": "local_disk",
        "rows": rows,
        "decision_table": table.to_dict("records"),
    }
    output = write_benchmark_json(Path(args.output).stem, payload, Path(args.output).parent)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
