# devmem-lab: every target installs what it needs into .venv first.
#   make lab    the course only (JupyterLab, widgets, matplotlib): what a learner needs
#   make test   adds the test, simulation, lint and browser tooling, then runs everything
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
LAB_STAMP  = $(VENV)/.installed-lab
TEST_STAMP = $(VENV)/.installed-test
# Plots are rendered off-screen in tests and when re-executing notebooks, never in `make lab`.
TESTENV = MPLBACKEND=Agg
# Solution notebooks only: a learner's own notebooks next to them are not course material.
LESSONS = notebooks/[0-9][0-9]_*.ipynb
PRISTINE = build/student

.PHONY: install lab test unit browser nbval student execute lint check bench clean nbgrader

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(LAB_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[notebooks,sim]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

$(TEST_STAMP): pyproject.toml $(LAB_STAMP)
	$(PY) -m pip install -q -e ".[notebooks,test,sim,dev,browser]"
	touch $@

install: $(TEST_STAMP)

## Open the course in JupyterLab (add ARGS=--no-browser on a remote machine)
lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS) \
	  notebooks/00_overview.ipynb

## Everything CI checks: unit tests, the browser test, the notebooks under nbval
test: $(TEST_STAMP)
	$(TESTENV) $(PY) -m pytest -q tests -m "not browser" --durations=10
	$(TESTENV) $(PY) -m pytest -q tests -m browser
	$(TESTENV) $(PY) -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg $(LESSONS) --durations=10
	$(PY) -m devmem_lab.teach.student notebooks/ --pristine $(PRISTINE)
	$(TESTENV) $(PY) -m pytest -q --nbval-lax --nbval-current-env $(PRISTINE)
	$(MAKE) site-test

unit: $(TEST_STAMP)
	$(TESTENV) $(PY) -m pytest -q tests -m "not browser"

browser: $(TEST_STAMP)
	$(TESTENV) $(PY) -m pytest -q tests -m browser

nbval: $(TEST_STAMP)
	$(TESTENV) $(PY) -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg $(LESSONS)

## Regenerate notebooks/student/ (keeps every copy a learner changed; FORCE=NAME resets one)
student: $(LAB_STAMP)
	$(PY) -m devmem_lab.teach.student notebooks/ $(if $(FORCE),--reset $(FORCE))

## Regenerate the nbgrader course folder (notebooks/nbgrader) from the solution notebooks
nbgrader: $(TEST_STAMP)
	$(PY) -m devmem_lab.teach.grade.nbgrader notebooks notebooks/nbgrader

## Re-run the solution notebooks in place (after changing devmem_lab)
execute: $(LAB_STAMP)
	$(TESTENV) $(PY) -m devmem_lab.teach.execute $(LESSONS)
	$(MAKE) student

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check devmem_lab tests benchmarks

check: lint test

bench: $(TEST_STAMP)
	for b in benchmarks/bench_*.py; do $(TESTENV) $(PY) "$$b" || exit 1; done

## The course as a static site in build/site/, from the notebooks' stored outputs (no execution)
.PHONY: site site-test
SITE_STAMP = $(VENV)/.site-installed
$(SITE_STAMP): pyproject.toml $(TEST_STAMP)
	$(PY) -m pip install -q -e ".[site]"
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	rm -rf build/site
	$(PY) -m sphinx -b html -q -W --keep-going -c docs . build/site

## Open every page of the built site in headless Chromium; screenshots in build/screenshots/
site-test: site
	DEVMEM_SITE_DIR=build/site $(TESTENV) $(PY) -m pytest -q tests/course/test_site.py

clean:
	rm -rf $(VENV) .pytest_cache $(PRISTINE)
