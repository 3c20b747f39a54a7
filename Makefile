# The two commands of the quick start: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned and installed first: an unpinned torch pulls GBs of CUDA wheels. Where
# the package index serves torch's CUDA build (plain PyPI on Linux), keep to the CPU one:
#   make run TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -q -e '.[semantic,dev]'
	touch $(STAMP)

install: $(STAMP)

# MALLOC_ARENA_MAX=2: glibc keeps far less image memory per thread (docs/media.md)
run: install
	MALLOC_ARENA_MAX=2 $(BIN)/awsm up --demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy awsm search_svc/query.py search_svc/snippets.py search_svc/matching.py search_svc/params.py search_svc/locales.py search_svc/caching.py media_svc/options.py media_svc/signing.py media_svc/jpeg.py media_svc/containers.py media_svc/colour.py media_svc/metadata.py indexer/pgoutput.py indexer/mapping.py indexer/mapping_parse.py indexer/documents.py indexer/links.py indexer/changes.py indexer/text.py

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/search_keyword.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
