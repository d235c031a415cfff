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
# # 08 · Whole-scene inference, publishing as COG + STAC, and the conservation answer
#
# A course that stops at a trained model leaves its learners without the answer they came for: a **map**,
# **published** where others can find it, and the **numbers** a conservation manager asks for — how many hectares
# of invasive alien trees are there in each management block, and how sure are we?
#
# **Learning objectives**
#
# 1. Apply a trained model to a whole scene in overlapping tiles, blended without seams, with dask and bounded memory.
# 2. Write the class map and the vote share as Cloud-Optimised GeoTIFFs with overviews, a colour map and class names,
#    and check with a reliability diagram whether the vote share may be read as a probability.
# 3. Describe the prediction as a STAC Item (classification and ML-model extensions), add it to a STAC API and find it again.
# 4. Estimate area and accuracy, with standard errors, from a **stratified random reference sample** of the map
#    (Olofsson et al. 2014), per management block too (Stehman 2014), and see why a convenience sample is biased.
#
# **Prerequisites:** notebook 04 (the random forest; if its model file is missing, a small one is trained here),
# notebook 05 (the U-Net; used only when its checkpoint is present), notebook 07 (dask).
#
# **Expected run time (2 busy cores):** `ci` a few minutes · `workshop` longer · `full` 20+ minutes (not measured).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
model_path = None  # joblib model file; None: notebook 04's, else one trained here
use_unet = True  # also predict with notebook 05's U-Net when its checkpoint exists
tile = None  # tile core in pixels; None means the profile default
overlap = None  # context margin in pixels; None means the profile default
n_draws = 200  # repeated reference samples in the design experiment (demo only)

# %% [markdown]
# ## Setup

# %%
import json
import time
import warnings
from pathlib import Path

import geopandas as gpd
import holoviews as hv
import hvplot.pandas  # noqa: F401
import joblib
import numpy as np
import pandas as pd
import rasterio
import sklearn
from IPython.display import display
from myst_nb import glue
from sklearn.ensemble import RandomForestClassifier

from geoml_helpers.core import data_root, outputs_dir, resolve_project
from geoml_helpers.demo import ensure_demo_data
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_map, polygon_overlay, record_plot_bounds
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.learn import balance_classes, day_of_year, feature_names
from geoml_helpers.learn import pixel_features, sample_pixels
from geoml_helpers.load import ensure_project_cube, is_valid_cog, project_outputs_dir
from geoml_helpers.load import rasterize_labels, rasterize_splits, split_mask, write_cog
from geoml_helpers.publish import ModelFileError, ModelMismatchError, load_sklearn_model
from geoml_helpers.publish import predict_scene, sklearn_predictor

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")

# %%
warnings.filterwarnings("ignore", message="All-NaN slice")
SETTINGS = {
    "ci": dict(tile=64, overlap=8, n_estimators=60, max_pixels_per_polygon=60),
    "workshop": dict(tile=256, overlap=16, n_estimators=100,
                     max_pixels_per_polygon=100),
    "full": dict(tile=512, overlap=32, n_estimators=200, max_pixels_per_polygon=200),
}[profile]
tile = tile or SETTINGS["tile"]
overlap = overlap if overlap is not None else SETTINGS["overlap"]
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
classes = prepared.classes
CLASS_IDS = classes.ids  # raster ids 1..K of the project's classes
root = data_root(data_dir)  # paths are printed relative to the data folder
out = project_outputs_dir(project, profile, "08_inference_and_publishing",
                          data_dir=data_dir)
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
bands = [str(b) for b in cube["band"].values]
doy = day_of_year(cube["time"].values)
names = feature_names(bands)
started = time.perf_counter()
print(f"cube {dict(cube['reflectance'].sizes)}; {len(names)} features per pixel; "
      f"tiles of {tile} px + {overlap} px context")

# %% [markdown]
# ## 1 · The model
#
# Notebook 04 saves its random forest (with the feature names it was trained on) to the project's `models`
# folder. We look for it there, check that it expects exactly the features this cube gives, and otherwise
# train a small one here from the training blocks, the same way notebook 04 does — so this notebook also runs
# on a fresh checkout.

