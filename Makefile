# geoml task runner. The README's two commands are `make all` and `make test`.
PROFILE ?= ci
VENV ?= .venv
PY := $(VENV)/bin/python
export WANDB_MODE ?= offline

.PHONY: all env data notebooks book book-check test test-fast clean-data help

help:
	@echo "make all      build the demo data, execute every notebook (PROFILE=$(PROFILE)), build the book"
	@echo "make test     unit tests + every notebook in the ci profile"
	@echo "make test-fast  unit tests only (no notebook execution)"
	@echo "make data | notebooks | book   the steps of 'make all'"
	@echo "make book-check  rebuild the book from executed notebooks and check every page in headless chromium"

all: book

env:
	@scripts/bootstrap_env.sh $(VENV)

data: env
	$(PY) -m geoml_helpers.demo build --profile $(PROFILE)

notebooks: data
	$(PY) -m geoml_helpers.course.runner --profile $(PROFILE)

book: notebooks
	$(PY) book/build.py --profile $(PROFILE)

book-check: env
	$(PY) book/build.py --profile $(PROFILE) --check

# Two workers: tests/test_notebooks.py (every notebook executed once, then the book) runs beside the unit tests.
test: env
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: env
	$(PY) -m pytest -m "not notebooks"

clean-data:
	rm -rf data build
