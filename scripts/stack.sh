#!/usr/bin/env bash
# The real telemetry stack on this machine, without Docker, from the files docker-compose uses.
#
#   scripts/stack.sh provision   build/download everything into the cache (idempotent, keyed by version)
#   scripts/stack.sh up          provision, then start Elasticsearch -> Jaeger -> Collector -> Prometheus
#                                on 127.0.0.1 and wait until each is ready (already up: says so, exit 0)
#   scripts/stack.sh up-scaled   the two-tier stack instead (docs/scaling-out.md): Elasticsearch -> Jaeger ->
#                                two gateways -> their endpoint list -> agent -> Prometheus (scrapes
#                                collector-config/prometheus/prometheus-scaled.yml); same outward ports
#   scripts/stack.sh down        stop exactly the processes `up`/`up-scaled` started (pid files), wait for them
#   scripts/stack.sh status      one line per component: pid, state, URL (status-scaled: the two-tier stack)
#   scripts/stack.sh collector-path  the Collector binary built from the current OCB manifest (may not exist yet)
#
# Components (versions pinned here; docker-compose.yml pins the same ones):
#   OpenTelemetry Collector 0.157.0  built with the Collector Builder (OCB) from
#                                    collector-config/builder-config.yaml; config collector-config/otel-collector.yaml
#   Jaeger 2.12.0                    Go module github.com/jaegertracing/jaeger v1.75.0 (v2 releases are tagged
#                                    v1.N.0); its go.mod has a replace directive, which `go install mod@version`
#                                    refuses, so it is built in place from the module cache
#                                    config collector-config/jaeger/jaeger-es.yaml (STACK_JAEGER_CONFIG to change)
#   Prometheus                       Debian package (2.42): scrapes the collector's prometheus exporter, no OTLP
#                                    receiver needed; rules from collector-config/prometheus/rules
#   Elasticsearch 8.19.4             integ-test-zip from Maven Central, Java 17, single node, security off,
#                                    127.0.0.1 only, heap 512m
#
# Prometheus runs from a copy of collector-config/prometheus/prometheus.yml rendered into the run dir:
# compose hostnames (otel-collector:8889, ...) become 127.0.0.1, every scrape and evaluation interval
# becomes STACK_SCRAPE_INTERVAL (5s, so tests see data and alerts quickly), rule_files point at the repo.
#
# Ports (all 127.0.0.1): collector 4317/4318 (OTLP), 13133 (health), 8888 (own metrics), 8889 (prometheus
# exporter), the same for the two-tier stack's agent (no 8889); gateway N on 127.0.0.(N+1): 24317/24318 (OTLP),
# 23133 (health), 28888 (own metrics), 28889 (prometheus exporter); Jaeger 16686 (API/UI), 16685 (query gRPC),
# 14317/14318 (OTLP in), 14133 (health), 14269 (metrics), 5778 (sampling strategies, from
# $STACK_RUN_DIR/jaeger/sampling-strategies.json); Prometheus 9090; Elasticsearch 9200 (HTTP), 9300 (transport).
#
# Environment:
#   STACK_CACHE_DIR        cache root (default ~/.cache/otel-ml-stack); builds live in <component>-<version>/
#   STACK_RUN_DIR          logs, pid files, data (default $STACK_CACHE_DIR/run)
#   STACK_SCRAPE_INTERVAL  Prometheus scrape/evaluation interval of the local copy (default 5s)
#   STACK_JAEGER_CONFIG    Jaeger config (default collector-config/jaeger/jaeger-es.yaml)
#   ES_JAVA_HOME           JDK for Elasticsearch (default: Java 17 found on the machine)
#   TAIL_SAMPLING_LATENCY_MS, TAIL_SAMPLING_PERCENT, ES_LOGS_INDEX, ES_TRACES_INDEX, ...: passed to the
#                          collector as-is (see the header of otel-collector.yaml)
#
# Elasticsearch refuses to run as root. As root, it is started inside a user namespace
# (`unshare --user --map-user=1000`) where it is not root but still owns its files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF="$ROOT/collector-config"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
CACHE="${STACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-ml-stack}"
RUN="${STACK_RUN_DIR:-$CACHE/run}"
LOGS="$RUN/logs"
SCRAPE_INTERVAL="${STACK_SCRAPE_INTERVAL:-5s}"
JAEGER_CONFIG="${STACK_JAEGER_CONFIG:-$CONF/jaeger/jaeger-es.yaml}"

