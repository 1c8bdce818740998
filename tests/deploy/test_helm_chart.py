"""The Helm chart (deploy/helm/otel-ml-service), verified offline: lint, render, schemas, Collector configs.

`helm template` renders the chart with its default values and with the example values file; every object
is validated against the Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields fail), and
the Collector configs are taken out of the rendered ConfigMaps and loaded by the built Collector's
`validate` with the environment the rendered containers set. Helm comes from `scripts/check_config.sh
install` (make test runs it); without it these tests fail.
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "otel-ml-service"
VALUES = {"default": None, "production-example": CHART / "examples" / "production-values.yaml"}
KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate bundles; the chart needs >= 1.25


def _tool(command: list[str], missing: str) -> str:
    found = subprocess.run(command, capture_output=True, text=True, check=False)
    path = found.stdout.strip()
    if found.returncode != 0 or not path or not os.access(path, os.X_OK):
        pytest.fail(missing)
    return path


@pytest.fixture(scope="module")
def helm() -> str:
    return _tool(
        ["bash", str(ROOT / "scripts/check_config.sh"), "helm-path"], "no Helm: run `bash scripts/check_config.sh install`"
    )


@pytest.fixture(scope="module")
def otelcol() -> str:
    return _tool(
        ["bash", str(ROOT / "scripts/stack.sh"), "collector-path"], "no Collector build: run `bash scripts/stack.sh provision`"
    )


def helm_run(helm: str, *args: str, values: Path | None) -> subprocess.CompletedProcess[str]:
    extra = ["-f", str(values)] if values else []
    return subprocess.run([helm, *args, str(CHART), *extra], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module", params=list(VALUES), ids=list(VALUES))
def rendered(request: pytest.FixtureRequest, helm: str) -> list[dict[str, Any]]:
    result = helm_run(helm, "template", "demo", "--namespace", "ml", values=VALUES[request.param])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} *{suffix}: {[(d['kind'], d['metadata']['name']) for d in docs]}"
    return found[0]


@pytest.mark.parametrize("values", list(VALUES))
def test_helm_lint_passes(helm: str, values: str) -> None:
    result = helm_run(helm, "lint", "--strict", values=VALUES[values])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rendered_object_matches_the_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted({d["kind"] for d in rendered})
    assert {"Deployment", "StatefulSet", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= set(kinds)
    errors = []
    for doc in rendered:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']} {doc['metadata']['name']}: {exc}")
    assert not errors, "\n".join(errors)


def test_the_schema_check_rejects_a_misspelt_field(rendered: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(one(rendered, "Deployment", "-service"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_service_pods_are_probed_bounded_autoscaled_and_locked_down(rendered: list[dict[str, Any]]) -> None:
    deployment = one(rendered, "Deployment", "-service")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsUser"] != 0
    # The one writable path is an emptyDir.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    assert all("emptyDir" in volumes[m["name"]] for m in container["volumeMounts"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://demo-otel-ml-service-agent.ml.svc")
    hpa = one(rendered, "HorizontalPodAutoscaler", "-service")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = one(rendered, "PodDisruptionBudget", "-service")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_gateways_sit_behind_a_headless_service_of_ready_pods(rendered: list[dict[str, Any]]) -> None:
    gateway = one(rendered, "StatefulSet", "-gateway")
    headless = one(rendered, "Service", "-gateway-headless")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is False
    assert gateway["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["selector"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    agent_cm = yaml.safe_load(one(rendered, "ConfigMap", "-agent")["data"]["otel-agent.yaml"])
    resolvers = {name: next(iter(e["resolver"])) for name, e in agent_cm["exporters"].items()}
    if set(resolvers.values()) == {"k8s"}:  # the example: EndpointSlices, which needs its Role
        role = one(rendered, "Role", "-agent-endpoints")
        assert role["rules"] == [
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
        ]
        assert one(rendered, "Deployment", "-agent")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
        assert {e["resolver"]["k8s"]["service"] for e in agent_cm["exporters"].values()} == {f"{headless['metadata']['name']}.ml"}
    else:
        assert set(resolvers.values()) == {"dns"}, resolvers
        assert not [d for d in rendered if d["kind"] in ("Role", "RoleBinding")]


def test_the_chart_ships_the_repository_collector_configs() -> None:
    for name in ("otel-collector.yaml", "otel-gateway.yaml", "otel-agent.yaml"):
        shipped = (CHART / "files" / name).read_text()
        assert shipped == (ROOT / "collector-config" / name).read_text(), (
            f"deploy/helm/.../files/{name} differs from collector-config/{name}"
        )


def test_collector_configs_in_the_rendered_configmaps_pass_validate(
    rendered: list[dict[str, Any]], otelcol: str, tmp_path: Path
) -> None:
    configmaps = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "ConfigMap"}
    checked = []
    for workload in (one(rendered, "Deployment", "-agent"), one(rendered, "StatefulSet", "-gateway")):
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (mount,) = container["volumeMounts"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        directory = tmp_path / workload["metadata"]["name"]
        directory.mkdir()
        for filename, text in configmaps[volume["configMap"]["name"]]["data"].items():
            (directory / filename).write_text(text)
        args = [a.replace(f"--config={mount['mountPath']}/", f"--config={directory}/") for a in container["args"]]
        # The container's environment: literal values as rendered; a value from the API (pod name, secret) as a stand-in.
        env = {e["name"]: e.get("value", "from-the-api") for e in container["env"]}
        result = subprocess.run(
            [otelcol, "validate", *args], env={**os.environ, **env}, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{workload['metadata']['name']}: {result.stderr[-2000:]}"
        checked.append(workload["metadata"]["name"])
    assert len(checked) == 2


def test_the_scrape_configmap_is_a_valid_prometheus_config_with_the_tier_jobs(
    rendered: list[dict[str, Any]], promtool3: str, tmp_path: Path
) -> None:
    scrape = tmp_path / "scrape.yml"
    scrape.write_text(one(rendered, "ConfigMap", "-prometheus-scrape")["data"]["scrape-configs.yml"])
    result = subprocess.run([promtool3, "check", "config", str(scrape)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = [job["job_name"] for job in yaml.safe_load(scrape.read_text())["scrape_configs"]]
    assert jobs == ["otel-collector-exporter", "otelcol-agent", "otelcol-gateway"]
