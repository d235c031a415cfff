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
# # 04 · Pixel classification with scikit-learn and dask: spatial cross-validation and a whole scene in bounded memory
#
# Most conservation-mapping projects start with a random forest on pixels, and many get it wrong in two ways:
# **leakage** (random splits of spatially autocorrelated pixels inflate the accuracy) and **scale**
# (predicting a whole scene blows the memory). This notebook shows both problems and solves them.
#
# **Learning objectives**
#
# 1. Sample training pixels inside label polygons from the analysis-ready cube, keeping each pixel's polygon and spatial block.
# 2. Engineer per-pixel features from a time series: band and index percentiles, amplitudes, phenology metrics, with explicit NaN handling.
# 3. Measure how much random K-fold cross-validation overestimates accuracy compared with spatial (grouped) cross-validation.
# 4. Evaluate on held-out test blocks: overall accuracy, per-class F1, confusion matrix and permutation importance.
# 5. Predict a whole scene lazily with dask, write the class map and probabilities as Cloud-Optimised GeoTIFFs, and scale the same helper to a 10980 x 10980 px Sentinel-2 tile on a `LocalCluster`.
#
# **Prerequisites:** notebook 02 (the analysis-ready cube; it is built here if missing), basic scikit-learn (`fit`/`predict`, pipelines).
#
# **Expected run time (2 cores):** `ci` under 90 s · `workshop` a few minutes · `full` (whole 10980 px tile) tens of minutes.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
n_splits = 5  # cross-validation folds
use_xgboost = False  # opt-in; only if the xgboost package is installed
n_workers = 2  # LocalCluster workers for the tile-scale prediction
tile_size_px = None  # side of the synthetic tile in pixels, None for the profile default, 10980 for a real tile

# %% [markdown]
# ## Setup
#
# The sizes below grow with the profile. Everything random is seeded with `seed`, so two runs give identical numbers.

# %%
import time

import holoviews as hv
import hvplot.pandas  # noqa: F401
import hvplot.xarray  # noqa: F401
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline

from geoml_helpers.core import resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_legend, class_map, element_lonlat_bounds, image_plot
from geoml_helpers.explore import label_overlay
from geoml_helpers.learn import feature_names
from geoml_helpers.load import ensure_project_cube, project_outputs_dir
from geoml_helpers.learn import balance_classes, feature_matrix, sample_pixels
from geoml_helpers.learn import compare_cv

from threadpoolctl import threadpool_limits

hv.extension("bokeh")
# Parallelism comes from joblib (n_jobs) and dask. Nested OpenMP/BLAS thread pools on top of them fight for the same
# cores; on a busy 2-core machine that made HistGradientBoosting 15x slower. One thread each:
threadpool_limits(limits=1, user_api="openmp")
threadpool_limits(limits=1, user_api="blas")
SETTINGS = {
    "ci": dict(n_estimators=50, max_pixels_per_polygon=40, hgb_iter=60, tile=512, chunk=256),
    "workshop": dict(n_estimators=100, max_pixels_per_polygon=50, hgb_iter=100, tile=1024, chunk=512),
    "full": dict(n_estimators=200, max_pixels_per_polygon=300, hgb_iter=200, tile=10980, chunk=512),
}[profile]
tile_size_px = tile_size_px or SETTINGS["tile"]
project = resolve_project(project, profile)
out = project_outputs_dir(project, profile, "04_pixel_classification", data_dir=data_dir)
started = time.perf_counter()
SETTINGS, out

# %% [markdown]
# ## 1 · Training data: pixels inside label polygons
#
# **Why:** a label polygon says "every pixel whose centre is in here is class *c*" (a GPS point labels
# the one pixel it falls in). Those pixels are near-copies of one another,
# so we keep, for every sampled pixel, the `polygon_id` and the `block_id` of the spatial block it lies in.
# Without them, we could not build honest validation folds later.
#
# **What:** `sample_pixels` rasterises the polygons onto the cube grid, reads only the labelled pixels' time series from the
# (lazy, zarr-backed) cube and turns them into features with the same function the scene prediction uses.

