# The two commands of the README: `make dev` runs the whole system, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test test-deep install system-deps lint bench-throughput bench-compare bench-detect bench-scale bench-faults clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/closeout dev

system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit -c pyproject.toml -q -r closeout workflows activities api cli worker.py

test: install system-deps lint
	$(BIN)/pytest

# The model-based test of the case with thousands of examples instead of `make test`'s few.
# MODEL_SEED=N draws the examples from seed N instead, so runs with different seeds can share
# the work (one per core).
MODEL_EXAMPLES ?= 2000
MODEL_SEED ?=
test-deep: install
	CLOSEOUT_MODEL_EXAMPLES=$(MODEL_EXAMPLES) CLOSEOUT_MODEL_SEED=$(MODEL_SEED) \
	  $(BIN)/pytest tests/model -q -p no:cacheprovider $(if $(MODEL_SEED),--hypothesis-seed=$(MODEL_SEED))

bench-throughput: install
	$(BIN)/python bench/throughput.py

# The alternate method's ratio of this tree against BASE's, back to back, COMPARE_RUNS runs of
# each side in alternating order.
BASE ?= HEAD
COMPARE_RUNS ?= 2
bench-compare: install
	$(BIN)/python bench/compare.py --base $(BASE) --runs $(COMPARE_RUNS)

bench-detect: install system-deps
	$(BIN)/python bench/detect.py

bench-scale: install system-deps
	$(BIN)/python bench/scale.py

# The fault matrix on the real stack, FAULT_ROUNDS times, the read model on FAULT_DB.
FAULT_ROUNDS ?= 1
FAULT_DB ?= sqlite
bench-faults: install system-deps
	$(BIN)/python bench/faults.py --rounds $(FAULT_ROUNDS) --db $(FAULT_DB)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
