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
# (predicting a whole scene blows the memory). This notebook shows both problems, how far the usual cures go,
# and where only new reference data can tell.
#
# **Learning objectives**
#
# 1. Sample training pixels inside label polygons from the analysis-ready cube, keeping each pixel's polygon and spatial block, and count the polygons each score will rest on.
# 2. Engineer per-pixel features from a time series: band and index percentiles, amplitudes, phenology metrics, with explicit NaN handling.
# 3. Size spatial CV blocks from a variogram of the features, and compare random, block and buffered block cross-validation with the accuracy of the whole map.
# 4. Evaluate on held-out test blocks with intervals from a block bootstrap over polygons: accuracy, F1, IoU, confusion matrix, permutation importance.
# 5. Predict a whole scene lazily with dask, write COGs, scale the same helper to a Sentinel-2 tile on a `LocalCluster`, and ask where the model may be applied (area of applicability).
#
# **Prerequisites:** notebook 02 (the analysis-ready cube; it is built here if missing), basic scikit-learn (`fit`/`predict`, pipelines).
#
# **Expected run time (2 cores):** `ci` a few minutes · `workshop` longer · `full` (whole 10980 px tile) tens of minutes.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
n_splits = 5  # cross-validation folds
use_xgboost = False  # opt-in; only if the xgboost package is installed
n_workers = 2  # LocalCluster workers for the tile-scale prediction
tile_size_px = None  # synthetic tile side; None: profile default; 10980: a real tile

# %% [markdown]
# ## Setup
#
# The sizes below grow with the profile. Everything random is seeded with `seed`, so two runs give identical
# numbers. `glue` records a value in the executed notebook (shown nowhere): the course's tests read those
# values and check that what the text says agrees with them.

# %%
import time
import warnings

import holoviews as hv
import hvplot.pandas  # noqa: F401
import numpy as np
import pandas as pd
from myst_nb import glue
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from geoml_helpers.core import data_root, resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_map, image_plot, label_overlay
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.explore import record_plot_bounds
from geoml_helpers.learn import balance_classes, feature_matrix, feature_names
from geoml_helpers.learn import FewPolygonsWarning, polygon_counts, sample_pixels
from geoml_helpers.load import ensure_project_cube, project_outputs_dir

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")

# %%
# Parallelism comes from joblib (n_jobs) and dask. Nested OpenMP/BLAS pools on top
# fight for the same cores (HistGradientBoosting ran 15x slower on 2 busy cores).
threadpool_limits(limits=1, user_api="openmp")
threadpool_limits(limits=1, user_api="blas")
SETTINGS = {
    "ci": dict(n_estimators=50, max_pixels_per_polygon=40, hgb_iter=60,
               tile=512, chunk=256),
    "workshop": dict(n_estimators=100, max_pixels_per_polygon=50, hgb_iter=100,
                     tile=1024, chunk=512),
    "full": dict(n_estimators=200, max_pixels_per_polygon=300, hgb_iter=200,
                 tile=10980, chunk=512),
}[profile]
tile_size_px = tile_size_px or SETTINGS["tile"]
project = resolve_project(project, profile)
out = project_outputs_dir(project, profile, "04_pixel_classification",
                          data_dir=data_dir)
started = time.perf_counter()
SETTINGS

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
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
cap = SETTINGS["max_pixels_per_polygon"]
samples = sample_pixels(cube, labels, max_pixels_per_polygon=cap, seed=seed)
glue("dropped_nan_share", samples.attrs["dropped_nan"] / len(samples), display=False)
print(f"{len(samples)} labelled pixels from {samples.polygon_id.nunique()} labels "
      f"({len(prepared.points)} of them points) in "
      f"{samples.block_id.nunique()} blocks; "
      f"{samples.attrs['dropped_nan']} dropped: a band was never observed there")
by_split = samples.groupby(["class_id", "split"]).size().unstack("split")
by_split.rename(index=classes.names).rename_axis(index="pixels per class")

# %% [markdown]
# ### How many polygons does each score rest on?
#
# Pixels of one polygon are near-copies, so the **polygon** (not the pixel) is the independent unit of
# evidence. A class with one test polygon gets an F1 of about 0 or 1, and neither is evidence.
# `polygon_counts` counts them per class and split and raises a `FewPolygonsWarning` under a minimum (5
# here). We catch the warning and print its message: it is part of the lesson.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", FewPolygonsWarning)
    counts = polygon_counts(labels, class_names=classes.names, minimum=5)