# %%
prepared = prepare_labels(project, data_dir)
labels, classes = prepared.labels, prepared.classes
cube = ensure_project_cube(project, profile, data_dir, progress=True, labels=prepared)
cap = SETTINGS["max_pixels_per_polygon"]
samples = sample_pixels(cube, labels, max_pixels_per_polygon=cap, seed=seed)
print(f"{len(samples)} labelled pixels from {samples.polygon_id.nunique()} labels "
      f"({len(prepared.points)} of them points) in {samples.block_id.nunique()} blocks; "
      f"{samples.attrs['dropped_nan']} dropped because a band was never observed there")
assert {"polygon_id", "block_id", "class_id", "split"} <= set(samples.columns)
if project.is_demo:
    assert samples.attrs["dropped_nan"] < 0.01 * len(samples)
samples.groupby(["class_id", "split"]).size().unstack("split").rename(index=classes.names)

# %% [markdown]
# ### Features
#
# For each of the 11 bands and three indices (NDVI, NDWI, NBR) we take the 10th, 50th and 90th percentile over the year
# and the amplitude (p90 - p10); NDVI adds phenology: the day of the peak (as sine and cosine), the fastest green-up and
# senescence rates and the temporal spread. Percentiles do not care how many months the cube holds, so the same model
# applies to any year of composites.
#
# **NaN handling, explicitly:** cloudy months are NaN in the cube. Gaps are filled by linear interpolation in time
# (nearest value at the ends); a pixel where a band was *never* observed gets NaN features, is dropped from training
# (the count printed above) and becomes nodata (class 0) in the prediction. The imputer in the pipeline below is only a
# guard: the assert shows it has nothing to do.

# %%
names = feature_names([str(b) for b in cube.band.values])
X_all, y_all = feature_matrix(samples)
assert np.isfinite(X_all).all(), "training features must be NaN-free after sampling"
print(f"{len(names)} features, e.g. {names[:4]} ... {names[-5:]}")
print(f"months in the cube: {cube.sizes['time']}, share of NaN (cloudy) values: {float(cube['reflectance'].isnull().mean()):.1%}")

# %% [markdown]
# ### Train/test split and class imbalance
#
# The demo world assigns whole spatial blocks to `train`, `val` and `test`. The test blocks stay untouched until the end.
# Fynbos covers most of the landscape, so we **cap** the pixels per class at the median class count (undersampling the
# majority classes, seeded) and fit with `class_weight="balanced"` for what imbalance remains.

# %%
train = balance_classes(samples[samples.split != "test"], seed=seed).reset_index(drop=True)
test = samples[samples.split == "test"].reset_index(drop=True)
X_train, y_train = feature_matrix(train)
X_test, y_test = feature_matrix(test)
assert not set(train.block_id) & set(test.block_id)
before = samples[samples.split != "test"].class_id.value_counts()
after = train.class_id.value_counts()
pd.DataFrame({"before": before, "after balancing": after}).rename(index=classes.names)

# %% [markdown]
# ## 2 · Models in a scikit-learn Pipeline
#
# A random forest and a histogram gradient boosting model, each behind the same (guard) imputer. XGBoost is optional.


# %%
def make_models(n_jobs: int = 2) -> dict[str, Pipeline]:
    models = {
        "random_forest": RandomForestClassifier(n_estimators=SETTINGS["n_estimators"], min_samples_leaf=2, class_weight="balanced", n_jobs=n_jobs, random_state=seed),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=SETTINGS["hgb_iter"], learning_rate=0.1, class_weight="balanced", random_state=seed),
    }
    if use_xgboost:
        try:
            from xgboost import XGBClassifier
        except ImportError as exc:
            from geoml_helpers.core import MissingDependencyError

            raise MissingDependencyError("use_xgboost=True needs the xgboost package: `pip install xgboost`, or set use_xgboost=False.") from exc
        models["xgboost"] = XGBClassifier(n_estimators=200, max_depth=6, random_state=seed, n_jobs=n_jobs)
    return {name: Pipeline([("impute", SimpleImputer(strategy="median")), ("model", model)]) for name, model in models.items()}


models = make_models()
list(models)