# The collector version is the manifest's dist.version (one source of truth with the component pins).
OTELCOL_VERSION="$(awk '/^dist:/{d=1} d && /^  version:/{print $2; exit}' "$CONF/builder-config.yaml")"
OCB_VERSION="v$OTELCOL_VERSION"
JAEGER_VERSION="2.12.0"
JAEGER_MODULE_VERSION="v1.75.0"   # Jaeger v2.N.0 is module v1.(N+63).0
ES_VERSION="8.19.4"

# One build per manifest content (comments aside): adding or changing a component gives a new directory,
# so a binary built from another manifest (an older checkout, another branch) is never reused or clobbered.
OTELCOL_MANIFEST_SUM="$(grep -v '^[[:space:]]*#' "$CONF/builder-config.yaml" | sha256sum | cut -c1-12)"
OCB_DIR="$CACHE/otelcol-v$OTELCOL_VERSION/bin"
OTELCOL_DIR="$CACHE/otelcol-v$OTELCOL_VERSION/build-$OTELCOL_MANIFEST_SUM"
OTELCOL_BIN="$OTELCOL_DIR/otelcol-ml"
JAEGER_DIR="$CACHE/jaeger-$JAEGER_MODULE_VERSION"
JAEGER_BIN="$JAEGER_DIR/jaeger"
ES_DIR="$CACHE/elasticsearch-$ES_VERSION"
ES_HOME="$ES_DIR/elasticsearch-$ES_VERSION"

# The single stack (`up`) and the two-tier stack (`up-scaled`), each in start order. They share the
# backends and the outward ports (OTLP 4317/4318 is the single Collector or the agent), so one runs at a time.
COMPONENTS=(elasticsearch jaeger otel-collector prometheus)
SCALED_COMPONENTS=(elasticsearch jaeger otel-gateway-1 otel-gateway-2 gateway-endpoints otel-agent prometheus)
ALL_COMPONENTS=(elasticsearch jaeger otel-collector otel-gateway-1 otel-gateway-2 gateway-endpoints otel-agent prometheus)
# Two-tier stack: gateway N listens on its own loopback address 127.0.0.(N+1), every gateway on the same
# ports, so the agent's DNS resolver finds them all under one name and one port (collector-config/otel-agent.yaml).
GATEWAY_HOSTNAME="otel-gateways"
GATEWAY_OTLP_PORT=24317
GATEWAY_HEALTH_PORT=23133
SCALED="$RUN/scaled"
GATEWAY_HOSTS_FILE="$SCALED/hosts"
gateway_addr() { echo "127.0.0.$(( ${1#otel-gateway-} + 1 ))"; }
# Ports a component listens on: "port" (any address) or "address:port".
declare -A PORTS=(
  [elasticsearch]="9200 9300"
  [jaeger]="16686 16685 14317 14318 14133 14269 5778"
  [otel-collector]="4317 4318 13133 8888 8889"
  [otel-agent]="4317 4318 13133 8888"
  [gateway-endpoints]=""
  [prometheus]="9090"
)
declare -A READY_URL=(
  [elasticsearch]="http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=1s"
  [jaeger]="http://127.0.0.1:16686/api/services"
  [otel-collector]="http://127.0.0.1:13133/"
  [otel-agent]="http://127.0.0.1:13133/"
  [gateway-endpoints]="file://$GATEWAY_HOSTS_FILE"
  [prometheus]="http://127.0.0.1:9090/-/ready"
)
# A substring of /proc/<pid>/cmdline, so a recycled pid is never mistaken for ours.
declare -A CMD_MATCH=(
  [elasticsearch]="org.elasticsearch"
  [jaeger]="$JAEGER_BIN"
  [otel-collector]="$OTELCOL_BIN"
  [otel-agent]="otel-agent.yaml"
  [gateway-endpoints]="watch-gateways"
  [prometheus]="prometheus"
)
for gw in otel-gateway-1 otel-gateway-2; do
  addr="$(gateway_addr "$gw")"
  PORTS[$gw]="$addr:$GATEWAY_OTLP_PORT $addr:24318 $addr:$GATEWAY_HEALTH_PORT $addr:28888 $addr:28889"
  READY_URL[$gw]="http://$addr:$GATEWAY_HEALTH_PORT/"
  CMD_MATCH[$gw]="otel-gateway.yaml"
