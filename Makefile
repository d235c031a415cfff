# geoml task runner. The README's two commands are `make all` and `make test`.
#
# Every step is incremental: a second `make all` with nothing changed re-installs nothing
# (the environment's stamp matches requirements.lock), rebuilds no data (the demo build's
# _COMPLETE.json), re-executes no notebook (the runner compares each executed copy's recorded
# key: notebook, parameters, data, package, lock) and does not rebuild the book (a stamp newer
# than its inputs). `make all FORCE=1` re-installs, re-executes and rebuilds everything but the data.
PROFILE ?= ci
# A project file (`geoml init` writes one); empty = the demo project of PROFILE (projects/demo-$(PROFILE).toml).
PROJECT ?=
VENV ?= .venv
PY := $(VENV)/bin/python
FORCE ?= 0
KERNEL_NAME := geoml
KERNEL_DISPLAY_NAME := geoml (Python 3.12)
export WANDB_MODE ?= offline
# uv must never try to download a Python build (it fails offline): it uses the Python 3.12 it is given.
export UV_PYTHON_DOWNLOADS := never
# Python must cache its bytecode: with PYTHONDONTWRITEBYTECODE=1 (set on some CI machines) every
# process compiles torch, lightning, torchgeo... from source again: 24 s to import the stack instead of
# 9 s, in each of the ~100 kernels, workers and subprocesses of `make test`. (__pycache__ is ignored.)
unexport PYTHONDONTWRITEBYTECODE

RUNNER_FLAGS := $(if $(filter 1,$(FORCE)),--force) $(if $(PROJECT),--project $(PROJECT))
BOOK_STAMP := build/book/$(PROFILE)/.geoml-built
# What the book is built from: its sources, the builder, every executed notebook and timing table
# of this profile (the landing page shows every profile's times) and the benchmark tables.
BOOK_INPUTS := $(shell find book geoml_helpers/course -type f -not -name '*.pyc' 2>/dev/null) \
	$(wildcard build/executed/$(PROFILE)/*.ipynb build/executed/*/run-summary.json build/benchmarks/*.json)

.PHONY: all env kernel lock data notebooks book book-if-changed book-check bench test test-fast clean-data help always

help:
	@echo "make all      build the demo data, execute every notebook (PROFILE=$(PROFILE)), build the book"
	@echo "make all PROJECT=my.toml   execute every notebook on your project (from 'geoml init'); the book stays the demo's"
	@echo "make test     unit tests + every notebook in the ci profile"
	@echo "make test-fast  unit tests only (no notebook execution)"
	@echo "make env      install requirements.lock into $(VENV) with uv and register the '$(KERNEL_DISPLAY_NAME)' kernel"
	@echo "make kernel   register the '$(KERNEL_DISPLAY_NAME)' Jupyter kernel for this user"
	@echo "make lock     re-compile requirements.lock after editing pyproject.toml's dependencies"
	@echo "make data | notebooks | book   the steps of 'make all'"
	@echo "make bench    run every benchmark at ci size (a few minutes) into build/benchmarks/, shown on the book's Benchmarks page"
	@echo "make book-check  rebuild the book from executed notebooks and check every page in headless chromium"
	@echo "FORCE=1       re-install, re-execute every notebook and rebuild the book even when nothing changed"

# With PROJECT, `all` executes the notebooks on that project (build/executed/<project name>/<profile>/);
# the course book is built from the demo project's notebooks, so it is not rebuilt then.
all: $(if $(PROJECT),notebooks,book)

env:
	@FORCE=$(FORCE) scripts/bootstrap_env.sh $(VENV)
	@scripts/register_kernel.sh $(VENV) $(KERNEL_NAME) "$(KERNEL_DISPLAY_NAME)"

kernel:
	@scripts/register_kernel.sh $(VENV) $(KERNEL_NAME) "$(KERNEL_DISPLAY_NAME)"

# Keeps the existing pins (the old lock is uv's starting point) unless pyproject.toml asks otherwise,
# then pins environment.yml's direct dependencies to the lock's versions.
lock:
	$(VENV)/bin/uv pip compile --quiet pyproject.toml --extra dev --universal --generate-hashes --python-version 3.12 -o requirements.lock
	$(PY) scripts/pin_environment_yml.py

data: env
	$(PY) -m geoml_helpers.demo build --profile $(PROFILE)

notebooks: data
	$(VENV)/bin/geoml run --profile $(PROFILE) $(RUNNER_FLAGS)

# A sub-make, so that the inputs' times are read after `notebooks` ran, not when this file was parsed.
book: notebooks
	@$(MAKE) --no-print-directory book-if-changed

book-if-changed: $(BOOK_STAMP)
	@echo "[book] $(PROFILE) is up to date: build/book/$(PROFILE)/_build/html/index.html"

$(BOOK_STAMP): $(BOOK_INPUTS) $(if $(filter 1,$(FORCE)),always)
	$(PY) book/build.py --profile $(PROFILE)
	@touch $@

always:

book-check: env
	$(PY) book/build.py --profile $(PROFILE) --check

# Every benchmark at ci size. Each writes build/benchmarks/<name>.json (its ratios against a baseline measured in
# the same run, the machine, the date and the load); the book's Benchmarks page renders them.
bench: data
	$(PY) benchmarks/chip_loading.py --profile ci --patch 128
	$(PY) benchmarks/patch_loading.py --profile ci
	$(PY) benchmarks/timeseries_loading.py --profile ci
	$(PY) benchmarks/object_store_throughput.py --profile ci
	$(PY) benchmarks/stac_loading.py
	$(PY) benchmarks/scene_prediction.py --profile ci --tile-size 2048

# Two workers: tests/test_notebooks.py (every notebook executed once, then the book) runs beside the unit tests,
# the package's docstring examples (--doctest-modules) and tests/test_conventions.py (ruff, mypy, signatures).
test: env
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder --doctest-modules tests geoml_helpers

test-fast: env
	$(PY) -m pytest -m "not notebooks"

clean-data:
	rm -rf data build
