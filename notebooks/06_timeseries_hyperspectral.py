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
# # 06 · Time series and hyperspectral deep learning from zarr, with a loader that keeps the model busy
#
# Satellite time series are 4-D `(time, band, y, x)` and hyperspectral scenes have hundreds of bands. Most geospatial
# deep-learning libraries expect 3-D images, so we build the loader ourselves: the cube stays on disk as **zarr**,
# **xbatcher** cuts it into samples, a small map-style PyTorch `Dataset` adds the labels, and **Lightning** trains.
# A naive version of that pipeline spends most of each epoch *waiting for data*; we measure it, and tune it.
#
# **Learning objectives**
#
# * Rasterise label polygons and spatial-block splits onto a cube's grid.
# * Choose xbatcher `input_dims` that match the zarr chunks, and rechunk when they cannot.
# * Train a temporal CNN on pixel time series (Task A) and a spectral CNN on hyperspectral patches (Task B) with
#   `Trainer(accelerator="auto")`, an offline `WandbLogger`, checkpointing and a seed.
# * Report per-class F1 and overall accuracy on held-out test blocks, and compare with notebook 04's random forest.
# * Measure the loader knobs: chunk alignment, dask inside workers, `num_workers`/`persistent_workers`/`prefetch_factor`,
#   and reading straight from zarr versus through dask.
# * Read which wavelengths a model relies on with gradient saliency.
#
# **Prerequisites:** notebook 02 (the analysis-ready cube; this notebook builds it if it is missing) and notebook 04
# (the random forest we compare with; skipped with a message if it has not run).
#
# **Expected run time** (2 CPU cores): `ci` about 2-4 minutes, `workshop` about 6-9 minutes, `full` much longer (use a GPU).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"
data_dir = None
seed = 42
wandb_mode = "offline"  # "online" needs `wandb login` and a network
num_workers = None  # workers of the tuned DataLoader, None means one per core

# %%
import os
import time
import warnings

os.environ.setdefault("WANDB_MODE", wandb_mode)
os.environ.setdefault("WANDB_SILENT", "true")

import holoviews as hv
import hvplot.pandas  # noqa: F401
import hvplot.xarray  # noqa: F401
import lightning as L
import numpy as np
import pandas as pd
import torch
import xarray as xr
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from myst_nb import glue

from geoml_helpers.core import resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_lines, class_map, record_plot_bounds
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.learn import block_bootstrap, polygon_index_raster, valid_pixel_mask
from geoml_helpers.learn.deep import ChunkAlignmentWarning, LoaderSettings
from geoml_helpers.learn.deep import XBatcherDataset
from geoml_helpers.learn.deep import LiveProgress, PatchModule, PixelTileModule
from geoml_helpers.learn.deep import band_statistics, check_input_dims, class_weights
from geoml_helpers.learn.deep import finish_wandb, fit, gradient_saliency, make_loader
from geoml_helpers.learn.deep import measure_loader
from geoml_helpers.learn.deep import predict_labels, quiet_lightning
from geoml_helpers.load import SPLIT_CODES, ensure_project_cube, project_outputs_dir
from geoml_helpers.load import rasterize_labels, rasterize_splits
from geoml_helpers.scale import rechunk_to_zarr

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")
started = time.perf_counter()
# DataLoader workers need CPU too: on a small machine the training process does best
# with one thread (with two it fights the workers for the cores: 10x slower steps).
torch.set_num_threads(1)
L.seed_everything(seed, workers=True, verbose=False)
KEYS = ("ts_epochs", "ts_hidden", "batch_tiles", "hs_epochs", "hs_channels", "patch",
        "bench_batches")
SETTINGS = dict(zip(KEYS, {
    "ci": (25, 32, 2, 20, 8, 5, 8),
    "workshop": (10, 48, 2, 15, 16, 5, 12),
    "full": (20, 64, 2, 20, 16, 5, 20),
}[profile]))
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
classes = prepared.classes
out = project_outputs_dir(project, profile, "06_timeseries", data_dir=data_dir)
CLASS_IDS = classes.ids  # raster ids 1..K of the project's classes
TARGET_NAMES = [classes.names[c] for c in CLASS_IDS]
SETTINGS

