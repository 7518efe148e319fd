# socialpulse developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("socialpulse needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The compiled fingerprint, tokeniser and LSH index (services/socialpulse-native, C over the CPython API)
# are optional: built where the C compiler Python's build uses and Python's headers exist, else
# skipped with a message; socialpulse then uses its Python code, identical. Where they exist a
# failed build is reported here and fails the differential tests (tests/native_texts.buildable).
NATIVE := $(VENV)/.native
NATIVE_SRC := services/socialpulse-native
READY := $(STAMP) $(NATIVE)
BUILDABLE := import os, shutil, sys, sysconfig; \
  cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]; \
  headers = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")); \
  ok = shutil.which(cc) and headers; \
  ok or print(f"socialpulse-native skipped, no C compiler ({cc}) or no Python.h: the Python code is used"); \
  sys.exit(0 if ok else 1)

$(NATIVE): $(STAMP) $(wildcard $(NATIVE_SRC)/*.c $(NATIVE_SRC)/*.h) $(NATIVE_SRC)/pyproject.toml
	@if $(PY) -c '$(BUILDABLE)'; then \
	  $(PY) -m pip install --quiet ./$(NATIVE_SRC) 2>&1 | grep -v -e experimental -e 'config = read' ; \
	  if $(PY) -c 'import socialpulse_native' 2>/dev/null; then touch $(NATIVE); \
	  else echo "socialpulse-native did not build: the Python code is used (the next make tries again)"; fi; \
	else touch $(NATIVE); fi

native: $(READY) ## Build the optional compiled fingerprint, tokeniser and LSH index (make install does it where a C compiler exists)

FUZZ_SECONDS ?= 600
fuzz: $(STAMP) ## Fuzz the compiled module under ASan + UBSan against the Python code for FUZZ_SECONDS (600) on one core; needs clang and libclang-rt-dev, installs atheris
	bash tests/fuzz/fuzz.sh $(PY) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

fuzz-smoke: $(STAMP) ## A short deterministic fuzz run (fixed seed, 20,000 inputs) as CI runs it
	bash tests/fuzz/fuzz.sh $(PY) -seed=1 -runs=20000 -print_final_stats=1

install: $(READY) ## Create .venv and install socialpulse with its dev tools (and the compiled fingerprint if a C compiler exists)

run: $(READY) ## Run the service on its embedded broker with demo traffic (Ctrl-C stops)
	$(VENV)/bin/socialpulse run

test: $(READY) ## Run every test; integration tests start their own brokers
	$(PY) -m pytest

test-unit: $(READY) ## Run the fast unit tests only (tests/unit: no servers, no tools, not `slow`)
	$(PY) -m pytest tests/unit -m "not slow"

test-deploy: $(READY) ## Check deploy/ with promtool, amtool and parsers (tests/deploy)
	$(PY) -m pytest tests/deploy

test-faults: $(READY) ## Run only the fault tests (kill -9, restarts, outage), ours and the faust peer
	$(PY) -m pytest -m fault

lint: $(READY) ## ruff (lint and format check) and mypy --strict
	$(VENV)/bin/ruff check services tests
	$(VENV)/bin/ruff format --check services tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: $(STAMP) ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format services tests
	$(VENV)/bin/ruff check --fix services tests

bench: $(READY) ## Benchmarks, each beside its baseline: pipeline (signals stage on and off), brand matching, state restore from Apache Kafka (100 brands over 24 h beside a rebuild; 1,000 brands over 7 d beside 3 brands), window state memory beside main's design, sentiment, language detection, alert quality, the spike detector's start-up replay beside the revision before it, trend and spam signals, the compiled fingerprint and tokeniser beside the Python ones, throughput through Kafka beside a naive loop, faust and socialpulse with its signals stage off, scrapes at 1,000 brands, the join view's reads beside a full recount
	$(PY) tests/bench/bench_pipeline.py
	$(PY) tests/bench/bench_matcher.py
	$(PY) tests/bench/bench_restore.py
	$(PY) tests/bench/bench_backfill.py
	$(PY) tests/bench/bench_memory.py
	$(PY) tests/bench/bench_sentiment.py
	$(PY) tests/bench/bench_language.py
	$(PY) tests/bench/bench_alerts.py
	$(PY) tests/bench/bench_detector_replay.py
	$(PY) tests/bench/bench_signals.py
	$(PY) tests/bench/bench_native.py
	$(PY) tests/bench/bench_throughput.py
	$(PY) tests/bench/bench_scrape.py
	$(PY) tests/bench/bench_join_reads.py

docs: $(STAMP) ## Regenerate the README's configuration reference from the settings object
	$(PY) -m socialpulse.app.reference README.md

rules: $(STAMP) ## Regenerate deploy/prometheus/rules/brand_alerts.yml from the detector's default thresholds
	$(PY) -m socialpulse.app.rules > deploy/prometheus/rules/brand_alerts.yml

wheel: $(STAMP) ## Build the wheel into dist/ and prove it installs alone with its console script
	rm -rf dist /tmp/socialpulse-wheel
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(PYTHON) -m venv /tmp/socialpulse-wheel
	/tmp/socialpulse-wheel/bin/pip install --quiet dist/socialpulse-*.whl
	/tmp/socialpulse-wheel/bin/socialpulse --version

kafka: ## Start a single-node Apache Kafka (KRaft) on 127.0.0.1:19092 in the foreground
	bash deploy/kafka/kafka.sh run

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help native fuzz fuzz-smoke install docs rules wheel run test test-unit test-deploy test-faults lint fmt bench kafka clean
