# `make build`: install into .venv and build the dataset from the embedded sample (offline) into ./out.
# `make test`:  install into .venv (with the test and ray extras) and run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: build test validate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# EXTRAS: the optional extras installed with the package; the suite includes Ray Data's equality test.
EXTRAS ?= test,ray

# A local CPU build of torch, where pip's configured --find-links offers one, goes in first so that
# sentence-transformers does not pull the CUDA build (--no-index: only a local wheel qualifies; --no-deps:
# torch's own dependencies come from the index with the rest). Elsewhere this step finds nothing and
# pip's normal resolution applies.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	-$(BIN)/python -m pip install --quiet --no-index --no-deps torch==2.13.0 2>/dev/null
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -c "import torch; print('torch', torch.__version__)"
	touch $@

build: $(VENV)/.installed
	$(BIN)/multi-llm-coord build --output-dir $(OUT)
	$(BIN)/multi-llm-coord validate $(OUT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
