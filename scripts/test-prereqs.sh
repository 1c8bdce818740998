#!/usr/bin/env bash
# System tools the test suite needs beyond Python packages; idempotent, cached after the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check_config.sh install   # promtool (Debian prometheus) and the Compose CLI
bash scripts/stack.sh provision       # the real Collector, Jaeger, Prometheus, Elasticsearch for tests/e2e (cached)
