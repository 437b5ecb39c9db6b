# `make run` and `make test` work on a fresh machine with Python 3.11+ and make:
# each creates .venv and installs the project, again only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint format worker clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/simulator serve

worker: $(STAMP)
	$(BIN)/simulator worker

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check simulator tests bench
	$(BIN)/ruff format --check simulator tests bench

format: $(STAMP)
	$(BIN)/ruff format simulator tests bench
	$(BIN)/ruff check --fix simulator tests bench

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