# %% [markdown]
# ## 1 · The cubes, opened lazily
#
# `ensure_project_cube` opens the zarr of notebook 02 (monthly cloud-free composites, `(time, band, y, x)`) and
# builds it from the project's STAC items if it is missing. Opening zarr reads only metadata: nothing is loaded yet.
# Where the project has one (the demo does), an EnMAP-like hyperspectral scene is a second zarr, `(band, y, x)`
# at 30 m with a `wavelength` coordinate.

# %%
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
refl = cube["reflectance"]
print(f"time series cube {dict(refl.sizes)}, {refl.nbytes / 1e6:.0f} MB, "
      f"zarr chunks {refl.encoding.get('chunks')}")
hs = None
if project.hyperspectral:  # only the demo world has a hyperspectral source
    from geoml_helpers.demo import ensure_demo_data

    demo = ensure_demo_data(project.demo_profile, root=data_dir, progress=False)
    hs = xr.open_zarr(demo.hyperspectral_zarr_path)["reflectance"]
    print(f"hyperspectral cube {dict(hs.sizes)}, {hs.nbytes / 1e6:.0f} MB, "
          f"zarr chunks {hs.encoding.get('chunks')}")
else:
    print(f"{project.name!r} has no hyperspectral source: "
          "Task B (section 6) is skipped.")

# %% [markdown]
# ### Labels and splits on the same grid
#
# The labels are polygons (or points); a loader needs arrays. `rasterize_labels` burns each polygon's
# `class_id` into the pixels whose centre it contains (a point into the pixel it falls in), on exactly
# the cube's grid, and `rasterize_splits` does the same with the spatial blocks (1 = train, 2 = val,
# 3 = test; blue, orange and red in the block map below). We do it twice: on the 10 m grid and on the
# 30 m hyperspectral grid.

# %%
labels_gdf, blocks_gdf = prepared.labels, prepared.blocks
labels10 = rasterize_labels(labels_gdf, refl)
splits10 = rasterize_splits(blocks_gdf, refl)
grids = [("10 m", labels10, splits10)]
if hs is not None:
    labels30 = rasterize_labels(labels_gdf, hs)
    splits30 = rasterize_splits(blocks_gdf, hs)
    grids.append(("30 m", labels30, splits30))
columns = {}
for grid, lab, spl in grids:
    for split in ("train", "test"):
        inside = (spl.values == SPLIT_CODES[split]) & (lab.values > 0)
        columns[f"{grid} {split}"] = pd.Series(lab.values[inside]).value_counts()
counts = pd.DataFrame(columns).rename(index=classes.names).fillna(0).astype(int)
counts

# %%
# The class map is reprojected to Web Mercator, with a legend of the project's
# classes; the split map is plain x/y (no map projection): see PITFALLS (UTM south).
labelled = labels10.rio.write_crs(refl.rio.crs)
label_map = class_map(labelled, classes,
                      title="Labelled pixels (10 m)", width=380, height=320)
record_plot_bounds(label_map, labelled)
split_map = splits10.hvplot.image(
    x="x", y="y", cmap=["#4c72b0", "#dd8452", "#c44e52"], clim=(0.5, 3.5),
    title="Blocks: train / val / test", data_aspect=1, frame_width=240, colorbar=False,
    xaxis=None, yaxis=None,
)
# Two coordinate systems (Web Mercator map, UTM x/y blocks): shared axes would
# stretch both over the union of their ranges and leave two empty frames.
(label_map + split_map).opts(shared_axes=False)

# %% [markdown]
# ## 2 · Knob 1: `input_dims` aligned with the zarr chunks
#
# zarr stores the cube in compressed **chunks** and always decompresses whole chunks. If a sample
# covers a small part of a big chunk, every sample pays for the whole chunk. Notebook 02 wrote
# 256 x 256 pixel chunks (all months and bands together): the `ci` cube (240 px) is a single chunk,
# and the workshop cube's 256 px chunks do not divide its 96 px blocks (the `ci` blocks are 48 px).
# `check_input_dims` says so, with the fix.

# %%
block = prepared.blocks.geometry.iloc[0].bounds
tile = int(round((block[2] - block[0]) / prepared.resolution))  # one sample, one block
input_dims = {"time": refl.sizes["time"], "band": refl.sizes["band"],
              "y": tile, "x": tile}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    check_input_dims(refl, input_dims)
for w in caught:  # what check_input_dims says, and the fix
    print(f"{w.message}\n")
glue("chunk_warnings", len(caught), display=False)

# %% [markdown]
# The fix is to **rechunk once on disk**, so that one chunk is one sample: all months and bands of one
# `tile x tile` block. It costs one pass over the cube and is reused afterwards.