for warning in caught:  # printed as the lesson it is, not as stderr noise
    print(f"polygon_counts warns: {warning.message}")
glue("n_below_minimum", len(counts.attrs["below_minimum"]), display=False)
counts.rename_axis(index="polygons per class")

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
# guard: the share of NaN training features printed here is what it would have to fill.

# %%
names = feature_names([str(b) for b in cube.band.values])
X_all, y_all = feature_matrix(samples)
glue("nan_feature_share", float(np.isnan(X_all).mean()), display=False)
cloudy = float(cube["reflectance"].isnull().mean())
print(f"{len(names)} features, e.g. {names[:3]} ... {names[-3:]}")
print(f"NaN share of the training features: {np.isnan(X_all).mean():.1%}")
print(f"months in the cube: {cube.sizes['time']}, NaN (cloudy) share: {cloudy:.1%}")

# %% [markdown]
# ### Train/test split and class imbalance
#
# The demo world assigns whole spatial blocks to `train`, `val` and `test`. The test blocks stay untouched until the end.
# Fynbos covers most of the landscape, so we **cap** the pixels per class at the median class count (undersampling the
# majority classes, seeded) and fit with `class_weight="balanced"` for what imbalance remains.

# %%
train = balance_classes(samples[samples.split != "test"], seed=seed)
train = train.reset_index(drop=True)
test = samples[samples.split == "test"].reset_index(drop=True)
X_train, y_train = feature_matrix(train)
X_test, y_test = feature_matrix(test)
shared_blocks = set(train.block_id) & set(test.block_id)
glue("shared_train_test_blocks", len(shared_blocks), display=False)
before = samples[samples.split != "test"].class_id.value_counts()
after = train.class_id.value_counts()
balance = pd.DataFrame({"before": before, "after balancing": after})
balance.rename(index=classes.names).rename_axis(index="training pixels")

# %% [markdown]
# ## 2 · Models in a scikit-learn Pipeline
#
# A random forest and a histogram gradient boosting model, each behind the same (guard) imputer. XGBoost is optional.


# %%
def make_models(n_jobs: int = 2) -> dict[str, Pipeline]:
    models = {
        "random_forest": RandomForestClassifier(
            n_estimators=SETTINGS["n_estimators"], min_samples_leaf=2,
            class_weight="balanced", n_jobs=n_jobs, random_state=seed),
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            max_iter=SETTINGS["hgb_iter"], learning_rate=0.1, class_weight="balanced",
            random_state=seed),
    }
    if use_xgboost:
        from xgboost import XGBClassifier  # pip install xgboost

        models["xgboost"] = XGBClassifier(
            n_estimators=200, max_depth=6, random_state=seed, n_jobs=n_jobs)
    guard = ("impute", SimpleImputer(strategy="median"))
    return {name: Pipeline([guard, ("model", m)]) for name, m in models.items()}


models = make_models()
list(models)

# %% [markdown]
# ## 3 · Validation: random K-fold versus spatial block cross-validation
#
# Same model, same pixels, three ways to cut folds: shuffled pixels (`random`), whole polygons (`polygon`) and whole
# spatial blocks of the project (`block`, `GroupKFold` on `block_id`). If random CV scores higher, the difference
# is leakage: the model recognises polygons it has already seen instead of mapping new places.

# %%
from geoml_helpers.learn import compare_cv

rarest = int(train.class_id.value_counts().min())
if rarest < n_splits:  # e.g. GPS points: one pixel per label
    print(f"the rarest class has {rarest} training pixels, fewer than {n_splits} "
          "folds: "
          f"using {max(rarest, 2)} folds")
    n_splits = max(rarest, 2)
rf_cv = make_models(n_jobs=2)["random_forest"]
cv_scores = compare_cv(rf_cv, train, n_splits=n_splits, seed=seed,
                       class_names=classes.names)
cv_summary = cv_scores.groupby("scheme")["score"].agg(["mean", "std"])
cv_summary = cv_summary.reindex(["random", "polygon", "block"])
inflation = cv_summary.loc["random", "mean"] - cv_summary.loc["block", "mean"]
glue("random_cv", float(cv_summary.loc["random", "mean"]), display=False)
glue("block_cv", float(cv_summary.loc["block", "mean"]), display=False)
word = "over" if inflation > 0 else "under"
print(f"random K-fold {word}states block CV accuracy by {abs(inflation):.3f}")
cv_summary.round(3)

