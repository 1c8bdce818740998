"""The startup line says where each signal goes: the exporter with its endpoint, resolved as the exporters resolve it.

Before, it said ``'traces': 'otlp/http'`` and left the reader to guess the endpoint (issue 22).
Nothing is sent here: the providers are built from the environment given and shut down at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from otel.setup import Telemetry, setup_telemetry


@pytest.fixture
def describe(tmp_path: Path) -> Iterator[Callable[[Mapping[str, str]], str]]:
    built: list[Telemetry] = []

    def _describe(env: Mapping[str, str]) -> str:
        env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "100", **env}  # shutdown's last export to nowhere gives up fast
        telemetry = setup_telemetry({}, default_service_name="startup-line", telemetry_dir=tmp_path, env=env)
        built.append(telemetry)
        return telemetry.describe()

    yield _describe
    for telemetry in built:
        telemetry.shutdown(deadline_s=2)


def test_http_appends_each_signals_path_to_the_shared_endpoint(describe: Callable[[Mapping[str, str]], str]) -> None:
    line = describe({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    assert "traces otlp/http http://collector:4318/v1/traces" in line
    assert "metrics otlp/http+prometheus http://collector:4318/v1/metrics" in line
    assert "logs otlp/http http://collector:4318/v1/logs" in line


def test_a_signals_own_endpoint_is_shown_as_given(describe: Callable[[Mapping[str, str]], str]) -> None:
    line = describe(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/x"}
    )
    assert "traces otlp/http http://traces:9999/x" in line
    assert "logs otlp/http http://collector:4318/v1/logs" in line


def test_grpc_shows_the_endpoint_without_a_path(describe: Callable[[Mapping[str, str]], str]) -> None:
    line = describe({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert "traces otlp/grpc http://collector:4317," in line
    assert "/v1/" not in line


def test_the_embedded_default_names_its_files(describe: Callable[[Mapping[str, str]], str], tmp_path: Path) -> None:
    line = describe({})
    assert f"traces file:{tmp_path / 'traces.jsonl'}" in line and f"logs file:{tmp_path / 'logs.jsonl'}" in line
    assert line.endswith("sampler parentbased_always_on")
