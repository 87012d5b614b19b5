# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Each creates the local virtual environment (.venv) on first use.
# For a CUDA build of PyTorch:  make test TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 TORCH_VERSION=2.13.0
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_URL ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo lint format test test-slow bench campaign clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install --quiet -e ".[test,train,slicer]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m condswin demo --out demo_output

# The lint gate runs first: style drift and broken type contracts fail CI like a failing test does.
# mypy reads its settings and the folders it checks from pyproject.toml ([tool.mypy]) and keeps a cache in .mypy_cache.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) bench/denoising_heldout.py --out bench/benchreport/denoising_heldout.md --figure docs/denoising_heldout.png
	$(PY) bench/cs_lambda.py --out bench/benchreport/cs_lambda.md
	$(PY) bench/cs_solvers.py --out bench/benchreport/cs_solvers.md
	$(PY) bench/cs_speed.py --out bench/benchreport/cs_speed.md
	$(PY) bench/recon_heldout.py --out bench/benchreport/recon_heldout.md --figure docs/recon_heldout.png
	$(PY) bench/seg_heldout.py --out bench/benchreport/seg_heldout.md --figure docs/seg_heldout.png
	$(PY) bench/report.py

# Continue training the three defaults for HOURS (shared), embedding what beats them: docs/training.md.
HOURS ?= 1
TASKS ?= seg,recon,denoise
campaign: $(STAMP)
	$(PY) Training/campaign.py --hours $(HOURS) --tasks $(TASKS)

clean-venv:
	rm -rf $(VENV)
