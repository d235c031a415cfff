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
# # 05 · Deep learning on a single-date Sentinel-2 scene with torchgeo and Lightning
#
# Notebook 04 classified *pixels* with a random forest. Here a convolutional network looks at
# *chips*: small square windows of the scene, so it can use texture and context as well as the
# spectrum of each pixel. The hard part of geospatial deep learning is usually not the model but the
# **data loading**, so we spend most of our time there.
#
# **Learning objectives.** You will learn to
#
# - describe a Sentinel-2 scene to torchgeo with a `RasterDataset` subclass (band files, 10/20/60 m
#   resampled to 10 m, a date regex, reflectance scaling from the STAC metadata);
# - pair it with rasterised GeoParquet labels in an `IntersectionDataset`;
# - draw training chips with `RandomGeoSampler` and evaluation chips with `GridGeoSampler`, each kept
#   inside its own spatial split blocks so no chip straddles train and test;
# - make loading fast: one aligned, tiled 10 m stack read with grid-aligned windows;
# - train torchgeo's `SemanticSegmentation` task (U-Net, ResNet-18) with Lightning, offline Weights & Biases
#   logging, checkpoints, early stopping and resume;
# - predict over the scene with overlapping tiles (no seams) and score mIoU on the test blocks, with
#   block-bootstrap intervals, against notebook 04's random forest on the same pixels.
#
# **Prerequisites:** notebooks 01-02 (STAC items, reflectance scaling); 04 for the comparison (optional).
#
# **Run time (2 CPU cores):** `ci` about 3-5 minutes · `workshop` about 8-10 minutes (training is capped) ·
# `full` longer; use a GPU.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"
data_dir = None
seed = 42
fast_loader = True  # read the preprocessed chip stack (False: the COGs as delivered)
pretrained_weights = None  # e.g. "SENTINEL2_RGB_MOCO" (needs the network)
wandb_online = False  # True logs to wandb.ai (needs `wandb login` and the network)
num_workers = 0  # DataLoader worker processes
chip_size = None  # None: the profile's default below
max_epochs = None
train_chips = None
max_minutes = None  # wall-clock cap on training (it never stops before half the epochs)

# %% [markdown]
# ## 1 · Set-up
#
# Each profile gets sizes that fit its time budget. `seed_everything` seeds Python, NumPy and torch
# (and DataLoader workers), so the chips drawn, the augmentations and the initial weights repeat.

# %%
import time

import numpy as np
import pandas as pd
import torch
from myst_nb import glue

from geoml_helpers.core import resolve_project, skip_remaining_cells
from geoml_helpers.discover import prepare_labels
from geoml_helpers.learn.deep import seed_everything
from geoml_helpers.load import project_outputs_dir, search_project_items

DEFAULTS = {  # chip px, epochs, train chips per epoch, minutes cap, learning rate
    "ci": (32, 12, 128, 1.5, 2e-3),
    "workshop": (64, 15, 320, 7, 1e-3),
    "full": (128, 30, 2048, 60, 1e-3),
}[profile]
KEYS = ("chip_size", "max_epochs", "train_chips", "max_minutes", "lr")
DEFAULTS = dict(zip(KEYS, DEFAULTS))
chip_size = chip_size or DEFAULTS["chip_size"]
max_epochs = max_epochs or DEFAULTS["max_epochs"]
train_chips = train_chips or DEFAULTS["train_chips"]
max_minutes = max_minutes or DEFAULTS["max_minutes"]
seed_everything(seed)
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
n_polygons, n_points = len(prepared.polygons), len(prepared.points)
print(f"project {project.name!r}, profile={profile}: {prepared.shape} px grid, "
      f"chips of {chip_size} px")
print(f"segmentation learns from the {n_polygons} polygons; "
      f"{n_points} point labels are left out")

# %% [markdown]
# A segmentation model learns from *areas*: every pixel of a chip needs its class or "unlabelled".
# A GPS point labels one pixel and says nothing about its neighbours, so the points are left out here
# (notebooks 04, 06 and 08 use them). A project with points only has nothing to segment: the
# notebook says so and stops, and a course run goes on with notebook 06.

# %%
if not n_polygons:
    skip_remaining_cells(
        f"The project {project.name!r} has {n_points} point labels and no polygons: "
        "segmentation needs polygons."
    )