done

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------- provision

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found; install it with: $2"; }

java17_home() {
  if [[ -n "${ES_JAVA_HOME:-}" ]]; then echo "$ES_JAVA_HOME"; return; fi
  local d
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/java-17-openjdk; do
    [[ -x "$d/bin/java" ]] && { echo "$d"; return; }
  done
  [[ -n "${JAVA_HOME:-}" ]] && { echo "$JAVA_HOME"; return; }
  die "no Java 17 for Elasticsearch $ES_VERSION; install it with: apt-get install -y openjdk-17-jre-headless (or set ES_JAVA_HOME)"
}

provision_collector() {
  [[ -x "$OTELCOL_BIN" ]] && return
  need go "https://go.dev/doc/install (Go >= 1.25)"
  log "building the OpenTelemetry Collector $OTELCOL_VERSION with OCB into $OTELCOL_DIR (several minutes once)"
  mkdir -p "$OTELCOL_DIR" "$OCB_DIR"
  if [[ ! -x "$OCB_DIR/builder" ]]; then
    GOBIN="$OCB_DIR" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  fi
  # Same manifest, output into the cache (output_path in the file is relative to the repo).
  sed "s#^  output_path: .*#  output_path: $OTELCOL_DIR/src#" "$CONF/builder-config.yaml" > "$OTELCOL_DIR/manifest.yaml"
  "$OCB_DIR/builder" --config="$OTELCOL_DIR/manifest.yaml" > "$OTELCOL_DIR/build.log" 2>&1 \
    || { tail -30 "$OTELCOL_DIR/build.log" >&2; die "collector build failed (full log: $OTELCOL_DIR/build.log)"; }
  # Installed last, under its final name only when complete: an interrupted build is redone.
  install -m 0755 "$OTELCOL_DIR/src/otelcol-ml" "$OTELCOL_BIN.tmp"
  mv "$OTELCOL_BIN.tmp" "$OTELCOL_BIN"
  rm -rf "$OTELCOL_DIR/src"
}

provision_jaeger() {
  [[ -x "$JAEGER_BIN" ]] && return
  need go "https://go.dev/doc/install (Go >= 1.25)"
  log "building Jaeger $JAEGER_VERSION (module $JAEGER_MODULE_VERSION) into $JAEGER_DIR (several minutes once)"
  go_build_in_place "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" ./cmd/jaeger "$JAEGER_BIN" \
    "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$JAEGER_VERSION" "$JAEGER_DIR"
}

provision_elasticsearch() {
  [[ -x "$ES_HOME/bin/elasticsearch" ]] && return
  apt_install mvn maven
  apt_install unzip unzip
  log "downloading Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central into $ES_DIR"
  mkdir -p "$ES_DIR"
  mvn -q -B dependency:copy \
    "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    "-DoutputDirectory=$ES_DIR"
  rm -rf "$ES_HOME"
  unzip -q "$ES_DIR/elasticsearch-$ES_VERSION.zip" -d "$ES_DIR"
  rm -f "$ES_DIR/elasticsearch-$ES_VERSION.zip"
}

provision() {
  apt_install curl curl
  java17_home >/dev/null
  provision_elasticsearch
  provision_jaeger
  provision_collector
  apt_install prometheus prometheus
}

