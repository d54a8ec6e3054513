# Two commands for a newcomer: `make demo` and `make test`. Everything else is for development.
SHELL := /bin/bash
PYTHON ?= python3
# The newest supported Airflow is the default; `make matrix` also tests the oldest, the minors in
# between and the newest pre-release.
AIRFLOW_VERSION ?= 3.3.2
AIRFLOW_OLDEST ?= 3.0.6
AIRFLOW_PRERELEASE ?= 3.4.0b2
VENV ?= .venv
BIN := $(VENV)/bin
PINS := constraints/airflow-$(AIRFLOW_VERSION).txt
# A venv's install stamp: $(call stamp,<venv>,<airflow version>).
stamp = $(1)/.installed-$(2)
STAMP := $(call stamp,$(VENV),$(AIRFLOW_VERSION))
PYTEST_ARGS ?=

.PHONY: install test suite unit lint demo matrix ci-matrix bench dist clean ui-test screenshots docs oldest-stamp

# uv resolves and installs Airflow's ~200 dependencies in seconds instead of minutes with pip,
# which keeps a from-scratch CI run (eight environments) inside its time budget. It writes no
# bytecode by default, and where PYTHONDONTWRITEBYTECODE is set (as on CI) Python never does, so
# every `airflow` command the tests start would compile Airflow from source again: 6.5 s of CPU
# for `airflow version` instead of 2.9 s. --compile-bytecode does it once, at install.
$(STAMP): pyproject.toml $(PINS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"This project needs Python 3.11+, and $(PYTHON) is " + sys.version.split()[0] + \
		": run make with PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.4"
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c $(PINS) \
		"apache-airflow==$(AIRFLOW_VERSION)" -e ".[dev,bench]"
	touch $@

install: $(STAMP)

## make test: lint, type-check, then every test (unit, integration, end-to-end)
test: lint suite

## make suite: every test, without the lint gate (what the matrix runs per Airflow version)
suite: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make demo: the balance-gate DAG under real Airflow against the fake API (or the real one
## when AIMLAPI_API_KEY is set)
demo: install
	$(BIN)/python scripts/demo.py

## make matrix: the tests on every supported Airflow 3 minor and the newest pre-release on this
## Python ($(PYTHON)), and on the newer Pythons users run (MATRIX_PYTHONS), each lane in its own
## venv, installed with constraints/airflow-<version>.txt. (Lint and types are checked once, on the
## newest, by make test.) .ci/run runs it without the newest stable release on $(PYTHON)
## (MATRIX_VERSIONS), alongside make test, which runs every test on that one.
MATRIX_VERSIONS ?= $(AIRFLOW_OLDEST) 3.1.8 3.2.2 $(AIRFLOW_VERSION) $(AIRFLOW_PRERELEASE)
## .ci/run: the matrix without the newest stable release, which make test runs beside it.
ci-matrix:
	$(MAKE) matrix MATRIX_VERSIONS="$(filter-out $(AIRFLOW_VERSION),$(MATRIX_VERSIONS))"
## Each newer Python runs on the newest stable Airflow that supports it: 3.3.2 declares 3.10-3.14
## (Requires-Python, classifiers), so both are on 3.3.2, the release users move to. Lane
## "<airflow>-py<X.Y>" uses venv .venvs/py<X.Y>-airflow-<airflow>; .ci/find-python finds the
## interpreter (PATH, then pyenv builds) or fails the lane with a line saying what is missing.
## Pins: 3.3.2 installs from wheels on 3.12 and 3.13 and passes with the same pins, so the lanes
## share constraints/airflow-3.3.2.txt (it says what resolves differently there);
## constraints/airflow-<v>-py<X.Y>.txt, when present, is used instead for that lane.
MATRIX_PYTHONS ?= 3.12 3.13
MATRIX_LANES ?= $(MATRIX_VERSIONS) $(foreach p,$(MATRIX_PYTHONS),$(AIRFLOW_VERSION)-py$(p))
## Where each lane's time goes. CI has an hour on two cores, shared by all lanes, and CPU is what
## runs out: a fresh-clone .ci/run with seven suites (the five releases, two Pythons, each minor
## running unit + every integration test, the Pythons two integration modules) took over 70
## minutes. Every test (unit, integration, end to end) runs on the newest stable release (make
## test) and on the oldest supported one: the release users move to and the one furthest from it.
## The end-to-end tests start a real api-server, scheduler, triggerer and dag-processor per module:
## the most CPU per test, and stacks running side by side on two cores made LocalExecutor fail to
## launch tasks in time, so two lanes run them. The other releases, the pre-release included, run
## the unit tests and the two integration modules that take each release's task runner (`dags
## test`), triggers, connections, CLI and database through the provider, where per-release
## differences have shown up (3.4 moved XComs and task tries to new tables): test_airflow.py
## (every example DAG under `dags test`, a deferral, the connection form and Test) and
## test_sensor_modes.py (poke, reschedule and deferrable). A newer Python runs the same Airflow as
## make test, so what can differ is Python's: all our code, which the unit tests cover (asyncio
## triggers and pollers included). MATRIX_FULL="<lanes>" runs every test on a lane.
MATRIX_FULL ?= $(AIRFLOW_OLDEST) $(AIRFLOW_VERSION)
## The benchmarks' smoke test (two minutes, mostly waiting) runs in make test only: bench/ is a
## development tool, run on the development venv.
MATRIX_ORDER ?= tests/unit tests/integration tests/e2e --deselect tests/integration/test_bench_smoke.py
MATRIX_SHORT_ORDER ?= tests/unit tests/integration/test_airflow.py tests/integration/test_sensor_modes.py
MATRIX_PYTHON_ORDER ?= tests/unit
## The lanes run side by side (their tests spend much of their time waiting on Airflow components
## and sensor timeouts, not on the CPU), each into .venvs/matrix-<lane>.log, which is printed in
## full once all are done, followed by one line per lane naming its Airflow and Python and saying
## whether it passed; it fails if any failed, a pre-release included. A version with a letter in
## it (3.4.0b2, 3.4.0rc1) is a pre-release, and its output says so.
## Unit tests first: make test, run alongside by .ci/run, starts with the end-to-end tests, and
## four suites starting Airflow's scheduler, triggerer, dag-processor and api-server at the same
## moment on two cores made LocalExecutor fail to launch tasks in time.
matrix:
	@mkdir -p .venvs; pids=""; \
	base=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	lane() { v=$${1%%-py*}; py=$$base; case $$1 in *-py*) py=$${1#*-py};; esac; \
		case $$v in *[a-z]*) v="$$v (pre-release)";; esac; echo "Airflow $$v on Python $$py"; }; \
	for l in $(MATRIX_LANES); do \
		v=$${l%%-py*}; venv=.venvs/airflow-$$v; python=$(PYTHON); pins=constraints/airflow-$$v.txt; \
		case $$l in *-py*) py=$${l#*-py}; venv=.venvs/py$$py-airflow-$$v; python="";; esac; \
		if [ -f constraints/airflow-$$l.txt ]; then pins=constraints/airflow-$$l.txt; fi; \
		case "$$l" in *-py*) tests="$(MATRIX_PYTHON_ORDER)";; *) tests="$(MATRIX_SHORT_ORDER)";; esac; \
		case " $(MATRIX_FULL) " in *" $$l "*) tests="$(MATRIX_ORDER)";; esac; \
		echo "== $$(lane $$l): $$tests (log: .venvs/matrix-$$l.log)"; \
		( if [ -z "$$python" ]; then python=$$(.ci/find-python $$py) || exit 1; fi; \
		  $(MAKE) suite VENV=$$venv AIRFLOW_VERSION=$$v PYTHON=$$python PINS=$$pins \
			PYTEST_ARGS="$$tests $(PYTEST_ARGS)" ) > .venvs/matrix-$$l.log 2>&1 & \
		pids="$$pids $$!"; \
	done; \
	status=0; results=""; set -- $(MATRIX_LANES); \
	for p in $$pids; do \
		if wait $$p; then results="$$results\n== $$(lane $$1): passed"; \
		else status=1; why=$$(grep -m1 ' lane: no python' .venvs/matrix-$$1.log); \
			results="$$results\n== $$(lane $$1): FAILED$${why:+: $$why}"; fi; \
		shift; \
	done; \
	for l in $(MATRIX_LANES); do echo "== $$(lane $$l)"; cat .venvs/matrix-$$l.log; done; \
	printf '%b\n' "$$results"; \
	exit $$status

