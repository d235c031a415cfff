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
# 2. Write the class map and a confidence band as Cloud-Optimised GeoTIFFs with overviews, a colour map and class names.
# 3. Describe the prediction as a STAC Item (classification and ML-model extensions), add it to a STAC API and find it again.
# 4. Estimate the area of each class per management block with confidence intervals from the test-block
#    confusion matrix (Olofsson et al. 2014), and show it on a correctly placed map.
#
# **Prerequisites:** notebook 04 (the random forest; if its model file is missing, a small one is trained here),
# notebook 05 (the U-Net; used only when its model file is present), notebook 07 (dask).
#
# **Expected run time (2 busy cores, measured):** `ci` under 1 minute · `workshop` about 1.5 minutes · `full` 20+ minutes (not measured).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
model_path = None  # a joblib random forest file; None means: look for the one of notebook 04, else train a small one here
use_unet = True  # also predict with notebook 05's U-Net when its TorchScript file exists
tile = None  # tile core in pixels; None means the profile default
overlap = None  # context margin in pixels; None means the profile default

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
import hvplot.xarray  # noqa: F401
import joblib
import numpy as np
import pandas as pd
import rasterio
import sklearn
from sklearn.ensemble import RandomForestClassifier

from geoml_helpers.publish import area_by_block, management_blocks
from geoml_helpers.load import is_valid_cog, write_cog
from geoml_helpers.core import resolve_project
from geoml_helpers.demo import ensure_demo_data
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_map, element_lonlat_bounds, polygon_overlay
from geoml_helpers.learn import confusion_counts, day_of_year, feature_names, pixel_features
from geoml_helpers.load import ensure_project_cube, project_outputs_dir
from geoml_helpers.publish import ModelDescription, find_published, prediction_collection, prediction_item, publish_item, validate_item
from geoml_helpers.load import rasterize_labels, rasterize_splits, split_mask
from geoml_helpers.learn import balance_classes, sample_pixels
from geoml_helpers.services import LocalStacServer
from geoml_helpers.publish import ModelFileError, ModelMismatchError, load_sklearn_model, predict_scene, sklearn_predictor

hv.extension("bokeh")
warnings.filterwarnings("ignore", message="All-NaN slice")
SETTINGS = {
    "ci": dict(tile=64, overlap=8, n_estimators=60, max_pixels_per_polygon=60),
    "workshop": dict(tile=256, overlap=16, n_estimators=100, max_pixels_per_polygon=100),
    "full": dict(tile=512, overlap=32, n_estimators=200, max_pixels_per_polygon=200),
}[profile]
tile = tile or SETTINGS["tile"]
overlap = overlap if overlap is not None else SETTINGS["overlap"]
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
classes = prepared.classes
CLASS_IDS = classes.ids  # raster ids 1..K of the project's classes
out = project_outputs_dir(project, profile, "08_inference_and_publishing", data_dir=data_dir)
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
bands = [str(b) for b in cube["band"].values]
doy = day_of_year(cube["time"].values)
names = feature_names(bands)
started = time.perf_counter()
print(f"cube {dict(cube['reflectance'].sizes)}; {len(names)} features per pixel; tiles of {tile} px + {overlap} px context")

# %% [markdown]
# ## 1 · The model
#
# Notebook 04 saves its best random forest as a joblib file. We look for it under `outputs/<profile>/models`
# (and notebook 04's own folder), check that it expects exactly the features this cube gives, and otherwise
# train a small one here from the training blocks, the same way notebook 04 does — so this notebook also runs on
# a fresh checkout.

# %%
candidates = [Path(model_path)] if model_path else [
    *sorted(project_outputs_dir(project, profile, "models", data_dir=data_dir).glob("*.joblib")),
    *sorted(project_outputs_dir(project, profile, "04_pixel_classification", data_dir=data_dir).glob("*.joblib")),
]
model, model_source = None, None
for path in candidates:
    try:
        model, model_source = load_sklearn_model(path, names), path
        break
    except (ModelFileError, ModelMismatchError) as exc:
        if model_path:  # the reader asked for this file: stop with the reason
            raise
        print(f"Skipping {path.name}: {exc}")

labels_gdf = prepared.labels
if model is None:
    samples = sample_pixels(cube, labels_gdf, max_pixels_per_polygon=SETTINGS["max_pixels_per_polygon"], seed=seed)
    train = balance_classes(samples[samples["split"] == "train"], seed=seed)
    model = RandomForestClassifier(n_estimators=SETTINGS["n_estimators"], class_weight="balanced", min_samples_leaf=2, random_state=seed, n_jobs=2)
    model.fit(train[names], train["class_id"])
    model_source = out / "random_forest_08.joblib"
    joblib.dump(model, model_source)
    print(f"No model from notebook 04: trained a random forest on {len(train):,} training-block pixels -> {model_source}")
