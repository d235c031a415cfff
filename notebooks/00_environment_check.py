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
# # 00 · Environment check
#
# **Learning objectives**
# - Confirm that the Python packages of the course are installed at working versions.
# - Know which device (CPU or GPU) the later notebooks will use, where the data lives and how much space is free.
# - Check that a STAC API answers (the local demo API by default) and how Weights & Biases will log.
#
# **Prerequisites:** the course environment (`make env`). No internet is needed.
#
# **Expected run time:** `ci` about 20-50 s, `workshop` the same (plus about a minute the first time, to build the demo data), `full` the same (plus the full demo build).
#
# Every row of the table below is *pass*, *warn* or *fail*, and names the fix when it is not *pass*.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
stac_api = None  # None: the project's source; or "local", "earth-search", a URL
data_dir = None  # None: $GEOML_DATA_DIR or <repo>/data

# %% [markdown]
# ## Why check first?
# A course that fails in notebook 5 because a package is missing wastes everybody's time. The checks live in
# `geoml_helpers.course.environment_check`, so the same table can be produced from a terminal:
# `python -c "from geoml_helpers.course import run_checks; print(run_checks())"`.

# %%
import time

from geoml_helpers.core import resolve_project
from geoml_helpers.course import run_checks, style_table

project = resolve_project(project, profile)
stac_api = stac_api or project.stac
print(f"project {project.name!r}: {project.stac}/{project.collection}")
print(f"dates: {project.datetime}")
started = time.perf_counter()
table = run_checks(profile=profile, stac_api=stac_api, data_dir=data_dir)
elapsed = time.perf_counter() - started
print(f"{len(table)} checks in {elapsed:.1f} s")
style_table(table)

# %% [markdown]
# The *kernel* row names the kernel and the interpreter running this notebook. In any JupyterLab (SageMaker
# Studio, a hub, your own) pick **geoml (Python 3.12)**: `make kernel` registers it. The *locked versions* row
# compares the installed packages with `requirements.lock`, the versions the course is tested with.
#
# ## What must pass
# Warnings are allowed (for example an unset `WANDB_MODE`); failures are not. The STAC row started a real
# STAC API on 127.0.0.1 (or, with `stac_api="earth-search"`, asked Earth Search) and ran a search.

# %%
failures = table[table["status"] == "fail"]
print(table["status"].value_counts().to_string())
if failures.empty:
    print("Nothing failed: on to notebook 01.")
else:
    print("Fix these before going on:")
    print(failures[["check", "fix"]].to_string(index=False))

# %% [markdown]
# ## Check your understanding
# On a fresh laptop the last row may read `W&B mode: unset (no API key) · warn` (here it reads
# what this run found, above). Would the training notebooks fail? What would you change so that
# they log runs without an account?
#
# <details><summary>Solution</summary>
#
# They will not fail: a warning is not a failure. With no key and no mode, `wandb.init` would ask for a login,
# so set `export WANDB_MODE=offline` (the Makefile does this): runs are written under the data directory and can be
# uploaded later with `wandb sync`. `check_wandb()` then reports *pass*.
#
# </details>
#
# ## Summary
# - `run_checks()` gives one row per requirement with its fix; it takes seconds and needs no network.
# - The local STAC API is a real server (rustac) on 127.0.0.1; Earth Search is one parameter away.
#
# **Next:** [01 · Discover data](01_discover_data.ipynb) searches that API for imagery over the labelled polygons.