# %%
models_dir = project_outputs_dir(project, profile, "models", data_dir=data_dir)
candidates = [Path(model_path)] if model_path else sorted(models_dir.glob("*.joblib"))
model, model_source = None, None
for path in candidates:
    try:
        model, model_source = load_sklearn_model(path, names), path
        break
    except (ModelFileError, ModelMismatchError) as exc:
        if model_path:  # the reader asked for this file: stop with the reason
            raise
        print(f"Skipping {path.name}: {type(exc).__name__}")

# %%
labels_gdf = prepared.labels
if model is None:
    cap = SETTINGS["max_pixels_per_polygon"]
    samples = sample_pixels(cube, labels_gdf, max_pixels_per_polygon=cap, seed=seed)
    train = balance_classes(samples[samples["split"] == "train"], seed=seed)
    model = RandomForestClassifier(
        n_estimators=SETTINGS["n_estimators"], class_weight="balanced",
        min_samples_leaf=2, random_state=seed, n_jobs=2,
    ).fit(train[names], train["class_id"])
    model_source = out / "random_forest_08.joblib"
    joblib.dump(model, model_source)
    print(f"No model from notebook 04: trained a random forest on {len(train):,} "
          f"training-block pixels -> {model_source.relative_to(root)}")
else:
    print(f"Using notebook 04's model: {Path(model_source).relative_to(root)}")
glue("model_from_04", model_source.name == "random_forest_04.joblib", display=False)
if hasattr(model, "set_params"):  # one thread per tile: dask runs tiles in parallel
    jobs = [k for k in model.get_params() if k == "n_jobs" or k.endswith("__n_jobs")]
    model.set_params(**dict.fromkeys(jobs, 1))
model

# %% [markdown]
# Bad model files get clear errors rather than wrong maps. Here a file that does not exist, and a model trained on
# only the first ten features:

# %%
rng = np.random.default_rng(seed)
wrong = RandomForestClassifier(n_estimators=2, random_state=seed)
wrong.fit(rng.random((20, 10)), np.arange(20) % 2 + 1)
joblib.dump(wrong, out / "wrong_bands.joblib")
for name in ("missing.joblib", "wrong_bands.joblib"):
    try:
        load_sklearn_model(out / name, names)
    except (ModelFileError, ModelMismatchError) as exc:
        message = str(exc).replace(str(root), "<data>")
        print(f"{type(exc).__name__}: {message[:160]}...")

# %% [markdown]
# ## 2 · Whole-scene inference in overlapping tiles
#
# `predict_scene` cuts the scene into cores of `tile` x `tile` pixels, predicts each with `overlap` extra pixels of
# context on every side, and blends neighbouring tiles with linear weights across a band `overlap` pixels wide
# around each core edge (the weights of neighbours add up to 1). A per-pixel random forest needs no context, so
# for it the tiled map *equals* the whole-array map; a convolutional network (the U-Net) sees its neighbourhood,
# and the overlap is what removes the seams (see `tests/test_tiled_inference.py`).
#
# Memory stays bounded because dask holds a few tiles at a time and only the class map and the vote share (two
# small 2-D arrays) are ever assembled for the whole scene, never the per-class scores.


# %%
def features_of(block: np.ndarray) -> np.ndarray:
    """A reflectance tile (time, band, y, x) -> features (feature, y, x), as trained."""
    return pixel_features(block, doy, bands)


predictor = sklearn_predictor(model, CLASS_IDS, transform=features_of)
reflectance = cube["reflectance"].transpose("time", "band", "y", "x").data
rf = predict_scene(reflectance, predictor, CLASS_IDS, tile=tile, overlap=overlap,
                   num_workers=2, progress=False)
scene_px = rf.classes.size
scores_mb = len(CLASS_IDS) * scene_px * 4 / 1e6
print(f"{rf.n_tiles} tiles, {scene_px:,} px in {rf.seconds:.1f} s; peak memory "
      f"{rf.peak_rss_mb:.0f} MB (+{rf.peak_rss_mb - rf.baseline_rss_mb:.0f} MB over "
      "the "
      f"{rf.baseline_rss_mb:.0f} MB before); all class scores at once would be "
      f"{scores_mb:.0f} MB")
stats = {"profile": profile, "tile": tile, "overlap": overlap, "n_tiles": rf.n_tiles,
         "seconds": rf.seconds, "peak_rss_mb": rf.peak_rss_mb, "pixels": scene_px,
         "baseline_rss_mb": rf.baseline_rss_mb}
