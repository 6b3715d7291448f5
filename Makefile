# airflow-provider-zoho: `make demo` and `make test` are the two commands to know.
#
# Everything runs from virtualenvs inside the repository (.venv on Airflow 3.3, .venv-af2 on Airflow 2.11)
# with AIRFLOW_HOME inside it too (.airflow/, ignored by git). A fresh machine needs only Python 3.11+,
# pip and make: uv is installed with pip when it is not on PATH.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_AF2 := .venv-af2
# `make docs` builds the site here (docs/_build is ignored by docs/.gitignore).
DOCS_OUT := docs/_build/html
DOCS_DOCTREES := docs/_build/doctrees
# `make test-wheel` installs the built wheel here, rebuilt from nothing each time.
VENV_WHEEL := .venv-wheel
# `make test-cluster`: Airflow 3.3 with the Celery and Postgres providers. celery 5.7.0 removed a function that
# apache-airflow-providers-celery 3.26.0 imports (ImportError: cannot import name 'retry'): held below 5.7.
VENV_CLUSTER := .venv-cluster
CLUSTER_SPECS ?= apache-airflow-providers-celery apache-airflow-providers-postgres psycopg2-binary "celery<5.7"
DIST := dist
# Reads the Metadata-Version 2.4 (License-Expression) that hatchling writes.
TWINE_SPEC ?= twine>=6.1
# The tested Airflow lines; pyproject.toml only asks for apache-airflow>=2.11.
AIRFLOW_3_SPEC ?= apache-airflow==3.3.*
AIRFLOW_2_SPEC ?= apache-airflow==2.11.*

UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# PYTHONDONTWRITEBYTECODE is set on our machines: compile at install time, or every `airflow` starts slowly.
UV_INSTALL = $(UV) pip install --quiet --compile-bytecode

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
AIRFLOW_HOME_AF2 := $(AIRFLOW_HOME)/af2
AIRFLOW_HOME_WHEEL := $(AIRFLOW_HOME)/wheel

# `make test-under-load`: how many times `make test` must pass in a row, and how many spinning processes
# keep the CPUs busy meanwhile (one per core by default).
LOAD_RUNS ?= 3
LOAD_PROCESSES ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS='-m "not e2e"' or a test file.
PYTEST_ARGS ?=

.PHONY: help venv venv-af2 demo test test-under-load test-cluster lint test-af2 dist test-wheel bench docs docs-linkcheck clean uv

help:
	@echo "make demo             run the example DAGs against the bundled Zoho emulator (Airflow 3.3)"
	@echo "make test             ruff, mypy and the whole pytest suite, end-to-end included (Airflow 3.3)"
	@echo "make test-under-load  'make test' $(LOAD_RUNS) times in a row while $(LOAD_PROCESSES) busy loops keep every core at 100 %"
	@echo "make test-cluster     CeleryExecutor, PostgreSQL, Redis, 2 workers, 2 triggerers, kill -9 of each (a few minutes)"
	@echo "make test-af2         the unit suite and an 'airflow dags test' smoke run on Airflow 2.11"
	@echo "make lint             ruff (lint and format check) and mypy only"
	@echo "make dist             build the wheel and sdist into $(DIST)/, then twine check them and check their contents"
	@echo "make test-wheel       install the built wheel with Airflow 3.3 into a fresh $(VENV_WHEEL) and check Airflow sees it"
	@echo "make docs             the docs site (Sphinx, warnings as errors, every internal reference checked) into $(DOCS_OUT)/"
	@echo "make docs-linkcheck   check every external link of the docs (needs the internet; not run in CI)"
	@echo "make bench            the six benchmark sections (triggerers, polling, cap, growth, cluster tokens, CRM export) and their bars (about 18 min)"
	@echo "make clean            remove virtualenvs, AIRFLOW_HOME and caches"

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check uv

# A stamp per virtualenv: reinstalled when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | uv
	@[ -x $(VENV)/bin/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV_INSTALL) --python $(VENV)/bin/python -e ".[test]" "$(AIRFLOW_3_SPEC)"
	@touch $@

$(VENV_AF2)/.installed: pyproject.toml | uv
	@[ -x $(VENV_AF2)/bin/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV_AF2)
	$(UV_INSTALL) --python $(VENV_AF2)/bin/python -e ".[test]" "$(AIRFLOW_2_SPEC)"
	@touch $@

$(VENV_CLUSTER)/.installed: pyproject.toml | uv
	@[ -x $(VENV_CLUSTER)/bin/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV_CLUSTER)
	$(UV_INSTALL) --python $(VENV_CLUSTER)/bin/python -e . "$(AIRFLOW_3_SPEC)" $(CLUSTER_SPECS)
	@touch $@

venv: $(VENV)/.installed

venv-af2: $(VENV_AF2)/.installed

