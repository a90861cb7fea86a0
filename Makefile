# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean samples bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ddcsem colorize data/sample_micrographs -o results/colour --png --overwrite
	$(BIN)/ddcsem analyze data/sample_micrographs -o results/analysis --overwrite
	@echo
	@echo "Done. Coloured micrographs and previews: $(CURDIR)/results/colour/"
	@echo "      Particle tables, plots and outlines: $(CURDIR)/results/analysis/ (start with images.csv)"

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/ddcsem bench --sizes 1024,2048,4096 --stages --json results/bench.json --plot results/bench.png
	$(BIN)/python benchmarks/accuracy.py --json results/accuracy.json

samples: $(STAMP)
	$(BIN)/python data/sample_micrographs/regenerate.py

clean:
	rm -rf $(VENV) results build src/*.egg-info .pytest_cache