_ = (out / "inference_stats.json").write_text(json.dumps(stats, indent=1))

# %% [markdown]
# Sanity checks: a window predicted in one piece gives the same classes as the tiles, and the
# agreement with the label pixels of the held-out **test blocks** (never used for training).

# %%
label_raster = rasterize_labels(labels_gdf, cube).values
in_test = split_mask(rasterize_splits(prepared.blocks, cube), "test")
test_px = (label_raster > 0) & in_test & (rf.classes > 0)
window = tuple(slice(0, min(96, n)) for n in rf.classes.shape)
block = cube["reflectance"].transpose("time", "band", "y", "x")[..., *window]
whole = predictor(block.values)
whole_best = np.asarray(CLASS_IDS)[whole.argmax(axis=0)]
whole_classes = np.where(whole.sum(axis=0) > 0, whole_best, 0)
agree = float((whole_classes == rf.classes[window]).mean())
test_accuracy = float((rf.classes[test_px] == label_raster[test_px]).mean())
glue("tiled_whole_agreement", agree, display=False)
glue("predicted_share", float((rf.classes > 0).mean()), display=False)
print(f"tiled vs. whole-window agreement {agree:.4f}; test-block pixel accuracy "
      f"{test_accuracy:.3f} on {test_px.sum():,} px; "
      f"{(rf.classes == 0).mean():.2%} px without prediction")

# %% [markdown]
# ### The U-Net, when notebook 05 has trained one
#
# Notebook 05 saves Lightning checkpoints of its U-Net. A checkpoint holds the network's weights, the
# settings of its data module (which scene, which bands) and the training blocks' normalisation statistics,
# so we can rebuild exactly the input the network was trained on: the single-date chip stack of 05,
# normalised the same way. It runs through the same tiled blending (`torch_predictor`); the overlap
# matters for it because it sees a neighbourhood.

# %%
# 05's run folders: outputs/<profile>/torchgeo/[<project>-]unet-...
runs = outputs_dir(profile, "torchgeo", data_dir=data_dir, create=False)
run_prefix = "" if project.is_demo else f"{project.name}-"
checkpoints = sorted(runs.glob(f"{run_prefix}unet-*/checkpoints/best-*.ckpt"),
                     key=lambda p: p.stat().st_mtime)
unet, net = None, None
if use_unet and checkpoints:
    import torch

    from torchgeo.tasks import SemanticSegmentation

    from geoml_helpers.learn.deep import SegmentationDataModule
    from geoml_helpers.publish import torch_predictor

    ckpt = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
    settings = {**ckpt["datamodule_hyper_parameters"], "data_dir": data_dir}
    dm = SegmentationDataModule(**settings)
    dm.prepare_data()  # finds 05's chip stack: nothing is rebuilt
    dm.load_state_dict(ckpt[type(dm).__qualname__])  # the train-block mean and std
    task = SemanticSegmentation.load_from_checkpoint(checkpoints[-1], weights=None,
                                                     map_location="cpu")
    with rasterio.open(dm.stack_path) as src:
        scene = src.read([list(src.descriptions).index(b) + 1 for b in dm.bands])
    mean, std = (v.numpy()[:, None, None] for v in (dm.mean, dm.std))
    net = torch_predictor(task, transform=lambda t: (t - mean) / std, pad_multiple=32)

# %% [markdown]
# The chip stack is on the scene's own grid (in your project it can be another UTM zone, or a window
# around the AOI), so the U-Net's map is taken onto the cube's grid (nearest neighbour: class ids stay
# class ids) before it is scored on the same test pixels as the random forest.

# %%
import rioxarray
from rasterio.enums import Resampling

if net is not None:
    unet = predict_scene(scene, net, list(range(len(CLASS_IDS) + 1)),
                         tile=4 * dm.chip_size, overlap=dm.chip_size // 2,
                         num_workers=1, progress=False)
    stack_grid = rioxarray.open_rasterio(dm.stack_path).isel(band=0, drop=True)
    unet_map = stack_grid.copy(data=unet.classes.astype("uint8")).rio.write_nodata(0)
    unet_map = unet_map.rio.reproject_match(cube["reflectance"].isel(time=0, band=0),
                                            resampling=Resampling.nearest)
    unet_accuracy = float((unet_map.values[test_px] == label_raster[test_px]).mean())
    print(f"U-Net ({checkpoints[-1].parent.parent.name}): {unet.seconds:.1f} s, "
          f"test-block pixel accuracy {unet_accuracy:.3f} "
          f"(random forest {test_accuracy:.3f})")
