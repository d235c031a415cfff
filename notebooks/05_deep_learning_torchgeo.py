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
# - predict over the scene with overlapping tiles (no seams) and score mIoU on the test blocks against notebook 04.
#
# **Prerequisites:** notebooks 01-02 (STAC items, reflectance scaling); 04 for the comparison (optional).
#
# **Run time (2 CPU cores):** `ci` about 1-2 minutes · `workshop` about 8-10 minutes (training is capped) ·
# `full` longer; use a GPU.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"
data_dir = None
seed = 42
fast_loader = True  # read the preprocessed chip stack (False: the COGs as delivered)
pretrained_weights = None  # e.g. "SENTINEL2_RGB_MOCO" (needs the network); None trains from scratch
wandb_online = False  # True logs to wandb.ai (needs `wandb login` and the network)
num_workers = 0  # DataLoader worker processes
chip_size = None  # None: the profile's default below
max_epochs = None
train_chips = None
max_minutes = None  # wall-clock cap on training

# %% [markdown]
# ## 1 · Set-up
#
# Each profile gets sizes that fit its time budget. `seed_everything` seeds Python, NumPy and torch
# (and DataLoader workers), so the chips drawn, the augmentations and the initial weights repeat.

# %%
import time
import warnings

import numpy as np
import torch

from geoml_helpers.core import resolve_project, skip_remaining_cells
from geoml_helpers.discover import prepare_labels
from geoml_helpers.learn.deep import seed_everything
from geoml_helpers.load import project_outputs_dir, search_project_items

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*(does not have many workers|LeafSpec|smaller than the logging interval|anonymous setting).*")

DEFAULTS = {
    "ci": {"chip_size": 32, "max_epochs": 12, "train_chips": 128, "batch_size": 16, "max_minutes": 1.5, "lr": 2e-3},
    "workshop": {"chip_size": 64, "max_epochs": 15, "train_chips": 320, "batch_size": 16, "max_minutes": 7.0, "lr": 1e-3},
    "full": {"chip_size": 128, "max_epochs": 30, "train_chips": 2048, "batch_size": 16, "max_minutes": 60.0, "lr": 1e-3},
}[profile]
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
# ## 2 · The scene: one date, the clearest
#
# A single-date model needs a clear image. We pick the item with the lowest `eo:cloud_cover`.
# Its bands are separate COGs at their native resolution: 10 m (blue, green, red, nir),
# 20 m (red edges, nir08, swir) and 60 m (coastal).

# %%
from geoml_helpers.learn.deep import REFLECTANCE_BANDS, DemoSentinel2, clearest_item

items = search_project_items(project, profile, data_dir, bbox=prepared.aoi_lonlat)
item = clearest_item(items)
print(item["id"], "cloud cover", item["properties"]["eo:cloud_cover"], "%")
assert item["properties"]["eo:cloud_cover"] == min(i["properties"]["eo:cloud_cover"] for i in items)

# %% [markdown]
# ### A `RasterDataset` for the files as delivered
#
# `DemoSentinel2` (in `geoml_helpers/learn/deep/torchgeo_data.py`) tells torchgeo how the files look:
#
# ```python
# class DemoSentinel2(RasterDataset):
#     all_bands = ("coastal", "blue", ..., "swir22")
#     separate_files = True                       # one file per band
#     filename_glob = "S2*_L2A/{}.tif"            # finds one file per scene (the first band's)
#     filename_regex = r"^(?P<band>[a-z0-9]+)\.tif$"   # the `band` group is swapped for each band
#     date_regex = r"^S2[ABCD]_(?P<tile>...)_(?P<date>\d{8})_\d+_L2A$"  # the date is in the folder name
# ```
#
# `res=10` makes torchgeo resample the 20 m and 60 m bands to 10 m on every read, and
# `from_item` takes each band's scale and offset from the STAC item with
# `geoml_helpers.discover.stac_metadata.reflectance_scaling` (which knows the Earth Search offset trap).

