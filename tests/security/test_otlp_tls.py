"""OTLP over TLS with an auth header, configured only through the standard variables.

A self-signed certificate is made at test time (``openssl``); a real OTLP receiver (gRPC with
``ssl_server_credentials``, HTTPS for http/protobuf) serves with it. With
``OTEL_EXPORTER_OTLP_CERTIFICATE`` and ``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20x`` the
service delivers all three signals and every export carries the header. Without the certificate
the handshake fails: nothing is delivered, the failure is counted, and requests are still served.
``REQUESTS_CA_BUNDLE`` is set to the public bundle throughout, as many images do: ``requests`` would
let it override the configured certificate (psf/requests#3829); ``otel.http_session`` prevents that.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import grpc
import pytest
from fastapi.testclient import TestClient

from service.api.schemas import EXAMPLE_APPLICATION
from service.app import create_app
from service.config import Settings
from tests.reliability.harness import scrape
from tests.support.otlp_receiver import GrpcReceiver, HttpReceiver

TOKEN = "Bearer x"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificate: apt-get install -y openssl"
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(params=["grpc", "http/protobuf"])
def tls_receiver(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[Any]:
    cert, key = certificate
    if request.param == "grpc":
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        receiver: Any = GrpcReceiver(server_credentials=credentials).start()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        receiver = HttpReceiver(ssl_context=context).start()
    receiver.protocol = request.param
    yield receiver
    receiver.stop()


def _point_at(receiver: Any, monkeypatch: pytest.MonkeyPatch, certificate: Path | None) -> None:
    assert receiver.endpoint.startswith("https://")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", receiver.protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")  # what `python -m service` defaults to
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    if certificate is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_CERTIFICATE", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(certificate))


def test_tls_with_certificate_and_bearer_header_delivers_all_signals(
    tls_receiver: Any, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _point_at(tls_receiver, monkeypatch, certificate[0])
    with TestClient(
        create_app(Settings.from_env({"REQUEST_LOG": "sampled"}, telemetry_dir=tmp_path, profile_sample_rate=0.0))
    ) as client:
        response = client.post("/predict", json=EXAMPLE_APPLICATION)
        assert response.status_code == 200
        trace_id = response.headers["traceresponse"].split("-")[1]
    received = tls_receiver.received  # leaving the client flushed every signal
    assert trace_id in {span.trace_id.hex() for _, span in received.spans()}
    assert "ml.predictions" in received.metric_names()
    assert any(record.trace_id.hex() == trace_id for record in received.log_records())
    assert received.headers and all(headers.get("authorization") == TOKEN for headers in received.headers)


def test_without_the_certificate_nothing_is_delivered_and_requests_still_succeed(
    tls_receiver: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _point_at(tls_receiver, monkeypatch, None)  # the system trust store does not know our self-signed CA
    with TestClient(
        create_app(Settings.from_env({"REQUEST_LOG": "sampled"}, telemetry_dir=tmp_path, profile_sample_rate=0.0))
    ) as client:
        for _ in range(5):
            assert client.post("/predict", json=EXAMPLE_APPLICATION).status_code == 200

        def failed_exports() -> float:
            samples = scrape(client.get("/metrics").text)
            return sum(
                s.value for s in samples if s.name == "otel_sdk_exporter_span_exported_total" and s.labels.get("error_type")
            )

        assert tls_receiver.received.wait_for(lambda: failed_exports() > 0, 30.0), "the refused handshake was not counted"
        assert client.post("/predict", json=EXAMPLE_APPLICATION).status_code == 200
    assert not tls_receiver.received.spans() and not tls_receiver.received.metrics and not tls_receiver.received.logs