else:
    print(f"Using {model_source}")
if hasattr(model, "set_params"):  # one thread per tile: dask already runs tiles in parallel
    model.set_params(**{k: 1 for k in model.get_params() if k == "n_jobs" or k.endswith("__n_jobs")})
model

# %% [markdown]
# Bad model files get clear errors rather than wrong maps. Here a file that does not exist, and a model trained on
# only the first ten features:

# %%
try:
    load_sklearn_model(out / "missing.joblib", names)
except ModelFileError as exc:
    print("ModelFileError:", exc)
wrong = RandomForestClassifier(n_estimators=2, random_state=seed).fit(np.random.default_rng(seed).random((20, 10)), np.arange(20) % 2 + 1)
joblib.dump(wrong, out / "wrong_bands.joblib")
try:
    load_sklearn_model(out / "wrong_bands.joblib", names)
except ModelMismatchError as exc:
    print("ModelMismatchError:", exc)

# %% [markdown]
# ## 2 · Whole-scene inference in overlapping tiles
#
# `predict_scene` cuts the scene into cores of `tile` x `tile` pixels, predicts each with `overlap` extra pixels of
# context on every side, and blends neighbouring tiles with linear weights across a band `overlap` pixels wide
# around each core edge (the weights of neighbours add up to 1). A per-pixel random forest needs no context, so
# for it the tiled map *equals* the whole-array map; a convolutional network (the U-Net) sees its neighbourhood,
# and the overlap is what removes the seams (see `tests/test_tiled_inference.py`).
#
# Memory stays bounded because dask holds a few tiles at a time and only the class map and the confidence (two
# small 2-D arrays) are ever assembled for the whole scene, never the per-class probabilities.

# %%
def features_of(block: np.ndarray) -> np.ndarray:
    """A reflectance tile (time, band, y, x) -> features (feature, y, x), exactly as in training."""
    return pixel_features(block, doy, bands)


predictor = sklearn_predictor(model, CLASS_IDS, transform=features_of)
reflectance = cube["reflectance"].transpose("time", "band", "y", "x").data
rf = predict_scene(reflectance, predictor, CLASS_IDS, tile=tile, overlap=overlap, num_workers=2)
scene_px = rf.classes.size
probability_mb = len(CLASS_IDS) * scene_px * 4 / 1e6
print(f"{rf.n_tiles} tiles, {scene_px:,} px in {rf.seconds:.1f} s ({scene_px / rf.seconds / 1e6:.2f} Mpx/s); "
      f"peak memory {rf.peak_rss_mb:.0f} MB (+{rf.peak_rss_mb - rf.baseline_rss_mb:.0f} MB over the {rf.baseline_rss_mb:.0f} MB before); "
      f"the whole probability array would be {probability_mb:.0f} MB, the cube's features {len(names) * scene_px * 4 / 1e6:.0f} MB")
_ = (out / "inference_stats.json").write_text(json.dumps({"profile": profile, "tile": tile, "overlap": overlap, "n_tiles": rf.n_tiles, "seconds": rf.seconds, "peak_rss_mb": rf.peak_rss_mb, "baseline_rss_mb": rf.baseline_rss_mb, "pixels": scene_px}, indent=1))

# %% [markdown]
# Sanity checks: the tiles cover the scene, a window predicted in one piece gives the same classes, and the
# accuracy on the held-out **test blocks** (never used for training) is far above chance.

# %%
label_raster = rasterize_labels(labels_gdf, cube).values
in_test = split_mask(rasterize_splits(prepared.blocks, cube), "test")
test_px = (label_raster > 0) & in_test & (rf.classes > 0)
window = (slice(0, min(96, rf.classes.shape[0])), slice(0, min(96, rf.classes.shape[1])))
whole = predictor(cube["reflectance"].transpose("time", "band", "y", "x")[..., window[0], window[1]].values)
whole_classes = np.where(whole.sum(axis=0) > 0, np.asarray(CLASS_IDS)[whole.argmax(axis=0)], 0)
agree = (whole_classes == rf.classes[window]).mean()
test_accuracy = float((rf.classes[test_px] == label_raster[test_px]).mean())
print(f"tiled vs. whole-window agreement {agree:.4f}; test-block pixel accuracy {test_accuracy:.3f} on {test_px.sum():,} px; "
      f"{(rf.classes == 0).mean():.2%} px without prediction")