# %%
cv_scores.hvplot.box(y="score", by="scheme", ylabel="accuracy", height=300, width=500,
                     title="Cross-validated accuracy of the random forest")

# %% [markdown]
# ### How big should a block be? Ask the data
#
# Blocks must be wider than the distance over which pixels still resemble each other, or a test block's
# pixels have near-copies just across the border in training. The **variogram** measures that distance: the
# semivariance γ(h) is half the mean squared difference of the (standardised) features of two pixels `h`
# metres apart. It rises with distance and levels off at the **range**, beyond which pixels are no more alike
# than any two pixels of the scene. We take random pixels of the whole scene (not the clustered label pixels).
#
# **Why a nested model:** a single exponential never levels off here, because the valley also has a
# valley-wide gradient. Fitted alone it puts the range past the longest distance we can measure, and the
# rule would ask for one or two blocks. The nested model separates the short structure (patches: fields,
# stands, fire scars), which sets the block size, from the long one (the gradient).

# %%
from geoml_helpers.learn import block_size_from_variogram, cube_features
from geoml_helpers.learn import feature_variogram, fit_variogram

feats = cube_features(cube).compute()  # (feature, y, x) for the whole scene
vario = feature_variogram(feats, n_points=3000, n_lags=40, seed=seed)
model_v = fit_variogram(vario, "nested_exponential")
xmin, ymin, xmax, ymax = prepared.bounds
choice = block_size_from_variogram(model_v, pixel_size_m=prepared.resolution,
                                   scene_size_m=(xmax - xmin, ymax - ymin))
glue("variogram_range_m", float(model_v.range_m), display=False)
glue("block_m", float(choice.block_m), display=False)
print(f"short range {model_v.range_m:,.0f} m (patches); long structure "
      f"{model_v.long_range_m / 1000:,.0f} km (the scene-wide gradient)")
print(f"chosen: {choice.block_px} px = {choice.block_m:,.0f} m; {choice.reason}")

# %%
lags = pd.DataFrame({"distance (m)": vario.lag_m, "semivariance": vario.semivariance})
h = np.linspace(0, float(vario.lag_m.max()), 200)
curve = pd.DataFrame({"distance (m)": h, "semivariance": model_v(h)})
(lags.hvplot.scatter(x="distance (m)", y="semivariance", label="empirical", width=600,
                     height=300, title="Variogram of the standardised features")
 * curve.hvplot.line(x="distance (m)", y="semivariance", label="nested exponential fit")
 * hv.VLine(model_v.range_m).opts(color="grey", line_dash="dashed"))

# %% [markdown]
# Now the same random forest under random CV and under block CV and **buffered** block CV (training pixels
# within one range of a test block are dropped), for blocks of half, one and two ranges. A row with a `note`
# is a lesson, not a failure: "class in a single group" means the blocks are so large that one class lives
# in one block only; "buffer removed ..." means the buffer took a whole class out of training.

# %%
from geoml_helpers.learn import cv_versus_block_size

sizes = [choice.block_m / 2, choice.block_m, 2 * choice.block_m]
scores = cv_versus_block_size(rf_cv, train, sizes, buffer_m=choice.block_m,
                              n_splits=n_splits, seed=seed)
by_size = scores.groupby(["scheme", "block_size_m"], dropna=False)["score"]
cv_table = by_size.agg(["mean", "std", "count"]).round(3)
notes = scores.dropna(subset=["note"]).query("note != ''")
for (scheme, size), group in notes.groupby(["scheme", "block_size_m"]):
    print(f"{scheme} @ {size:.0f} m: {group['note'].iloc[0]} ({len(group)} folds)")
chosen = scores[scores.block_size_m == choice.block_m].groupby("scheme")["score"].mean()
glue("chosen_block_cv", float(chosen["block"]), display=False)
glue("buffered_cv", float(chosen["buffered_block"]), display=False)
cv_table

