# Every target sets itself up from a fresh clone: a virtual environment with the
# CPU build of torch pinned for speed here (override TORCH elsewhere, e.g.
# TORCH='torch>=2.1'), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test test-all docs docs-check bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $@

demo: $(STAMP)  ## CorrNet vs CCA on scikit-learn's digits, and a PNG of reconstructions
	$(BIN)/python examples/demo_digits.py

test: $(STAMP)  ## the default (fast) test suite
	$(BIN)/python -m pytest

test-all: $(STAMP)  ## including tests marked slow
	$(BIN)/python -m pytest -m "slow or not slow"

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)  ## the HTML documentation in docs/_build/html (warnings are errors; runs the gallery)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Debian's Chromium, installed when missing (CI runs as root); CHROMIUM names another.
docs-check: $(DOCS_STAMP)  ## every built page opened offline in headless Chromium: no raw LaTeX, broken image or JS error
	@command -v $${CHROMIUM:-chromium} >/dev/null || { \
		echo "docs-check: installing Debian's chromium"; \
		apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }
	$(BIN)/python docs/check_pages.py docs/_build/html

BENCHMARKS := defaults quality ridge_choice few_rows wide_views mid_width sklearn_example speed beyond_linear scale ranking semi_paired out_of_core distributed kept_epoch anneal

$(BENCH_STAMP): $(STAMP)  ## the benchmarks' competitors (cca-zoo's Deep CCA)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $@

bench: $(BENCH_STAMP)  ## every benchmark in full (about an hour on 2 cores); results in benchmarks/results
	set -e; for b in $(BENCHMARKS); do $(BIN)/python benchmarks/$$b.py; done

bench-quick: $(BENCH_STAMP)  ## every benchmark in its --quick form (a few minutes); writes *-quick.* results
	set -e; for b in $(BENCHMARKS); do $(BIN)/python benchmarks/$$b.py --quick; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis examples/output \
		docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