else:
    print("No U-Net checkpoint from notebook 05 (or use_unet=False): RF only.")
glue("unet_used", net is not None, display=False)

# %% [markdown]
# ## 3 · Output files: COGs with overviews, colours and class names
#
# The class map is `uint8` with 0 = no prediction, a colour table and the class names as metadata; overviews use
# `nearest` so that zoomed-out views still show real classes. The second COG is the **vote share**: the share of
# the forest's trees that voted for the mapped class (their mean class score), 0–100 % in `uint8`, with
# `average` overviews and 255 = nodata. It is *not* called a probability or a confidence: section 5 checks
# whether it can be read as one.
#
# GDAL's COG driver builds overviews only down to the size of one internal block, so a scene smaller than a
# 256 px block would get none. The block size therefore follows the scene (64 px for the ci scene).

# %%
transform = cube.rio.transform()
cog_block = int(min(256, max(64, 2 ** np.floor(np.log2(min(rf.classes.shape) / 4)))))
classes_path = write_cog(
    out / "landcover_prediction.tif", rf.classes.astype("uint8"), transform=transform,
    crs=prepared.crs, nodata=0, colormap=classes.colormap(),
    overview_resampling="nearest", band_names=["landcover"], blocksize=cog_block,
    tags={"classes": classes.to_json(), "model": Path(model_source).name},
)
vote_share = np.where(rf.classes > 0, np.round(rf.confidence * 100), 255)
vote_share = vote_share.astype("uint8")
vote_share_path = write_cog(
    out / "landcover_vote_share.tif", vote_share, transform=transform, crs=prepared.crs,
    nodata=255, overview_resampling="average", band_names=["vote_share_percent"],
    blocksize=cog_block, tags={"units": "percent of the votes for the mapped class"},
)
for path in (classes_path, vote_share_path):
    with rasterio.open(path) as src:
        glue(f"overviews_{path.stem}", len(src.overviews(1)), display=False)
        print(f"{path.name}: {src.width}x{src.height}, blocks {src.block_shapes[0]}, "
              f"overviews {src.overviews(1)}, valid COG {is_valid_cog(path)[0]}, "
              f"{path.stat().st_size / 1e3:.0f} kB")

# %% [markdown]
# ## 4 · Publish: a STAC Item in the STAC API
#
# The Item carries the two COGs as assets; the **classification** extension lists every value of the class map
# with name, description and colour; the **mlm** extension describes the model (architecture, framework and version,
# its input bands and time steps, the feature function, its output classes), and the **version** extension the
# model's version. We validate it (core schema offline; extension schemas when reachable, otherwise their required
# fields), add it to the course's local STAC API and search for it like any other user would. The classes, names
# and colours are the project's.

# %%
from geoml_helpers.publish import ModelDescription, prediction_item, validate_item

times = cube["time"].values
start, end = (f"{np.datetime_as_string(t, unit='s')}Z" for t in (times[0], times[-1]))
params = {k: v for k, v in model.get_params().items()
          if isinstance(v, (int, float, str, bool)) and not k.endswith("n_jobs")}
description = ModelDescription(
    name="geoml random forest", architecture=type(model).__name__,
    framework="scikit-learn", framework_version=sklearn.__version__, version="1.0.0",
    bands=bands, n_times=len(times), features=names, hyperparameters=params)
item = prediction_item(
    f"geoml-landcover-{project.name}-random-forest",  # the profile is a property
    bounds=prepared.bounds, crs=prepared.crs, start=start, end=end,
    assets={"classification": classes_path, "vote_share": vote_share_path,
            "model": model_source},
    shape=rf.classes.shape, transform=list(transform)[:6], model=description,
    classes=classes,
    class_percentages={c: 100 * float((rf.classes == c).mean()) for c in CLASS_IDS},
    properties={"geoml:test_block_accuracy": round(test_accuracy, 4),
                "geoml:profile": profile, "geoml:project": project.name},
)
print(validate_item(item))

# %%
from geoml_helpers.publish import find_published, prediction_collection, publish_item
from geoml_helpers.services import LocalStacServer

