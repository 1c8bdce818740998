# Two commands matter: `make run` and `make test`. Both create the venv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
SUDO   := $(shell [ $$(id -u) -eq 0 ] || echo sudo)
# Installs take pyproject.toml's ranges at constraints.txt's exact versions; a change to either reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
# setuptools prints an "Editable installation" notice box on every editable install: informational only.
QUIET_BUILD := PYTHONWARNINGS="ignore:Editable installation"
DEV_STAMP := $(VENV)/.dev-installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
# The lowest supported OpenTelemetry release (constraints-min.txt, everything else as constraints.txt) in a venv of its own.
MIN_VENV  := .venv-otel-min
MIN_STAMP := $(MIN_VENV)/.installed-$(shell cat pyproject.toml constraints.txt constraints-min.txt | sha1sum | cut -c1-12)
# What `make test` also runs on that release: spans, stage spans, hot-function events, metrics with
# exemplars, OTLP export over gRPC and HTTP, the SDK fallbacks and the public API's example app.
# (One test is left out: it builds log records with limits through the 1.45 logs API.)
COMPAT_TESTS := tests/otel tests/examples \
  --deselect tests/otel/test_otlp_json.py::test_every_log_record_feature_matches_protobufs_json_mapping

.PHONY: run run-otlp test test-otel-min lint install dev stack stack-scaled stack-down bench bench-rss simulate-load simulate-quick drift-report model clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(QUIET_BUILD) $(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(PY)
	$(QUIET_BUILD) $(PIP) install --quiet -c constraints.txt -e '.[dev,analysis]'
	touch $@

$(MIN_STAMP): pyproject.toml constraints.txt constraints-min.txt
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet --upgrade pip
	grep -v -i -E '^(opentelemetry-|protobuf==|wrapt==|fastapi==)' constraints.txt > $(MIN_VENV)/constraints.txt
	$(QUIET_BUILD) $(MIN_VENV)/bin/pip install --quiet -c $(MIN_VENV)/constraints.txt -c constraints-min.txt -e '.[dev]'
	touch $@

install: $(STAMP)
dev: $(DEV_STAMP)

# Locally every request is traced, so 1% of them are profiled, not 10% (docs/telemetry.md, "The embedded default's files").
LOCAL_PROFILE_SAMPLE_RATE := 0.01
## Serve the bundled model on 127.0.0.1:8000 with the embedded telemetry default.
# Stopped by Ctrl-C (130) or SIGTERM (143) after a clean shutdown is a normal end, not a make error. The shell
# traps both (the service still gets them) so it outlives the service and make never reports "*** Interrupt".
run: install
	@trap : INT TERM; PROFILE_SAMPLE_RATE=$${PROFILE_SAMPLE_RATE:-$(LOCAL_PROFILE_SAMPLE_RATE)} $(PY) -m service --host $${HOST:-127.0.0.1} --port $${PORT:-8000}; \
	  status=$$?; [ $$status -eq 0 ] || [ $$status -eq 130 ] || [ $$status -eq 143 ] || exit $$status

## `make run` beside `make stack`: OTLP to the stack's Collector, metrics every 10 s as docker-compose.yml sets them.
# The SDK's default OTEL_METRIC_EXPORT_INTERVAL is 60 s: Prometheus and the drift report would lag a minute behind.
# Target-specific exports reach the `run` prerequisite (no recursive make, so Ctrl-C stays quiet); the environment wins.
run-otlp: export OTEL_EXPORTER_OTLP_ENDPOINT ?= http://127.0.0.1:4318
run-otlp: export OTEL_METRIC_EXPORT_INTERVAL ?= 10000
run-otlp: run

## The whole test suite: lint and type checks, then unit, wire, config and real-stack end-to-end tests.
test: dev lint
	bash scripts/test-prereqs.sh
	$(PY) -m pytest
	$(MAKE) test-otel-min

## The compatibility subset on the lowest supported OpenTelemetry release (1.40.0 / 0.61b0), a few minutes.
test-otel-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest -q -m "not e2e" $(COMPAT_TESTS)

## ruff (lint and format) and mypy, as configured in pyproject.toml; any finding fails the target.
lint: dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## The real Collector, Jaeger, Prometheus and Elasticsearch on loopback, no Docker (first run builds them; no Python needed).
stack:
	bash scripts/stack.sh up

## The two-tier stack instead: an agent on the same OTLP ports routing by trace id to two gateways (docs/scaling-out.md).
stack-scaled:
	bash scripts/stack.sh up-scaled

## Stops whichever of the two stacks runs.
stack-down:
	bash scripts/stack.sh down

## Telemetry overhead, side by side against the bare service; writes BENCHMARKS.md.
bench: dev
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(PY) -m bench

## The RSS check over 100 000 requests at production settings (a few minutes).
bench-rss: dev
	$(PY) -m bench rss

## Load against a running service (`make run` in another terminal); URL=... to aim elsewhere.
URL ?= http://127.0.0.1:8000
simulate-load: install
	$(PY) -m service.loadgen --url $(URL) --scenario mixed --concurrency 8 --duration 60 --json-report loadgen-report.json

simulate-quick: install
	$(PY) -m service.loadgen --url $(URL) --scenario steady --concurrency 4 --duration 10

## Drift report from the running service's /metrics (or PROMETHEUS=http://127.0.0.1:9090, with JOB=... and START=...).
drift-report: install
	$(PY) -m service.drift $(if $(PROMETHEUS),--prometheus $(PROMETHEUS) $(if $(JOB),--job $(JOB)) $(if $(START),--start=$(START)),--metrics-url $(URL)/metrics) --out drift-report

## Regenerate the bundled model and its card (byte-for-byte reproducible).
model: dev
	$(PY) scripts/train_model.py

clean:
	rm -rf $(VENV) $(MIN_VENV) telemetry .pytest_cache
