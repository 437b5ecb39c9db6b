# `make run` and `make test` work on a fresh machine with Python 3.11+ and make:
# each creates .venv and installs the project, again only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint typecheck format worker clean compile

# One make at a time creates the venv and installs into it: `make run` and `make test` started
# together on a fresh clone would otherwise both create .venv and run pip into it at once. The
# second waits for the lock (an flock on LOCK, taken through Python: there on Linux and macOS,
# unlike flock(1)), then finds the stamp newer than pyproject.toml and installs nothing.
LOCK   := .venv.lock
LOCKED := $(PYTHON) -c 'import fcntl, subprocess, sys; lock = open(sys.argv[1], "a"); \
	fcntl.flock(lock, fcntl.LOCK_EX); sys.exit(subprocess.call(sys.argv[2:]))'

$(STAMP): pyproject.toml
	@$(LOCKED) $(LOCK) sh -c 'test $(STAMP) -nt pyproject.toml && exit 0; set -ex; \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet --upgrade pip; \
		$(BIN)/python -m pip install --quiet -e ".[test,postgres]"; \
		touch $(STAMP)'

# Bytecode written ahead (only what changed): with PYTHONDONTWRITEBYTECODE set, as in many CI
# images and ours, every start would compile the whole package again (~0.2 s).
compile: $(STAMP)
	$(BIN)/python -m compileall -q simulator

run: compile
	$(BIN)/simulator serve

worker: compile
	$(BIN)/simulator worker

test: compile
	$(BIN)/python -m pytest

bench: compile
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check simulator tests bench
	$(BIN)/ruff format --check simulator tests bench

# The core's types (pyproject.toml [tool.mypy]): the store interface every API is typed against.
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format simulator tests bench
	$(BIN)/ruff check --fix simulator tests bench

clean:
	rm -rf $(VENV) $(LOCK) var/*.db var/*.db-*