catalogue = ensure_demo_data(profile, data_dir, progress=False)  # the local STAC API
server = LocalStacServer.for_demo(catalogue).start()
period = item.properties["start_datetime"], item.properties["end_datetime"]
collection = prediction_collection(item.bbox, *period, project_name=project.name)
api_url = publish_item(server, item, collection)
found = find_published(api_url, item.id, bbox=item.bbox)
same = found.assets["classification"].href == item.assets["classification"].href
glue("found_published_item", found.id == item.id and same, display=False)
print(f"found {found.id} in collection {found.collection_id} of the local STAC API")
stac_classes = found.assets["classification"].ext.classification.classes
published = [[c.value, c.name, c.color_hint and f"#{c.color_hint}"]
             for c in stac_classes]
glue("published_classes", published, display=False)
print(f"model: {found.properties['mlm:name']}; classes as published:")
pd.DataFrame(published, columns=["value", "name", "colour"]).set_index("value")

# %% [markdown]
# ## 5 · The conservation answer: hectares, with honest intervals
#
# Pixel counts give the **mapped** area, biased by the map's errors. To correct it, and to put an interval on it,
# we need reference labels at a **probability sample of the map**: points drawn at random, stratified by map
# class, so that every pixel has a known chance of being chosen (Olofsson et al. 2014). The label polygons of
# the test blocks are *not* such a sample: they were drawn where the class was obvious, and rare classes are
# over-represented. Estimates from them are biased, and no formula fixes that.
#
# **How many points?** Olofsson's formula sizes the sample for a target standard error of the overall accuracy
# (0.01 here), from the mapped class shares and a guess of each class's user's accuracy (0.85). The points are
# allocated proportionally, with at least 50 per class so that rare classes get a user's accuracy too.

# %%
from geoml_helpers.publish import allocate_sample, olofsson_sample_size
from geoml_helpers.publish import stratified_random_sample

mapped = np.array([(rf.classes == c).sum() for c in CLASS_IDS])
expected_ua = [0.85] * len(CLASS_IDS)  # a guess of each class's user's accuracy
n_sample = olofsson_sample_size(mapped / mapped.sum(), expected_ua, target_se=0.01)
alloc = allocate_sample(n_sample, mapped, min_per_class=50)
sample = stratified_random_sample(rf.classes, alloc, CLASS_IDS, seed=seed,
                                  transform=transform)
pixel_area = abs(transform.a * transform.e)
print(f"{n_sample} reference points, stratified by map class")
design = pd.DataFrame({"mapped share": mapped / mapped.sum(), "points": alloc},
                      index=[classes.labels[c] for c in CLASS_IDS])
design.round(3)

# %% [markdown]
# **Labelling.** In the demo the synthetic world knows the true class of every pixel, so the points are
# labelled from it. In your project a photo-interpreter labels them (on very-high-resolution imagery or in
# the field): the points are written to a GeoPackage with an empty `reference` column; save the labelled file
# as `reference_sample_labelled.gpkg` beside it and run this notebook again.

# %%
from geoml_helpers.publish import label_sample

truth = None
labelled_path = out / "reference_sample_labelled.gpkg"
if project.is_demo:
    with rasterio.open(ensure_demo_data(profile, data_dir).truth_path) as src:
        truth = src.read(1)
    sample = label_sample(sample, truth)
    print(f"{len(sample)} points labelled from the synthetic truth")
elif labelled_path.exists():
    sample = gpd.read_file(labelled_path).drop(columns="geometry")
    print(f"{len(sample)} labelled points from {labelled_path.relative_to(root)}")
else:
    points = gpd.GeoDataFrame(sample.assign(reference=0), crs=prepared.crs,
                              geometry=gpd.points_from_xy(sample["x"], sample["y"]))
    points.to_file(out / "reference_sample.gpkg")
    sample = None
    print(f"Label the points in {(out / 'reference_sample.gpkg').relative_to(root)}, "
          f"save them as {labelled_path.name}, and run again: no estimates until then.")

# %% [markdown]
# **The estimates** (Olofsson et al. 2014, eqs. 2-10): the area of each class, and the user's (UA: of the
# pixels mapped as the class, the share that is it), producer's (PA: of the class's true area, the share mapped
# as it) and overall accuracy (OA), each with a 95 % interval (± 1.96 standard errors). In the demo the true
# area stands beside each interval.

# %%
from geoml_helpers.publish import sample_estimates