# %% [markdown]
# ## 2 · The scene: one date, the clearest *over our area*
#
# A single-date model needs a clear image. A STAC item's `eo:cloud_cover` is the share of cloud over
# the whole 110 km tile, which says little about our few square kilometres. `clear_fraction_table`
# reads each item's scene classification (SCL) over the AOI only, masks cloud and cloud shadow (grown by
# 2 pixels, since SCL misses their edges) and ranks the items by the clear share of the AOI.
# The bands are separate COGs at their native resolution: 10 m (blue, green, red, nir),
# 20 m (red edges, nir08, swir) and 60 m (coastal).

# %%
from geoml_helpers.discover import clear_fraction_table
from geoml_helpers.learn.deep import REFLECTANCE_BANDS, DemoSentinel2
from geoml_helpers.load import copy_item_locally

items = search_project_items(project, profile, data_dir, bbox=prepared.aoi_lonlat)
clear = clear_fraction_table(items, prepared.bounds, prepared.crs)
item = next(i for i in items if i["id"] == clear["id"].iloc[0])
if not project.is_demo:  # torchgeo reads local files: copy the AOI window of each band
    scenes = project_outputs_dir(project, profile, "torchgeo", "scenes",
                                 data_dir=data_dir)
    item = copy_item_locally(item, scenes, prepared.bounds, prepared.crs)
by_tile = min(items, key=lambda i: i["properties"]["eo:cloud_cover"])
tile_choice = clear.set_index("id").loc[by_tile["id"]]
print(f"chosen: {item['id']}, AOI clear {clear['aoi_clear_fraction'].iloc[0]:.0%}")
print(f"lowest eo:cloud_cover: {by_tile['id']}, AOI clear "
      f"{tile_choice['aoi_clear_fraction']:.0%}")
shown = clear.assign(date=clear["datetime"].str[:10]).set_index("date")
shown[["eo_cloud_cover", "aoi_clear_fraction"]].head(5).round(3)

# %% [markdown]
# ### A `RasterDataset` for the files as delivered
#
# `DemoSentinel2` (in `geoml_helpers/learn/deep/torchgeo_data.py`) tells torchgeo how the files look:
#
# ```python
# class DemoSentinel2(RasterDataset):
#     all_bands = ("coastal", "blue", ..., "swir22")
#     separate_files = True                       # one file per band
#     filename_glob = "S2*_L2A/{}.tif"            # one file per scene (the first band's)
#     filename_regex = r"^(?P<band>[a-z0-9]+)\.tif$"   # `band` is swapped for each band
#     date_regex = r"^S2[ABCD]_(?P<tile>...)_(?P<date>\d{8})_\d+_L2A$"  # date in the folder
# ```
#
# `res=10` makes torchgeo resample the 20 m and 60 m bands to 10 m on every read, and
# `from_item` takes each band's scale and offset from the STAC item with
# `geoml_helpers.discover.stac_metadata.reflectance_scaling` (which knows the Earth Search offset trap).

# %%
image_delivered = DemoSentinel2.from_item(item)
x, y, t = image_delivered.bounds
print(f"{len(image_delivered.bands)} bands at {image_delivered.res[0]:g} m, "
      f"EPSG:{image_delivered.crs.to_epsg()}")
whole = image_delivered[x.start : x.start + 640, y.stop - 640 : y.stop, t]
chip = whole["image"]
print(f"a 64 x 64 px chip: {tuple(chip.shape)} {chip.dtype}, "
      f"reflectance {float(chip.min()):.3f} to {float(chip.max()):.3f}")

# %% [markdown]
# ## 3 · Labels, and the fast path
#
# The label polygons are burnt once onto the 10 m grid as a label COG (`0` = unlabelled, `1..K` = the
# project's classes). torchgeo could also rasterise the polygons itself on every chip
# (`DemoLabelPolygons`, a `VectorDataset`), but doing it once is cheaper and gives the same pixels.
#
# For speed we also **preprocess** the scene once: all 11 bands resampled to 10 m and written as one
# tiled, pixel-interleaved GeoTIFF (`build_chip_stack`). A chip on this file's grid is then one windowed
# read of whole tiles (`AlignedStack`), instead of 11 file reads and 7 resamplings.
# The benchmark at the end of this notebook measures the difference.

# %%
from geoml_helpers.learn.deep import SegmentationDataModule

