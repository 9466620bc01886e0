# devmem-lab: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
export MPLBACKEND = Agg

.PHONY: install lab test unit browser nbval student execute lint check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[notebooks,test,sim,dev,browser]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Open the course in JupyterLab
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_overview.ipynb

## Everything CI checks: unit tests, the browser test, then the notebooks under nbval
test: $(STAMP)
	$(PY) -m pytest -q tests -m "not browser" --durations=10
	$(PY) -m pytest -q tests -m browser
	$(PY) -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks --ignore=notebooks/student \
	  --durations=10
	$(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks/student
	$(MAKE) site-test

unit: $(STAMP)
	$(PY) -m pytest -q tests -m "not browser"

browser: $(STAMP)
	$(PY) -m pytest -q tests -m browser

nbval: $(STAMP)
	$(PY) -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks --ignore=notebooks/student

## Regenerate notebooks/student/ from the solution notebooks
student: $(STAMP)
	$(PY) -m devmem_lab.teach.student notebooks/

## Re-run the solution notebooks in place (after changing devmem_lab)
execute: $(STAMP)
	$(PY) -m devmem_lab.teach.execute notebooks/[0-9]*.ipynb
	$(MAKE) student

lint: $(STAMP)
	$(VENV)/bin/ruff check devmem_lab tests benchmarks

check: lint test

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) "$$b" || exit 1; done

## The course as a static site in build/site/, from the notebooks' stored outputs (no execution)
.PHONY: site site-test
SITE_STAMP = $(VENV)/.site-installed
$(SITE_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e ".[site]"
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	rm -rf build/site
	$(PY) -m sphinx -b html -q -W --keep-going -c docs . build/site

## Open every page of the built site in headless Chromium; screenshots in build/screenshots/
site-test: site
	DEVMEM_SITE_DIR=build/site $(PY) -m pytest -q tests/test_site.py

clean:
	rm -rf $(VENV) .pytest_cache