# The class the question is about: invasive trees in the demo, else the first class.
focus = 2 if project.is_demo else CLASS_IDS[0]
focus_label = classes.labels[focus]
table = None
if sample is not None:
    table = sample_estimates(sample, rf.classes, pixel_area, CLASS_IDS, classes.labels)
    shown = table.set_index("class_name")[["mapped_ha"]]
    shown["area_ha (95 % CI)"] = [f"{a:,.1f} ({lo:,.1f}-{hi:,.1f})" for a, lo, hi in
                                  table[["area_ha", "ci_low_ha", "ci_high_ha"]].values]
    for acc in ("users_accuracy", "producers_accuracy"):
        shown[acc.split("_")[0]] = [f"{a:.3f} ± {1.96 * s:.3f}"
                      for a, s in zip(table[acc], table[f"{acc}_se"])]
    if truth is not None:
        true_px = [float((truth == c).sum()) for c in CLASS_IDS]
        shown["true_ha"] = np.array(true_px) * pixel_area / 1e4
        shown["inside"] = shown["true_ha"].between(table["ci_low_ha"].values,
                                                   table["ci_high_ha"].values)
    oa, oa_se = table.attrs["overall_accuracy"], table.attrs["overall_accuracy_se"]
    glue("overall_accuracy", float(oa), display=False)
    print(f"overall accuracy {oa:.3f} ± {1.96 * oa_se:.3f} (95 %), "
          f"from {len(sample)} points")
shown.round(2) if table is not None else None

# %%
conclusion = "No reference sample is labelled yet: no area estimate."
if table is not None:
    inv = table.set_index("class_id").loc[focus]
    for key in ("mapped_ha", "area_ha", "ci_low_ha", "ci_high_ha"):
        glue(f"focus_{key}", float(inv[key]), display=False)
    conclusion = (f"{focus_label}: {inv.area_ha:,.1f} ha (95 % CI {inv.ci_low_ha:,.1f}-"
                  f"{inv.ci_high_ha:,.1f}); the map shows {inv.mapped_ha:,.1f} ha.")
    if truth is not None:
        true_ha = float(shown.loc[inv.class_name, "true_ha"])
        glue("focus_true_ha", true_ha, display=False)
        if inv.ci_low_ha <= true_ha <= inv.ci_high_ha:
            claim = "focus_ci_low_ha <= focus_true_ha <= focus_ci_high_ha"
            conclusion += (f" The synthetic truth, {true_ha:,.1f} ha, lies inside "
                           "the interval.")
        else:
            claim = "not focus_ci_low_ha <= focus_true_ha <= focus_ci_high_ha"
            conclusion += (f" The synthetic truth, {true_ha:,.1f} ha, lies outside "
                           "it: one sample in twenty misses, or it is too small.")
        glue("claim_focus_interval", claim, display=False)
print(conclusion)

# %% [markdown]
# ### Is the vote share a probability? A reliability diagram
#
# Before anyone publishes the vote share as "the probability that this pixel is class *c*", check it: at the
# reference points, bin the vote share and compare each bin's mean with the share of points whose map class
# is right. A calibrated score lies on the diagonal; the expected calibration error (ECE) is the
# point-weighted mean gap.

# %%
from geoml_helpers.learn import reliability_table

reliability = None
if sample is not None:
    at_points = vote_share[sample["row"], sample["col"]] / 100
    correct = (sample["reference"] == sample["map_class"]).to_numpy()
    reliability = reliability_table(at_points, correct, n_bins=10)
    ece = reliability.attrs["expected_calibration_error"]
    glue("expected_calibration_error", float(ece), display=False)
    gap = float((reliability["accuracy"] - reliability["mean_confidence"]).mean())
    side = "under-confident (right more often than it says)" if gap > 0 else (
        "over-confident (right less often than it says)")
    print(f"ECE {ece:.3f}; on average the vote share is {side}. "
          + ("Close enough to publish as a probability." if ece < 0.05 else
             "Publish it as a vote share, not a probability, or calibrate it first."))
    diagonal = hv.Curve([(0, 0), (1, 1)]).opts(color="grey", line_dash="dashed")
    dots = reliability.hvplot.scatter(
        x="mean_confidence", y="accuracy", size=60, hover_cols=["count"], width=450,
        height=380, xlim=(0, 1.02), ylim=(0, 1.02), xlabel="vote share (bin mean)",
        ylabel="share of points mapped right", title="Reliability of the vote share")