# %%
tiles_path = out / "reflectance_tiles.zarr"
t0 = time.perf_counter()
tiles = rechunk_to_zarr(refl, tiles_path, {"y": tile, "x": tile})
print(f"rechunked to {tiles.encoding['chunks']} in {time.perf_counter() - t0:.1f} s; "
      f"problems left: {check_input_dims(tiles, input_dims)}")


def read_seconds(arr, n=4):
    t = time.perf_counter()
    for i in range(n):
        arr.isel(y=slice(i * tile, (i + 1) * tile), x=slice(0, tile)).values
    return (time.perf_counter() - t) / n


print(f"one sample: {read_seconds(refl) * 1000:.0f} ms from the notebook-02 chunks, "
      f"{read_seconds(tiles) * 1000:.0f} ms from aligned chunks")

# %% [markdown]
# ## 3 · Task A datasets: pixel time series from tiles
#
# `XBatcherDataset` wraps an `xbatcher.BatchGenerator`: sample *i* is the `(time, band, y, x)` tile
# *i*, the target is the tile's label raster with `-1` wherever a pixel is unlabelled or belongs to
# another split. The model only ever sees the labelled pixels of a tile, one series at a time. Along
# the way the dataset
#
# * drops tiles without a labelled pixel of its split, and tiles or pixels with no valid observation
#   at all (NaN-only), and counts them (`report`);
# * refuses overlapping val/test tiles, so each val/test pixel counts once per epoch;
# * normalises each band and sets the remaining NaN (cloudy months) to 0, the band mean.
#
# The normalisation statistics come from the **train blocks only** (`where=`), as in notebook 05:
# statistics over the whole cube would let the val and test pixels shape what the model learns from.

# %%
valid10 = valid_pixel_mask(tiles, require="any")  # pixels with at least one clear month
train10 = splits10.values == SPLIT_CODES["train"]
mean10, std10 = band_statistics(tiles, where=train10)  # train blocks only
common = dict(input_dims=input_dims, class_ids=CLASS_IDS, mean=mean10, std=std10,
              valid_mask=valid10, reader="zarr", zarr_path=tiles_path,
              variable="reflectance")
ts_data = {split: XBatcherDataset(tiles, labels10, splits10, split, **common)
           for split in ("train", "val", "test")}
reports = pd.DataFrame([vars(d.report) for d in ts_data.values()])
reports.drop(columns="warnings").set_index("split").T

# %%
x0, y0 = ts_data["train"][0]
print("one sample:", tuple(x0.shape), "target:", tuple(y0.shape),
      "labelled pixels in it:", int((y0 >= 0).sum()))
train_px = {tuple(p) for p in ts_data["train"].target_pixels()}
test_px = ts_data["test"].target_pixels()
leaked = len(train_px & {tuple(p) for p in test_px})
repeated = len(test_px) - len(np.unique(test_px, axis=0))
glue("test_pixels_leaked", leaked, display=False)
glue("test_pixels_repeated", repeated, display=False)
print(f"test pixels also trained on: {leaked}; test pixels counted twice: {repeated}")

# %% [markdown]
# ## 4 · The loader knobs, measured
#
# A GPU step takes tens of milliseconds and leaves the CPU idle meanwhile. We stand in for it with a
# **simulated 50 ms step** (`time.sleep`) and measure which share of the epoch is spent in the step.
# 100 % means the model never waits.
#
# | knob | naive | tuned | why |
# |---|---|---|---|
# | chunks vs `input_dims` | notebook-02 chunks (misaligned) | one chunk = one sample | zarr decompresses whole chunks |
# | read path | xbatcher → dask → compute | straight from zarr | a dask graph per sample costs ms |
# | `num_workers` | 0: load, then step, in turn | 2+: workers load while the step runs | overlaps I/O and compute |
# | dask inside workers | threaded (default) | `scheduler="synchronous"` (`worker_init_fn`) | N workers x M dask threads oversubscribe the cores |
# | `persistent_workers` | – | `True` | no worker start-up at every epoch |
# | `prefetch_factor` | – | 4 | each worker keeps batches ready |
#
# `benchmarks/timeseries_loading.py` measures the same on full epochs and writes a JSON table; here a
# few batches suffice.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ChunkAlignmentWarning)
    naive_data = XBatcherDataset(refl, labels10, splits10, "train",
                                 input_dims=input_dims, class_ids=CLASS_IDS,
                                 mean=mean10, std=std10, valid_mask=valid10)
