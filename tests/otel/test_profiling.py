"""Profiler hot functions on spans: the slow function is named on its stage, with file and line; requests never break."""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel.hot_functions import FrameClassifier, clean, hot_functions
from otel.profiling import StageProfile, _FrameCatalog
from otel.request import RequestState, StageRecorder, enter_request, exit_request
from otel.stages import stage
from service.config import Settings
from service.pipeline.faults import slow_feature_fault
from tests.conftest import Captured, build_client
from tests.otel import planted
from tests.support.stage_recorder import stage_recorder

EVENT = "profile.hot_function"
PLUMBING_PREFIXES = (
    "starlette.",
    "anyio.",
    "fastapi.",
    "uvicorn.",
    "asyncio.",
    "threading.",
    "concurrent.",
    "otel.",
    "pyinstrument.",
    "opentelemetry.",
)


def hot(span: ReadableSpan) -> list[dict[str, Any]]:
    events = [dict(e.attributes or {}) for e in span.events if e.name == EVENT]
    assert [e["profile.rank"] for e in events] == list(range(1, len(events) + 1)), "one event per function, in rank order"
    return events


def server_span(captured: Captured) -> ReadableSpan:
    (span,) = [s for s in captured.finished_spans() if s.kind is SpanKind.SERVER]
    return span


def test_the_injected_slow_function_tops_the_feature_engineering_span(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_SLOW_FEATURE_MS": "120", "PROFILE_SAMPLE_RATE": "1"}))
    with client:
        response = client.post("/predict", json=example)
    assert response.status_code == 200
    top = hot(captured.span("feature_engineering"))[0]
    assert top["code.function.name"] == "service.pipeline.faults.slow_feature_fault"
    assert top["code.file.path"] == inspect.getsourcefile(slow_feature_fault)
    assert top["code.file.path"].startswith("/")
    assert top["code.line.number"] == slow_feature_fault.__code__.co_firstlineno
    assert top["profile.self_ms"] >= 60
    assert top["profile.total_ms"] >= top["profile.self_ms"]
    assert top["profile.samples"] >= 1
    assert captured.span("feature_engineering").attributes["profile.trigger"] == "sampled"

    server = server_span(captured)
    overall = hot(server)
    assert overall[0]["code.function.name"] == top["code.function.name"]
    assert len(overall) <= 5
    assert not [e for e in overall if e["code.function.name"].startswith(PLUMBING_PREFIXES)]
    assert server.attributes["profile.trigger"] == "sampled"
    duration_ms = (server.end_time - server.start_time) / 1e6
    assert 0 < server.attributes["process.cpu_time_ms"] <= duration_ms, "the worker thread's CPU time during the stages"
    assert server.attributes["process.memory.rss_mb"] > 1
    assert isinstance(server.attributes["process.memory.delta_mb"], float)


def test_an_onnxruntime_call_shows_as_such(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"PROFILE_SAMPLE_RATE": "1", "PROFILE_INTERVAL_MS": "0.05"}))
    with client:
        client.post("/predict/batch", json={"instances": [example] * 1000})
    top = hot(captured.span("onnx_inference"))[0]
    assert top["code.function.name"] == "onnxruntime.capi.onnxruntime_inference_collection.Session.run"
    assert "/onnxruntime/" in top["code.file.path"]


def test_a_slow_request_gets_hot_functions_without_being_chosen(example: dict[str, Any]) -> None:
    settings = Settings.from_env({"FAULT_SLOW_FEATURE_MS": "120", "PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "50"})
    client, captured = build_client(settings)
    with client:
        assert client.post("/predict", json=example).status_code == 200
    top = hot(captured.span("feature_engineering"))[0]
    assert top["code.function.name"] == "service.pipeline.faults.slow_feature_fault"
    assert top["code.line.number"] == slow_feature_fault.__code__.co_firstlineno
    server = server_span(captured)
    assert hot(server)[0]["code.function.name"] == top["code.function.name"]
    assert server.attributes["profile.trigger"] == "slow"
    assert "process.cpu_time_ms" not in server.attributes, "resource figures are for head-profiled requests"
    assert not hot(captured.span("validation")) and not hot(captured.span("serialization"))


def test_fast_requests_stay_unprofiled_when_only_slow_capture_is_armed(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "2000"}))
    with client:
        for _ in range(5):
            client.post("/predict", json=example)
    spans = captured.finished_spans()
    assert len(spans) == 25
    assert not [s for s in spans if s.events or "profile.trigger" in (s.attributes or {})]


