# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean samples bench browser

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

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The HTML report is checked in headless Chromium. Install Debian's package where this
# machine can (root with apt); elsewhere that one test is skipped, and says so.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium for the report test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "could not install chromium: the browser test of report.html will be skipped"; \
	  else echo "no chromium: the browser test of report.html will be skipped"; fi; }

bench: $(STAMP)
	$(BIN)/ddcsem bench --sizes 1024,2048,4096 --stages --json results/bench.json --plot results/bench.png
	$(BIN)/python benchmarks/accuracy.py --json results/accuracy.json

samples: $(STAMP)
	$(BIN)/python data/sample_micrographs/regenerate.py

clean:
	rm -rf $(VENV) results build src/*.egg-info .pytest_cache