# %% [markdown]
# ## 3 · Validation: random K-fold versus spatial block cross-validation
#
# Same model, same pixels, three ways to cut folds: shuffled pixels (`random`), whole polygons (`polygon`) and whole
# spatial blocks (`block`, `GroupKFold` on `block_id`). If random CV scores higher, the difference is the leakage:
# the model is recognising polygons it has already seen, not mapping new places.

# %%
rarest = int(train.class_id.value_counts().min())
if rarest < n_splits:  # e.g. GPS points: one pixel per label
    print(f"the rarest class has {rarest} training pixels, fewer than {n_splits} folds: "
          f"using {max(rarest, 2)} folds")
    n_splits = max(rarest, 2)
rf_cv = make_models(n_jobs=2)["random_forest"]
cv_scores = compare_cv(rf_cv, train, n_splits=n_splits, seed=seed, class_names=classes.names)
cv_summary = cv_scores.groupby("scheme")["score"].agg(["mean", "std"]).reindex(["random", "polygon", "block"])
inflation = cv_summary.loc["random", "mean"] - cv_summary.loc["block", "mean"]
print(f"random K-fold overestimates block CV accuracy by {inflation:.3f}")
assert inflation >= 0, "random CV should be at least as optimistic as block CV on spatially autocorrelated pixels"
if inflation < 0.01:
    print("Note: hardly any inflation; the demo data is too easy for this profile to show leakage clearly.")
cv_summary

# %%
cv_scores.hvplot.box(y="score", by="scheme", ylabel="accuracy", title="Cross-validated accuracy of the random forest by fold scheme", height=300, width=500)

# %% [markdown]
# ## 4 · Held-out test blocks
#
# Now fit on all training blocks and score the test blocks once.

# %%
results, predictions = {}, {}
for name, pipe in models.items():
    pipe.fit(X_train, y_train)
    predictions[name] = pipe.predict(X_test)
    results[name] = {"overall_accuracy": accuracy_score(y_test, predictions[name]), "macro_f1": f1_score(y_test, predictions[name], average="macro")}
results = pd.DataFrame(results).T
results.loc["random_forest", "random_cv_accuracy"] = cv_summary.loc["random", "mean"]
results.loc["random_forest", "block_cv_accuracy"] = cv_summary.loc["block", "mean"]
rf_test_accuracy = results.loc["random_forest", "overall_accuracy"]
print(f"random forest: test-block accuracy {rf_test_accuracy:.3f}, random CV {cv_summary.loc['random', 'mean']:.3f}, block CV {cv_summary.loc['block', 'mean']:.3f}")
assert rf_test_accuracy > 0.5
results.round(3)

# %%
labels_present = classes.ids
per_class_f1 = pd.DataFrame(
    {
        name: f1_score(y_test, pred, labels=labels_present, average=None, zero_division=0)
        for name, pred in predictions.items()
    },
    index=[classes.names[c] for c in labels_present],
)
per_class_f1.round(3)

# %%
cm = confusion_matrix(y_test, predictions["random_forest"], labels=labels_present)
names_present = [classes.names[c] for c in labels_present]
cm_long = (
    pd.DataFrame(cm, index=names_present, columns=names_present)
    .rename_axis("true").reset_index()
    .melt(id_vars="true", var_name="predicted", value_name="pixels")
)
assert cm.sum() == len(y_test)
heat = cm_long.hvplot.heatmap(x="predicted", y="true", C="pixels", cmap="Blues", title="Random forest on the test blocks (pixels)", rot=45, width=560, height=420, flip_yaxis=True)
heat * hv.Labels(cm_long, kdims=["predicted", "true"], vdims="pixels")

# %% [markdown]
# **Reading the confusion matrix** (of the demo valley; your project's classes have their own story).
# The errors are not random; they sit where the classes themselves are drawn on a
# continuum, as in real maps. "Invasive trees" means an alien canopy cover of at least 25 %: open stands just above the
# line and fynbos with scattered wattles or pine wildings just below it are nearly the same pixels. "Bare rock" means
# mostly outcrop: rocky fynbos below the peaks, and fynbos burnt a year or two ago (the veld is a mosaic of fire scars),
# look much like it. Water, fields and the town are separable. No model fixes a fuzzy class boundary; a better
# definition, or reporting cover as a number instead of a class, does.