# %%
image_delivered = DemoSentinel2.from_item(item)
print(image_delivered)
print("bands:", image_delivered.bands, "| res:", image_delivered.res, "| CRS:", image_delivered.crs.to_epsg())
x, y, t = image_delivered.bounds
whole = image_delivered[x.start : x.start + 640, y.stop - 640 : y.stop, t]
print("a 64 x 64 chip:", tuple(whole["image"].shape), whole["image"].dtype)
assert whole["image"].shape == (11, 64, 64)
assert -0.1 <= float(whole["image"].min()) and float(whole["image"].max()) < 1.5, "reflectance, not DNs"

# %% [markdown]
# ## 3 · Labels, and the fast path
#
# The label polygons (GeoParquet) are burnt once onto the 10 m grid as a label COG (`0` = unlabelled,
# `1..6` = classes). torchgeo could also rasterise the polygons itself on every chip
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
    batch_size=DEFAULTS["batch_size"],
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
print(dm.describe())
print(dm.dataset)  # an IntersectionDataset: image & labels

# %% [markdown]
# Both paths must give the same chips. Check it on one chip, image and mask:

# %%
from geoml_helpers.learn.deep import DemoLabels

slow_pair = image_delivered & DemoLabels(dm.labels_path)
query = next(iter(dm.val_sampler))
a, b = slow_pair[query], dm.dataset[query]
print("max |difference| in reflectance:", float((a["image"] - b["image"]).abs().max()))
assert torch.allclose(a["image"], b["image"], atol=2e-4) and torch.equal(a["mask"], b["mask"])

# %% [markdown]
# ## 4 · Samplers that respect the spatial split
#
# Neighbouring pixels look alike, so a chip that is half in a train block and half in a test block
# leaks test information into training. torchgeo's samplers take one region of interest, so we run
# them over **one region per block** of a split: `RandomGeoSampler` for training (random chips, a
# new set every epoch) and `GridGeoSampler` for val/test (a grid of overlapping chips).
#
# *(torchgeo 0.10 marks these two deprecated in favour of `RandomPatchSampler`/`GriddedPatchSampler`;
# those clip to one ROI polygon but the gridded one yields chips that merely touch it, which is what a
# split must not allow, so the helpers keep the per-block samplers.)*

# %%
from shapely.geometry import box

from geoml_helpers.learn.deep import chip_inside_regions, split_regions

blocks = dm.blocks
for split, sampler in [("train", dm.train_sampler), ("val", dm.val_sampler), ("test", dm.test_sampler)]:
    own, others = split_regions(blocks, split), blocks[blocks.split != split]
    chips = list(sampler)
    inside = all(chip_inside_regions([q[0].start, q[0].stop, 10, q[1].start, q[1].stop], own) for q in chips)
    crossing = sum(others.geometry.intersects(box(q[0].start, q[1].start, q[0].stop, q[1].stop).buffer(-1)).any() for q in chips)
    print(f"{split:5s}: {len(chips):4d} chips, all inside {split} blocks: {inside}, crossing into other splits: {crossing}")
    assert inside and crossing == 0

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 5))
colors = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
blocks.plot(ax=ax, color=[colors[s] for s in blocks.split], alpha=0.35, edgecolor="white")
for q in list(dm.train_sampler)[:40]:
    ax.add_patch(plt.Rectangle((q[0].start, q[1].start), q[0].stop - q[0].start, q[1].stop - q[1].start, fill=False, color="#1f3d7a", lw=0.8))
for q in dm.test_sampler:
    ax.add_patch(plt.Rectangle((q[0].start, q[1].start), q[0].stop - q[0].start, q[1].stop - q[1].start, fill=False, color="#1d5e34", lw=0.5, ls="--"))
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
print({k: (tuple(v.shape), v.dtype) for k, v in batch.items()})
normed = dm.normalize(batch["image"])
print("normalised train batch: mean %.2f, std %.2f" % (normed.mean(), normed.std()))
labelled = (batch["mask"] > 0).float().mean()
print(f"labelled pixels in the batch: {labelled:.1%} (the rest is 0 = unlabelled, ignored by loss and metrics)")
assert batch["image"].shape == (DEFAULTS["batch_size"], 11, chip_size, chip_size) and batch["mask"].dtype == torch.int64

