# Kebu: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export KEBU_DATA_DIR ?= $(CURDIR)/var
PG_URL ?= postgres://postgres@127.0.0.1:5432/kebu
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint format bench messages system-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kebu needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.base: $(BIN)/python requirements/base.txt pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $@

# pandas, pyarrow and DuckDB (bench/orders.py) and django-import-export (bench/transfer.py): baselines
# only; make test does not need them.
$(VENV)/.bench: $(VENV)/.dev requirements/bench.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/bench.txt
	@touch $@

## run: install, migrate, create the admin, load demo data when empty, serve on http://127.0.0.1:8000
run: $(VENV)/.base
	$(BIN)/kebu setup
	$(BIN)/kebu serve

## system-deps: Debian's Chromium and a CJK font for the browser tests (installed only when missing)
system-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk'; then \
	  echo "Installing Debian chromium and fonts-wqy-microhei for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

## test: the whole suite on SQLite and, when one answers on 127.0.0.1:5432, on PostgreSQL: side by side
##       (TEST_JOBS=1 for one after the other), each run's output shown whole when it ends
TEST_JOBS ?= 2
test: $(VENV)/.dev system-deps
	@$(MAKE) --no-print-directory --jobs=$(TEST_JOBS) --output-sync=target test-sqlite test-postgres

# pytest exits 5 when it selected no test: for us that is a broken suite, not a pass.
define run_pytest
	$(1) $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest selected no tests: failing on purpose"; exit 1; fi; exit $$rc
endef

test-sqlite: $(VENV)/.dev
	@echo "== tests on SQLite =="
	$(call run_pytest,env -u DATABASE_URL KEBU_DATA_DIR=$(CURDIR)/var/test)

test-postgres: $(VENV)/.dev
	@if $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 2).close()' 2>/dev/null; then \
	  echo "== tests on PostgreSQL =="; \
	  $(MAKE) --no-print-directory _test-postgres; \
	elif [ -n "$$KEBU_REQUIRE_POSTGRES" ]; then \
	  echo "PostgreSQL does not answer on 127.0.0.1:5432 and KEBU_REQUIRE_POSTGRES is set"; exit 1; \
	else \
	  echo "PostgreSQL does not answer on 127.0.0.1:5432: skipping the PostgreSQL run"; \
	fi

_test-postgres:
	$(call run_pytest,env DATABASE_URL=$(PG_URL) KEBU_DATA_DIR=$(CURDIR)/var/test-pg)

## lint: ruff (lint and format) and mypy on the service and selector layer
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(wildcard src/kebu/*/services.py src/kebu/*/services/*.py src/kebu/*/selectors.py src/kebu/*/selectors/*.py) src/kebu/core/jobs.py src/kebu/core/indexes.py src/kebu/transfer/imports.py src/kebu/transfer/exports.py src/kebu/transfer/rehearsals.py

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: list, search and filter timings at 100k and 1M customers, with the naive LIKE scan beside them;
##        then the cost of encryption: the same pages on encrypted and on plain columns;
##        then orders: every customer's figures rebuilt from 10M orders on SQLite and PostgreSQL (with
##        pandas, DuckDB and a per-customer ORM loop beside it) and order_create at 10M orders;
##        then importing a 1M-row customer sheet (CSV, xlsx, again unchanged, 100k rows edited) with kebu import, beside
##        raw executemany and django-import-export, and a 1M-line marketplace order export (~2 hours);
##        then exporting 1M customers to .xlsx and CSV, beside xlsxwriter;
##        then insights at 10M orders: RFM + CLV (beside the lifetimes package), the dashboard's read path
##        (beside a live GROUP BY) and one run of each other analysis
bench: $(VENV)/.bench
	$(BIN)/python bench/customers_list.py --customers 100000 --customers 1000000
	$(BIN)/python bench/encryption.py --customers 1000000
	$(BIN)/python bench/orders.py --customers 1000000 --orders 10000000
	$(BIN)/python bench/transfer.py --rows 1000000 --order-lines 1000000
	$(BIN)/python bench/export.py --customers 1000000
	$(BIN)/python bench/timeline.py --events 10000
	$(BIN)/python bench/insights.py --customers 1000000 --orders 10000000

## messages: refresh the zh-Hans catalogue after changing user-visible strings (needs GNU gettext)
messages: $(VENV)/.dev
	cd src/kebu && ../../$(BIN)/kebu makemessages -l zh_Hans --no-obsolete --no-location
	cd src/kebu && ../../$(BIN)/kebu compilemessages -l zh_Hans

clean:
	rm -rf $(VENV) var
