#!/usr/bin/env bash
# Validate the stack configuration with the tools that own it, and install those tools.
#
#   scripts/check_config.sh install         install promtool (2 and 3), the Docker Compose CLI and Helm if missing
#   scripts/check_config.sh compose-path    print the Compose binary the checks use (installs nothing)
#   scripts/check_config.sh promtool3-path  print the Prometheus 3 promtool the checks use (installs nothing)
#   scripts/check_config.sh helm-path       print the Helm CLI the chart checks (tests/deploy) use (installs nothing)
#   scripts/check_config.sh                 promtool check config + check rules + test rules (both
#                                           promtools), docker compose config (offline, no Docker engine)
#
# promtool comes from Debian's `prometheus` package (2.42). Prometheus 3 changed rule semantics
# (left-open range selectors), and docker-compose.yml runs prom/prometheus 3.x, so the rules are also
# tested with a promtool of exactly that version, built from its Go module. The Compose CLI is built
# from its Go module too (the Debian `docker-compose` package is the retired Python v1, which does
# not implement the current Compose specification). Builds go to a cache keyed by version, so a
# second run is instant. The pytest suite in tests/config runs the same checks and more.
set -euo pipefail

COMPOSE_VERSION="${COMPOSE_VERSION:-v5.6.0}"
# Must equal the prom/prometheus image tag in docker-compose.yml (tests/config checks it).
PROMTOOL3_VERSION="${PROMTOOL3_VERSION:-v3.5.0}"
# deploy/helm is checked with this Helm (helm lint, helm template), built from its Go module.
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
TOOLS_DIR="${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-ml-tools}"
COMPOSE_CACHED="$TOOLS_DIR/docker-compose-$COMPOSE_VERSION"
PROMTOOL3_CACHED="$TOOLS_DIR/promtool-$PROMTOOL3_VERSION"
HELM_CACHED="$TOOLS_DIR/helm-$HELM_VERSION/helm"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

compose_path() {
  # An explicit choice wins; then a v2+ CLI already on the machine; then the cached build.
  if [[ -n "${COMPOSE_BIN:-}" ]]; then echo "$COMPOSE_BIN"; return; fi
  if command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -Eq 'version v?[2-9]'; then
    command -v docker-compose; return
  fi
  if [[ -x "$COMPOSE_CACHED" ]]; then echo "$COMPOSE_CACHED"; return; fi
  return 1
}

promtool3_path() {
  if [[ -n "${PROMTOOL3_BIN:-}" ]]; then echo "$PROMTOOL3_BIN"; return; fi
  if [[ -x "$PROMTOOL3_CACHED" ]]; then echo "$PROMTOOL3_CACHED"; return; fi
  return 1
}

install_promtool3() {
  promtool3_path >/dev/null && return
  command -v go >/dev/null 2>&1 || { echo "error: Go is needed to build promtool $PROMTOOL3_VERSION" >&2; return 1; }
  # Prometheus 3.M.P is the Go module version v0.3MM.P (3.5.0 -> v0.305.0).
  local major minor patch module_version
  IFS=. read -r major minor patch <<<"${PROMTOOL3_VERSION#v}"
  module_version="v0.$((major * 100 + minor)).$patch"
  echo "building promtool $PROMTOOL3_VERSION (Go module $module_version) into $TOOLS_DIR (takes several minutes once)" >&2
  go_build_in_place "github.com/prometheus/prometheus@$module_version" ./cmd/promtool "$PROMTOOL3_CACHED" \
    "-w -X github.com/prometheus/common/version.Version=${PROMTOOL3_VERSION#v}" "$TOOLS_DIR"
}

helm_path() {
  if [[ -n "${HELM_BIN:-}" ]]; then echo "$HELM_BIN"; return; fi
  if [[ -x "$HELM_CACHED" ]]; then echo "$HELM_CACHED"; return; fi
  return 1
}

install_helm() {
  helm_path >/dev/null && return
  command -v go >/dev/null 2>&1 || { echo "error: Go is needed to build Helm" >&2; return 1; }
  echo "building Helm $HELM_VERSION from its Go module into $TOOLS_DIR (takes a few minutes once)" >&2
  local dir="${HELM_CACHED%/helm}"
  mkdir -p "$dir"
  # Its go.mod has no replace directives, so `go install module@version` works; GOBIN keeps it off PATH.
  GOBIN="$dir.tmp" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$dir.tmp/helm" "$HELM_CACHED" && rmdir "$dir.tmp"
}

install_promtool() { apt_install promtool prometheus; }

install_compose() {
  compose_path >/dev/null && return
  command -v go >/dev/null 2>&1 || { echo "error: Go is needed to build the Compose CLI" >&2; return 1; }
  echo "building Docker Compose $COMPOSE_VERSION from its Go module into $TOOLS_DIR (takes a few minutes once)" >&2
  go_build_in_place "github.com/docker/compose/v5@$COMPOSE_VERSION" ./cmd "$COMPOSE_CACHED" \
    "-w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" "$TOOLS_DIR"
}

check() {
  local prom="$ROOT/collector-config/prometheus" tool promtool3
  promtool3="$(promtool3_path)" || { echo "error: no Prometheus 3 promtool; run: $0 install" >&2; return 1; }
  for tool in promtool "$promtool3"; do
    (cd "$prom" && "$tool" check config prometheus.yml && "$tool" check rules rules/*.yml && "$tool" test rules tests/*.test.yml)
  done
  local compose env_file
  compose="$(compose_path)" || { echo "error: no Compose CLI; run: $0 install" >&2; return 1; }
  env_file="$ROOT/.env"
  if [[ ! -f "$env_file" ]]; then
    # .env.example ships without a Grafana password (compose refuses to start without one):
    # validate it with a throwaway value.
    env_file="$ROOT/.env.example"
    export GF_ADMIN_PASSWORD="${GF_ADMIN_PASSWORD:-config-check-only}"
  fi
  "$compose" --project-directory "$ROOT" --env-file "$env_file" config --quiet
  "$compose" --project-directory "$ROOT" --env-file "$env_file" --profile loadgen config --quiet
  echo "configuration OK"
}

case "${1:-check}" in
  install) install_promtool; install_promtool3; install_compose; install_helm ;;
  helm-path) helm_path ;;
  compose-path) compose_path ;;
  promtool3-path) promtool3_path ;;
  check) check ;;
  *) echo "usage: $0 [install|compose-path|promtool3-path|helm-path|check]" >&2; exit 2 ;;
esac