dm = SegmentationDataModule(
    profile,
    data_dir=data_dir,
    project=None if project.is_demo else str(project.path),
    item_id=item["id"],
    chip_size=chip_size,
    train_chips=train_chips,
    num_workers=num_workers,
    seed=seed,
    fast=fast_loader,
)
dm.prepare_data()
dm.setup("fit")
print("chip stack:", dm.stack_path.name, "| label COG:", dm.labels_path.name)
print(f"points left out: {dm.points_left_out}; "
      f"polygons outside the scene: {dm.polygons_outside_scene}")
summary = dm.describe()
shown = ("classes", "train_chips_per_epoch", "val_chips", "test_chips")
print({k: summary[k] for k in shown})

# %% [markdown]
# Both paths must give the same chips. Compare them on one chip, image and mask:

# %%
from geoml_helpers.learn.deep import DemoLabels

slow_pair = image_delivered & DemoLabels(dm.labels_path)
query = next(iter(dm.val_sampler))
a, b = slow_pair[query], dm.dataset[query]
difference = float((a["image"] - b["image"]).abs().max())
glue("fast_path_max_difference", difference, display=False)
glue("fast_path_same_mask", bool(torch.equal(a["mask"], b["mask"])), display=False)
print(f"max |difference| in reflectance: {difference:.1e}; "
      f"same mask: {torch.equal(a['mask'], b['mask'])}")

# %% [markdown]
# ## 4 · Samplers that respect the spatial split
#
# Neighbouring pixels look alike, so a chip that is half in a train block and half in a test block
# leaks test information into training. torchgeo's samplers take one region of interest, so we run
# them over **one region per block** of a split: `RandomGeoSampler` for training (random chips, a
# new set every epoch) and a grid of overlapping chips for val/test, whose last chip in each block
# ends on the block's edge (a block cut by the scene edge is covered, never overrun).
#
# *(torchgeo 0.10 marks these samplers deprecated in favour of `RandomPatchSampler`/
# `GriddedPatchSampler`; those clip to one ROI polygon but the gridded one yields chips that merely
# touch it, which is what a split must not allow, so the helpers keep the per-block samplers.)*

# %%
from shapely.geometry import box

from geoml_helpers.learn.deep import chip_inside_regions, split_regions

blocks = dm.blocks
samplers = {"train": dm.train_sampler, "val": dm.val_sampler, "test": dm.test_sampler}
rows = {}
for split, sampler in samplers.items():
    own, others = split_regions(blocks, split), blocks[blocks.split != split]
    chips = [(q[0].start, q[1].start, q[0].stop, q[1].stop) for q in sampler]
    inside = [chip_inside_regions([x0, x1, 10, y0, y1], own)
              for x0, y0, x1, y1 in chips]
    crossing = [others.intersects(box(*c).buffer(-1)).any() for c in chips]
    rows[split] = {"chips": len(chips), "inside own blocks": sum(inside),
                   "crossing other splits": sum(crossing)}
chip_table = pd.DataFrame(rows).T
n_crossing = int(chip_table["crossing other splits"].sum())
glue("chips_crossing_splits", n_crossing, display=False)
chip_table

# %%
import matplotlib.pyplot as plt


def outline(ax, q, **style):
    width, height = q[0].stop - q[0].start, q[1].stop - q[1].start
    corner = (q[0].start, q[1].start)
    ax.add_patch(plt.Rectangle(corner, width, height, fill=False, **style))


fig, ax = plt.subplots(figsize=(5, 5))
colors = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
block_colours = [colors[s] for s in blocks.split]
blocks.plot(ax=ax, color=block_colours, alpha=0.35, edgecolor="white")
for q in list(dm.train_sampler)[:40]:
    outline(ax, q, color="#1f3d7a", lw=0.8)
for q in dm.test_sampler:
    outline(ax, q, color="#1d5e34", lw=0.5, ls="--")
ax.set_title("blocks (blue train, orange val, green test) and chips")
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 5 · Batches: normalisation and augmentation
#
# The DataModule normalises each band with the mean and standard deviation of the **train blocks only**,
# and flips/rotates training batches with kornia (image and mask together), on the device, after the
# batch is loaded.

# %%
batch = next(iter(dm.train_dataloader()))
print({k: (tuple(v.shape), str(v.dtype)) for k, v in batch.items()})
normed = dm.normalize(batch["image"])
print(f"normalised train batch: mean {normed.mean():.2f}, std {normed.std():.2f}")
labelled = (batch["mask"] > 0).float().mean()
print(f"labelled pixels in the batch: {labelled:.1%} "
      "(the rest is 0 = unlabelled, ignored by loss and metrics)")