def test_a_profiler_failure_is_logged_once_and_the_request_proceeds(
    example: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, captured = build_client(
        Settings.from_env({"FAULT_SLOW_FEATURE_MS": "20", "PROFILE_SAMPLE_RATE": "1", "PROFILE_SLOW_MS": "0"})
    )
    original_start = StageProfile.start

    def start_then_fail(self: StageProfile) -> None:
        original_start(self)  # the profiler is running when the failure happens: it must be stopped
        raise RuntimeError("planted profiler failure")

    hooks_seen: list[object] = []

    class HookProbe:
        """Runs first at every stage start, on the stage's thread: no profile hook may be left over there."""

        def on_stage_start(self, request: RequestState, name: str, span: object) -> None:
            hooks_seen.append(sys.getprofile())

        def on_stage_end(self, *args: object) -> None:
            pass

    recorder = stage_recorder(client.app)
    assert recorder is not None
    recorder.observers.insert(0, HookProbe())
    with client:
        expected = client.post("/predict", json=example).json()
        monkeypatch.setattr(StageProfile, "start", start_then_fail)
        with caplog.at_level(logging.DEBUG, logger="otel.profiling"):
            responses = [client.post("/predict", json=example) for _ in range(3)]
        monkeypatch.undo()
        captured.spans.clear()
        client.post("/predict", json=example)
        after = hot(captured.span("feature_engineering"))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json() == expected for r in responses)
    warnings = [r for r in caplog.records if r.name == "otel.profiling" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "planted profiler failure" in str(warnings[0].exc_info[1])
    assert after and after[0]["code.function.name"].endswith("slow_feature_fault"), "profiling works again afterwards"
    assert len(hooks_seen) == 5 * 4 and set(hooks_seen) == {None}, "a failed profile was not stopped"


def test_a_failing_pyinstrument_leaves_no_profile_hook_on_the_thread() -> None:
    profile = StageProfile(0.001)
    profile.start()
    assert sys.getprofile() is not None

    def broken_stop() -> None:
        raise RuntimeError("planted pyinstrument failure")

    profile._profiler.stop = broken_stop  # type: ignore[method-assign]
    profile.abort()
    assert sys.getprofile() is None
    fresh = StageProfile(0.0001)
    fresh.start()
    planted.slow_alpha(20)
    records, cpu_ns = fresh.stop()
    assert sys.getprofile() is None
    assert cpu_ns > 0
    names = [h.name for h in hot_functions(clean(_FrameCatalog(FrameClassifier()).samples(records)), 3)]
    assert names[0] == planted.ALPHA, "the thread can be profiled again"


def _one_request(recorder: StageRecorder, route: str, work: Callable[[float], int], together: threading.Barrier) -> None:
    """What the middleware and the pipeline do for a request, on this thread, around a planted slow function."""
    server = recorder.tracer.start_span(f"POST {route}", kind=SpanKind.SERVER)
    token = context.attach(trace.set_span_in_context(server))
    request = RequestState(recorder, server, sampled=True)
    request_token = enter_request(request)
    for hook in recorder.request_hooks:
        hook.on_request_start(request)
    with stage("validation"):
        pass
    with stage("feature_engineering"):
        together.wait(timeout=10)  # both requests are inside their stage before either works
        work(150)
    for hook in recorder.request_hooks:
        hook.on_response_end(request, 200)
    exit_request(request_token)
    context.detach(token)
    server.end()


@pytest.mark.parametrize(
    "profile_env",
    [
        {"PROFILE_SAMPLE_RATE": "1", "PROFILE_SLOW_MS": "0"},
        {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "30"},
    ],
    ids=["sampled", "slow"],
)
def test_concurrent_requests_do_not_mix_their_hot_functions(profile_env: dict[str, str]) -> None:
    client, captured = build_client(Settings.from_env(profile_env))
    recorder = stage_recorder(client.app)
    assert recorder is not None
    together = threading.Barrier(2)
    threads = [
        threading.Thread(target=_one_request, args=(recorder, route, work, together))
        for route, work in (("/alpha", planted.slow_alpha), ("/beta", planted.slow_beta))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    spans = captured.finished_spans()
    for route, mine, theirs in (("/alpha", planted.ALPHA, planted.BETA), ("/beta", planted.BETA, planted.ALPHA)):
        (server,) = [s for s in spans if s.name == f"POST {route}"]
        (stage,) = [s for s in spans if s.name == "feature_engineering" and s.context.trace_id == server.context.trace_id]
        for span in (stage, server):
            names = [e["code.function.name"] for e in hot(span)]
            assert names and names[0] == mine, names
            assert not [n for n in names if n == theirs], f"{route} got the other request's function: {names}"