# %%
top_confusions = cm_long[cm_long.true != cm_long.predicted].sort_values("pixels", ascending=False).head(4)
print("most frequent confusions on the test blocks:")
print(top_confusions.to_string(index=False))

# %% [markdown]
# ### Permutation feature importance
#
# How much does the test accuracy drop when one feature's values are shuffled? Unlike the forest's impurity importance,
# this is measured on held-out data. Correlated features share credit: shuffling one leaves its twins.

# %%
importance = permutation_importance(models["random_forest"], X_test, y_test, n_repeats=5, random_state=seed, n_jobs=1)
importance = pd.DataFrame({"feature": names, "drop_in_accuracy": importance.importances_mean, "std": importance.importances_std}).sort_values("drop_in_accuracy", ascending=False)
importance.head(15).hvplot.barh(x="feature", y="drop_in_accuracy", title="Top 15 features (permutation importance, test blocks)", height=420, width=600).opts(invert_yaxis=True)

# %% [markdown]
# ## 5 · Predicting the whole scene lazily
#
# `predict_lazy` maps one function over the cube's dask chunks: compute the features of a chunk, `predict_proba`,
# return a small `uint8` class layer and one probability layer per class (percent). Nothing runs until we write.
# `write_prediction_cogs` then writes the class map (with the class colours) and the probabilities as COGs with overviews.

# %%
from dask.diagnostics import ProgressBar

from geoml_helpers.learn import predict_lazy, write_prediction_cogs

best = models["random_forest"]
pred = predict_lazy(best, cube, classes=classes)
print(pred["class_id"].data)  # a dask array: a graph of chunk tasks, nothing computed yet
with ProgressBar():
    cogs = write_prediction_cogs(pred, out / "scene", prefix=f"landcover_{profile}", classes=classes)
cogs

# %%
import rasterio
import rioxarray

from geoml_helpers.load import is_valid_cog

with rasterio.open(cogs["class"]) as src:
    assert src.crs == cube.rio.crs and src.transform == cube.rio.transform()
    assert src.overviews(1), "the COG has overviews"
    predicted = src.read(1)
assert all(is_valid_cog(p)[0] for p in cogs.values())
if project.is_demo:  # only a synthetic world knows its true land cover everywhere
    from geoml_helpers.demo import ensure_demo_data

    with rasterio.open(ensure_demo_data(profile, data_dir).truth_path) as src:
        wall_to_wall = float((predicted == src.read(1)).mean())
    print(f"agreement with the (normally unknown) true land cover everywhere: {wall_to_wall:.3f}")
else:
    print(f"No wall-to-wall truth for {project.name!r} (only the demo has one): skipped.")

# %% [markdown]
# ### Viewing the maps in the right place
#
# hvplot drops the `+south` of UTM zones south of the equator and would draw the map in the northern
# hemisphere (see PITFALLS). `class_map` reprojects to Web Mercator first, draws each class in its
# project colour and names the classes in a legend (not a numeric colourbar); we check that the map
# lands on the project's grid.

# %%
landcover = rioxarray.open_rasterio(cogs["class"]).squeeze("band", drop=True)
map_plot = class_map(landcover, classes, title="Random forest land cover", width=420)
w, s_, e, n = element_lonlat_bounds(map_plot.get(0))
pixel_deg = prepared.resolution / 111_000 * 3
assert all(abs(a - b) < pixel_deg for a, b in zip((w, s_, e, n), prepared.aoi_lonlat))
test_labels = labels[labels.split == "test"]
test_outlines = label_overlay(test_labels, classes, fill_alpha=0.0, legend=False)
shown = classes.ids[1] if len(classes) > 1 else classes.ids[0]
band = list(best.classes_).index(shown) + 1
proba = rioxarray.open_rasterio(cogs["probability"]).sel(band=band)
proba_plot = image_plot(proba.where(proba <= 100), cmap="viridis", clim=(0, 100),
                        title=f"P({classes.labels[shown]}) in %", width=380)
((map_plot * test_outlines).opts(legend_position="right") + proba_plot).cols(2)

