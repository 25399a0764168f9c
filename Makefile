# Two commands on a fresh machine: `make train` (default training job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed-base
DEV := $(VENV)/.installed-dev

.PHONY: train test lint bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# `make train` needs only the package; the tests also need the dev tools and the extras
# (Brax/MuJoCo tasks, TensorBoard, W&B) they exercise.
$(BASE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(BASE)

$(DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV) $(BASE)

train: $(BASE)
	$(VENV)/bin/deepcrl train $(ARGS)

lint: $(DEV)
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest
