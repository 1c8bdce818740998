"""The hot-function transforms: plumbing out, builtins and library internals folded, ranked by self time."""

from __future__ import annotations

import json
import os
import sysconfig

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from otel.hot_functions import (
    APP,
    BUILTIN,
    INSTRUMENTATION,
    LIBRARY,
    PLUMBING,
    Frame,
    FrameClassifier,
    HotFunction,
    Sample,
    add_hot_function_events,
    clean,
    drop_plumbing,
    fold_builtins,
    fold_library,
    hot_functions,
    rank,
    resolvable,
    top,
)

THREAD = Frame("threading.Thread.run", "/py/threading.py", 10, PLUMBING)
ANYIO = Frame("anyio._backends._asyncio.WorkerThread.run", "/sp/anyio/_asyncio.py", 20, PLUMBING)
RUN = Frame("service.pipeline.runner.Pipeline.run", "/app/service/pipeline/runner.py", 46, APP)
FEATURES = Frame("service.pipeline.features.build_features", "/app/service/pipeline/features.py", 58, APP)
SLOW = Frame("service.pipeline.faults.slow_feature_fault", "/app/service/pipeline/faults.py", 66, APP)
PERF = Frame("perf_counter", "<built-in>", 0, BUILTIN)
STAGE_EXIT = Frame("otel.stages.Stage.__exit__", "/app/otel/stages.py", 120, INSTRUMENTATION)
ORT_RUN = Frame("onnxruntime.capi.onnxruntime_inference_collection.Session.run", "/sp/onnxruntime/c.py", 383, LIBRARY)
ORT_HELPER = Frame("onnxruntime.capi._helper.check", "/sp/onnxruntime/h.py", 5, LIBRARY)
C_RUN = Frame("run", "<built-in>", 0, BUILTIN)
FUTURE_WAIT = Frame("concurrent.futures._base.Future.result", "/py/concurrent/futures/_base.py", 428, PLUMBING)


def names(samples: list[Sample]) -> list[list[str]]:
    return [[f.name.rsplit(".", 1)[-1] for f in stack] for stack, _ in samples]


def test_plumbing_frames_go_and_their_time_is_charged_to_the_caller() -> None:
    waiting = ((THREAD, ANYIO, RUN, FEATURES, FUTURE_WAIT), 0.004)
    assert names(drop_plumbing([waiting])) == [["run", "build_features"]]
    assert drop_plumbing([waiting])[0][1] == 0.004


def test_time_in_our_own_instrumentation_is_not_the_applications() -> None:
    closing_a_span = ((THREAD, RUN, STAGE_EXIT, PERF), 0.001)
    idle_worker = ((THREAD, ANYIO, FUTURE_WAIT), 0.002)
    working = ((THREAD, RUN, FEATURES, SLOW), 0.003)
    assert names(drop_plumbing([closing_a_span, idle_worker, working])) == [["run", "build_features", "slow_feature_fault"]]


def test_a_builtin_gives_its_time_to_its_python_caller() -> None:
    (only,) = clean([((THREAD, RUN, FEATURES, SLOW, PERF), 0.002)])
    assert only == ((RUN, FEATURES, SLOW), 0.002)
    assert fold_builtins([((PERF,), 1.0)]) == []


def test_library_internals_fold_into_the_call_our_code_made() -> None:
    stack = (RUN, ORT_RUN, ORT_HELPER, C_RUN)
    (folded,) = fold_library(fold_builtins([(stack, 0.005)]))
    assert folded[0] == (RUN, ORT_RUN)
    (hot,) = rank([folded])[:1]
    assert hot.name.endswith("Session.run") and hot.self_ms == 5.0


def test_application_code_called_back_by_a_library_stays_visible() -> None:
    callback = Frame("service.hooks.on_row", "/app/service/hooks.py", 3, APP)
    (folded,) = fold_library([((RUN, ORT_RUN, ORT_HELPER, callback), 1.0)])
    assert folded[0] == (RUN, ORT_RUN, callback)


def test_ranked_by_self_time_with_total_time_and_sample_counts() -> None:
    samples = [
        ((RUN, FEATURES, SLOW), 0.010),
        ((RUN, FEATURES, SLOW), 0.010),
        ((RUN, FEATURES), 0.003),
        ((RUN, ORT_RUN), 0.005),
    ]
    hot = rank(samples)
    assert [(h.name.rsplit(".", 1)[-1], h.rank, h.self_ms, h.total_ms, h.samples) for h in hot] == [
        ("slow_feature_fault", 1, 20.0, 20.0, 2),
        ("run", 2, 5.0, 5.0, 1),
        ("build_features", 3, 3.0, 23.0, 3),
    ], "ranked by self time; Pipeline.run, with no self time, is not a hot function"
    assert top(hot, 2) == tuple(hot[:2])