# %% [markdown]
# ### The same prediction with dask-ml `ParallelPostFit`
#
# `ParallelPostFit` wraps a fitted estimator so that `predict` on a dask array runs block by block. It needs a 2-D
# `(pixels, features)` array, so we flatten the lazy feature cube. Same model, same features: same classes.

# %%
from dask_ml.wrappers import ParallelPostFit

from geoml_helpers.learn import cube_features

feats = cube_features(cube)
flat = feats.data.reshape(len(names), -1).T.rechunk((32768, -1))
ppf = ParallelPostFit(estimator=best).predict(flat)
ppf_map = ppf.compute().reshape(cube.sizes["y"], cube.sizes["x"])
valid = predicted > 0
agreement = float((ppf_map[valid] == predicted[valid]).mean())
# Not always 100 %: where two classes get exactly the same share of the trees' votes, the order in which the trees'
# probabilities are summed (n_jobs threads here, one thread in the dask tasks) can tip the tie either way.
assert agreement > 0.995
print(f"ParallelPostFit and map_blocks agree on {agreement:.2%} of {valid.sum()} valid pixels")

# %% [markdown]
# ## 6 · At scale: a whole Sentinel-2 tile in bounded memory
#
# A Sentinel-2 tile is 10980 x 10980 pixels. With 12 monthly composites of 11 bands in float32 that is about 64 GB,
# far more than this machine's memory. `lazy_s2_tile` generates it chunk by chunk (synthetic but with the same land
# covers and spectra as the demo valley), so it is never materialised: the same `predict_lazy` helper runs chunk by chunk
# on a `dask.distributed.LocalCluster`, and the writer streams rows of chunks into the COGs. Open the dashboard link to
# watch the workers' memory stay flat. (`ci` and `workshop` use a smaller tile; set `tile_size_px=10980` for the real size,
# and see `benchmarks/scene_prediction.py` for its throughput and memory.)

# %%
from distributed.diagnostics import MemorySampler

from geoml_helpers.scale import start_cluster
from geoml_helpers.demo.lazy_tile import lazy_s2_tile, tile_truth

if not project.is_demo:
    print(f"The synthetic tile is the demo valley's world: skipped for {project.name!r}.")
else:
    # A LocalCluster on 127.0.0.1 (notebook 07 explains the pieces). start_cluster also keeps glibc's adaptive allocator in
    # the workers: dask's default setting made them fault numpy's large temporaries back in and run 2x slower here.
    handle = start_cluster("local", n_workers=n_workers, threads_per_worker=1, memory_limit="1.5GiB")
    print("dashboard:", handle.dashboard_link)
    tile = lazy_s2_tile(size_px=tile_size_px, chunk_px=SETTINGS["chunk"], seed=seed)
    print(f"lazy tile: {tile.shape}, {tile.nbytes / 1e9:.1f} GB if materialised, {tile.data.npartitions} chunks")
    rf_single = models["random_forest"]
    sampler = MemorySampler()
    tic = time.perf_counter()
    with sampler.sample("workers", interval=0.5):
        tile_cogs = write_prediction_cogs(predict_lazy(rf_single, tile), out / "tile", prefix=f"tile_{tile_size_px}", max_in_memory_mb=0, progress=True)
    tile_seconds = time.perf_counter() - tic
    memory = sampler.to_pandas() / 2**20
    worker_peak_mib = float(memory["workers"].max())
    print(f"{tile_size_px**2 / 1e6:.1f} Mpix in {tile_seconds:.1f} s = {tile_size_px**2 / 1e6 / tile_seconds:.2f} Mpix/s on {n_workers} workers; "
          f"peak memory of all workers together {worker_peak_mib:.0f} MiB")
    assert worker_peak_mib < n_workers * 1.5 * 1024, "workers stay within their memory limit"

# %%
memory_plot = None  # nothing to show without the tile
if project.is_demo:
    memory_plot = memory.reset_index(drop=True).hvplot.line(
        y="workers", xlabel="sample (0.5 s)", ylabel="MiB", height=250, width=600,
        title="Memory of all dask workers during the tile prediction",
    )
memory_plot