(diagonal * dots) if reliability is not None else None

# %% [markdown]
# ### Why not the test polygons? Repeated draws
#
# In the synthetic world we can repeat the whole survey many times and watch each design. The **probability**
# design draws a new stratified random sample each time; the **convenience** design draws the same number of
# points from the test polygons, as if those were the reference data. A good design is unbiased (its estimates
# centre on the truth) and its 95 % intervals cover the truth in about 95 % of the draws.

# %%
from geoml_helpers.learn import polygon_index_raster
from geoml_helpers.publish import repeated_draws, summarise_draws

draws = None
if truth is not None:
    test_rows = np.flatnonzero(labels_gdf["split"].eq("test").to_numpy())
    convenience = np.isin(polygon_index_raster(labels_gdf, cube), test_rows)
    draws = repeated_draws(rf.classes, truth, alloc, CLASS_IDS, n_draws=n_draws,
                           convenience_mask=convenience, seed=seed,
                           pixel_area_m2=pixel_area)
    summary = summarise_draws(draws)
    per_design = summary.xs(focus, level="class_id")
    for design_name, row in per_design.iterrows():
        glue(f"{design_name}_coverage", float(row["coverage"]), display=False)
        glue(f"{design_name}_abs_bias_ha", abs(float(row["bias_ha"])), display=False)
    cols = ["true_ha", "mean_area_ha", "bias_ha", "rmse_ha", "coverage", "n_draws"]
    print(f"{focus_label}, {n_draws} draws per design:")
    display(per_design[cols].round(3))
else:
    print("Repeated draws need a known truth: the demo only.")

# %%
if draws is not None:
    focus_draws = draws[draws["class_id"] == focus]
    prob, conv = (per_design.loc[d] for d in ("probability", "convenience"))
    print(f"probability sample: bias {prob.bias_ha:+.1f} ha, "
          f"coverage {prob.coverage:.0%}; "
          f"convenience sample: bias {conv.bias_ha:+.1f} ha "
          f"({conv.bias_ha / prob.true_ha:+.0%}), coverage {conv.coverage:.0%}")
    if abs(conv.bias_ha) > abs(prob.bias_ha):
        glue("claim_designs", "convenience_abs_bias_ha > probability_abs_bias_ha",
             display=False)
    by_class = summary.xs("probability", level="design")
    for class_id, row in by_class[by_class["coverage"] < 0.85].iterrows():
        print(f"{classes.labels[class_id]}: coverage only {row.coverage:.0%}. Where "
              "no sampled point is mapped wrong, the estimated variance is 0 and the "
              "interval has no width.")
    hist = focus_draws.hvplot.hist("area_ha", by="design", bins=40, alpha=0.6,
                                   width=600, height=300,
                                   xlabel=f"{focus_label} estimate (ha)",
                                   title="Estimates over repeated reference samples")
    display(hist * hv.VLine(prob.true_ha).opts(color="black", line_dash="dashed"))

# %% [markdown]
# ### Per management block: domain estimation
#
# A manager budgets per management block. Applying the whole scene's error matrix to each block would borrow
# error rates from elsewhere (a model-based estimate, for which the sample's standard errors do not hold).
# Stehman's (2014) **domain estimation** uses only the sample points that fall in each block. It is honest,
# and it shows its price: a block with few points of the class gets a wide interval (`n_units` is the points
# in the block, `n_units_class` those whose reference is the class).

# %%
from geoml_helpers.publish import domain_areas, management_blocks

blocks = management_blocks(prepared.bounds, prepared.crs)
domains = None
if sample is not None:
    domains = domain_areas(sample, rf.classes, transform, blocks, CLASS_IDS,
                           classes.labels)
    focus_domains = domains[domains["class_id"] == focus].set_index("block_name")
    first = focus_domains.iloc[0]
    glue("first_block_mapped_ha", float(first["mapped_ha"]), display=False)
    glue("first_block_area_ha", float(first["area_ha"]), display=False)
    cols = ["mapped_ha", "area_ha", "ci_low_ha", "ci_high_ha", "n_units",
            "n_units_class"]
    print(f"{focus_label} by management block (ha):")
focus_domains[cols].round(2) if domains is not None else None