# %% [markdown]
# Which of these numbers is the accuracy of the *map*? None can say by itself: all of them score pixels
# inside label polygons, which were drawn where the class was clear. Section 5 compares them with the
# map's accuracy everywhere, which only a synthetic world (or a probability sample, notebook 08) gives.
#
# ## 4 · Held-out test blocks, with intervals
#
# Now fit on all training blocks and score the test blocks once. A score without an interval hides how
# little evidence it may rest on, so `block_bootstrap` resamples the **test polygons** (the independent
# units) 1000 times and reports the 2.5-97.5 % range. A class on a single test polygon gets no interval
# (NaN): one unit cannot show how much its score varies, and its score is not evidence.

# %%
from geoml_helpers.learn import block_bootstrap

intervals, predictions = {}, {}
for name, pipe in models.items():
    pipe.fit(X_train, y_train)
    predictions[name] = pipe.predict(X_test)
    intervals[name] = block_bootstrap(y_test, predictions[name], test["polygon_id"],
                                      class_names=classes.names, n_boot=1000, seed=seed)
rf_ci = intervals["random_forest"]
rf_test_accuracy = float(rf_ci.loc["accuracy", "estimate"])
for key in ("estimate", "ci_low", "ci_high"):
    glue(f"test_accuracy_{key}", float(rf_ci.loc["accuracy", key]), display=False)
headline = ["accuracy", "macro_f1", "miou"]
overall = pd.concat({n: t.loc[headline] for n, t in intervals.items()})
overall[["estimate", "ci_low", "ci_high", "n_groups", "n_pixels"]].round(3)

# %%
per_class = rf_ci[rf_ci.index.str.startswith("f1_")]
single = per_class.index[per_class["n_groups"] < 2].str.removeprefix("f1_").tolist()
glue("classes_on_one_test_polygon", len(single), display=False)
if single:
    print(f"on one test polygon, so no interval and no evidence: {', '.join(single)}")
per_class[["estimate", "ci_low", "ci_high", "n_groups"]].round(3)

# %%
labels_present = classes.ids
cm = confusion_matrix(y_test, predictions["random_forest"], labels=labels_present)
names_present = [classes.names[c] for c in labels_present]
cm_long = (
    pd.DataFrame(cm, index=names_present, columns=names_present)
    .rename_axis("true").reset_index()
    .melt(id_vars="true", var_name="predicted", value_name="pixels")
)
heat = cm_long.hvplot.heatmap(x="predicted", y="true", C="pixels", cmap="Blues", rot=45,
                              width=560, height=420, flip_yaxis=True,
                              title="Random forest on the test blocks (pixels)")
heat * hv.Labels(cm_long, kdims=["predicted", "true"], vdims="pixels")

# %% [markdown]
# **Reading the confusion matrix** (of the demo valley; your project's classes have their own story).
# The errors are not random; they sit where the classes themselves are drawn on a
# continuum, as in real maps. "Invasive trees" means an alien canopy cover of at least 25 %: open stands just above the
# line and fynbos with scattered wattles or pine wildings just below it are nearly the same pixels. "Bare rock" means
# mostly outcrop: rocky fynbos below the peaks, and fynbos burnt a year or two ago (the veld is a mosaic of fire scars),
# look much like it. Water and fields are rarely confused; the town's edge, with its gardens and scrub, is where
# fynbos and built-up meet. No model fixes a fuzzy class boundary; a better
# definition, or reporting cover as a number instead of a class, does.

# %%
off_diagonal = cm_long[(cm_long.true != cm_long.predicted) & (cm_long.pixels > 0)]
top_confusions = off_diagonal.sort_values("pixels", ascending=False).head(4)
if top_confusions.empty:
    print("no confusion on the test blocks: every test pixel got its class")
else:
    print("most frequent confusions on the test blocks:")
    print(top_confusions.to_string(index=False))

# %% [markdown]
# ### Permutation feature importance
#
# How much does the test accuracy drop when one feature's values are shuffled? Unlike the forest's impurity importance,
# this is measured on held-out data. Correlated features share credit: shuffling one leaves its twins.

# %%
perm = permutation_importance(models["random_forest"], X_test, y_test, n_repeats=5,
                              random_state=seed, n_jobs=1)
importance = pd.DataFrame({"feature": names, "drop_in_accuracy": perm.importances_mean,
                           "std": perm.importances_std})
top = importance.sort_values("drop_in_accuracy", ascending=False).head(15)
top.hvplot.barh(x="feature", y="drop_in_accuracy", height=420, width=600,
                title="Top 15 features (permutation importance, test blocks)",
                ).opts(invert_yaxis=True)