def test_functions_below_the_sampling_resolution_are_dropped_with_their_samples() -> None:
    samples = [((RUN, FEATURES, SLOW), 0.004), ((RUN, ORT_RUN), 0.0004), ((RUN, ORT_RUN), 0.0004), ((RUN, FEATURES), 0.001)]
    kept = resolvable(samples, 0.001)
    assert names(kept) == [["run", "build_features", "slow_feature_fault"], ["run", "build_features"]]
    assert [h.name for h in rank(kept)] == [SLOW.name, FEATURES.name]
    assert resolvable(samples, 0.0) == samples


def test_recursion_counts_a_sample_once_in_total_time() -> None:
    (hot,) = rank([((RUN, SLOW, SLOW, SLOW), 0.002)])
    assert (hot.name, hot.self_ms, hot.total_ms, hot.samples) == (SLOW.name, 2.0, 2.0, 1)


def test_the_result_is_plain_serialisable_data_with_the_contract_attribute_names() -> None:
    (hot,) = hot_functions(clean([((THREAD, RUN, FEATURES, SLOW, PERF), 0.0125)]), 5)
    assert hot == HotFunction(SLOW.name, SLOW.file, 66, 1, 12.5, 12.5, 1)
    assert set(hot.attributes()) == {
        "code.function.name",
        "code.file.path",
        "code.line.number",
        "profile.rank",
        "profile.self_ms",
        "profile.total_ms",
        "profile.samples",
    }
    assert json.loads(json.dumps(hot.attributes()))["code.function.name"] == SLOW.name
    span = TracerProvider().get_tracer("t").start_span("feature_engineering")
    add_hot_function_events(span, [hot])
    span.end()
    (event,) = span.events  # type: ignore[attr-defined]
    assert event.name == "profile.hot_function" and event.attributes["code.line.number"] == 66


def test_classifier_tells_application_library_plumbing_and_instrumentation_apart() -> None:
    site_packages = sysconfig.get_paths()["purelib"]
    classifier = FrameClassifier(application_packages=("service",))
    assert classifier.kind("onnxruntime.capi.x", os.path.join(site_packages, "onnxruntime", "x.py")) == LIBRARY
    assert classifier.kind("json.decoder", os.path.join(sysconfig.get_paths()["stdlib"], "json", "decoder.py")) == LIBRARY
    assert classifier.kind("service.pipeline.runner", os.path.join(site_packages, "service", "pipeline", "runner.py")) == APP
    assert classifier.kind("mycode", "/srv/app/mycode.py") == APP
    assert classifier.kind("starlette.concurrency", os.path.join(site_packages, "starlette", "concurrency.py")) == PLUMBING
    assert classifier.kind("otel.stages", "/srv/app/otel/stages.py") == INSTRUMENTATION
    assert classifier.kind("otelx", "/srv/app/otelx.py") == APP, "a prefix is a package, not a string prefix"
    assert classifier.kind("", "<built-in>") == BUILTIN


FRAMES = [THREAD, ANYIO, RUN, FEATURES, SLOW, PERF, STAGE_EXIT, ORT_RUN, ORT_HELPER, C_RUN, FUTURE_WAIT]
stacks = st.lists(st.sampled_from(FRAMES), min_size=1, max_size=8).map(tuple)
sample_lists = st.lists(st.tuples(stacks, st.floats(min_value=1e-4, max_value=0.05)), max_size=30)


@given(sample_lists)
def test_ranking_invariants(samples: list[Sample]) -> None:
    cleaned = clean(samples)
    assert clean(cleaned) == cleaned, "the transforms are idempotent, so cleaned samples can be combined again"
    hot = rank(cleaned)
    assert [h.rank for h in hot] == list(range(1, len(hot) + 1))
    assert all(h.total_ms >= h.self_ms > 0 for h in hot)
    assert [h.self_ms for h in hot] == sorted((h.self_ms for h in hot), reverse=True)
    assert abs(sum(h.self_ms for h in hot) - sum(s for _, s in cleaned) * 1e3) <= 1e-3 * len(hot) + 1e-9, "self times add up"
    plumbing_or_ours = {f.name for f in FRAMES if f.kind in (PLUMBING, INSTRUMENTATION, BUILTIN)}
    assert not plumbing_or_ours & {h.name for h in hot}
