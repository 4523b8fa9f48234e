# Deep Learning Theory, Executed: `make book` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is never a dependency of theorylab (Colab keeps its own). For the local environment we install
# one: 2.13.0, the version the stored outputs were made with. Where PyPI serves its CUDA wheel (Linux x86_64),
# point it at a CPU index: TORCH_SPEC="torch==2.13.0 --index-url <cpu index>" (as .github/workflows/tests.yml).
TORCH_SPEC ?= torch==2.13.0
# Parallel chapter executions; each gets one OpenMP thread (two 2-thread kernels on 2 cores are 5x slower).
WORKERS ?= 2
SCALE ?= ci
SEED ?= 0
SEEDS ?= $(SEED)
DEVICE ?= auto
CH ?= all
export THEORYLAB_BATCH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help env book site chapter calibrate status sync lint test unit clean

help:
	@echo "make book       environment, execute the chapters whose code or library changed (ci, CPU), build the site"
	@echo "make site       build the site from the stored outputs only (executes nothing)"
	@echo "make test       lint, unit tests, notebook hygiene, nbval over every chapter, site and browser checks"
	@echo "make chapter CH=21 [SCALE=ci SEEDS=0 DEVICE=auto]  run chapters (a paper id, partN or all); the ci seed-0"
	@echo "                CPU run is stored in the notebook; every run is recorded in data/runs/<scale>/"
	@echo "make calibrate CH=21   seeds 0-19: thresholds' calibration (0-9) and held-out validation (10-19)"
	@echo "make status     regenerate the status page, part tables, _toc.yml and the module map"
	@echo "make lint       ruff format --check and ruff check over lib/, tests/, benchmarks/ and the notebooks"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[book,test,author]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

env: $(VENV)/.installed

# Execute once: a chapter runs again only when its code cells, the theorylab sources it uses or torch changed.
book: env
	$(PY) -m theorylab.book run all --scale ci --device cpu --workers $(WORKERS) --store --fresh-only
	$(MAKE) site

chapter: env
	$(PY) -m theorylab.book run $(CH) --scale $(SCALE) --device $(DEVICE) --seeds $(SEEDS) --workers $(WORKERS) \
	  $(if $(and $(filter ci,$(SCALE)),$(filter auto cpu,$(DEVICE))),--store,)

calibrate: env
	$(PY) -m theorylab.book calibrate $(CH)

status: env
	$(PY) -m theorylab.book status

sync: env
	$(PY) -m theorylab.book sync

# Build the static site from the stored outputs, warnings as errors.
site: env status
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . -W --keep-going --path-output .

lint: env
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

# pytest's options (nbval included) live in pyproject.toml, so a plain `pytest` behaves the same.
test: env lint
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(WORKERS) --dist loadfile

unit: env
	$(PY) -m pytest tests/unit -q

clean:
	rm -rf _build
