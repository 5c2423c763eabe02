# The two commands of the README:  `make demo`  and  `make test`.
# Both install into .venv, start the local PostgreSQL + Kafka (deploy/local/up), and stop them.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: install demo test unit lint up down bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(PY) deploy/local/demo.py

test: lint
	PY=$(PY) deploy/local/run-tests

unit: lint
	$(PY) -m pytest -m "not integration" -q

# ruff with pyproject.toml's rules; the import layers are a unit test (tests/unit/test_layers.py)
lint: install
	$(PY) -m ruff check .

up:
	@deploy/local/up

down:
	@deploy/local/down