# %% [markdown]
# ## 6 · Model and training
#
# `make_segmentation_task` builds torchgeo's `SemanticSegmentation` (formerly
# `SemanticSegmentationTask`): a U-Net with a ResNet-18 encoder, `weights=None` (random start: nothing
# to download), 11 input bands, the project's classes plus class 0 ("unlabelled"), which is ignored.
# `pretrained_weights="SENTINEL2_RGB_MOCO"` would start from torchgeo's self-supervised Sentinel-2
# weights; offline it stops at once with a message saying so.
#
# `make_trainer` gives a `lightning.Trainer(accelerator="auto")` with an offline `WandbLogger`, a
# `ModelCheckpoint` (best and last), `EarlyStopping` on `val_loss`, and a time cap that never stops
# training before half the epochs (seconds depend on the machine; a model stopped after a few steps
# predicts one class everywhere). `fit` resumes from the run's `last.ckpt` only if a previous run was
# *interrupted*; after a finished run it trains afresh, so a changed `lr` gives a new model.
# While it trains, one line shows the epoch and the losses.

# %%
from geoml_helpers.learn.deep import bands_for_weights, make_segmentation_task
from geoml_helpers.learn.deep import finish_wandb, fit, make_trainer

if pretrained_weights:
    print("pretrained weights expect bands", bands_for_weights(pretrained_weights))
task = make_segmentation_task(in_channels=len(dm.bands), num_classes=dm.num_classes,
                              class_names=dm.class_names, weights=pretrained_weights,
                              lr=DEFAULTS["lr"])
run_name = f"unet-resnet18-{'fast' if fast_loader else 'delivered'}-seed{seed}"
if not project.is_demo:  # one run folder per project
    run_name = f"{project.name}-{run_name}"
trainer, run_folder = make_trainer(
    profile, run_name, max_epochs=max_epochs, data_dir=data_dir, patience=4,
    wandb_offline=not wandb_online, max_time={"minutes": max_minutes},
    log_every_n_steps=2,
)
started = time.perf_counter()
resumed_from = fit(trainer, task, dm, run_folder)
train_seconds = time.perf_counter() - started
finish_wandb()
glue("unet_epochs", trainer.current_epoch, display=False)

# %%
early = trainer.early_stopping_callback.stopped_epoch > 0
if resumed_from:
    print(f"resumed an interrupted run from {resumed_from.name}")
if trainer.current_epoch < max_epochs and not early:
    over = train_seconds > 60 * max_minutes  # the cap waits for half the epochs
    print(f"the {max_minutes} min cap stopped training after {trainer.current_epoch} "
          f"of {max_epochs} epochs"
          + (", the minimum (half): this machine is slower than the cap assumes" if over
             else ""))
elif early:
    print(f"early stopping after {trainer.current_epoch} epochs: "
          "val_loss stopped improving")
print(f"{sum(p.numel() for p in task.parameters()) / 1e6:.1f} M parameters, "
      f"{train_seconds:.0f} s of training")

# %% [markdown]
# The W&B run was written offline under the run folder. To upload it later, from a machine with
# network access and after `wandb login`:
#
# ```bash
# wandb sync <data dir>/outputs/<profile>/torchgeo/<run name>/wandb/offline-run-*
# ```

# %%
offline_runs = sorted(run_folder.glob("wandb/offline-run-*"))
print("offline W&B runs:", len(offline_runs))
checkpoints = sorted(p.name for p in (run_folder / "checkpoints").glob("*.ckpt"))
print("checkpoints:", checkpoints)

# %% [markdown]
# ## 7 · Evaluation on the test blocks
#
# We predict the whole scene with the same tiled inference notebook 08 uses (`predict_scene`): tiles of
# four chips a side (the U-Net is fully convolutional and takes any size; one-chip tiles were 12 times
# slower on a 400 px scene), each with half a chip of extra context on every side, blended with linear
# weights that add up to 1 across each tile border, so there are no seams. The network sees the bands
# normalised as in training, and tiles are padded to a multiple of 32 pixels, which the U-Net needs.
# "Unlabelled" is not a prediction: each pixel gets the most probable of the project's classes.

