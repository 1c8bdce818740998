"""A FastAPI app adopting ``otel`` through its public API alone: ``uvicorn examples.minimal_app:app``.

With no ``OTEL_EXPORTER_OTLP_ENDPOINT`` the trace of every request is written to ``telemetry/traces.jsonl``.
"""

from __future__ import annotations

from fastapi import FastAPI

from otel import instrument, setup_telemetry, stage

telemetry = setup_telemetry({"service.version": "0.1.0"}, default_service_name="minimal-app")
app = FastAPI(telemetry=telemetry.fastapi_config())  # FastAPI's own telemetry stays off
instrument(app, telemetry)


@app.get("/hello")
def hello(name: str = "world") -> dict[str, str]:
    """Greets ``name`` in two stages, each a child span of the request's server span."""
    with stage("prepare"):
        greeting = f"hello, {name.strip() or 'world'}"
    with stage("compute"):
        answer = {"message": greeting, "length": str(len(greeting))}
    return answer
