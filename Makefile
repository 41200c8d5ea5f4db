# minio-stack. Every target is .PHONY: bootstrap/, signer/ and tests/ are directories, so a
# target of the same name would otherwise never run. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include minio/pin.env

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINIO_BIN := .cache/bin/minio
PYTEST_ARGS ?=
# `make up NODES=4`: MinIO as 4 local processes, distributed and erasure-coded (native only).
NODES ?= 1
# `make soak`: the signer under sustained load (tests/reliability/soak.py).
SOAK_ARGS ?= --duration 60 --connections 64
PY_DIRS := common bootstrap signer console stack rotation minio_stack harness tests bench docs

.PHONY: help  ## Show this list
help:
	@grep -hE '^\.PHONY: [a-z-]+ +## ' $(MAKEFILE_LIST) | sed -E 's/^\.PHONY: ([a-z-]+) +## (.*)/  \1\t\2/' | expand -t 14

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required (found $$($(PYTHON) --version))" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

.PHONY: install  ## Create .venv and install the project with its test extras
install: $(BIN)/.installed

# One lock for every platform and Python >= 3.11 (--universal): the images' Python 3.12 and
# Debian bookworm's 3.11 alike. `make lock LOCK_ARGS=--upgrade` moves every pin to the newest
# version pyproject.toml allows; without it, pins change only where pyproject.toml requires.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--system-certs --custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: lock  ## Refresh requirements.lock and console/requirements.lock (pinned, with hashes) from pyproject.toml
lock: install
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) pyproject.toml - -o requirements.lock
	$(UV_COMPILE) console/requirements.in --constraint requirements.lock -o console/requirements.lock

.PHONY: minio  ## Build MinIO from the pinned Go module version into .cache/bin/minio
minio:
	@./minio/build.sh

.PHONY: system-packages  ## Install the Debian packages the tests need (nginx, chromium, wrk, ...) if missing
system-packages:
	@./scripts/system-packages.sh

.PHONY: test  ## Run the whole test suite against a real MinIO built from source
test: install minio system-packages
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: lint  ## Check style and types (read-only): ruff, and mypy --strict on all but tests
lint: install
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy

.PHONY: fmt  ## Format the code
fmt: install
	$(BIN)/ruff check --fix $(PY_DIRS)
	$(BIN)/ruff format $(PY_DIRS)

.PHONY: clean  ## Remove build caches (keeps .data/ and .env)
clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info

.PHONY: bench  ## Benchmarks vs baselines, writes bench/results.json (BENCH_ARGS=--quick for a smoke run)
bench: install minio
	$(BIN)/python -m bench $(BENCH_ARGS)

.PHONY: up  ## Run MinIO, signer and console proxy (Docker if available, else native); NODES=4: distributed MinIO
up: install
	@if [ "$(NODES)" != 1 ] || ! docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory minio; fi
	@$(BIN)/minio-stack up --nodes $(NODES)

.PHONY: down  ## Stop everything `make up` started (data in .data/ or the Docker volume stays)
down: install
	@$(BIN)/minio-stack down

.PHONY: soak  ## Soak the signer: presign+PUT+complete, 60 s at 64 connections; prints requests, errors, RSS
soak: install minio
	$(BIN)/python -m tests.reliability.soak $(SOAK_ARGS)
