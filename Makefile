# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
DATA   ?= data/mnist

.PHONY: run test lint format bench data sample train clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

## make run: start the app on http://localhost:$(PORT) with the shipped checkpoints
run: $(VENV)/.installed
	$(BIN)/python -m lenet.server --server.port $(PORT)

## make test: lint, fetch what the suite needs, run every test
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@bash scripts/ensure-system-deps.sh
	$(BIN)/python -m lenet.data download --root $(DATA) || [ "$$CI" != "true" ]
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

data: $(VENV)/.installed
	$(BIN)/python -m lenet.data download --root $(DATA)

## make train: retrain the three shipped checkpoints as their cards say, one torch thread
## each (7-9 minutes of CPU each, about 25 minutes in all)
train: data
	$(BIN)/python -m lenet.train --variant classic --epochs 60 --threads 1 --quiet
	$(BIN)/python -m lenet.train --variant modern --epochs 60 --threads 1 --quiet
	$(BIN)/python -m lenet.train --variant lecun1998 --distort squeeze,stroke --epochs 50 --threads 1 --quiet

## make sample: rebuild models/mnist-sample.npz from the MNIST test set
sample: data
	$(BIN)/python -m lenet.sample --data $(DATA)

## make bench: run every benchmark and rewrite bench/RESULTS.md (about 10 minutes;
## `make bench BENCH_ARGS=--quick` for a short run, `--only latency,rerun` for some)
bench: $(VENV)/.installed-dev data
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