# ---------------------------------------------------------------------------------------- processes

pidfile() { echo "$RUN/$1.pid"; }

# Prints the pid when the component's pid file names a live process of ours.
running_pid() {
  local f pid
  f="$(pidfile "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "${CMD_MATCH[$1]}" || return 1
  echo "$pid"
}

is_ready() {
  local url="${READY_URL[$1]}"
  if [[ "$url" == file://* ]]; then grep -q "$GATEWAY_HOSTNAME" "${url#file://}" 2>/dev/null; return; fi
  curl -fsS -o /dev/null --max-time 3 "$url" 2>/dev/null
}

check_ports_free() {
  local port holder busy=0 filter
  for port in ${PORTS[$1]}; do
    if [[ "$port" == *:* ]]; then filter="src $port"; else filter="sport = :$port"; fi
    # shellcheck disable=SC2086  # the filter is several ss words
    if ss -ltnH $filter 2>/dev/null | grep -q .; then
      holder="$(ss -ltnpH $filter 2>/dev/null | grep -o 'users:(.*)' | head -1)"
      log "error: port $port (needed by $1) is already in use by ${holder:-an unknown process}"
      busy=1
    fi
  done
  return $busy
}

# start <component> <command...>: background it in its own session, log to $LOGS, record the pid.
start_bg() {
  local name="$1"; shift
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}

wait_ready() {
  local name="$1" timeout="$2" start=$SECONDS pid
  pid="$(cat "$(pidfile "$name")")"
  while ! is_ready "$name"; do
    # The pid we just started: alive is enough (its cmdline may still be the forked shell's, before exec).
    if ! kill -0 "$pid" 2>/dev/null || [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" == Z ]]; then
      tail -25 "$LOGS/$name.log" >&2 || true
      die "$name exited during startup (log: $LOGS/$name.log)"
    fi
    if (( SECONDS - start > timeout )); then
      tail -25 "$LOGS/$name.log" >&2 || true
      die "$name not ready after ${timeout}s at ${READY_URL[$name]} (log: $LOGS/$name.log)"
    fi
    sleep 0.5
  done
}

start_elasticsearch() {
  local conf="$RUN/elasticsearch/config"
  mkdir -p "$conf" "$RUN/elasticsearch/data" "$RUN/elasticsearch/logs"
  cp -r "$ES_HOME/config/." "$conf/"
  cat > "$conf/elasticsearch.yml" <<EOF
cluster.name: otel-ml-stack
node.name: local
discovery.type: single-node
network.host: 127.0.0.1
http.port: 9200
transport.port: 9300
path.data: $RUN/elasticsearch/data
path.logs: $RUN/elasticsearch/logs
xpack.security.enabled: false
# A nearly full disk would otherwise flip every index to read-only.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  local -a cmd=(env ES_PATH_CONF="$conf" ES_JAVA_HOME="$(java17_home)" ES_JAVA_OPTS="-Xms512m -Xmx512m"
                "$ES_HOME/bin/elasticsearch" -d -p "$(pidfile elasticsearch)")
  if [[ $(id -u) -eq 0 ]]; then
    unshare --user --map-user=1000 --map-group=1000 true 2>/dev/null \
      || die "Elasticsearch refuses to run as root and user namespaces are unavailable here; run as a non-root user"
    cmd=(unshare --user --map-user=1000 --map-group=1000 "${cmd[@]}")
  fi
  # -d daemonizes once the node has started; -p makes Elasticsearch itself write the server's pid.
  rm -f "$(pidfile elasticsearch)"
  "${cmd[@]}" > "$LOGS/elasticsearch.log" 2>&1 < /dev/null \
    || { tail -25 "$LOGS/elasticsearch.log" >&2; tail -25 "$RUN/elasticsearch/logs/otel-ml-stack.log" >&2 || true
         die "Elasticsearch failed to start (logs: $LOGS/elasticsearch.log, $RUN/elasticsearch/logs/)"; }
}

# Single node: indices the collector creates (otel-logs, otel-traces) get no replica, so the cluster
# is green rather than yellow. Local stack only; idempotent.
es_single_node_settings() {
  curl -fsS -o /dev/null -X PUT "http://127.0.0.1:9200/_index_template/otel-single-node" \
    -H 'content-type: application/json' \
    -d '{"index_patterns": ["otel-*"], "priority": 1, "template": {"settings": {"number_of_replicas": 0}}}'
  curl -fsS -o /dev/null -X PUT "http://127.0.0.1:9200/otel-*/_settings?allow_no_indices=true" \
    -H 'content-type: application/json' -d '{"index": {"number_of_replicas": 0}}'
}

# Sampling strategies: a copy in the run dir, fresh from the repo at each start, which Jaeger re-reads
# every JAEGER_SAMPLING_RELOAD_INTERVAL (tests rewrite it to change sampling live; docs/sampling.md).
start_jaeger() {
  mkdir -p "$RUN/jaeger"
  cp "$CONF/jaeger/sampling-strategies.json" "$RUN/jaeger/sampling-strategies.json"
  JAEGER_SAMPLING_STRATEGIES_FILE="$RUN/jaeger/sampling-strategies.json" \
  JAEGER_SAMPLING_RELOAD_INTERVAL="${JAEGER_SAMPLING_RELOAD_INTERVAL:-2s}" \
    start_bg jaeger "$JAEGER_BIN" --config="$JAEGER_CONFIG"
}

start_collector() {
  start_bg otel-collector "$OTELCOL_BIN" --config="$CONF/otel-collector.yaml"
}

render_prometheus_config() {
  local dir="$RUN/prometheus" source="$CONF/prometheus/prometheus.yml"
  if [[ "$MODE" == scaled ]]; then dir="$RUN/prometheus-scaled" source="$CONF/prometheus/prometheus-scaled.yml"; fi
  # rules.d: extra rule files a test may drop in (then POST /-/reload), e.g. an alert with a short `for:`.
  mkdir -p "$dir/data" "$dir/rules.d"
  sed -E \
    -e "s#^rule_files:.*#&\n  - $dir/rules.d/*.yml#" \
    -e 's/(["[:space:]])otel-collector:([0-9]+)/\1127.0.0.1:\2/g' \
    -e 's/(["[:space:]])localhost:([0-9]+)/\1127.0.0.1:\2/g' \
    -e "s/^([[:space:]]*)scrape_interval:.*/\1scrape_interval: $SCRAPE_INTERVAL/" \
    -e "s/^([[:space:]]*)evaluation_interval:.*/\1evaluation_interval: $SCRAPE_INTERVAL/" \
    -e "s/^([[:space:]]*)scrape_timeout:.*/\1scrape_timeout: $SCRAPE_INTERVAL/" \
    -e "s#^([[:space:]]*)- rules/#\1- $CONF/prometheus/rules/#" \
    "$source" > "$dir/prometheus.yml"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$dir/prometheus.yml" > "$LOGS/promtool.log" 2>&1 \
      || { cat "$LOGS/promtool.log" >&2; die "rendered $dir/prometheus.yml is invalid"; }
  fi
}

start_prometheus() {
  local dir="$RUN/prometheus"
  [[ "$MODE" == scaled ]] && dir="$RUN/prometheus-scaled"
  render_prometheus_config
  start_bg prometheus prometheus \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address=127.0.0.1:9090 \
    --web.enable-lifecycle \
    --enable-feature=exemplar-storage
}

# Gateway N of the two-tier stack: today's Collector config plus the gateway overlay, on 127.0.0.(N+1).
start_gateway() {
  local addr
  addr="$(gateway_addr "$1")"
  start_bg "$1" env OTELCOL_GATEWAY_NAME="${1#otel-}" GATEWAY_BIND_HOST="$addr" GATEWAY_OTLP_PORT="$GATEWAY_OTLP_PORT" \
    GATEWAY_HEALTH_PORT="$GATEWAY_HEALTH_PORT" \
    "$OTELCOL_BIN" --config="$CONF/otel-collector.yaml" --config="$CONF/otel-gateway.yaml"
}

# The local stand-in for a Kubernetes headless Service: every 0.5 s, the gateways answering their health
# check become the addresses of $GATEWAY_HOSTNAME in a hosts file that only the agent sees (start_agent).
# A killed gateway leaves the list at the next round; a restarted one rejoins it once healthy.
watch_gateways() {
  local content previous="" gw addr
  mkdir -p "$SCALED"
  while true; do
    content="127.0.0.1 localhost"$'\n'
    for gw in otel-gateway-1 otel-gateway-2; do
      addr="$(gateway_addr "$gw")"
      if curl -fsS -o /dev/null --max-time 1 "http://$addr:$GATEWAY_HEALTH_PORT/" 2>/dev/null; then
        content+="$addr $GATEWAY_HOSTNAME"$'\n'
      fi
    done
    if [[ "$content" != "$previous" ]]; then
      # Rewritten in place: the agent's bind mount follows this inode, not the name.
      printf '%s' "$content" > "$GATEWAY_HOSTS_FILE"
      printf '%s gateways: %s\n' "$(date -u +%FT%TZ)" "$(grep -c "$GATEWAY_HOSTNAME" <<<"$content")"
      previous="$content"
    fi
    sleep 0.5
  done
}

start_gateway_endpoints() {
  mkdir -p "$SCALED"
  rm -f "$GATEWAY_HOSTS_FILE"
  start_bg gateway-endpoints bash "$ROOT/scripts/stack.sh" watch-gateways
}

# The agent resolves $GATEWAY_HOSTNAME through the hosts file above, bind-mounted over /etc/hosts in a
# mount namespace of its own: nothing else on the machine sees it.
start_agent() {
  local -a ns=(unshare --mount)
  [[ $(id -u) -eq 0 ]] || ns=(unshare --user --map-root-user --mount)
  "${ns[@]}" true 2>/dev/null || die "the agent needs a mount namespace (${ns[*]}), unavailable here"
  start_bg otel-agent "${ns[@]}" sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' agent \
    "$GATEWAY_HOSTS_FILE" env GATEWAY_HOSTNAME="$GATEWAY_HOSTNAME" GATEWAY_OTLP_PORT="$GATEWAY_OTLP_PORT" \
    "$OTELCOL_BIN" --config="$CONF/otel-agent.yaml"
}

# ---------------------------------------------------------------------------------------- commands

# up_stack <label> <component...>: start what is not running yet, in order, each once ready.
up_stack() {
  local label="$1"; shift
  local -a components=("$@")
  local t0=$SECONDS name pid
  local -A timeout=([elasticsearch]=180 [jaeger]=60 [otel-collector]=60 [otel-gateway-1]=60 [otel-gateway-2]=60
                    [gateway-endpoints]=30 [otel-agent]=60 [prometheus]=60)
  local all_up=1
  for name in "${components[@]}"; do
    running_pid "$name" >/dev/null && is_ready "$name" || all_up=0
  done
  if (( all_up )); then
    log "$label already up (run dir $RUN)"
    show_status "${components[@]}"
    return 0
  fi
  # The other stack holds the same outward ports: say so rather than report busy ports.
  for name in "${ALL_COMPONENTS[@]}"; do
    [[ " ${components[*]} " == *" $name "* ]] && continue
    pid="$(running_pid "$name")" && die "$name (pid $pid) of the other stack is running; stop it first: $0 down"
  done
  provision
  mkdir -p "$LOGS"
  # Check every port before starting anything, so a conflict never leaves a half-started stack.
  local conflict=0
  for name in "${components[@]}"; do
    running_pid "$name" >/dev/null && continue
    rm -f "$(pidfile "$name")"
    check_ports_free "$name" || conflict=1
  done
  (( conflict )) && die "ports busy (see above); stop what holds them or run: $0 down"

  for name in "${components[@]}"; do
    if pid="$(running_pid "$name")"; then
      log "$name already running (pid $pid)"
    else
      local ts=$SECONDS
      case "$name" in
        elasticsearch) start_elasticsearch ;;
        jaeger) start_jaeger ;;
        otel-collector) start_collector ;;
        otel-gateway-*) start_gateway "$name" ;;
        gateway-endpoints) start_gateway_endpoints ;;
        otel-agent) start_agent ;;
        prometheus) start_prometheus ;;
      esac
      wait_ready "$name" "${timeout[$name]}"
      [[ "$name" == elasticsearch ]] && es_single_node_settings
      log "$name ready in $((SECONDS - ts))s (pid $(running_pid "$name"))"
      continue
    fi
    wait_ready "$name" "${timeout[$name]}"
  done
  log "$label up in $((SECONDS - t0))s; logs and pid files in $RUN"
  show_status "${components[@]}"
}

