# nb201 — the two entry points are `make reports` (the default pipeline) and `make test`.
# Both create the virtual environment on first use and install what they need.
# `make test-fast` is the edit-test loop: the suite without the tests marked slow.
PYTHON ?= python3
# The torch build the project is tested with (CPU). pyproject.toml only asks for a range, which
# alone could fetch a multi-GB CUDA build; installing this pin first makes pip keep it.
# Keep equal to environment.yml (tests/test_environment.py checks it).
TORCH ?= torch==2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= digits
ARGS ?=

.PHONY: reports test test-fast lint clean-notebooks lab install install-dev

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev]"
	# xautodl (the original code) is a benchmark-only reference; it pins numpy<=1.19.5,
	# so it is installed without its dependencies (its model modules need only torch).
	$(PY) -m pip install -q --no-deps xautodl
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## The main job: execute the notebooks with papermill and render reports/*.html
reports: $(VENV)/.installed
	$(PY) -m nb201.pipeline --profile $(PROFILE) $(ARGS)

## The test suite (unit tests, real-data tests, notebooks under papermill, a real Ray cluster)
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(ARGS)

## The units only (no notebooks, Ray cluster or real data; see tests/conftest.py): the edit-test loop
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

## Strip outputs from notebooks before committing (rendered output lives in reports/)
clean-notebooks: $(VENV)/.installed
	$(PY) -m nbconvert --clear-output --inplace notebooks/*.ipynb

lab: $(VENV)/.installed-dev
	$(PY) -m pip install -q -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/