# %%
import rasterio
import rioxarray

from geoml_helpers.publish import predict_scene, torch_predictor

best = trainer.checkpoint_callback.best_model_path
if best:
    task = type(task).load_from_checkpoint(best, weights=None)
with rasterio.open(dm.stack_path) as src:  # the chips' bands, for the whole scene
    scene = src.read([list(src.descriptions).index(b) + 1 for b in dm.bands])
mean, std = (v.numpy()[:, None, None] for v in (dm.mean, dm.std))
unet = torch_predictor(task.to("cpu"), transform=lambda t: (t - mean) / std,
                       pad_multiple=32)
classes = dm.classes
unet_map = predict_scene(
    scene, lambda tile: unet(tile)[1:], classes.ids,  # [1:]: no "unlabelled"
    tile=4 * chip_size, overlap=chip_size // 2, num_workers=1, progress=False,
).classes
labels_da = rioxarray.open_rasterio(dm.labels_path).squeeze("band", drop=True)
label_raster = labels_da.values
mapped_ids = [int(c) for c in np.unique(unet_map)]
print(f"U-Net map: {unet_map.shape} px, class ids {mapped_ids}")

# %% [markdown]
# The test pixels are the labelled pixels of the **test blocks**. A score needs an interval: pixels of
# one polygon are near-copies of each other, so `block_bootstrap` resamples whole **test polygons**
# (1000 times) and reports the 2.5-97.5 % range. Notebook 04's random forest is scored on exactly the
# same pixels, with the same polygons and the same resamples; its map is on the project's grid, so it
# is taken onto the scene's grid first (nearest neighbour: every class id stays a class id).

# %%
from rasterio.enums import Resampling

from geoml_helpers.learn import block_bootstrap, polygon_counts, polygon_index_raster
from geoml_helpers.load import burn_shapes

rf_dir = project_outputs_dir(project, profile, "04_pixel_classification", "scene",
                             data_dir=data_dir, create=False)
rf_path = rf_dir / f"landcover_{profile}_class.tif"
maps = {"U-Net (one date)": unet_map}
if rf_path.exists():
    rf = rioxarray.open_rasterio(rf_path).squeeze("band", drop=True)
    rf = rf.rio.reproject_match(labels_da, resampling=Resampling.nearest, nodata=0)
    maps["random forest (04, time series)"] = rf.values
else:
    print(f"No map from notebook 04: run it in the {profile!r} profile to compare.")
test_shapes = ((g, 1) for g in split_regions(blocks, "test").geometry)
test = burn_shapes(test_shapes, label_raster.shape, labels_da.rio.transform())
test = test.astype(bool) & (label_raster > 0)
for mapped in maps.values():  # the same pixels for every model: those each one mapped
    test &= mapped > 0
polygons = prepared.polygons.reset_index(drop=True)
polygon_of = polygon_index_raster(polygons, labels_da)
n_test_polygons = len(np.unique(polygon_of[test]))
print(f"{int(test.sum())} test pixels in {n_test_polygons} test polygons")

# %%
intervals = {
    name: block_bootstrap(label_raster[test], mapped[test], polygon_of[test],
                          labels=classes.ids, class_names=classes.names, seed=seed)
    for name, mapped in maps.items()
}
unet_ci = intervals["U-Net (one date)"]
for key in ("estimate", "ci_low", "ci_high"):
    glue(f"unet_miou_{key}", float(unet_ci.loc["miou", key]), display=False)
headline = pd.concat({n: t.loc[["accuracy", "miou"]] for n, t in intervals.items()})
print(f"one training run (seed {seed}): the spread over seeds is not measured here")
headline[["estimate", "ci_low", "ci_high", "n_groups", "n_pixels"]].round(3)

# %%
iou = {n: t[t.index.str.startswith("iou_")] for n, t in intervals.items()}
per_class = pd.concat({n: t[["estimate", "ci_low", "ci_high"]] for n, t in iou.items()},
                      axis=1).round(3)
per_class.index = per_class.index.str.removeprefix("iou_")
per_class["test polygons"] = unet_ci.loc[[f"iou_{c}" for c in per_class.index],
                                         "n_groups"].to_numpy()
per_class = per_class[per_class["test polygons"] > 0]  # a class not in the test blocks
per_class