dask_data = XBatcherDataset(tiles.chunk(), labels10, splits10, "train",
                            **{**common, "reader": "xarray"})
workers = num_workers or max(2, min(4, os.cpu_count() or 2))
naive = LoaderSettings.naive(SETTINGS["batch_tiles"])
tuned = LoaderSettings.tuned(SETTINGS["batch_tiles"], num_workers=workers)
pipelines = {
    "naive: notebook-02 chunks, dask, 0 workers": (naive_data, naive),
    "aligned chunks, dask, 0 workers": (dask_data, naive),
    "aligned chunks, zarr, 0 workers": (ts_data["train"], naive),
    f"tuned: aligned, zarr, {workers} workers": (ts_data["train"], tuned),
}
rows = []
for name, (dataset, settings) in pipelines.items():
    loader = make_loader(dataset, settings, shuffle=True, seed=seed)
    epochs = 2 if settings.persistent_workers else 1
    m = measure_loader(loader, step_s=0.05, epochs=epochs,
                       max_batches=SETTINGS["bench_batches"], name=name)
    rows.append({"pipeline": name, "share in step (%)": round(100 * m.step_share, 1),
                 "samples/s": round(m.samples_per_s, 1),
                 "epoch s": round(m.epoch_s, 2)})
    del loader
knobs = pd.DataFrame(rows).set_index("pipeline")
knobs

# %% [markdown]
# ## 5 · Task A: a temporal CNN on each pixel's `(time, band)` series
#
# `PixelTileModule` takes a batch of tiles, keeps the labelled pixels, and runs `TemporalCNN` on each
# pixel's series: two 1-D convolutions along time (bands as channels), then mean- and max-pooling
# over time. The loss is weighted by inverse class frequency, because some classes are rare.
# Lightning picks the accelerator (`"auto"`: a GPU when there is one), logs to Weights & Biases
# offline, and keeps the checkpoint with the best validation accuracy. One line shows the progress.


# %%
def trainer_for(task: str, epochs: int):
    folder = out / "runs" / task
    logger = WandbLogger(project="geoml", name=f"06-{task}-{profile}",
                         save_dir=str(folder), offline=wandb_mode != "online")
    checkpoint = ModelCheckpoint(dirpath=folder / "checkpoints", filename="best",
                                 monitor="val_acc", mode="max", save_top_k=1,
                                 enable_version_counter=False)
    with quiet_lightning():
        trainer = L.Trainer(accelerator="auto", max_epochs=epochs, logger=logger,
                            callbacks=[checkpoint, LiveProgress()],
                            default_root_dir=folder, deterministic=True,
                            log_every_n_steps=1, enable_model_summary=False,
                            enable_progress_bar=False)
    return trainer, checkpoint, folder


def train_targets(dataset):
    tiles_ = (dataset.selector(i) for i in range(len(dataset)))
    return np.concatenate([dataset.target_map[t["y"], t["x"]].ravel() for t in tiles_])


L.seed_everything(seed, workers=True, verbose=False)
weights = class_weights(train_targets(ts_data["train"]), len(CLASS_IDS))
ts_module = PixelTileModule(n_bands=refl.sizes["band"], n_classes=len(CLASS_IDS),
                            hidden=SETTINGS["ts_hidden"], lr=5e-3,
                            class_weights=weights)
ts_trainer, ts_ckpt, ts_folder = trainer_for("timeseries", SETTINGS["ts_epochs"])
loaders = (make_loader(ts_data["train"], tuned, shuffle=True, seed=seed),
           make_loader(ts_data["val"], naive))
t0 = time.perf_counter()
fit(ts_trainer, ts_module, None, ts_folder, resume=False, loaders=loaders)
ts_train_s = time.perf_counter() - t0
finish_wandb()
print(f"best checkpoint: val_acc {float(ts_ckpt.best_model_score):.3f}")

# %% [markdown]
# ### Evaluation on the test blocks
#
# We reload the best checkpoint and predict every labelled test pixel once. As in notebook 05, a score
# needs an interval, and the independent units are the **test polygons**: `block_bootstrap` resamples
# them (1000 times) and reports the 2.5-97.5 % range.

