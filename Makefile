# Two commands on a fresh machine: `make run` serves the chat, `make test` checks it.
VENV   := .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
NODE_STAMP := tests/node/node_modules/.installed

.PHONY: run test test-fast lint typecheck unit bench clean

run: $(RUN_STAMP)
	$(BIN)/minidiscord $(ARGS)

test: lint typecheck unit

# Tests run in PYTEST_WORKERS processes (pytest-xdist), more than the cores: most of a
# test's time is waiting on sockets, subprocesses and timers (a serial run keeps about half
# of one core busy). worksteal: an idle worker takes half of the busiest one's queue, so a
# long test (the soak) does not leave the others idle at the end. Three, not four: the
# browser tests' waits failed in CI when four workers starved one of them at the start.
PYTEST_WORKERS ?= 3
PARALLEL := -n $(PYTEST_WORKERS) --dist worksteal

# The fast suite while working: every test not marked slow (soak, crash, fuzzing a server,
# browsers, real server processes), on the default front end.
test-fast: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/pytest $(PARALLEL) -m "not slow" $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy
	$(BIN)/mypy docs/examples

# The whole suite runs twice: on hypercorn, then on the native one (the default front end).
# --durations: CI's log names the slowest tests, so the run's length can be watched.
# The web page's own features (what the page does with the chat's events) are the same
# whichever front end serves it: their browser tests run once, on the default front end.
# The browser tests of what a front end does (static files, TLS, connecting, recovery, the
# reference client, the cluster) run on both.
PAGE_ONLY := accounts_ui admin_upkeep_ui avatar_safety channels_ui chat_polish edits \
	formatting live_ui moderation_ui reactions screenshot search
# Tests of what no front end takes part in (the codecs, the stores, the admin command on a
# database, the benchmark and soak scripts' own logic and runs, mypy on the handler shapes,
# the suite's watchdog) also run once.
FRONTEND_FREE := tests/protocol tests/store tests/test_admin_cli.py tests/test_fanout_cost.py \
	tests/test_soak.py tests/test_broadcast_cost.py tests/test_heaptrim.py tests/typing \
	tests/test_message_cost.py tests/test_instruction_cost.py tests/test_watchdog.py
HYPERCORN_SKIPS := $(foreach name,$(PAGE_ONLY),--ignore=tests/browser/test_$(name).py) \
	$(foreach path,$(FRONTEND_FREE),--ignore=$(path))

# The official protocol suites' heartbeat is 300 ms with a 200 ms budget for each pong: on
# two cores shared with the other workers, a stall spends it (three CI runs failed so). They
# run alone after the rest, about 15 s per front end. Exit status 5 is "no test selected": a
# PYTEST_ARGS selection may pick tests of one part only.
ALONE := tests/conformance
SELECTED_OK := || test $$? -eq 5
# A run stuck outside any test (a worker that never exits, say; a stuck test fails by
# itself, tests/support/watchdog.py) is interrupted after 40 minutes, several times its
# length in CI, so that pytest prints where it was rather than CI's limit ending it silently.
PYTEST := timeout --signal=INT --kill-after=60 40m $(BIN)/pytest

unit: $(TEST_STAMP) $(NODE_STAMP)
	MINIDISCORD_FRONTEND=hypercorn $(PYTEST) $(PARALLEL) --durations=20 $(HYPERCORN_SKIPS) \
		--ignore=$(ALONE) $(PYTEST_ARGS) $(SELECTED_OK)
	MINIDISCORD_FRONTEND=hypercorn $(PYTEST) $(ALONE) $(PYTEST_ARGS) $(SELECTED_OK)
	MINIDISCORD_FRONTEND=native $(PYTEST) $(PARALLEL) --durations=20 --ignore=$(ALONE) \
		$(PYTEST_ARGS) $(SELECTED_OK)
	MINIDISCORD_FRONTEND=native $(PYTEST) $(ALONE) $(PYTEST_ARGS) $(SELECTED_OK)

# Side-by-side benchmark against python-socketio on uvicorn (several minutes; see
# docs/benchmarks.md). Not part of `make test`: speed is measured, never asserted.
bench: $(TEST_STAMP)
	$(BIN)/python -m scripts.bench $(BENCH_ARGS)

$(VENV)/bin/python:
	@echo "First run: creating a virtual environment in $(VENV) with $(PYTHON) (needs Python >= 3.11 with venv)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing minidiscord and its dependencies into $(VENV) (once, and after pyproject.toml changes; about 15 s)"
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing minidiscord with its test and lint tools into $(VENV) (once, and after pyproject.toml changes; about a minute)"
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(RUN_STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@echo "Installing node's socket.io-client into tests/node/node_modules for the interop tests (once)"
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) tests/node/node_modules .mypy_cache .pytest_cache .ruff_cache