## make ui-test: browser tests. Headless Chromium (Debian's `chromium` package, installed by
## .ci/run) drives Airflow's web UI against a real api-server, scheduler and triggerer; the
## connection form is also checked on the oldest supported Airflow, in the venv the matrix lane of
## that release uses (built here when missing; .ci/run waits for the lane to build it first, so the
## two never install into it at once).
OLDEST_VENV := .venvs/airflow-$(AIRFLOW_OLDEST)
UI_STAMP := $(VENV)/.installed-ui-$(AIRFLOW_VERSION)
$(UI_STAMP): $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c $(PINS) -e ".[dev,bench,ui]"
	touch $@

ui-test: $(UI_STAMP)
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium"; exit 1; }
	$(MAKE) install VENV=$(OLDEST_VENV) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)
	AIRFLOW_OLDEST=$(AIRFLOW_OLDEST) $(BIN)/python -m pytest tests/ui -m ui $(PYTEST_ARGS)

## The oldest release's install stamp, for .ci/run (make -s oldest-stamp).
oldest-stamp:
	@echo $(call stamp,$(OLDEST_VENV),$(AIRFLOW_OLDEST))

## make screenshots: the same browser tests, saving the docs' pictures under docs/
screenshots: $(UI_STAMP)
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium"; exit 1; }
	$(MAKE) install VENV=$(OLDEST_VENV) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)
	AIRFLOW_OLDEST=$(AIRFLOW_OLDEST) AIMLAPI_SCREENSHOTS=docs $(BIN)/python -m pytest tests/ui -m ui $(PYTEST_ARGS)

## make docs: the documentation site (Sphinx, docs/) into docs/_build/html. Every warning fails the
## build (-W, all of them reported first: --keep-going), and nitpicky mode (-n) checks every internal
## cross reference; a missing page, include, marker or image is a warning too. No link is fetched
## from the network. -E: a fresh build every time, so no warning hides in a cached page. Then
## tests/docs/test_docs.py: parameter tables, defaults and metric names against the code, and every
## internal link, include, marker and image of the pages and of README.md.
DOCS_STAMP := $(VENV)/.installed-docs-$(AIRFLOW_VERSION)
$(DOCS_STAMP): $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c $(PINS) -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	rm -rf docs/_build
	$(BIN)/sphinx-build -E -W --keep-going -n -q -b html docs docs/_build/html
	$(BIN)/python -m pytest tests/docs/test_docs.py -q -p no:cacheprovider
	@echo "docs: docs/_build/html/index.html"

bench: install
	$(BIN)/python bench/run.py

dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python scripts/check_dist.py dist $(PINS) $(AIRFLOW_VERSION)

clean:
	rm -rf .venv .venvs dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