# %%
ts_best = PixelTileModule.load_from_checkpoint(ts_ckpt.best_model_path)
test_loader = make_loader(ts_data["test"], naive)  # in target_pixels' order
y_true_a, y_pred_a = predict_labels(ts_best, test_loader)
rows_, cols_ = test_px.T
same_order = np.array_equal(y_true_a, ts_data["test"].target_map[rows_, cols_])
glue("test_order_matches", bool(same_order), display=False)
polygon_raster = polygon_index_raster(prepared.labels.reset_index(drop=True), refl)
polygon_of = polygon_raster[rows_, cols_]
to_id = np.asarray(CLASS_IDS)  # class index 0..K-1 -> class id
truth = to_id[y_true_a]
scores = {"temporal CNN (06)": to_id[y_pred_a]}
ts_ci = block_bootstrap(truth, scores["temporal CNN (06)"], polygon_of,
                        labels=CLASS_IDS, class_names=classes.names, seed=seed)
ts_accuracy = float(ts_ci.loc["accuracy", "estimate"])
glue("ts_accuracy", ts_accuracy, display=False)
shown = ["estimate", "ci_low", "ci_high", "n_groups"]
ts_ci.loc[["accuracy", "macro_f1", "miou"], shown].round(3)

# %% [markdown]
# ### Compared with notebook 04's random forest, on the same test pixels
#
# Notebook 04 classified the whole scene with a random forest on hand-made temporal features and wrote
# the class map as a COG on this cube's grid. We score it on exactly the pixels we just scored, with the
# same polygons as resampling units and the same resamples. The models did not see the same things;
# the table after the scores says what each one saw.

# %%
import rioxarray

rf_dir = project_outputs_dir(project, profile, "04_pixel_classification",
                             data_dir=data_dir, create=False)
rf_map_path = rf_dir / "scene" / f"landcover_{profile}_class.tif"
intervals = {"temporal CNN (06)": ts_ci}
if rf_map_path.exists():
    rf_map = rioxarray.open_rasterio(rf_map_path).squeeze("band", drop=True)
    rf_map = rf_map.rio.reproject_match(refl, nodata=0)  # the cube's grid (same in 04)
    intervals["random forest (04)"] = block_bootstrap(
        truth, rf_map.values[rows_, cols_], polygon_of, labels=CLASS_IDS,
        class_names=classes.names, seed=seed)
else:
    print(f"No map from notebook 04: run it in the {profile!r} profile to compare.")
headline = pd.concat({n: t.loc[["accuracy", "macro_f1"]] for n, t in intervals.items()})
headline[["estimate", "ci_low", "ci_high", "n_groups", "n_pixels"]].round(3)

# %%
n_train_px = int((train_targets(ts_data["train"]) >= 0).sum())
saw = pd.DataFrame({
    "temporal CNN (06)": {"training blocks": "train (val picks the checkpoint)",
                          "dates": f"{refl.sizes['time']} monthly composites",
                          "bands": refl.sizes["band"],
                          "samples": f"{n_train_px} labelled pixels (whole series)"},
    "random forest (04)": {"training blocks": "train + val",
                           "dates": f"{refl.sizes['time']} months, as features",
                           "bands": refl.sizes["band"],
                           "samples": "class-balanced labelled pixels"},
    "U-Net (05)": {"training blocks": "train (val picks the checkpoint)",
                   "dates": "1 (the clearest scene)", "bands": 11,
                   "samples": "random chips in train blocks"},
}).T
saw

# %% [markdown]
# ## 6 · Task B: hyperspectral patches
#
# The EnMAP-like scene has 200 bands at 30 m. Samples are small `(band, 5, 5)` patches centred on a
# labelled pixel; xbatcher generates every patch position (`input_overlap` = patch - 1) and the
# dataset keeps those whose centre is labelled **and whose every pixel lies in the same split**, so a
# training patch never contains test pixels. The bands are normalised with the train blocks' statistics.
#
# The whole scene is a few MB (`ci`) to 80 MB (`workshop`): here the right loader knob is to **load it
# into memory once** and cache the patches as one tensor; workers would only add overhead.

# %%
def cached(dataset):
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.utils.data.TensorDataset(torch.stack(xs), torch.stack(ys))