# %% [markdown]
# ## 6 · Model and training
#
# `make_segmentation_task` builds torchgeo's `SemanticSegmentation` (formerly `SemanticSegmentationTask`):
# a U-Net with a ResNet-18 encoder, `weights=None` (random start: nothing to download), 11 input bands,
# the project's classes plus class 0 ("unlabelled"), which is ignored. `pretrained_weights="SENTINEL2_RGB_MOCO"` would start from torchgeo's
# self-supervised Sentinel-2 weights; offline it stops at once with a message saying so.
#
# `make_trainer` gives a `lightning.Trainer(accelerator="auto")` with an offline `WandbLogger`, a
# `ModelCheckpoint` (best and last), `EarlyStopping` on `val_loss`, and a time cap. `fit` resumes from the
# run's `last.ckpt` if a previous run was interrupted: re-run the cell and it carries on.

# %%
from geoml_helpers.learn.deep import bands_for_weights, make_segmentation_task
from geoml_helpers.learn.deep import finish_wandb, fit, make_trainer

if pretrained_weights:
    print("pretrained weights expect bands", bands_for_weights(pretrained_weights))
task = make_segmentation_task(
    in_channels=len(dm.bands),
    num_classes=dm.num_classes,
    class_names=dm.class_names,
    weights=pretrained_weights,
    lr=DEFAULTS["lr"],
)
run_name = f"unet-resnet18-{'fast' if fast_loader else 'delivered'}-seed{seed}"
if not project.is_demo:  # runs resume from their folder: one folder per project
    run_name = f"{project.name}-{run_name}"
trainer, run_folder = make_trainer(
    profile,
    run_name,
    max_epochs=max_epochs,
    data_dir=data_dir,
    patience=4,
    wandb_offline=not wandb_online,
    max_time={"minutes": max_minutes},
    log_every_n_steps=2,
)
started = time.perf_counter()
resumed_from = fit(trainer, task, dm, run_folder)
train_seconds = time.perf_counter() - started
finish_wandb()
print(f"trained {trainer.current_epoch} epochs ({trainer.global_step} steps) in {train_seconds:.0f} s"
      + (f", resumed from {resumed_from.name}" if resumed_from else ""))
assert trainer.global_step > 0 or resumed_from is not None

# %% [markdown]
# The W&B run was written offline under the run folder. To upload it later, from a machine with
# network access and after `wandb login`:
#
# ```bash
# wandb sync <data dir>/outputs/<profile>/torchgeo/<run name>/wandb/offline-run-*
# ```

# %%
offline_runs = sorted(run_folder.glob("wandb/offline-run-*"))
print("offline W&B runs:", [p.name for p in offline_runs])
print("checkpoints:", sorted(p.name for p in (run_folder / "checkpoints").glob("*.ckpt")))
assert offline_runs or wandb_online

# %% [markdown]
# ## 7 · Evaluation on the test blocks
#
# We predict the whole scene with the same tiled inference notebook 08 uses (`predict_scene`): tiles of one
# chip, each predicted with half a chip of extra context on every side, blended with linear weights that add
# up to 1 across each tile border, so there are no seams. The network sees the bands normalised as in
# training, and tiles are padded to a multiple of 32 pixels, which the U-Net needs. Then we score the
# labelled pixels of the **test blocks**: per-class IoU = TP / (TP + FP + FN), and mIoU their mean.

# %%
import pandas as pd
import rasterio

from geoml_helpers.learn import confusion_counts, iou_scores
from geoml_helpers.load import burn_shapes
from geoml_helpers.publish import predict_scene, torch_predictor

best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
if best:
    task = type(task).load_from_checkpoint(best, weights=None)
    print("best checkpoint:", best.split("/")[-1])
with rasterio.open(dm.stack_path) as src:  # the chips' bands, for the whole scene
    scene = src.read([list(src.descriptions).index(b) + 1 for b in dm.bands])
    map_transform = src.transform
mean, std = (v.numpy()[:, None, None] for v in (dm.mean, dm.std))
unet = torch_predictor(task.to("cpu"), transform=lambda t: (t - mean) / std,
                       pad_multiple=32)
classes_map = predict_scene(
    scene, unet, list(range(dm.num_classes)),
    tile=chip_size, overlap=chip_size // 2, num_workers=1,
).classes
with rasterio.open(dm.labels_path) as src:
    label_raster = src.read(1)
    assert src.transform == map_transform and label_raster.shape == classes_map.shape