demo: venv
	$(VENV)/bin/python scripts/demo.py

# E501 is ignored by `ruff check`: line length is the formatter's job, so the format check is part of lint.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The suite must not depend on an idle machine. The EXIT trap stops the busy loops by process id however the
# runs end (the first failing run fails the target); each loop also checks now and then that this recipe's
# shell still exists, so none outlives a shell killed before its trap could run.
test-under-load: venv
	@busy=(); \
	trap 'kill "$${busy[@]}" 2>/dev/null || true' EXIT; \
	recipe=$$$$; \
	for _ in $$(seq $(LOAD_PROCESSES)); do \
		( while kill -0 "$$recipe" 2>/dev/null; do for ((i = 0; i < 200000; i++)); do :; done; done ) & \
		busy+=($$!); \
	done; \
	echo "::: $(LOAD_PROCESSES) busy loops started (pids $${busy[*]})"; \
	for run in $$(seq $(LOAD_RUNS)); do \
		echo "::: make test under load, run $$run of $(LOAD_RUNS)"; \
		$(MAKE) --no-print-directory test; \
		echo "::: run $$run of $(LOAD_RUNS) passed"; \
	done; \
	echo "::: make test passed $(LOAD_RUNS) times in a row under load"

# The provider on a production-shaped cluster (scripts/cluster/run.py has the parts, the faults and the bars):
# PostgreSQL and Redis are installed with apt-get when missing; the driver starts them on free loopback ports
# with their data in a temp folder, and stops every process it started however the run ends.
test-cluster: $(VENV_CLUSTER)/.installed
	bash scripts/cluster/install_services.sh
	$(VENV_CLUSTER)/bin/python scripts/cluster/run.py

# Airflow 2.11: the unit suite (the end-to-end test starts Airflow 3's components) and the demo's DAG runs.
test-af2: venv-af2
	AIRFLOW_HOME=$(AIRFLOW_HOME_AF2) $(VENV_AF2)/bin/pytest -m "not e2e"
	AIRFLOW_HOME=$(AIRFLOW_HOME_AF2) $(VENV_AF2)/bin/python scripts/demo.py

# uv builds the sdist, then the wheel from the sdist, so a file the sdist lacks breaks the wheel too. twine runs
# from uv's tool cache: building needs neither .venv nor Airflow. check_dist.py uses the standard library only.
dist: | uv
	rm -rf $(DIST)
	$(UV) build --quiet --out-dir $(DIST)
	$(UV) tool run --quiet --from "$(TWINE_SPEC)" twine check --strict $(DIST)/*
	$(PYTHON) scripts/check_dist.py $(DIST)

# A user's install: the wheel and Airflow 3.3 in a new virtualenv, no checkout on sys.path (python -P), an
# AIRFLOW_HOME of its own. check_wheel_install.py asks Airflow for the provider and tests a connection.
test-wheel: dist
	rm -rf $(VENV_WHEEL) $(AIRFLOW_HOME_WHEEL)
	$(UV) venv --quiet --python $(PYTHON) $(VENV_WHEEL)
	$(UV_INSTALL) --python $(VENV_WHEEL)/bin/python $(DIST)/*.whl "$(AIRFLOW_3_SPEC)"
	AIRFLOW_HOME=$(AIRFLOW_HOME_WHEEL) $(VENV_WHEEL)/bin/python -P scripts/check_wheel_install.py

# One section per measured figure (trigger cost, backoff, the concurrency cap, growth, tokens across a deployment);
# each benchmark also runs alone: python -m benchmarks.<name> --help.
bench: venv
	$(UV_INSTALL) --python $(VENV)/bin/python -e ".[test,bench]" "$(AIRFLOW_3_SPEC)"
	$(VENV)/bin/python -m benchmarks

# The docs' tools (the `docs` extra) go into .venv beside the test tools. -n: every reference resolves; -W
# --keep-going: any warning fails the build, after reporting them all. No intersphinx: the build needs no network.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(UV_INSTALL) --python $(VENV)/bin/python -e ".[test,docs]" "$(AIRFLOW_3_SPEC)"
	@touch $@

docs: $(VENV)/.docs-installed
	rm -rf $(DOCS_OUT) $(DOCS_DOCTREES)
	$(VENV)/bin/sphinx-build -n -W --keep-going -q -b html -d $(DOCS_DOCTREES) docs $(DOCS_OUT)
	@echo "docs built: $(DOCS_OUT)/index.html"

docs-linkcheck: $(VENV)/.docs-installed
	$(VENV)/bin/sphinx-build -n -W --keep-going -q -b linkcheck -d $(DOCS_DOCTREES) docs docs/_build/linkcheck

clean:
	rm -rf $(VENV) $(VENV_AF2) $(VENV_WHEEL) $(VENV_CLUSTER) docs/_build .airflow .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