assert agree > 0.999
assert test_accuracy > 2 / len(CLASS_IDS)
assert (rf.classes > 0).mean() > 0.9

# %% [markdown]
# ### The U-Net, when notebook 05 has trained one
#
# Notebook 05's segmentation network runs through the same tiled blending (`torch_predictor`) when its TorchScript
# file (`outputs/<profile>/models/unet*.pt`) exists; the overlap matters for it because it sees a neighbourhood.

# %%
models_dir = project_outputs_dir(project, profile, "models", data_dir=data_dir)
unet_files = sorted(models_dir.glob("unet*.pt")) if use_unet else []
unet = None
if unet_files:
    import torch

    from geoml_helpers.publish import torch_predictor

    try:
        net = torch.jit.load(str(unet_files[-1]), map_location="cpu")
        median = lambda block: np.nanmedian(block, axis=0)  # noqa: E731 - the U-Net sees the annual median composite
        unet = predict_scene(reflectance, torch_predictor(net, transform=median), CLASS_IDS, tile=max(tile, 64), overlap=max(overlap, 16), num_workers=1)
        unet_accuracy = float((unet.classes[test_px] == label_raster[test_px]).mean())
        print(f"U-Net ({unet_files[-1].name}): {unet.seconds:.1f} s, peak {unet.peak_rss_mb:.0f} MB, test-block accuracy {unet_accuracy:.3f}")
    except Exception as exc:  # noqa: BLE001 - an optional model from another notebook must not stop this one
        print(f"The U-Net file {unet_files[-1].name} could not be used here ({type(exc).__name__}: {exc}); continuing with the random forest.")
else:
    print("No U-Net from notebook 05 found (or use_unet=False): publishing the random forest's map.")

# %% [markdown]
# ## 3 · Output files: COGs with overviews, colours and class names
#
# The class map is `uint8` with 0 = no prediction, a colour table and the class names as metadata; overviews use
# `nearest` so that zoomed-out views still show real classes. The confidence (highest class probability) is stored
# as 0–100 % in `uint8`, with `average` overviews and 255 = nodata.

# %%
classes_path = write_cog(
    out / "landcover_prediction.tif",
    rf.classes.astype("uint8"),
    transform=cube.rio.transform(),
    crs=prepared.crs,
    nodata=0,
    colormap=classes.colormap(),
    overview_resampling="nearest",
    band_names=["landcover"],
    tags={"classes": classes.to_json(), "model": str(Path(model_source).name)},
)
confidence = np.where(rf.classes > 0, np.round(rf.confidence * 100), 255).astype("uint8")
confidence_path = write_cog(
    out / "landcover_confidence.tif", confidence, transform=cube.rio.transform(),
    crs=prepared.crs, nodata=255,
    overview_resampling="average", band_names=["confidence_percent"], tags={"units": "percent"},
)
for path in (classes_path, confidence_path):
    valid, errors = is_valid_cog(path)
    assert valid, errors
    with rasterio.open(path) as src:
        print(f"{path.name}: {src.width}x{src.height}, overviews {src.overviews(1)}, {path.stat().st_size / 1e3:.0f} kB")
with rasterio.open(classes_path) as src:
    assert src.colormap(1)[2][:3] == classes.colormap()[2][:3]
    assert json.loads(src.tags()["classes"]) == classes.to_records()

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
bounds = prepared.bounds
times = cube["time"].values
item = prediction_item(
    f"geoml-landcover-{project.name}-random-forest",  # the profile is a property
    bounds=bounds, crs=prepared.crs,
    start=f"{np.datetime_as_string(times[0], unit='s')}Z", end=f"{np.datetime_as_string(times[-1], unit='s')}Z",
    assets={"classification": classes_path, "confidence": confidence_path, "model": model_source},
    shape=rf.classes.shape, transform=list(cube.rio.transform())[:6],
    model=ModelDescription(
        name="geoml random forest", architecture=type(model).__name__, framework="scikit-learn", framework_version=sklearn.__version__,
        version="1.0.0", bands=bands, n_times=len(times), features=names,
        hyperparameters={k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool)) and not k.endswith("n_jobs")},
    ),
    classes=classes,
    class_percentages={c: 100 * float((rf.classes == c).mean()) for c in CLASS_IDS},
    properties={"geoml:test_block_accuracy": round(test_accuracy, 4), "geoml:profile": profile,
                "geoml:project": project.name},
)
report = validate_item(item)
print(report)