test_blocks = split_regions(blocks, "test")
test_shapes = ((g, 1) for g in test_blocks.geometry)
test_mask = burn_shapes(test_shapes, label_raster.shape, map_transform).astype(bool)
test_mask &= label_raster > 0  # unlabelled pixels have no reference class
cm = confusion_counts(classes_map, label_raster, range(dm.num_classes), mask=test_mask)
miou, per_class = iou_scores(cm, dm.class_names)
print(f"U-Net test mIoU: {miou:.3f} on {int(cm.sum())} labelled test pixels")
pd.Series(per_class, name="IoU").round(3).to_frame()

# %%
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

classes = dm.classes
cmap = ListedColormap(["#000000"] + [classes.colours[i] for i in classes.ids])
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
shown = {"U-Net prediction (whole scene)": classes_map, "label polygons": label_raster}
for ax, (title, raster) in zip(axes, shown.items()):
    shown_classes = np.where(raster > 0, raster, np.nan)
    ax.imshow(shown_classes, cmap=cmap, vmin=0, vmax=len(classes), interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
legend = [Patch(color=classes.colours[i], label=classes.labels[i]) for i in classes.ids]
fig.legend(handles=legend, loc="center right", frameon=False)
fig.subplots_adjust(right=0.8)
plt.show()

# %% [markdown]
# ### Compared with notebook 04's random forest
#
# Notebook 04 trained a random forest on per-pixel features of the whole time series. If its map is there,
# we score it on exactly the same test pixels.

# %%
rf_dir = project_outputs_dir(
    project, profile, "04_pixel_classification", "scene", data_dir=data_dir, create=False
)
rf_path = rf_dir / f"landcover_{profile}_class.tif"
scores = {"U-Net (single date)": miou}
if rf_path.exists():
    with rasterio.open(rf_path) as src:
        same_grid = src.transform == map_transform and src.shape == classes_map.shape
        rf_map = src.read(1) if same_grid else None
    if rf_map is None:
        print(f"{rf_path.name} is on another grid; skipping the comparison")
    else:
        rf_cm = confusion_counts(rf_map, label_raster, range(dm.num_classes), mask=test_mask)
        rf_miou, rf_per_class = iou_scores(rf_cm, dm.class_names)
        scores["random forest (04, time series)"] = rf_miou
        display(pd.DataFrame({"U-Net": per_class, "random forest": rf_per_class}).round(3))
else:
    print(f"No random-forest map at {rf_path}: run notebook 04 in the {profile!r} profile to compare. Skipping.")
pd.Series(scores, name="test mIoU").round(3).to_frame()

# %% [markdown]
# ## 8 · How fast is the loader?
#
# `benchmarks/chip_loading.py` measures chips per second for (a) torchgeo over the files as delivered,
# (b) the aligned chip stack with grid-aligned sampling, and (c) raw rasterio block reads of the same
# stack (the ceiling). Here is a short version on this scene: the same 40 training chips both ways.

# %%
from geoml_helpers.learn.deep import chip_dataloader

def chips_per_second(dataset, queries, repeats=2):
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        n = sum(len(b["image"]) for b in chip_dataloader(dataset, queries, batch_size=8))
        best = max(best, n / (time.perf_counter() - started))
    return best

queries = list(dm.train_sampler)[:40]
slow = chips_per_second(slow_pair, queries)
fast = chips_per_second(dm.dataset if fast_loader else slow_pair, queries)
print(f"torchgeo over delivered COGs: {slow:6.0f} chips/s | chip stack: {fast:6.0f} chips/s | x{fast / slow:.1f}")

# %% [markdown]
# ## Check your understanding
#
# The U-Net sees only one date, the random forest of notebook 04 the whole year. Which classes would you
# expect each to get right, and why? What single change to this notebook would give the U-Net the same
# seasonal information?
#
# <details><summary>Solution</summary>
#
# Classes that differ mainly in *phenology* (cultivated fields that are green in winter and bare in
# summer, fynbos against invasive trees in the dry season) are easiest with a time series, so the random
# forest usually wins on them; classes with a distinctive *shape or texture* (built-up, water bodies,
# field edges) are where a CNN's spatial context helps. To give the U-Net the season, feed it several
# dates: stack the monthly composites of notebook 02 as extra channels (`time_series=True` on the
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