# %% [markdown]
# ### Export: CSV and GeoParquet
#
# The domain table goes out twice: CSV for spreadsheets and reports, GeoParquet (each row with its block's
# geometry) for GIS. The whole-scene estimates go beside it as CSV.

# %%
if domains is not None:
    geoms = {row.block_id: row.geometry for row in blocks.itertuples()}
    domains_gdf = gpd.GeoDataFrame(domains.copy(), crs=prepared.crs,
                                   geometry=[geoms[b] for b in domains["block_id"]])
    domains_gdf.attrs = {}
    written = [out / "area_by_block.csv", out / "area_by_block.parquet",
               out / "area_estimates.csv"]
    domains.to_csv(written[0], index=False, float_format="%.3f")
    domains_gdf.to_parquet(written[1], index=False)
    table.to_csv(written[2], index=False, float_format="%.4f")
    print("written:", [str(p.relative_to(root)) for p in written])

# %% [markdown]
# ### On a map
#
# hvplot/geoviews drop the "south" of UTM zones south of the equator (see PITFALLS), so `class_map` reprojects
# to Web Mercator first; each class has its project colour and its name in the legend. `record_plot_bounds`
# records the bounds of the map's data, so the book's placement check can compare.

# %%
import xarray as xr

class_da = xr.DataArray(rf.classes, coords={"y": cube["y"], "x": cube["x"]},
                        dims=("y", "x"))
class_da = class_da.rio.write_crs(prepared.crs).rio.write_nodata(0)
title = "Predicted land cover and management blocks"
record_plot_bounds(title, class_da)
landcover_plot = class_map(class_da, classes, title=title, width=420, height=400)
if domains is not None:
    shapes = focus_domains.reset_index().merge(blocks[["block_id", "geometry"]],
                                               on="block_id")
    shapes = gpd.GeoDataFrame(shapes, geometry="geometry", crs=prepared.crs)
    shown_cols = ["block_name", "area_ha", "ci_low_ha", "ci_high_ha"]
    shapes["label"] = [f"{n}: {a:,.1f} ha ({lo:,.1f}-{hi:,.1f})"
                       for n, a, lo, hi in shapes[shown_cols].values]
    outlines = polygon_overlay(shapes[["block_name", "label", "geometry"]],
                               color_column="block_name", fill_alpha=0.0, line_width=2,
                               colors=dict.fromkeys(shapes["block_name"], "#000000"))
    landcover_plot = landcover_plot * outlines
landcover_plot.opts(legend_position="right")

# %% [markdown]
# ## Clean up

# %%
server.stop()
print(f"notebook body ran in {time.perf_counter() - started:.0f} s")
print(conclusion)

# %% [markdown]
# ## Check your understanding
#
# A manager reads the mapped hectares of invasive trees in the Upper catchment off the map and proposes to budget
# the clearing for exactly that area. Using the domain table above, what do you answer? And why would the test
# polygons of notebook 04 not do as reference data?
#
# <details><summary>Solution</summary>
#
# The mapped area is biased by the map's errors (pixels of the class mapped as something else, and the reverse).
# Use the estimate from the probability sample with its interval, and read `n_units_class`: when only a handful of
# sample points in the block are of the class, the interval is wide, and the honest answer is "between the ends of
# the interval"; if that range is too wide to budget with, add sample points in that block (a larger sample there,
# or the block as its own stratum). The test polygons are a convenience sample: drawn where the class was obvious
# and rich in rare classes, so the repeated draws above show them biased, with intervals that almost never cover
# the truth.
# </details>
#
# ## Summary
#
# * Tiled inference with overlap and linear blending gives seamless maps in bounded memory; for per-pixel models it
#   equals whole-array inference.
# * A published prediction is a pair of COGs (classes with a colour table and names, vote share) plus a STAC Item
#   whose classification and mlm extensions say what the values mean and which model made them. A reliability
#   diagram decides whether the vote share may be called a probability.
# * Area and accuracy come from a stratified random sample of the map, with standard errors, per management block
#   by domain estimation. A convenience sample (the label polygons) gives biased estimates, however many points.
#
# ## What next
#
# Notebook 07 showed how the same steps scale out with dask clusters and zarr on object storage. For a real project:
# a stratified reference sample labelled by a photo-interpreter, a model trained on real imagery of several years,
# and the Item published to a shared STAC API (e.g. with stac-fastapi's transaction extension) instead of a local one.