# %%
import xarray as xr

tile_plot = None
if project.is_demo:
    with rasterio.open(tile_cogs["class"]) as src:
        level = src.overviews(1)[-1] if src.overviews(1) else 1
        overview = src.read(1, out_shape=(src.height // level, src.width // level), resampling=rasterio.enums.Resampling.nearest)
        tile_bounds = src.bounds
    truth_sample = tile_truth(tile_size_px, SETTINGS["chunk"], seed=seed)[:256, :256].compute()
    with rasterio.open(tile_cogs["class"]) as src:
        pred_sample = src.read(1, window=rasterio.windows.Window(0, 0, 256, 256))
    tile_agreement = float((pred_sample == truth_sample).mean())
    print(f"overview {overview.shape} read from the COG; agreement with the tile's true land cover in its first chunk: {tile_agreement:.2f}")
    assert tile_agreement > 0.4
    handle.close()
    ov_da = xr.DataArray(overview, dims=("y", "x"), coords={"y": np.linspace(tile_bounds.top, tile_bounds.bottom, overview.shape[0]), "x": np.linspace(tile_bounds.left, tile_bounds.right, overview.shape[1])})
    tile_plot = ov_da.where(ov_da > 0).hvplot.image(
        x="x", y="y", cmap=[classes.colours[i] for i in classes.ids], clim=(0.5, len(classes) + 0.5),
        data_aspect=1, frame_width=380, title=f"Synthetic tile {tile_size_px} px (UTM 34S metres)",
    ) * class_legend(classes)
tile_plot

# %% [markdown]
# ## Check your understanding
#
# 1. Your colleague reports 99 % accuracy from a random 5-fold CV on pixels. What do you ask before believing it?
# 2. Why does the class map become nodata (0) where a band was never observed, instead of being predicted from the other bands?
# 3. The tile prediction above processes chunks of `SETTINGS['chunk']` pixels (512 x 512 for a whole tile). What happens to peak memory and to speed if you use 2048 x 2048 chunks?
#
# <details><summary>Solution</summary>
#
# 1. How the folds were cut. Pixels of one polygon (and of one field or stand) are near-copies; a random split puts them on
#    both sides, so CV measures memorisation. Ask for grouped CV on polygons or, better, on spatial blocks, and for a score on
#    held-out blocks: in this notebook random CV is higher than block CV by the `inflation` printed in section 3.
# 2. The features (percentiles, amplitudes) of that band would be undefined; filling them with a constant would make up a
#    spectrum the model never saw and hide the problem. Nodata is honest and visible; a model fitted without that band is the fix.
# 3. Memory per task grows with the chunk area (16 x here: the reflectance chunk alone would be 2 GB), so workers spill or
#    die; speed barely improves, because the work per pixel is the same. Small-enough chunks bound memory; enough chunks keep every core busy.
#
# </details>

# %% [markdown]
# ## Summary
#
# * Training pixels come from label polygons, with `polygon_id` and `block_id` kept so that validation can respect space.
# * Temporal features (percentiles, amplitudes, phenology) are computed by one function for training and prediction; NaN gaps are
#   interpolated in time and never-observed pixels are dropped from training and written as nodata.
# * Random K-fold CV overestimates the accuracy on new places; GroupKFold on spatial blocks and a held-out test set of blocks do not.
# * `predict_lazy` + `write_prediction_cogs` classify any dask-backed cube chunk by chunk, from a 240 px demo to a whole 10980 px tile,
#   in bounded memory, and write COGs with overviews.
#
# **What next:** notebook 05 trains a convolutional network on patches, which uses the spatial context a pixel classifier ignores.

# %%
run_summary = {
    "profile": profile,
    "rf_test_accuracy": float(rf_test_accuracy),
    "random_cv_accuracy": float(cv_summary.loc["random", "mean"]),
    "block_cv_accuracy": float(cv_summary.loc["block", "mean"]),
    "tile_size_px": tile_size_px if project.is_demo else None,
    "tile_mpix_per_s": tile_size_px**2 / 1e6 / tile_seconds if project.is_demo else None,
    "seconds": time.perf_counter() - started,
}
run_summary
