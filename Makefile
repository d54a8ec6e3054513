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
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: install test suite unit lint demo matrix bench dist clean ui-test screenshots docs

# uv resolves and installs Airflow's ~200 dependencies in seconds instead of minutes with pip,
# which keeps a from-scratch CI run (four environments) inside its time budget. It writes no
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

## make matrix: the tests on every supported Airflow 3 minor and the newest pre-release, each in
## its own venv .venvs/airflow-<version>, installed with constraints/airflow-<version>.txt. (Lint
## and types are checked once, against the newest, by make test.) .ci/run runs it without the
## newest stable release (MATRIX_VERSIONS), alongside make test, which runs every test on that one.
MATRIX_VERSIONS ?= $(AIRFLOW_OLDEST) 3.1.8 3.2.2 $(AIRFLOW_VERSION) $(AIRFLOW_PRERELEASE)
## Where each lane's time goes (CI has an hour on two cores, shared by all lanes). Every test
## (unit, integration, end to end) runs on the newest stable release (make test) and on the oldest
## supported one: the release users move to and the one furthest from it. The other releases, the
## pre-release included, run the unit and integration tests: those already take each release's
## task runner (`dags test`), triggers, connections, CLI and database through the provider, which
## is where per-release differences have shown up (3.4 moved XComs and task tries to new tables).
## The end-to-end tests start a real api-server, scheduler, triggerer and dag-processor per module:
## the most CPU per test, and stacks running side by side on two cores are what made LocalExecutor
## fail to launch tasks in time. Two lanes of them (not five) leave the CPU for a fifth release:
## 3.4.0b2 gets the unit and integration tests (27 min, 9 CPU-minutes, on this machine shared
## with other jobs); when 3.4.0 is released it becomes the newest stable and the end-to-end tests
## move there with it. MATRIX_FULL="<versions>" chooses otherwise.
MATRIX_FULL ?= $(AIRFLOW_OLDEST) $(AIRFLOW_VERSION)
MATRIX_ORDER ?= tests/unit tests/integration tests/e2e
MATRIX_SHORT_ORDER ?= tests/unit tests/integration
## The versions run side by side (their tests spend much of their time waiting on Airflow
## components and sensor timeouts, not on the CPU), each into .venvs/matrix-<version>.log, which
## is printed in full once all are done, with one line per version saying whether it passed; it
## fails if any failed, a pre-release included. A version with a letter in it (3.4.0b2, 3.4.0rc1)
## is a pre-release, and its output says so.
## Unit tests first: make test, run alongside by .ci/run, starts with the end-to-end tests, and
## four suites starting Airflow's scheduler, triggerer, dag-processor and api-server at the same
## moment on two cores made LocalExecutor fail to launch tasks in time.
matrix:
	@mkdir -p .venvs; pids=""; \
	lane() { case $$1 in *[a-z]*) echo "Airflow $$1 (pre-release)";; *) echo "Airflow $$1";; esac; }; \
	for v in $(MATRIX_VERSIONS); do \
		case " $(MATRIX_FULL) " in *" $$v "*) tests="$(MATRIX_ORDER)";; *) tests="$(MATRIX_SHORT_ORDER)";; esac; \
		echo "== $$(lane $$v): $$tests (log: .venvs/matrix-$$v.log)"; \
		$(MAKE) suite VENV=.venvs/airflow-$$v AIRFLOW_VERSION=$$v PYTEST_ARGS="$$tests $(PYTEST_ARGS)" \
			> .venvs/matrix-$$v.log 2>&1 & \
		pids="$$pids $$!"; \
	done; \
	status=0; results=""; set -- $(MATRIX_VERSIONS); \
	for p in $$pids; do \
		if wait $$p; then results="$$results\n== $$(lane $$1): passed"; \
		else status=1; results="$$results\n== $$(lane $$1): FAILED"; fi; \
		shift; \
	done; \
	for v in $(MATRIX_VERSIONS); do echo "== $$(lane $$v)"; cat .venvs/matrix-$$v.log; done; \
	printf "$$results\n"; \
	exit $$status

## make ui-test: browser tests. Headless Chromium (Debian's `chromium` package, installed by
## .ci/run) drives Airflow's web UI against a real api-server, scheduler and triggerer; the
## connection form is also checked on the oldest supported Airflow, whose venv is built here.
UI_STAMP := $(VENV)/.installed-ui-$(AIRFLOW_VERSION)
$(UI_STAMP): $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c $(PINS) -e ".[dev,bench,ui]"
	touch $@

ui-test: $(UI_STAMP)
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium"; exit 1; }
	$(MAKE) install VENV=.venvs/airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)
	AIRFLOW_OLDEST=$(AIRFLOW_OLDEST) $(BIN)/python -m pytest tests/ui -m ui $(PYTEST_ARGS)

## make screenshots: the same browser tests, saving the README's pictures under docs/
screenshots: $(UI_STAMP)
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium"; exit 1; }
	$(MAKE) install VENV=.venvs/airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)
	AIRFLOW_OLDEST=$(AIRFLOW_OLDEST) AIMLAPI_SCREENSHOTS=docs $(BIN)/python -m pytest tests/ui -m ui $(PYTEST_ARGS)

## make docs: the documentation site (Sphinx, docs/) into docs/_build/html. Every warning fails the
## build (-W, all of them reported first: --keep-going), and nitpicky mode (-n) checks every internal
## cross reference; a missing page, include, marker or image is a warning too. No link is fetched
## from the network. -E: a fresh build every time, so no warning hides in a cached page.
DOCS_STAMP := $(VENV)/.installed-docs-$(AIRFLOW_VERSION)
$(DOCS_STAMP): $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -c $(PINS) -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	rm -rf docs/_build
	$(BIN)/sphinx-build -E -W --keep-going -n -q -b html docs docs/_build/html
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