if project.hyperspectral:  # see section 1
    hs_mem = hs.load()
    train30 = splits30.values == SPLIT_CODES["train"]
    mean30, std30 = band_statistics(hs_mem, where=train30)  # train blocks only
    patch = SETTINGS["patch"]
    hs_kw = dict(input_dims={"band": hs.sizes["band"], "y": patch, "x": patch},
                 input_overlap={"y": patch - 1, "x": patch - 1}, target="centre",
                 class_ids=CLASS_IDS, mean=mean30, std=std30, check_chunks=False)
    hs_data = {split: XBatcherDataset(hs_mem, labels30, splits30, split, **hs_kw)
               for split in ("train", "val", "test")}
    hs_cached = {split: cached(d) for split, d in hs_data.items()}
    reports = pd.DataFrame([vars(d.report) for d in hs_data.values()])
    display(reports.drop(columns="warnings").set_index("split").T)

# %%
if project.hyperspectral:
    L.seed_everything(seed, workers=True, verbose=False)
    hs_weights = class_weights(hs_cached["train"].tensors[1].numpy(), len(CLASS_IDS))
    hs_module = PatchModule(n_bands=hs.sizes["band"], n_classes=len(CLASS_IDS),
                            channels=SETTINGS["hs_channels"], class_weights=hs_weights)
    hs_trainer, hs_ckpt, hs_folder = trainer_for("hyperspectral", SETTINGS["hs_epochs"])
    hs_loaders = (make_loader(hs_cached["train"], LoaderSettings.naive(32),
                              shuffle=True, seed=seed),
                  make_loader(hs_cached["val"], LoaderSettings.naive(256)))
    t0 = time.perf_counter()
    fit(hs_trainer, hs_module, None, hs_folder, resume=False, loaders=hs_loaders)
    hs_train_s = time.perf_counter() - t0
    finish_wandb()
    hs_best = PatchModule.load_from_checkpoint(hs_ckpt.best_model_path)
    hs_test = make_loader(hs_cached["test"], LoaderSettings.naive(256))
    y_true_b, y_pred_b = predict_labels(hs_best, hs_test)
    present_b = sorted(set(y_true_b))
    centres = hs_data["test"].target_pixels().T  # the patches' centres, in order
    polygons30 = polygon_index_raster(prepared.labels.reset_index(drop=True), hs)
    groups30 = polygons30[tuple(centres)]
    hs_ci = block_bootstrap(to_id[y_true_b], to_id[y_pred_b], groups30,
                            labels=CLASS_IDS, class_names=classes.names, seed=seed)
    hs_accuracy = float(hs_ci.loc["accuracy", "estimate"])
    print(f"Task B on {len(y_true_b)} test patches, trained in {hs_train_s:.0f} s:")
    display(hs_ci.loc[["accuracy", "macro_f1", "miou"], shown].round(3))

# %% [markdown]
# ### Which wavelengths matter? Gradient saliency
#
# The gradient of a class score with respect to the input says how much a small change of each band
# would move the decision. We average `|gradient|` over the test patches' pixels, per true class, and
# plot it against wavelength, with the two water-vapour absorption regions (1350-1450 and 1800-1950 nm,
# very noisy in real sensors) shaded.

# %%
ABSORPTION_NM = ((1350, 1450), (1800, 1950))
saliency_plot = None  # nothing to show without a hyperspectral source
if project.hyperspectral:
    x_test, t_test = hs_cached["test"].tensors
    saliency = gradient_saliency(hs_best.model, x_test, t_test).mean(dim=(2, 3)).numpy()
    wavelength = hs["wavelength"].values
    per_class = {TARGET_NAMES[k]: saliency[t_test.numpy() == k].mean(axis=0)
                 for k in present_b}
    sal = pd.DataFrame(per_class, index=pd.Index(wavelength, name="wavelength (nm)"))
    sal = sal / sal.to_numpy().max()
    spans = [hv.VSpan(a, b).opts(color="grey", alpha=0.2) for a, b in ABSORPTION_NM]
    long = sal.reset_index().melt(id_vars="wavelength (nm)", var_name="class_name",
                                  value_name="saliency")
    lines = class_lines(long, "wavelength (nm)", "saliency", classes, by="class_name")
    # options go on the combined overlay: overlaying two overlays makes a new one,
    # which drops the first one's title, size and labels
    saliency_plot = (lines * hv.Overlay(spans)).opts(
        width=680, height=330, title="Gradient saliency per class (test patches)",
        ylabel="mean |d score / d reflectance| (scaled)", legend_position="right",
        show_legend=True)
saliency_plot