# %% [markdown]
# Which model is better for which class? Only where the intervals do not overlap do the test polygons
# say so; a class on one test polygon has no interval and no verdict. The sentence below is computed
# from the table above, so it holds for whatever project and profile this notebook ran on.

# %%
def verdict(per_class, maps):
    if len(maps) < 2:
        return "Without notebook 04's map there is nothing to compare."
    (a, b) = [per_class[n] for n in maps]
    better = [c for c in per_class.index if a.loc[c, "ci_low"] > b.loc[c, "ci_high"]]
    worse = [c for c in per_class.index if a.loc[c, "ci_high"] < b.loc[c, "ci_low"]]
    rest = [c for c in per_class.index if c not in better + worse]
    parts = [f"the U-Net is better for {', '.join(better)}" if better else "",
             f"the random forest is better for {', '.join(worse)}" if worse else "",
             f"the test polygons cannot tell them apart for {', '.join(rest)}"
             if rest else ""]
    return "On these test polygons " + "; ".join(p for p in parts if p) + "."


comparison = verdict(per_class, maps)
glue("cnn_rf_comparison", comparison, display=False)
print(comparison)

# %% [markdown]
# The map, beside the labels it learnt from, each class in its project colour:

# %%
import holoviews as hv

from geoml_helpers.explore import class_map, record_plot_bounds
from geoml_helpers.explore import inline_bokeh_extensions

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")  # interactive maps from here on (the plots above are matplotlib)
titles = ("U-Net map (whole scene)", "label polygons")
for title in titles:
    record_plot_bounds(title, dm.labels_path)
unet_da = labels_da.copy(data=unet_map)
(class_map(unet_da, classes, title=titles[0], width=315)
 + class_map(labels_da, classes, title=titles[1], width=315))

# %% [markdown]
# ## 8 · How fast is the loader?
#
# `benchmarks/chip_loading.py` measures chips per second for (a) torchgeo over the files as delivered,
# (b) the aligned chip stack with grid-aligned sampling, and (c) raw rasterio block reads of the same
# stack (the ceiling). Here is a short version on this scene: the same 40 training chips both ways.

# %%
from geoml_helpers.learn.deep import chip_dataloader

def chips_per_second(dataset, queries, repeats=2):
    fastest = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        loader = chip_dataloader(dataset, queries, batch_size=8)
        n = sum(len(b["image"]) for b in loader)
        fastest = max(fastest, n / (time.perf_counter() - started))
    return fastest

queries = list(dm.train_sampler)[:40]
slow = chips_per_second(slow_pair, queries)
fast = chips_per_second(dm.dataset if fast_loader else slow_pair, queries)
print(f"torchgeo over delivered COGs: {slow:6.0f} chips/s | "
      f"chip stack: {fast:6.0f} chips/s | x{fast / slow:.1f}")

# %% [markdown]
# ## Check your understanding
#
# The U-Net sees only one date, the random forest of notebook 04 the whole year. Which classes would you
# expect each to get right, and why? What single change to this notebook would give the U-Net the same
# seasonal information?
#
# <details><summary>Solution</summary>
#
# Classes that differ mainly in *phenology* (fields green in winter and bare in summer, natural
# vegetation against invasive trees in the dry season) need the time series, which only the random
# forest has; a class with a distinctive *shape or texture* (built-up, water bodies, field edges) is
# where a CNN's spatial context can help. Whether it did here, the computed comparison in section 7
# says, class by class, from the test polygons' intervals; where they overlap, or rest on one polygon,
# this run cannot tell, and more test polygons (or seeds) would. To give the U-Net the season, feed
# it several dates: stack the monthly composites of notebook 02 as extra channels (`time_series=True` on the
# RasterDataset, or a multi-date chip stack) and raise `in_channels` accordingly.
#
# </details>
#
# ## Summary
#
# - A `RasterDataset` subclass describes files (band names, glob/regex, date, resolution); an
#   `IntersectionDataset` pairs images with labels.
# - Split-aware samplers keep every chip inside one split's blocks.
# - Preprocessing once (aligned, tiled, pixel-interleaved 10 m stack) and reading grid-aligned windows
#   makes loading many times faster than resampling the delivered files on every chip.
# - Lightning gives checkpoints, early stopping, resuming and logging (W&B offline, `wandb sync` later).
#
# ## What next
#
# Notebook 06 adds time: pixel time series and a hyperspectral cube. Notebook 08 publishes predictions as COGs.