# %% [markdown]
# ## 5 · Predicting the whole scene lazily
#
# `predict_lazy` maps one function over the cube's dask chunks: compute the features of a chunk, `predict_proba`,
# return a small `uint8` class layer and one probability layer per class (percent). Nothing runs until we write.
# `write_prediction_cogs` then writes the class map (with the class colours) and the probabilities as COGs with
# overviews. The model itself goes to the project's `models` folder, where notebook 08 picks it up.

# %%
import joblib

from geoml_helpers.learn import predict_lazy, write_prediction_cogs

best = models["random_forest"]
pred = predict_lazy(best, cube, classes=classes)
print(pred["class_id"].data)  # a dask array: a graph of chunk tasks, nothing computed
cogs = write_prediction_cogs(pred, out / "scene", prefix=f"landcover_{profile}",
                             classes=classes)
models_dir = project_outputs_dir(project, profile, "models", data_dir=data_dir)
model_file = models_dir / "random_forest_04.joblib"
joblib.dump({"model": best, "feature_names": names}, model_file)
root = data_root(data_dir)  # paths are printed relative to the data folder
print({k: str(p.relative_to(root)) for k, p in {**cogs, "model": model_file}.items()})

# %% [markdown]
# ### Which estimate told the truth?
#
# A synthetic world knows its land cover everywhere, so here we can score the map on **every** pixel
# (wall-to-wall) and hold each cross-validation estimate against it. On a real project this row does not
# exist; notebook 08 estimates the map's accuracy from a probability sample instead.

# %%
import rasterio

with rasterio.open(cogs["class"]) as src:
    predicted = src.read(1)
estimates = {"random CV": cv_summary.loc["random", "mean"],
             "block CV (project blocks)": cv_summary.loc["block", "mean"],
             f"block CV ({choice.block_m:.0f} m)": chosen["block"],
             f"buffered block CV ({choice.block_m:.0f} m)": chosen["buffered_block"],
             "test blocks": rf_test_accuracy}
wall_to_wall = None
if project.is_demo:  # only a synthetic world knows its true land cover everywhere
    from geoml_helpers.demo import ensure_demo_data

    with rasterio.open(ensure_demo_data(profile, data_dir).truth_path) as src:
        wall_to_wall = float((predicted == src.read(1)).mean())
    estimates["wall-to-wall truth"] = wall_to_wall
    glue("wall_to_wall", wall_to_wall, display=False)
else:
    print(f"No wall-to-wall truth for {project.name!r}: only the demo has one.")
pd.Series(estimates, name="accuracy").round(3).to_frame()

# %%
block_est = cv_summary.loc["block", "mean"]
said = []
if cv_summary.loc["random", "mean"] > max(block_est, chosen["block"]):
    said.append("Random CV is the most optimistic of the CV schemes: it scores "
                "polygons the model has already seen.")
else:
    said.append("Here random CV did not exceed block CV: this model and data show "
                "little leakage.")
if wall_to_wall is not None:
    others = {k: v for k, v in estimates.items() if k != "wall-to-wall truth"}
    over = [k for k, v in others.items() if v > wall_to_wall]
    under = [k for k, v in others.items() if v < wall_to_wall]
    if over:
        said.append(f"Above the map's true accuracy ({wall_to_wall:.3f}): "
                    f"{', '.join(over)}. They score clear polygon interiors, not the "
                    "mixed edges where the map errs.")
    if under:
        said.append(f"Below it: {', '.join(under)}. A buffer in a small scene can take "
                    "whole classes out of training, so it can underestimate.")
glued = dict(zip(estimates, ["random_cv", "block_cv", "chosen_block_cv", "buffered_cv",
                             "test_accuracy_estimate", "wall_to_wall"]))
ranked = sorted(estimates, key=estimates.get, reverse=True)
glue("cv_claim", " >= ".join(glued[k] for k in ranked), display=False)
print("\n".join(said))

# %% [markdown]
# The lesson the numbers above teach: blocks sized from the data remove most of the leakage of random CV, but
# no cross-validation on label polygons measures the accuracy of the **map**, because the polygons were drawn
# where the class was obvious. Only a probability sample of the map does that (Wadoux et al. 2021, *Ecological
# Modelling* 457: 109692); notebook 08 draws one.
#
# ### Viewing the maps in the right place
#
# hvplot drops the `+south` of UTM zones south of the equator and would draw the map in the northern
# hemisphere (see PITFALLS). `class_map` reprojects to Web Mercator first, draws each class in its
# project colour and names the classes in a legend (not a numeric colourbar). `record_plot_bounds` records
# the bounds of the file each map shows, so the book's placement check can compare.

