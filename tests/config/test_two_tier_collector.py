"""The two-tier Collector configs (collector-config/otel-agent.yaml, otel-gateway.yaml) on the built Collector.

tests/e2e_scaled runs them; this module pins, without the stack, what makes them correct: the files load in
the OCB build (`otelcol-ml validate`), the agent routes traces by trace id with the queue and retry at the
level that re-routes, the gateway is today's Collector plus a per-gateway label, and Prometheus's two-tier
config is valid and scrapes the jobs the issue names.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "collector-config"
AGENT, GATEWAY, SINGLE = CONF / "otel-agent.yaml", CONF / "otel-gateway.yaml", CONF / "otel-collector.yaml"
PROMETHEUS_SCALED = CONF / "prometheus" / "prometheus-scaled.yml"


@pytest.fixture(scope="module")
def otelcol() -> str:
    """The Collector that scripts/stack.sh builds from collector-config/builder-config.yaml."""
    found = subprocess.run(["bash", str(ROOT / "scripts/stack.sh"), "collector-path"], capture_output=True, text=True, check=True)
    path = found.stdout.strip()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no Collector build at {path}: run `bash scripts/stack.sh provision`")
    return path


def validate(otelcol: str, *configs: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([otelcol, "validate", *(f"--config={c}" for c in configs)], check=False, capture_output=True, text=True)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_the_built_collector_has_the_load_balancing_exporter_at_the_common_release() -> None:
    manifest = load(CONF / "builder-config.yaml")
    version = f"v{manifest['dist']['version']}"
    modules = [
        entry["gomod"]
        for kind in ("receivers", "processors", "connectors", "exporters", "extensions")
        for entry in manifest[kind]
    ]
    lb = "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
    assert f"{lb} {version}" in modules
    assert all(m.endswith(f" {version}") for m in modules), f"components not all at {version}: {modules}"


@pytest.mark.parametrize("configs", [(AGENT,), (SINGLE, GATEWAY), (SINGLE,)], ids=["agent", "gateway", "single"])
def test_configs_load_in_the_built_collector(otelcol: str, configs: tuple[Path, ...]) -> None:
    result = validate(otelcol, *configs)
    assert result.returncode == 0, result.stderr[-2000:]


def test_validate_rejects_a_broken_agent_config(otelcol: str, tmp_path: Path) -> None:
    broken = tmp_path / "agent.yaml"
    broken.write_text(AGENT.read_text().replace("routing_key: traceID", "routing_key: traceID\n    routing_kee: traceID"))
    result = validate(otelcol, broken)
    assert result.returncode != 0 and "routing_kee" in result.stderr


def test_agent_routes_traces_by_trace_id_and_re_routes_failures() -> None:
    exporters = load(AGENT)["exporters"]
    traces = exporters["load_balancing/traces"]
    assert traces["routing_key"] == "traceID"
    for name, exporter in exporters.items():
        # The load_balancing level queues and retries (a retry hashes again against the current gateways)...
        assert exporter["sending_queue"]["enabled"] is True and exporter["retry_on_failure"]["enabled"] is True, name
        # ...and the per-gateway exporter does not, so a failure returns at once instead of waiting on a dead gateway.
        otlp = exporter["protocol"]["otlp"]
        assert otlp["sending_queue"]["enabled"] is False and otlp["retry_on_failure"]["enabled"] is False, name
        # A static list would keep a dead gateway in the ring: the resolver must follow the live gateways.
        assert set(exporter["resolver"]) == {"dns"}, name
    # Metrics and logs: one resource (service process) per gateway, so a series never comes from two gateways.
    assert exporters["load_balancing/metrics"]["routing_key"] == "resource"
    assert exporters["load_balancing/logs"]["routing_key"] == "resource"
    pipelines = load(AGENT)["service"]["pipelines"]
    assert {p["exporters"][0] for p in pipelines.values()} == set(exporters)
    assert all(p["processors"][0] == "memory_limiter" for p in pipelines.values())


def test_gateway_is_the_single_collector_plus_a_per_gateway_label() -> None:
    overlay = load(GATEWAY)
    # Tail sampling, span metrics and the exporters to Jaeger and Elasticsearch come from otel-collector.yaml unchanged.
    assert not {"tail_sampling", "span_metrics"} & (set(overlay.get("processors", {})) | set(overlay.get("connectors", {})))
    assert set(overlay["exporters"]) == {"prometheus"} and set(overlay["exporters"]["prometheus"]) == {"endpoint"}
    single_pipelines = load(SINGLE)["service"]["pipelines"]
    assert set(overlay["service"]["pipelines"]) == {"metrics"}
    metrics = overlay["service"]["pipelines"]["metrics"]
    # Every metric leaving the gateway (service metrics and span metrics) carries the label, set from one variable.
    assert [p for p in metrics["processors"] if p not in single_pipelines["metrics"]["processors"]] == ["transform/gateway_label"]
    assert metrics["receivers"] == single_pipelines["metrics"]["receivers"]
    statements = overlay["processors"]["transform/gateway_label"]["metric_statements"]
    assert statements == ['set(datapoint.attributes["otelcol.gateway"], "${env:OTELCOL_GATEWAY_NAME:-gateway}")']
    # Span metrics before sampling: fed by the receiver, not by the sampled pipeline.
    assert single_pipelines["traces/spanmetrics"]["receivers"] == ["otlp"]
    assert "tail_sampling" not in single_pipelines["traces/spanmetrics"]["processors"]


def test_prometheus_scaled_config_is_valid_and_scrapes_both_tiers(promtool: str, promtool3: str) -> None:
    for tool in (promtool, promtool3):
        result = subprocess.run(
            [tool, "check", "config", PROMETHEUS_SCALED.name],
            check=False,
            capture_output=True,
            text=True,
            cwd=PROMETHEUS_SCALED.parent,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in load(PROMETHEUS_SCALED)["scrape_configs"]}
    assert set(jobs) >= {"otel-collector-exporter", "otelcol-agent", "otelcol-gateway"}
    targets = {name: [t for sc in job["static_configs"] for t in sc["targets"]] for name, job in jobs.items()}
    assert targets["otel-collector-exporter"] == ["127.0.0.2:28889", "127.0.0.3:28889"]
    assert jobs["otel-collector-exporter"]["honor_labels"] is True
    assert targets["otelcol-gateway"] == ["127.0.0.2:28888", "127.0.0.3:28888"]
    assert targets["otelcol-agent"] == ["127.0.0.1:8888"]