catalogue = ensure_demo_data(profile, data_dir, progress=False)  # the course's local API
server = LocalStacServer.for_demo(catalogue).start()
period = item.properties["start_datetime"], item.properties["end_datetime"]
collection = prediction_collection(item.bbox, *period, project_name=project.name)
api_url = publish_item(server, item, collection)
found = find_published(api_url, item.id, bbox=item.bbox)
assert found.id == item.id and found.assets["classification"].href == item.assets["classification"].href
print(f"found {found.id} at {api_url}/collections/{found.collection_id}/items/{found.id}")
found.properties["mlm:name"], [c.name for c in found.assets["classification"].ext.classification.classes]

# %% [markdown]
# ## 5 · The conservation answer: hectares per class and management block
#
# Pixel counts give the **mapped** area, biased by the map's errors. The test blocks give a confusion matrix
# (rows: mapped class, columns: reference class); with the mapped area shares it yields **area-adjusted**
# estimates and 95 % confidence intervals (Olofsson et al. 2014, see `geoml_helpers.publish.area_estimation`).
#
# Caveat, said plainly: the estimator assumes a *probability sample* of reference pixels stratified by map class.
# Our test-block label pixels are a convenience sample (polygons drawn where the class was clear, and neighbouring
# pixels are correlated), so the intervals are too narrow and the accuracy probably optimistic. For a real report,
# draw a stratified random sample of points from the map and label those.

# %%
counts = confusion_counts(rf.classes[test_px], label_raster[test_px], CLASS_IDS)
blocks = management_blocks(prepared.bounds, prepared.crs)
areas = area_by_block(rf.classes, cube.rio.transform(), blocks, counts, CLASS_IDS, classes.labels)
xmin, ymin, xmax, ymax = prepared.bounds
aoi_ha = (xmax - xmin) * (ymax - ymin) / 1e4
totals = areas.groupby("block_id")["area_ha"].sum()
assert abs(totals["AOI"] - aoi_ha) < 1e-6 * aoi_ha
assert all(abs(totals[b.block_id] - b.area_ha) < 1e-6 * aoi_ha for b in blocks.itertuples())
print(f"overall accuracy (area-weighted) {areas.attrs['overall_accuracy']:.3f}; AOI {aoi_ha:,.0f} ha = sum of blocks {totals.drop('AOI').sum():,.0f} ha")
pd.DataFrame(counts, index=[f"map {classes.names[c]}" for c in CLASS_IDS],
             columns=[f"ref {classes.names[c]}" for c in CLASS_IDS])

# %%
show = areas.copy()
show["area (95% CI), ha"] = [f"{a:,.1f} ± {c:,.1f}" for a, c in zip(show["area_ha"], show["ci_ha"])]
# The class the question is about: invasive trees in the demo; for another project its first class.
focus = 2 if project.is_demo else CLASS_IDS[0]
focus_label = classes.labels[focus]
aoi_focus = areas[(areas["block_id"] == "AOI") & (areas["class_id"] == focus)].iloc[0]
print(f"{focus_label}, whole AOI: mapped {aoi_focus.mapped_ha:,.1f} ha, "
      f"adjusted {aoi_focus.area_ha:,.1f} ha "
      f"(95% CI {aoi_focus.ci_low_ha:,.1f}-{aoi_focus.ci_high_ha:,.1f})")
if project.is_demo:  # only in a synthetic world can we check against the truth
    with rasterio.open(ensure_demo_data(profile, data_dir).truth_path) as src:
        pixel_ha = abs(src.transform.a * src.transform.e) / 1e4
        true_ha = float((src.read(1) == focus).sum()) * pixel_ha
    inside = aoi_focus.ci_low_ha <= true_ha <= aoi_focus.ci_high_ha
    print(f"the synthetic truth: {true_ha:,.1f} ha ({'inside' if inside else 'OUTSIDE'} the interval)")
else:
    print(f"No true area for {project.name!r} (only the synthetic demo has one).")
columns = ["mapped_ha", "area_ha", "ci_low_ha", "ci_high_ha"]
columns += ["users_accuracy", "producers_accuracy"]
by_block = show[show["class_id"] == focus].set_index("block_name")[columns]
print(f"{focus_label} by management block (ha):")
print(by_block.round(1).to_string())
show[["block_id", "block_name", "class_name", "mapped_ha", "area (95% CI), ha", "users_accuracy", "producers_accuracy"]].round(3)