# %%
import rioxarray

title = "Random forest land cover"
record_plot_bounds(title, cogs["class"])
landcover = rioxarray.open_rasterio(cogs["class"]).squeeze("band", drop=True)
map_plot = class_map(landcover, classes, title=title, width=420)
test_outlines = label_overlay(labels[labels.split == "test"], classes, fill_alpha=0.0,
                              legend=False)
(map_plot * test_outlines).opts(legend_position="right")

# %%
shown = classes.ids[1] if len(classes) > 1 else classes.ids[0]
band = list(best.classes_).index(shown) + 1
proba = rioxarray.open_rasterio(cogs["probability"]).sel(band=band)
proba_title = f"P({classes.labels[shown]}) in %"
record_plot_bounds(proba_title, cogs["probability"])
image_plot(proba.where(proba <= 100), cmap="viridis", clim=(0, 100), title=proba_title,
           width=420)

# %% [markdown]
# ### The same prediction with dask-ml `ParallelPostFit`
#
# `ParallelPostFit` wraps a fitted estimator so that `predict` on a dask array runs block by block. It needs a 2-D
# `(pixels, features)` array, so we flatten the lazy feature cube. Same model, same features: same classes.
# Not always 100 %: where two classes get exactly the same share of the trees' votes, the order in which the
# trees' probabilities are summed (several threads in one, one thread per dask task in the other) can tip the
# tie either way.

# %%
from dask_ml.wrappers import ParallelPostFit

lazy_feats = cube_features(cube)
flat = lazy_feats.data.reshape(len(names), -1).T.rechunk((32768, -1))
ppf = ParallelPostFit(estimator=best).predict(flat)
ppf_map = ppf.compute().reshape(cube.sizes["y"], cube.sizes["x"])
valid = predicted > 0
agreement = float((ppf_map[valid] == predicted[valid]).mean())
glue("ppf_agreement", agreement, display=False)
print(f"ParallelPostFit and map_blocks agree on {agreement:.2%} of {valid.sum()} "
      "valid pixels")

# %% [markdown]
# ## 6 · At scale: a whole Sentinel-2 tile in bounded memory
#
# A Sentinel-2 tile is 10980 x 10980 pixels. With 12 monthly composites of 11 bands in float32 that is about 64 GB,
# far more than this machine's memory. `lazy_s2_tile` generates it chunk by chunk (synthetic, with the same land
# covers as the demo valley but its own spectra-to-class relations), so it is never materialised: the same
# `predict_lazy` helper runs chunk by chunk on a `dask.distributed.LocalCluster`, and the writer streams rows of
# chunks into the COGs. Open the dashboard link to watch the workers' memory stay flat. (`ci` and `workshop` use a
# smaller tile; set `tile_size_px=10980` for the real size, and see `benchmarks/scene_prediction.py`.)

# %%
from distributed.diagnostics import MemorySampler

from geoml_helpers.demo.lazy_tile import lazy_s2_tile, tile_truth
from geoml_helpers.scale import start_cluster

tile = None
if not project.is_demo:
    print(f"The synthetic tile is the demo's world: skipped for {project.name!r}.")
