"""docker-compose.yml as the real Compose CLI resolves it (`config`, offline), checked against the
issue's demands and against the config files it mounts, so the containers can actually talk.

Every run passes an explicit, throwaway env file and a scrubbed environment: a developer's `.env`
or shell variables never change the verdict.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.config import ENV_VARS
from service.loadgen.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CONFIG = ROOT / "collector-config"
PASSWORD = "test-only-Zq8w1"

CORE_SERVICES = {"service", "otel-collector", "jaeger", "elasticsearch", "prometheus", "grafana"}
# Published host ports, each with why it is published. Nothing else may be.
PUBLISHED = {
    8000: "service",
    3000: "grafana",
    16686: "jaeger",
    5778: "jaeger",  # sampling strategies (jaeger_remote sampler), for a service run on the host
    9090: "prometheus",
    4317: "otel-collector",  # OTLP gRPC, for a service run on the host
    4318: "otel-collector",  # OTLP HTTP, same
}
# Services without a healthcheck, and why. Anything depending on them can only wait for "started".
NO_HEALTHCHECK = {
    "otel-collector": "FROM scratch image: no shell or HTTP client inside (opentelemetry-collector-releases#866)",
    "loadgen": "one-shot job, nothing depends on it",
}
DATA_VOLUMES = {
    "elasticsearch": "/usr/share/elasticsearch/data",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
}
EXACT_TAG = re.compile(r"^(?P<repo>[\w.\-/]+):(?P<tag>v?\d+\.\d+\.\d+)(@sha256:[0-9a-f]{64})?$")
ENV_REF = re.compile(r"\$\{env:(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")
COMPOSE_VAR = re.compile(r"\$\{(?P<name>\w+)(?P<op>:?[-?+])?")


def _run_compose(
    compose: str, *args: str, env_file: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **(extra_env or {})}
    cmd = [compose, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "test.env"
    path.write_text(f"GF_ADMIN_PASSWORD={PASSWORD}\n")
    return path


@pytest.fixture(scope="module")
def resolved(compose: str, env_file: Path) -> dict[str, Any]:
    """The whole project with every profile, as Compose resolves it."""
    result = _run_compose(compose, "--profile", "loadgen", "config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(resolved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resolved["services"]


def _image_version(image: str) -> str:
    m = EXACT_TAG.match(image)
    assert m, f"{image} is not pinned to an exact version"
    return m["tag"].removeprefix("v")


def _mounted(service: dict[str, Any], target: str) -> Path:
    for volume in service.get("volumes", []):
        if volume["target"] == target:
            assert volume["type"] == "bind", volume
            return Path(volume["source"])
    raise AssertionError(f"nothing mounted at {target}")


@cache
def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _port(endpoint: str) -> int:
    """Port of a config endpoint such as "${env:HOST:-127.0.0.1}:4317" or "jaeger:14317"."""
    return int(ENV_REF.sub("h", endpoint).rsplit(":", 1)[1])


# --------------------------------------------------------------------------- the Compose CLI verdict


def test_config_is_valid_with_every_profile(compose: str, env_file: Path) -> None:
    for args in ([], ["--profile", "loadgen"]):
        result = _run_compose(compose, *args, "config", "--quiet", env_file=env_file)
        assert result.returncode == 0, result.stderr


def test_config_refuses_to_run_without_a_grafana_password(compose: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    for env_file in (empty, ENV_EXAMPLE):  # unset, and set but empty as shipped in .env.example
        result = _run_compose(compose, "config", "--quiet", env_file=env_file)
        assert result.returncode != 0, f"compose accepted {env_file.name} without GF_ADMIN_PASSWORD"
        assert "GF_ADMIN_PASSWORD" in result.stderr
        assert ".env" in result.stderr, "the error should say where to set it"


def test_env_example_is_complete_once_the_password_is_set(compose: str) -> None:
    result = _run_compose(
        compose, "--profile", "loadgen", "config", "--quiet", env_file=ENV_EXAMPLE, extra_env={"GF_ADMIN_PASSWORD": PASSWORD}
    )
    assert result.returncode == 0, result.stderr


def test_env_example_documents_exactly_the_variables_compose_reads() -> None:
    used = {m["name"] for m in COMPOSE_VAR.finditer(COMPOSE_FILE.read_text())}
    documented = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^\w+=", line)}
    assert used - documented == set(), "variables compose reads but .env.example does not explain"
    assert documented - used == set(), ".env.example variables compose never reads"


# --------------------------------------------------------------------------- what runs, from which image


def test_core_services_and_the_loadgen_profile(compose: str, env_file: Path, services: dict) -> None:
    assert CORE_SERVICES | {"loadgen"} == set(services)
    default = _run_compose(compose, "config", "--services", env_file=env_file)
    assert set(default.stdout.split()) == CORE_SERVICES, "loadgen must only start with --profile loadgen"
    assert services["loadgen"]["profiles"] == ["loadgen"]


def test_the_service_is_built_from_the_repository_dockerfile(services: dict) -> None:
    for name in ("service", "loadgen"):
        build = services[name]["build"]
        assert Path(build["context"]) == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert services["loadgen"]["image"] == services["service"]["image"], "loadgen runs the service image"


def test_every_pulled_image_is_pinned_to_an_exact_version(services: dict) -> None:
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc["image"]
        assert ":latest" not in image and EXACT_TAG.match(image), f"{name}: {image} is not an exact version"


def test_images_are_the_components_the_issue_names(services: dict) -> None:
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:")
    assert _image_version(services["jaeger"]["image"]).startswith("2."), "Jaeger v2"
    assert services["elasticsearch"]["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert services["elasticsearch"]["environment"]["discovery.type"] == "single-node"
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_versions_agree_across_files(services: dict) -> None:
    builder = _yaml(CONFIG / "builder-config.yaml")
    assert _image_version(services["otel-collector"]["image"]) == builder["dist"]["version"], (
        "the compose collector and the OCB build of builder-config.yaml must be the same version"
    )
    datasources = {ds["uid"]: ds for ds in _yaml(CONFIG / "grafana/provisioning/datasources/datasources.yml")["datasources"]}
    assert datasources["prometheus"]["jsonData"]["prometheusVersion"] == _image_version(services["prometheus"]["image"])
    jaeger_config = _yaml(_mounted(services["jaeger"], "/etc/jaeger/config.yaml"))
    es_major = int(_image_version(services["elasticsearch"]["image"]).split(".")[0])
    for backend in jaeger_config["extensions"]["jaeger_storage"]["backends"].values():
        if "elasticsearch" in backend:
            assert backend["elasticsearch"]["version"] == es_major


# --------------------------------------------------------------------------- start order and health


def test_long_running_services_have_healthchecks(services: dict) -> None:
    for name, svc in services.items():
        if name in NO_HEALTHCHECK:
            continue
        check = svc.get("healthcheck")
        assert check and not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
        assert check.get("interval") and check.get("timeout") and check.get("retries"), name


def test_healthchecks_probe_what_each_component_serves(services: dict) -> None:
    def probe(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"][1:])

    assert "127.0.0.1:8000/health/ready" in probe("service")
    assert "_cluster/health" in probe("elasticsearch") and ":9200" in probe("elasticsearch")
    assert "127.0.0.1:9090/-/ready" in probe("prometheus")
    assert "127.0.0.1:3000/api/health" in probe("grafana")
    health = _yaml(_mounted(services["jaeger"], "/etc/jaeger/config.yaml"))["extensions"]["healthcheckv2"]["http"]
    assert f"127.0.0.1:{_port(health['endpoint'])}{health['status']['path']}" in probe("jaeger")


def test_dependencies_wait_for_health_wherever_it_is_checked(services: dict) -> None:
    expected = {
        "service": {"otel-collector"},
        "otel-collector": {"jaeger", "elasticsearch"},
        "jaeger": {"elasticsearch"},
        "prometheus": {"otel-collector"},
        "grafana": {"prometheus", "jaeger", "elasticsearch"},
        "loadgen": {"service"},
    }
    for name, deps in expected.items():
        declared = services[name].get("depends_on", {})
        assert set(declared) == deps, name
        for dep, spec in declared.items():
            want = "service_started" if dep in NO_HEALTHCHECK else "service_healthy"
            assert spec["condition"] == want, f"{name} -> {dep}: {spec['condition']}"


# --------------------------------------------------------------------------- data, secrets, ports


def test_data_lives_in_named_volumes(resolved: dict, services: dict) -> None:
    for name, target in DATA_VOLUMES.items():
        mounts = [v for v in services[name]["volumes"] if v["target"] == target]
        assert len(mounts) == 1 and mounts[0]["type"] == "volume", f"{name}: {target} is not a named volume"
        assert mounts[0]["source"] in resolved["volumes"]


def test_bind_mounted_configs_exist_in_the_repository(services: dict) -> None:
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            if volume["type"] != "bind":
                continue
            source = Path(volume["source"])
            assert source.exists(), f"{name} mounts {source}, which does not exist (yet?)"
            assert ROOT in source.parents, f"{name} mounts {source} from outside the repository"
            assert volume.get("read_only"), f"{name}: config mounts are read-only"


def test_no_admin_password_is_baked_in(services: dict) -> None:
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD, "the password must come from .env"
    assert grafana.get("GF_AUTH_ANONYMOUS_ENABLED", "false") == "false"
    # Any secret-looking setting must be a required variable, never a literal or a default.
    secret = re.compile(
        r"^\s*(?P<key>[\w.]*(PASSWORD|SECRET|TOKEN|API_KEY)[\w.]*):\s*(?P<value>.*)$", re.IGNORECASE | re.MULTILINE
    )
    for m in secret.finditer(COMPOSE_FILE.read_text()):
        assert re.fullmatch(r'"?\$\{\w+:\?[^}]+\}"?', m["value"].strip()), f"{m['key']} must be ${{VAR:?...}}, got {m['value']}"


def test_elasticsearch_without_security_is_never_published(services: dict) -> None:
    es = services["elasticsearch"]
    if es["environment"].get("xpack.security.enabled") == "false":
        assert not es.get("ports"), "Elasticsearch runs without authentication: keep it off the host"
    else:
        assert re.search(r"ELASTIC_PASSWORD: \$\{\w+:\?", COMPOSE_FILE.read_text())


def test_only_the_service_and_the_uis_are_published_on_the_loopback_by_default(services: dict) -> None:
    published: dict[int, str] = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name}:{port['target']} binds {port['host_ip']} by default"
            assert int(port["published"]) == port["target"], "same port inside and out, as docs/stack.md says"
            published[port["target"]] = name
    assert published == PUBLISHED


# --------------------------------------------------------------------------- the wiring between containers


def test_collector_and_jaeger_listen_on_all_interfaces_and_name_compose_services(services: dict) -> None:
    """Their configs default to loopback addresses (the local stack): compose must override every one."""
    for name, target in (("otel-collector", "/etc/otelcol-contrib/config.yaml"), ("jaeger", "/etc/jaeger/config.yaml")):
        text = _mounted(services[name], target).read_text()
        env = services[name].get("environment", {})
        refs = {m["name"]: m["default"] for m in ENV_REF.finditer(text)}
        assert set(env) <= set(refs), f"{name}: {sorted(set(env) - set(refs))} are set but its config never reads them"
        for var, default in refs.items():
            if default and ("127.0.0.1" in default or "localhost" in default):
                assert var in env, f"{name}: {var} keeps its loopback default {default!r} inside the container"
                value = env[var]
                assert "127.0.0.1" not in value and "localhost" not in value, f"{name}: {var}={value}"
                if var.endswith("_BIND_HOST"):
                    assert value == "0.0.0.0", f"{name}: {var}={value}"
                else:
                    host = urlsplit(value if "://" in value else f"//{value}").hostname
                    assert host in services, f"{name}: {var}={value} names no compose service"


def test_jaeger_in_memory_is_a_drop_in_option(compose: str, tmp_path: Path) -> None:
    env_file = tmp_path / "memory.env"
    env_file.write_text(f"GF_ADMIN_PASSWORD={PASSWORD}\nJAEGER_CONFIG=./collector-config/jaeger/jaeger-memory.yaml\n")
    result = _run_compose(compose, "config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    jaeger = json.loads(result.stdout)["services"]["jaeger"]
    memory, default = _yaml(_mounted(jaeger, "/etc/jaeger/config.yaml")), _yaml(CONFIG / "jaeger/jaeger-es.yaml")
    assert _mounted(jaeger, "/etc/jaeger/config.yaml") == CONFIG / "jaeger/jaeger-memory.yaml"
    assert any("memory" in b for b in memory["extensions"]["jaeger_storage"]["backends"].values())
    # Same listening ports, so the collector, the healthcheck and Grafana need no change.
    assert memory["receivers"] == default["receivers"]
    assert memory["extensions"]["healthcheckv2"] == default["extensions"]["healthcheckv2"]
    assert memory["extensions"]["jaeger_query"]["http"] == default["extensions"]["jaeger_query"]["http"]


def test_collector_exports_to_the_ports_jaeger_and_elasticsearch_listen_on(services: dict) -> None:
    env = services["otel-collector"]["environment"]
    jaeger_config = _yaml(_mounted(services["jaeger"], "/etc/jaeger/config.yaml"))
    host, port = env["JAEGER_OTLP_ENDPOINT"].rsplit(":", 1)
    assert host == "jaeger"
    assert int(port) == _port(jaeger_config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert port in services["jaeger"]["expose"]
    for name in ("otel-collector", "jaeger"):
        es = urlsplit(services[name]["environment"]["ELASTICSEARCH_ENDPOINT"])
        assert (es.hostname, es.port) == ("elasticsearch", 9200)
    assert "9200" in services["elasticsearch"]["expose"]


def test_the_service_sends_otlp_to_the_collector(services: dict) -> None:
    env = services["service"]["environment"]
    collector = _yaml(_mounted(services["otel-collector"], "/etc/otelcol-contrib/config.yaml"))
    protocols = collector["receivers"]["otlp"]["protocols"]
    endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector"
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert endpoint.port == _port(protocols["grpc" if protocol == "grpc" else "http"]["endpoint"])
    # Every variable is a standard OTEL_* one (read by the SDK) or one of the service's settings.
    settings = {name for name, _, _ in ENV_VARS}
    assert {k for k in env if not k.startswith("OTEL_")} <= settings
    # Tail sampling decides in the collector: the SDK must not drop traces first.
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"


def test_prometheus_scrapes_the_collector_where_it_listens(services: dict) -> None:
    prom = services["prometheus"]
    config = _yaml(_mounted(prom, "/etc/prometheus/prometheus.yml"))
    collector = _yaml(_mounted(services["otel-collector"], "/etc/otelcol-contrib/config.yaml"))
    listening = {
        _port(collector["exporters"]["prometheus"]["endpoint"]),
        collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"],
    }
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    collector_ports = {int(t.rsplit(":", 1)[1]) for t in targets if t.startswith("otel-collector:")}
    assert collector_ports == listening
    assert {str(p) for p in listening} <= set(services["otel-collector"]["expose"])
    # Rules: prometheus.yml loads rules/*.yml relative to itself, where compose mounts the directory.
    assert config["rule_files"] == ["rules/*.yml"]
    assert _mounted(prom, "/etc/prometheus/rules") == CONFIG / "prometheus/rules"
    assert "--enable-feature=exemplar-storage" in prom["command"], "exemplars (trace ids) need it"


def test_grafana_reaches_its_datasources_and_finds_its_dashboards(services: dict) -> None:
    grafana = services["grafana"]
    provisioning = _mounted(grafana, "/etc/grafana/provisioning")
    assert provisioning == CONFIG / "grafana/provisioning"
    jaeger_query = _yaml(_mounted(services["jaeger"], "/etc/jaeger/config.yaml"))["extensions"]["jaeger_query"]
    listen = {"prometheus": 9090, "jaeger": _port(jaeger_query["http"]["endpoint"]), "elasticsearch": 9200}
    for ds in _yaml(provisioning / "datasources/datasources.yml")["datasources"]:
        url = urlsplit(ds["url"])
        assert url.hostname in listen and url.port == listen[url.hostname], ds["url"]
    provider = _yaml(provisioning / "dashboards/dashboards.yml")["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (provisioning / Path(home).relative_to("/etc/grafana/provisioning")).is_file()
    # The log datasource reads the index the collector writes.
    assert grafana["environment"]["ES_LOGS_INDEX"] == services["otel-collector"]["environment"]["ES_LOGS_INDEX"]


def test_loadgen_runs_the_real_generator_against_the_service(services: dict) -> None:
    command = services["loadgen"]["command"]
    assert command[:3] == ["python", "-m", "service.loadgen"]
    args = build_parser().parse_args(command[3:])  # the generator's own parser: unknown flags fail here
    url = urlsplit(args.url)
    assert (url.hostname, url.port) == ("service", 8000)
    assert args.allow_remote, "the generator refuses a non-loopback URL without --allow-remote"
    assert args.duration_s and args.rate, "bounded, open-loop load"


def test_jaeger_serves_the_repo_strategies_file_live_on_its_sampling_port(services: dict) -> None:
    """remote_sampling reads collector-config/jaeger/sampling-strategies.json through a directory mount (edits reach it)."""
    jaeger = services["jaeger"]
    config = _yaml(_mounted(jaeger, "/etc/jaeger/config.yaml"))
    assert "remote_sampling" in config["service"]["extensions"]
    sampling = config["extensions"]["remote_sampling"]
    path = PurePosixPath(jaeger["environment"]["JAEGER_SAMPLING_STRATEGIES_FILE"])
    source = _mounted(jaeger, str(path.parent))
    assert source.is_dir() and (source / path.name) == CONFIG / "jaeger" / "sampling-strategies.json"
    assert sampling["file"]["path"].startswith("${env:JAEGER_SAMPLING_STRATEGIES_FILE")
    assert _port(sampling["http"]["endpoint"]) == 5778
    assert any(p["target"] == 5778 and p["published"] == "5778" for p in jaeger["ports"])
