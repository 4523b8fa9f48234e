# Deep Learning Theory, Executed: `make book` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is never a dependency of theorylab (Colab keeps its own). For the local environment we install
# one: here a CPU build. Override on other machines, e.g. TORCH_SPEC="torch --index-url <cpu index>".
TORCH_SPEC ?= torch==2.13.0
# Parallel chapter executions; each gets one OpenMP thread (two 2-thread kernels on 2 cores are 5x slower).
WORKERS ?= 2
SCALE ?= ci
SEED ?= 0
SEEDS ?= 0-4
DEVICE ?= auto
CH ?= all
export THEORYLAB_BATCH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help env book site run chapter seeds status sync test unit clean

help:
	@echo "make book      create the environment, execute every chapter (ci, CPU), build the site (-W)"
	@echo "make site      build the site from the stored outputs only (fast, executes nothing)"
	@echo "make test      unit tests, notebook hygiene, nbval over every chapter, site build"
	@echo "make chapter CH=21 [SCALE=ci SEED=0 DEVICE=auto]   run one chapter (ci seed 0 stores its outputs)"
	@echo "make seeds CH=21 [SEEDS=0-4]                        run a chapter over several seeds, record claims"
	@echo "make status    regenerate the reproduction status page from data/"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[book,test,author]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

env: $(VENV)/.installed

# Execute every chapter at ci scale on the CPU and store the canonical outputs, then build the site.
book: env
	$(PY) -m theorylab.book run all --scale ci --device cpu --workers $(WORKERS) --store
	$(MAKE) site

run: env
	$(PY) -m theorylab.book run $(CH) --scale $(SCALE) --device $(DEVICE) --seeds $(SEEDS) --workers $(WORKERS)

chapter: env
	$(PY) -m theorylab.book run $(CH) --scale $(SCALE) --device $(DEVICE) --seeds $(SEED) \
	  $(if $(and $(filter ci,$(SCALE)),$(filter 0,$(SEED)),$(filter auto cpu,$(DEVICE))),--store,)

seeds: env
	$(PY) -m theorylab.book run $(CH) --scale $(SCALE) --device $(DEVICE) --seeds $(SEEDS) --workers $(WORKERS)

status: env
	$(PY) -m theorylab.book status

sync: env
	$(PY) -m theorylab.book sync

# Build the static site from the stored outputs, warnings as errors.
site: env status
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . -W --keep-going --path-output .

test: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(WORKERS) --dist loadfile \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout 600 --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  tests chapters

unit: env
	$(PY) -m pytest tests/unit -q

clean:
	rm -rf _build