else:
    # start_cluster keeps glibc's adaptive allocator in the workers (see notebook 07).
    handle = start_cluster("local", n_workers=n_workers, threads_per_worker=1,
                           memory_limit="1.5GiB")
    print("dask dashboard:", handle.dashboard_link)
    tile = lazy_s2_tile(size_px=tile_size_px, chunk_px=SETTINGS["chunk"], seed=seed)
    print(f"lazy tile: {tile.shape}, {tile.nbytes / 1e9:.1f} GB if materialised, "
          f"{tile.data.npartitions} chunks")
    sampler = MemorySampler()
    tic = time.perf_counter()
    with sampler.sample("workers", interval=0.5):
        tile_cogs = write_prediction_cogs(
            predict_lazy(best, tile), out / "tile", prefix=f"tile_{tile_size_px}",
            max_in_memory_mb=0)
    tile_seconds = time.perf_counter() - tic
    memory = sampler.to_pandas() / 2**20
    worker_peak_mib = float(memory["workers"].max())
    glue("worker_peak_mib", worker_peak_mib, display=False)
    glue("worker_limit_mib", n_workers * 1.5 * 1024, display=False)
    print(f"{tile_size_px**2 / 1e6:.1f} Mpix in {tile_seconds:.1f} s on {n_workers} "
          "workers; "
          f"peak memory of all workers together {worker_peak_mib:.0f} MiB")

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
        shape = (src.height // level, src.width // level)
        nearest = rasterio.enums.Resampling.nearest
        overview = src.read(1, out_shape=shape, resampling=nearest)
        window = rasterio.windows.Window(0, 0, 256, 256)
        pred_window = src.read(1, window=window)
        tile_transform, tile_crs = src.transform * src.transform.scale(level), src.crs
    tile_true = tile_truth(tile_size_px, SETTINGS["chunk"], seed=seed)
    truth_window = tile_true[:256, :256].compute()
    tile_agreement = float((pred_window == truth_window).mean())
    glue("tile_agreement", tile_agreement, display=False)
    print(f"overview {overview.shape} read from the COG; agreement with the tile's "
          f"true land cover in its first chunk: {tile_agreement:.2f} "
          f"(the scene: {wall_to_wall:.2f})")
    ys = tile_transform.f + tile_transform.e * (np.arange(shape[0]) + 0.5)
    xs = tile_transform.c + tile_transform.a * (np.arange(shape[1]) + 0.5)
    ov = xr.DataArray(overview, coords={"y": ys, "x": xs}, dims=("y", "x"))
    ov = ov.rio.write_crs(tile_crs).rio.write_nodata(0)
    tile_title = f"Synthetic tile {tile_size_px} px, predicted"
    record_plot_bounds(tile_title, tile_cogs["class"])
    tile_plot = class_map(ov, classes, title=tile_title, width=420)
tile_plot

# %% [markdown]
# ### Where may the model be applied? The area of applicability
#
# The agreement on the tile is lower than on the scene. Is the tile simply *out of domain*, with features
# the model never saw? The **area of applicability** (AOA, Meyer & Pebesma 2021) asks exactly that: the
# dissimilarity index (DI) of a pixel is its distance, in importance-weighted feature space, to the nearest
# training pixel, relative to the typical distance within the training data. Above a threshold learnt from the
# training blocks' own cross-validation the pixel is **outside** the AOA.

# %%
from geoml_helpers.learn import applicability_map, fit_applicability

aoa = fit_applicability(X_train, train["block_id"], seed=seed,
                        weights=best[-1].feature_importances_)
scene_aoa = applicability_map(aoa, feats, step=2)
rows = {"scene": scene_aoa}
if tile is not None:
    tile_window = tile.isel(y=slice(0, 256), x=slice(0, 256))
    rows["tile window"] = applicability_map(aoa, cube_features(tile_window).compute())
    inside = rows["tile window"]["inside_aoa"].values
    for where, mask in (("inside", inside), ("outside", ~inside)):
        share = float((pred_window[mask] == np.asarray(truth_window)[mask]).mean())
        glue(f"tile_agreement_{where}_aoa", share, display=False)
        print(f"tile window, {where} the AOA ({mask.mean():.1%} of it): "
              f"agreement {share:.2f}")
aoa_table = pd.DataFrame({
    k: {"share inside AOA": v.attrs["share_inside"],
        "median DI": float(v["di"].median())}
    for k, v in rows.items()})
if tile is not None:
    tile_share = float(rows["tile window"].attrs["share_inside"])
    glue("tile_share_inside", tile_share, display=False)
print(f"threshold DI {aoa.threshold:.3f}")
aoa_table.T.round(3)

# %%
di_title = "Dissimilarity index of the scene (above the threshold: outside the AOA)"
di = scene_aoa["di"].rio.write_crs(cube.rio.crs)
record_plot_bounds(di_title, di)
image_plot(di, cmap="magma", clim=(0, 2 * aoa.threshold), title=di_title, width=500)

# %% [markdown]
# Read the table before drawing a conclusion. In the demo the tile's features lie mostly **inside** the AOA,
# and yet the agreement there falls. The tile's world relates spectra to classes differently from the valley
# the model learnt (a *concept* shift, not a *covariate* shift), and **no AOA can see that**: it looks at the
# features only, never at the labels. Only reference data in the new place can show it. The AOA is
# necessary, not sufficient.
#
# What the AOA does catch is a covariate shift: the same scene seen through a miscalibrated sensor, with every
# feature scaled by 1.5 and offset by 0.3 (in standardised units the model never saw):

# %%
shifted = applicability_map(aoa, feats * 1.5 + 0.3, step=2)
glue("scene_share_inside", float(scene_aoa.attrs["share_inside"]), display=False)
glue("shifted_share_inside", float(shifted.attrs["share_inside"]), display=False)
print(f"share inside the AOA: scene {scene_aoa.attrs['share_inside']:.1%}, the same "
      f"scene with a sensor offset {shifted.attrs['share_inside']:.1%}")

# %% [markdown]
# The cluster has stayed up since section 6, so its dashboard could be watched while the rest ran. Close
# it when you are done: its workers give their memory back and the dashboard link stops answering.
# (`close()` keeps the shutdown quiet: a dashboard tab that reloads while the scheduler stops would
# otherwise print tornado tracebacks here.)

# %%
if project.is_demo:
    handle.close()

# %% [markdown]
# ## Check your understanding
#
# 1. Your colleague reports 99 % accuracy from a random 5-fold CV on pixels. What do you ask before believing it?
# 2. Why does the class map become nodata (0) where a band was never observed, instead of being predicted from the other bands?
# 3. The tile prediction above processes chunks of `SETTINGS['chunk']` pixels (512 x 512 for a whole tile). What happens to peak memory and to speed if you use 2048 x 2048 chunks?
# 4. A new region's pixels are all inside the model's area of applicability. May you publish the map there without new reference data?
#
# <details><summary>Solution</summary>
#
# 1. How the folds were cut. Pixels of one polygon (and of one field or stand) are near-copies; a random split puts them on
#    both sides, so CV measures memorisation. Ask for grouped CV on spatial blocks at least as wide as the variogram
#    range, for the number of polygons behind each class's score, and for intervals. Then ask how the map's accuracy
#    was measured: no CV on label polygons does that; a probability sample of the map does (notebook 08).
# 2. The features (percentiles, amplitudes) of that band would be undefined; filling them with a constant would make up a
#    spectrum the model never saw and hide the problem. Nodata is honest and visible; a model fitted without that band is the fix.
# 3. Memory per task grows with the chunk area (16 x here: the reflectance chunk alone would be 2 GB), so workers spill or
#    die; speed barely improves, because the work per pixel is the same. Small-enough chunks bound memory; enough chunks keep every core busy.
# 4. No. The AOA compares features only: a region where the same spectra mean other classes (another
#    season's crops, another species mix) looks familiar and is still mapped wrong, as the tile shows.
#    Reference data in the new region is the only test.
#
# </details>

# %% [markdown]
# ## Summary
#
# * Training pixels come from label polygons, with `polygon_id` and `block_id` kept so that validation can respect space;
#   the polygons per class and split say how much evidence each score can carry.
# * Temporal features (percentiles, amplitudes, phenology) are computed by one function for training and prediction; NaN gaps are
#   interpolated in time and never-observed pixels are dropped from training and written as nodata.
# * A variogram of the features sizes the CV blocks. Block CV removes most of random CV's leakage, but CV on label polygons
#   does not measure the map's accuracy; block-bootstrap intervals over polygons show how little a few polygons say.
# * `predict_lazy` + `write_prediction_cogs` classify any dask-backed cube chunk by chunk, from a 240 px demo to a whole 10980 px tile,
#   in bounded memory, and write COGs with overviews.
# * The area of applicability flags features the model never saw; it cannot flag a place where familiar features mean other classes.
#
# **What next:** notebook 05 trains a convolutional network on patches, which uses the spatial context a pixel classifier ignores.

# %%
run_summary = {
    "profile": profile,
    "rf_test_accuracy": rf_test_accuracy,
    "random_cv_accuracy": float(cv_summary.loc["random", "mean"]),
    "block_cv_accuracy": float(cv_summary.loc["block", "mean"]),
    "block_m": choice.block_m,
    "wall_to_wall": wall_to_wall,
    "tile_size_px": tile_size_px if project.is_demo else None,
    "seconds": round(time.perf_counter() - started),
}
run_summary