up() { MODE=single up_stack stack "${COMPONENTS[@]}"; }
up_scaled() { MODE=scaled up_stack "two-tier stack" "${SCALED_COMPONENTS[@]}"; }

# Stops whichever stack runs (every component of either, last started first).
down() {
  local name pid i stopped=0
  for (( i=${#ALL_COMPONENTS[@]}-1; i>=0; i-- )); do
    name="${ALL_COMPONENTS[$i]}"
    if pid="$(running_pid "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      local waited=0
      while kill -0 "$pid" 2>/dev/null; do
        if (( waited >= 60 )); then   # 30 s
          log "$name (pid $pid) did not stop after 30s; sending SIGKILL"
          kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.5; waited=$((waited + 1))
      done
      log "stopped $name (pid $pid)"
      stopped=1
    fi
    rm -f "$(pidfile "$name")"
  done
  (( stopped )) || log "nothing running (run dir $RUN)"
}

show_status() {
  local name pid state
  local -A urls=(
    [elasticsearch]="http://127.0.0.1:9200"
    [jaeger]="http://127.0.0.1:16686 (OTLP in 127.0.0.1:14317/14318, sampling http://127.0.0.1:5778)"
    [otel-collector]="OTLP grpc 127.0.0.1:4317 http http://127.0.0.1:4318, health :13133, metrics :8888, exporter :8889"
    [otel-agent]="OTLP grpc 127.0.0.1:4317 http http://127.0.0.1:4318, health :13133, metrics :8888"
    [gateway-endpoints]="$GATEWAY_HOSTS_FILE ($GATEWAY_HOSTNAME for the agent)"
    [prometheus]="http://127.0.0.1:9090"
  )
  for name in otel-gateway-1 otel-gateway-2; do
    urls[$name]="OTLP grpc $(gateway_addr "$name"):$GATEWAY_OTLP_PORT, health :$GATEWAY_HEALTH_PORT, metrics :28888, exporter :28889"
  done
  local rc=0
  for name in "$@"; do
    if pid="$(running_pid "$name")"; then
      if is_ready "$name"; then state="ready"; else state="starting/unhealthy"; rc=1; fi
    else
      pid="-"; state="stopped"; rc=1
    fi
    printf '%-17s %-8s %-19s %s\n' "$name" "$pid" "$state" "${urls[$name]}"
  done
  printf 'run dir: %s (logs in %s)\n' "$RUN" "$LOGS"
  return $rc
}

case "${1:-}" in
  provision) provision ;;
  collector-path) echo "$OTELCOL_BIN" ;;
  up) up ;;
  up-scaled) up_scaled ;;
  down) down ;;
  status) show_status "${COMPONENTS[@]}" ;;
  status-scaled) show_status "${SCALED_COMPONENTS[@]}" ;;
  watch-gateways) watch_gateways ;;   # started by up-scaled (gateway-endpoints)
  *) echo "usage: $0 {provision|up|up-scaled|down|status|status-scaled|collector-path}" >&2; exit 2 ;;
esac