# %% [markdown]
# Read the numbers with care: the demo world's classes are easy to separate, so the test-block confusion matrix is
# almost diagonal and the intervals are almost zero-wide. Because this world is synthetic we can compare with the
# true area (printed above): when it falls *outside* the interval, that is the convenience-sample caveat at work —
# label polygons drawn where the class is obvious miss the hard edges where the map errs.
#
# ### Export: CSV and GeoParquet
#
# The table goes out twice: CSV for spreadsheets and reports, GeoParquet (each row with its block's geometry) for
# GIS. The whole area of interest is the row group `block_id = "AOI"`.

# %%
geoms = {row.block_id: row.geometry for row in blocks.itertuples()}
geoms["AOI"] = blocks.union_all()
block_geoms = [geoms[b] for b in areas["block_id"]]
areas_gdf = gpd.GeoDataFrame(areas.copy(), geometry=block_geoms, crs=prepared.crs)
areas_gdf.attrs = {}
csv_path, parquet_path = out / "area_estimates.csv", out / "area_estimates.parquet"
areas.to_csv(csv_path, index=False, float_format="%.3f")
areas_gdf.to_parquet(parquet_path, index=False)
back = gpd.read_parquet(parquet_path)
assert len(back) == len(areas) and back.crs == areas_gdf.crs
print(csv_path, parquet_path)

# %% [markdown]
# ### On a map
#
# hvplot/geoviews drop the "south" of UTM zones south of the equator (see PITFALLS), so `class_map` reprojects
# to Web Mercator first; we check that the map lands on the project's grid. Each class has its project colour
# and its name in the legend.

# %%
import rioxarray  # noqa: F401
import xarray as xr

class_da = xr.DataArray(rf.classes, coords={"y": cube["y"], "x": cube["x"]}, dims=("y", "x"))
class_da = class_da.rio.write_crs(prepared.crs).rio.write_nodata(0)
title = f"Predicted land cover and {focus_label.lower()} area per management block"
landcover_plot = class_map(class_da, classes, title=title, width=560, height=460)
w, s_, e, n = element_lonlat_bounds(landcover_plot.get(0))
tolerance = 3 * prepared.resolution / 111_000  # three pixels, in degrees
assert all(abs(a - b) < tolerance for a, b in zip((w, s_, e, n), prepared.aoi_lonlat))
in_blocks = areas_gdf["block_id"].ne("AOI")
focus_blocks = areas_gdf[areas_gdf["class_id"].eq(focus) & in_blocks]
focus_blocks = focus_blocks.assign(label=[
    f"{n}: {a:,.0f} ± {c:,.0f} ha {focus_label.lower()}"
    for n, a, c in focus_blocks[["block_name", "area_ha", "ci_ha"]].itertuples(index=False)
])
blocks_plot = polygon_overlay(
    focus_blocks[["block_name", "label", "geometry"]], color_column="block_name",
    colors={name: "#000000" for name in focus_blocks["block_name"]},
    fill_alpha=0.0,
    line_width=2,
)
(landcover_plot * blocks_plot).opts(legend_position="right")

# %% [markdown]
# ## Clean up

# %%
server.stop()
print(f"notebook body ran in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Check your understanding
#
# A manager asks: "the map shows 120 ha of invasive trees in the Upper catchment, so we budget clearing for
# 120 ha, right?" Using the table above, what do you answer, and what single change to the *reference data*
# would make the answer more trustworthy?
#
# <details><summary>Solution</summary>
#
# The mapped area is biased by the map's errors: use the **area-adjusted** estimate and its 95 % interval instead
# (if the producer's accuracy for invasive trees is below the user's accuracy, the map *misses* invasive trees
# and the adjusted area is larger than the mapped one; the interval's upper end is the prudent budget). The
# intervals here come from label polygons in test blocks, a convenience sample with correlated pixels, so they are
# too narrow: draw a **stratified random sample** of reference points from the map (more points in rare classes such
# as invasive trees), label them in the field or on high-resolution imagery, and recompute.
# </details>
#
# ## Summary
#
# * Tiled inference with overlap and linear blending gives seamless maps in bounded memory; for per-pixel models it
#   equals whole-array inference.
# * A published prediction is a pair of COGs (classes with a colour table and names, confidence) plus a STAC Item
#   whose classification and mlm extensions say what the values mean and which model made them.
# * Area estimates come with confidence intervals from a confusion matrix, adjusted for the map's errors, per
#   management block — invasive alien trees first.
#
# ## What next
#
# Notebook 07 showed how the same steps scale out with dask clusters and zarr on object storage. For a real project:
# a stratified reference sample, a model trained on real imagery of several years, and the Item published to a
# shared STAC API (e.g. with stac-fastapi's transaction extension) instead of a local one.
