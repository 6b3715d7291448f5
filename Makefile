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
# The tested Airflow lines; pyproject.toml only asks for apache-airflow>=2.11.
AIRFLOW_3_SPEC ?= apache-airflow==3.3.*
AIRFLOW_2_SPEC ?= apache-airflow==2.11.*

UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# PYTHONDONTWRITEBYTECODE is set on our machines: compile at install time, or every `airflow` starts slowly.
UV_INSTALL = $(UV) pip install --quiet --compile-bytecode

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
AIRFLOW_HOME_AF2 := $(AIRFLOW_HOME)/af2

.PHONY: help venv venv-af2 demo test lint test-af2 bench clean uv

help:
	@echo "make demo      run the example DAGs against the bundled Zoho emulator (Airflow 3.3)"
	@echo "make test      ruff, mypy and the whole pytest suite, end-to-end included (Airflow 3.3)"
	@echo "make test-af2  the unit suite and an 'airflow dags test' smoke run on Airflow 2.11"
	@echo "make lint      ruff and mypy only"
	@echo "make bench     the triggerer scale benchmark (BENCH_ARGS=\"--triggers 1000\" to tune it)"
	@echo "make clean     remove virtualenvs, AIRFLOW_HOME and caches"

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

venv: $(VENV)/.installed

venv-af2: $(VENV_AF2)/.installed

demo: venv
	$(VENV)/bin/python scripts/demo.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

# Airflow 2.11: the unit suite (the end-to-end test starts Airflow 3's components) and the demo's DAG runs.
test-af2: venv-af2
	AIRFLOW_HOME=$(AIRFLOW_HOME_AF2) $(VENV_AF2)/bin/pytest -m "not e2e"
	AIRFLOW_HOME=$(AIRFLOW_HOME_AF2) $(VENV_AF2)/bin/python scripts/demo.py

bench: venv
	@if [ -f benchmarks/triggerer_scale.py ]; then \
		$(UV_INSTALL) --python $(VENV)/bin/python -e ".[test,bench]" "$(AIRFLOW_3_SPEC)"; \
		$(VENV)/bin/python benchmarks/triggerer_scale.py $(BENCH_ARGS); \
	else \
		echo "benchmarks/triggerer_scale.py does not exist yet"; \
	fi

clean:
	rm -rf $(VENV) $(VENV_AF2) .airflow .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
