# biosnn: the single entry point. `make demo` runs the main job, `make test` runs the test suite.
# Both create the virtual environment (.venv, pinned dependencies from requirements.lock) on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.biosnn-installed
JOBS   ?= auto
VENV_DISK_KB ?= 7000000

# Brian2's Cython compile cache (and other caches) live in the checkout, created on first use.
export BIOSNN_CACHE_DIR ?= $(CURDIR)/.cache
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: demo readme tour test test-slow bench venv clean docs notebooks lint

$(STAMP): pyproject.toml requirements.lock
	@echo ">> creating $(VENV) with pinned dependencies (first use only)"
	@free_kb=$$(df -Pk . | awk 'NR == 2 {print $$4}'); \
	if [ "$$free_kb" -lt $(VENV_DISK_KB) ]; then \
	  echo "biosnn: $(VENV) needs about 7 GB of free disk (the pinned PyTorch brings its CUDA libraries)," \
	       "but only $$((free_kb / 1024)) MB are free on the disk of $(CURDIR)" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m biosnn demo --out figures/demo

# README figures from the files the demo and the twin benchmark wrote
readme: $(STAMP)
	$(PY) -m biosnn.report

# run the README tour's shell commands, record what they print (figures/tour/*.txt), re-render the README
tour: $(STAMP)
	$(PY) -m biosnn.report --tour

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) tests

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m slow tests

bench: $(STAMP)
	@for b in bench/*.py; do echo ">> $$b"; $(PY) $$b || exit 1; done

# documentation site (Sphinx, warnings are errors): docs/_build/html/index.html; the notebooks are shown with
# the outputs committed in them (not executed here)
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# ruff (lint and format check) and mypy on the public API; the test suite runs the same (tests/core/test_lint.py)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# regenerate notebooks/*.ipynb from notebooks/build.py and execute them in place, keeping their outputs
notebooks: $(STAMP)
	$(PY) notebooks/execute.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
