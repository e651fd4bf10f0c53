# `make build`: install into .venv and build the dataset from the embedded sample (offline) into ./out.
# `make test`:  install into .venv (with the test and ray extras) and run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: build test validate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# TEST_EXTRAS: what `make test` installs besides the package: the test tools and agent frameworks (the trace
# tests run them against a local server) and Ray (the suite includes Ray Data's equality test). `make build`
# installs the package alone: a build needs none of them.
TEST_EXTRAS ?= test,ray

# A local CPU build of torch, where pip's configured --find-links offers one, goes in first so that
# sentence-transformers does not pull the CUDA build (--no-index: only a local wheel qualifies; --no-deps:
# torch's own dependencies come from the index with the rest). Elsewhere this step finds nothing and
# pip's normal resolution applies. $(1): the pip requirement of the package, with or without extras.
define install
	$(BIN)/python -m pip install --quiet --upgrade pip
	-$(BIN)/python -m pip install --quiet --no-index --no-deps torch==2.13.0 2>/dev/null
	$(BIN)/python -m pip install --quiet -e "$(1)"
	$(BIN)/python -c "import torch; print('torch', torch.__version__)"
	touch $@
endef

$(VENV)/.installed-build: pyproject.toml | $(BIN)/python
	$(call install,.)

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(call install,.[$(TEST_EXTRAS)])

build: $(VENV)/.installed-build
	$(BIN)/multi-llm-coord build --output-dir $(OUT)
	$(BIN)/multi-llm-coord validate $(OUT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
