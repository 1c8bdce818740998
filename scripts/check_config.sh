#!/usr/bin/env bash
# Validate the stack configuration with the tools that own it, and install those tools.
#
#   scripts/check_config.sh install       install promtool and the Docker Compose CLI if missing
#   scripts/check_config.sh compose-path  print the Compose binary the checks use (installs nothing)
#   scripts/check_config.sh               promtool check config + check rules + test rules,
#                                         docker compose config (offline, no Docker engine needed)
#
# promtool comes from Debian's `prometheus` package. The Compose CLI is built from its Go module
# (the Debian `docker-compose` package is the retired Python v1, which does not implement the
# current Compose specification) into a cache keyed by version, so a second run is instant.
# The pytest suite in tests/config runs the same checks and more.
set -euo pipefail

COMPOSE_VERSION="${COMPOSE_VERSION:-v5.6.0}"
TOOLS_DIR="${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-ml-tools}"
COMPOSE_CACHED="$TOOLS_DIR/docker-compose-$COMPOSE_VERSION"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

compose_path() {
  # An explicit choice wins; then a v2+ CLI already on the machine; then the cached build.
  if [[ -n "${COMPOSE_BIN:-}" ]]; then echo "$COMPOSE_BIN"; return; fi
  if command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -Eq 'version v?[2-9]'; then
    command -v docker-compose; return
  fi
  if [[ -x "$COMPOSE_CACHED" ]]; then echo "$COMPOSE_CACHED"; return; fi
  return 1
}

install_promtool() {
  command -v promtool >/dev/null 2>&1 && return
  echo "installing promtool (Debian package prometheus)" >&2
  local sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

install_compose() {
  compose_path >/dev/null && return
  command -v go >/dev/null 2>&1 || { echo "error: Go is needed to build the Compose CLI" >&2; return 1; }
  echo "building Docker Compose $COMPOSE_VERSION from its Go module into $TOOLS_DIR (takes a few minutes once)" >&2
  mkdir -p "$TOOLS_DIR"
  local src
  # `go install` refuses this module (its go.mod has exclude directives), so build it in place.
  src="$(cd "$TOOLS_DIR" && GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
      -o "$COMPOSE_CACHED.tmp" ./cmd)
  mv "$COMPOSE_CACHED.tmp" "$COMPOSE_CACHED"
}

check() {
  local prom="$ROOT/collector-config/prometheus"
  promtool check config "$prom/prometheus.yml"
  promtool check rules "$prom"/rules/*.yml
  promtool test rules "$prom"/tests/*.test.yml
  local compose env_file
  compose="$(compose_path)" || { echo "error: no Compose CLI; run: $0 install" >&2; return 1; }
  env_file="$ROOT/.env"
  [[ -f "$env_file" ]] || env_file="$ROOT/.env.example"
  "$compose" --project-directory "$ROOT" --env-file "$env_file" config --quiet
  "$compose" --project-directory "$ROOT" --env-file "$env_file" --profile loadgen config --quiet
  echo "configuration OK"
}

case "${1:-check}" in
  install) install_promtool; install_compose ;;
  compose-path) compose_path ;;
  check) check ;;
  *) echo "usage: $0 [install|compose-path|check]" >&2; exit 2 ;;
esac