# %% [markdown]
# Real EnMAP L2A products flag the bands inside the water-vapour absorption regions as unusable: there,
# the atmosphere absorbs nearly all sunlight and what the sensor records is mostly noise. A model that
# leans on them has learnt noise that real data will not repeat. The demo simulates these bands with
# extra noise, so the next cell checks whether the model leaned on them.

# %%
if project.hyperspectral:
    overall = sal.mean(axis=1)
    absorbed = np.zeros(len(wavelength), bool)
    for a, b in ABSORPTION_NM:
        absorbed |= (wavelength >= a) & (wavelength <= b)
    top5 = overall.sort_values(ascending=False).index[:5]
    flagged = [w for w in top5 if absorbed[list(wavelength).index(w)]]
    print("five most salient wavelengths (nm):", ", ".join(f"{w:.0f}" for w in top5))
    print(f"mean saliency in the absorption bands {overall[absorbed].mean():.3f}, "
          f"outside {overall[~absorbed].mean():.3f}")
    if flagged:
        listed = ", ".join(f"{w:.0f}" for w in flagged)
        print(f"{listed} nm lie in a water-vapour band that real EnMAP L2A flags: "
              "mask those bands before training on real data.")
    else:
        print("none of the five lies in a water-vapour band that real EnMAP L2A flags.")
    glue("salient_flagged_bands", len(flagged), display=False)

# %% [markdown]
# ## 7 · Summary table

# %%
tasks = {"Task A: temporal CNN, pixel series (10 m)": (ts_ci, ts_train_s)}
if project.hyperspectral:
    tasks["Task B: spectral CNN, hyperspectral patches (30 m)"] = (hs_ci, hs_train_s)
summary = pd.DataFrame({
    task: {**ci.loc["accuracy", ["estimate", "ci_low", "ci_high"]].to_dict(),
           "test polygons": ci.loc["accuracy", "n_groups"],
           "test samples": ci.loc["accuracy", "n_pixels"], "train s": seconds}
    for task, (ci, seconds) in tasks.items()
}).T
summary.round(3)

# %% [markdown]
# ## Check your understanding
#
# 1. The workshop cube is 960 x 960 px with 256 px chunks. Why does `input_dims` of 64 x 64 read 16 times more than it
#    uses, and why would 256 x 256 leave part of the cube out?
# 2. With the tuned loader and a 50 ms step, the step share is close to 100 %. What happens to it if the step takes 5 ms
#    (a tiny model on a fast GPU)? What would you change first?
#
# <details><summary>Solution</summary>
#
# 1. zarr decompresses whole chunks: a 64 x 64 sample touches one 256 x 256 chunk, 16 times its size (and a sample that
#    straddles a chunk border touches two or four). xbatcher only yields full samples, so 960 = 3 x 256 + 192 leaves a
#    192 px strip with no sample at all. Rechunking to a size that divides both the cube and the blocks (96 here) fixes both.
# 2. Loading a batch then takes longer than the step, so the share falls (towards load time / (load + step)): the model
#    waits again. Give the workers more to do per read (larger chunk-aligned samples, bigger batches), add workers if
#    there are cores, or cache the samples in memory when they fit, as we did for the hyperspectral patches.
#
# </details>
#
# ## Summary
#
# * A time-series or hyperspectral cube stays on disk as zarr; xbatcher cuts it into samples, a small `Dataset` adds the
#   labels of one split, and Lightning trains on it.
# * Align `input_dims` with the chunks (rechunk once if needed), read small samples straight from zarr, run dask
#   single-threaded inside workers, and keep workers alive and prefetching: the model stops waiting for data.
# * Split by blocks and keep val/test samples from overlapping: every test pixel is scored once and never trained on.
# * Gradient saliency shows which wavelengths a spectral model uses.
#
# **What next:** notebook 07 scales the same cube out with dask; notebook 08 runs inference and publishes the maps.

# %%
rf_ci = intervals.get("random forest (04)")
run_summary = {
    "profile": profile,
    "task_a_overall_accuracy": ts_accuracy,
    "task_b_overall_accuracy": hs_accuracy if project.hyperspectral else None,
    "rf_overall_accuracy": (None if rf_ci is None
                            else float(rf_ci.loc["accuracy", "estimate"])),
    "loader_step_share_naive": float(knobs["share in step (%)"].iloc[0]),
    "loader_step_share_tuned": float(knobs["share in step (%)"].iloc[-1]),
    "seconds": round(time.perf_counter() - started),
}
run_summary
