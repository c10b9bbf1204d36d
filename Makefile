# The two commands: `make run` (the whole system) and `make test` (the whole suite).
# Both bootstrap .venv, the generated stubs and buf on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
BUF := node_modules/.bin/buf

.PHONY: run test gen lint buf bench clean

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

gen/.stamp: $(PROTOS) scripts/gen_protos.py $(INSTALLED)
	$(PY) scripts/gen_protos.py
	touch $@

gen: gen/.stamp

$(BUF): package.json
	npm install --no-audit --no-fund --silent
	touch $@

buf: $(BUF) gen/.stamp
	bash scripts/buf_check.sh

run: gen
	$(PY) -m devstack

test: gen buf
	$(PY) -m pytest $(PYTEST_ARGS)

lint: gen
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy svckit inventory_svc devstack notify_svc payment_svc gateway orchestrator

clean:
	rm -rf gen .buf-deps node_modules .data
