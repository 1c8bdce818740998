"""Profiler hot functions on spans: pyinstrument for head-chosen requests, the watchdog for slow ones.

``install_profiler(recorder, ProfilerConfig(...))`` registers one ``RequestProfiler`` on a
``StageRecorder`` (as stage observer and request hook). Then, per request:

* **sampled** (``PROFILE_SAMPLE_RATE``): of the traces whose server span is recorded and sampled,
  that fraction is chosen at request start. pyinstrument (``PROFILE_INTERVAL_MS``) runs around each
  stage on the thread that runs it; at the stage's end its top ``PROFILE_TOP_N`` functions become
  ``profile.hot_function`` events on the stage span, and at the response the stages' samples
  combined give the server span's top N, plus ``profile.trigger="sampled"``, ``process.cpu_time_ms``
  (CPU time of the worker *thread* during the stages, from ``time.thread_time_ns``, so concurrent
  requests do not inflate it; it includes the sampler's own cost), ``process.memory.rss_mb`` (process
  RSS at the response) and ``process.memory.delta_mb`` (RSS change since the request started; the
  process is shared, so concurrent requests and the GC show in it).
* **slow** (``PROFILE_SLOW_MS``): any other recorded request past the threshold, see ``otel.slow_capture``.

Event attributes and ranking: see ``otel.hot_functions``. Profiler failures never reach the
request: the first is logged at WARNING, later ones at DEBUG, and that request goes on unprofiled.

This is the only module importing pyinstrument (pinned ``pyinstrument==5.1.3``); ``StageProfile`` and
``_FrameCatalog`` are the whole adapter over its frame records, whose format changes between releases.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import CodeType, FunctionType, ModuleType
from typing import Any, Final

import psutil
from opentelemetry.trace import Span
from pyinstrument import Profiler
from pyinstrument.frame_info import ATTRIBUTE_MARKER_CLASS_NAME, parse_frame_info
from pyinstrument.stack_sampler import get_stack_sampler

from otel.hot_functions import (
    BUILTIN,
    PLUMBING,
    PROFILE_OBSERVED_MS,
    PROFILE_TRIGGER,
    Frame,
    FrameClassifier,
    Sample,
    add_hot_function_events,
    clean,
    describe_code,
    hot_functions,
    observed_ms,
)
from otel.request import RequestState, StageRecorder
from otel.slow_capture import SlowCapture, profiler_failures

SAMPLED: Final = "sampled"
CPU_TIME_MS: Final = "process.cpu_time_ms"
RSS_MB: Final = "process.memory.rss_mb"
RSS_DELTA_MB: Final = "process.memory.delta_mb"
_PROFILE_KEY: Final = "otel.profile"
_MAX_CACHED_FRAMES: Final = 16384
_MB: Final = 1024 * 1024
log = logging.getLogger("otel.profiling")


@dataclass(frozen=True)
class ProfilerConfig:
    """The PROFILE_* settings; ``application_packages`` are never folded away as library code."""

    sample_rate: float = 0.1
    interval_ms: float = 1.0
    top_n: int = 5
    slow_ms: float = 250.0
    application_packages: tuple[str, ...] = ()


# --- the pyinstrument adapter --------------------------------------------------------------------


class StageProfile:
    """An in-progress pyinstrument profile of one stage; start and stop it on the thread that runs the stage."""

    __slots__ = ("_cpu_start", "_profiler")

    def __init__(self, interval_s: float) -> None:
        # async_mode="disabled": we profile one worker thread, and it lets profiles nest or coexist.
        self._profiler = Profiler(interval=interval_s, async_mode="disabled")
        self._cpu_start = 0

    def start(self) -> None:
        """Start profiling on the calling thread."""
        self._profiler.start(target_description="stage")
        self._cpu_start = time.thread_time_ns()

    def stop(self) -> tuple[list[tuple[list[str], float]], int]:
        """The raw frame records and the thread CPU time (ns) of the stage."""
        cpu_ns = time.thread_time_ns() - self._cpu_start
        session = self._profiler.stop()
        return session.frame_records, cpu_ns

    def abort(self) -> None:
        """Never leave a profile hook on a pool thread, even when pyinstrument itself failed."""
        try:
            if self._profiler.is_running:
                self._profiler.stop()
        except Exception:
            sys.setprofile(None)
            sampler = get_stack_sampler()
            sampler.subscribers.clear()
            sampler.current_sampling_interval = None


class _FrameCatalog:
    """pyinstrument frame-info strings -> ``Frame``, named as the watchdog names them (``module.qualname``).

    pyinstrument records ``co_name`` and the class of ``self``; the qualified name is looked up once per
    function in its module (so an inherited method is ``Base.method``, not ``Subclass.method``).
    """

    def __init__(self, classifier: FrameClassifier) -> None:
        self._classifier = classifier
        self._frames: dict[str, Frame] = {}
        self._module_of_file: dict[str, str] = {}
        self._modules_indexed = -1
        self._qualnames: dict[str, dict[tuple[str, int, str], str]] = {}

    def samples(self, records: Iterable[tuple[list[str], float]]) -> list[Sample]:
        frame = self.frame
        return [(tuple(frame(info) for info in stack), seconds) for stack, seconds in records]

    def frame(self, info: str) -> Frame:
        described = self._frames.get(info)
        if described is None:
            if len(self._frames) >= _MAX_CACHED_FRAMES:
                self._frames.clear()
            described = self._frames[info] = self._describe(info)
        return described

    def _describe(self, info: str) -> Frame:
        identifier, attributes = parse_frame_info(info)
        parts = identifier.split("\x00")
        if len(parts) != 3 or parts[1] == "<thread>":  # "[await]"-style synthetic frames, the thread root
            return Frame(parts[0], "", 0, PLUMBING)
        name, file, line = parts[0], parts[1], int(parts[2])
        if file == "<built-in>":
            return Frame(name, file, 0, BUILTIN)
        module = self._module(file)
        qualname = self._qualname(module, file, line, name)
        if qualname is None:
            owner = next((a[1:] for a in attributes if a.startswith(ATTRIBUTE_MARKER_CLASS_NAME)), None)
            qualname = f"{owner}.{name}" if owner else name
        return describe_code(module, qualname, file, line, self._classifier)

    def _module(self, file: str) -> str:
        module = self._module_of_file.get(file)
        if module is None and len(sys.modules) != self._modules_indexed:
            # Build a new index and publish it whole: a concurrent stage must never see a half-built one
            # (it would cache the function under no module at all).
            count, index = len(sys.modules), dict(self._module_of_file)
            for module_name, value in list(sys.modules.items()):
                path = getattr(value, "__dict__", {}).get("__file__") if isinstance(value, ModuleType) else None
                if isinstance(path, str) and (module_name != "__main__" or path not in index):
                    index[path] = module_name
            self._module_of_file, self._modules_indexed = index, count
            module = index.get(file)
        return module or ""

    def _qualname(self, module: str, file: str, line: int, name: str) -> str | None:
        table = self._qualnames.get(module)
        if table is None:
            table = self._qualnames[module] = _functions_of(sys.modules.get(module), module)
        return table.get((file, line, name))


def _functions_of(module: ModuleType | None, module_name: str) -> dict[tuple[str, int, str], str]:
    """``(file, first line, name) -> qualname`` of the functions and methods a module defines."""
    found: dict[tuple[str, int, str], str] = {}
    if module is None:
        return found
    todo: list[tuple[Mapping[str, Any], int]] = [(vars(module), 0)]
    seen: set[int] = set()
    while todo:
        namespace, depth = todo.pop()
        for value in list(namespace.values()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            for _ in range(3):  # functools.wraps decorators
                if not isinstance(value, FunctionType):
                    break
                _add_code(found, value.__code__)
                value = vars(value).get("__wrapped__")
            if isinstance(value, type) and depth < 3 and id(value) not in seen and vars(value).get("__module__") == module_name:
                seen.add(id(value))
                todo.append((vars(value), depth + 1))
    return found


def _add_code(found: dict[tuple[str, int, str], str], code: CodeType) -> None:
    """A function's code and the code nested in it (closures, lambdas, comprehensions)."""
    todo = [code]
    while todo:
        code = todo.pop()
        found.setdefault((code.co_filename, code.co_firstlineno, code.co_name), code.co_qualname)
        todo.extend(const for const in code.co_consts if isinstance(const, CodeType))


# --- the request profiler ------------------------------------------------------------------------


@dataclass(slots=True)
class _RequestProfile:
    rss_start: int
    running: dict[str, StageProfile] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    cpu_ns: int = 0


class RequestProfiler:
    """Stage observer and request hook: chooses requests, runs the profilers, attaches their results."""

    def __init__(self, config: ProfilerConfig, classifier: FrameClassifier | None = None) -> None:
        self.config = config
        self._classifier = classifier or FrameClassifier(config.application_packages)
        self._catalog = _FrameCatalog(self._classifier)
        self._interval_s = config.interval_ms / 1e3
        self._random = random.Random()
        self._process = psutil.Process()
        self.failures = profiler_failures(log)
        self.slow = (
            SlowCapture(config.slow_ms, config.interval_ms, config.top_n, self._classifier, self.failures)
            if config.slow_ms > 0
            else None
        )

    def on_request_start(self, request: RequestState) -> None:
        """Choose ``request`` for profiling (sampled traces, at ``sample_rate``)."""
        if self.config.sample_rate <= 0:
            return
        try:
            span = request.server_span
            sampled = span.is_recording() and span.get_span_context().trace_flags.sampled
            if sampled and self._random.random() < self.config.sample_rate:
                request.extras[_PROFILE_KEY] = _RequestProfile(self._process.memory_info().rss)
        except Exception:
            self.failures("request start")

    def on_stage_start(self, request: RequestState, name: str, span: Span | None) -> None:
        """Start the stage's profile, or arm the slow-request watchdog for it."""
        profile = request.extras.get(_PROFILE_KEY)
        try:
            if profile is not None:
                stage = profile.running[name] = StageProfile(self._interval_s)
                stage.start()
            elif self.slow is not None and span is not None:
                self.slow.watch(request, name)
        except Exception:
            self._abandon(request, "stage start")

    def on_stage_end(self, request: RequestState, name: str, span: Span | None) -> None:
        """Stop the stage's profile and put its hot functions on the stage span."""
        profile = request.extras.get(_PROFILE_KEY)
        try:
            if profile is None:
                if self.slow is not None:
                    self.slow.stage_ended(request, name, span)
                return
            stage = profile.running.pop(name, None)
            if stage is None:
                return
            try:
                records, cpu_ns = stage.stop()
            except Exception:
                stage.abort()
                raise
            samples = clean(self._catalog.samples(records))
            profile.samples.extend(samples)
            profile.cpu_ns += cpu_ns
            hot = hot_functions(samples, self.config.top_n)
            if hot and span is not None:
                add_hot_function_events(span, hot)
                span.set_attribute(PROFILE_TRIGGER, SAMPLED)
        except Exception:
            self._abandon(request, "stage end")

    def on_response_end(self, request: RequestState, status_code: int) -> None:
        """Put the request's hot functions and CPU/RSS figures on the server span."""
        profile = request.extras.pop(_PROFILE_KEY, None)
        try:
            if profile is None:
                if self.slow is not None:
                    self.slow.finish(request)
                return
            span = request.server_span
            add_hot_function_events(span, hot_functions(profile.samples, self.config.top_n))
            rss = self._process.memory_info().rss
            figures = {
                CPU_TIME_MS: round(profile.cpu_ns / 1e6, 3),
                RSS_MB: round(rss / _MB, 3),
                RSS_DELTA_MB: round((rss - profile.rss_start) / _MB, 3),
            }
            span.set_attributes({PROFILE_TRIGGER: SAMPLED, PROFILE_OBSERVED_MS: observed_ms(profile.samples), **figures})
            request.log_attributes.update(figures)
            request.notable = True
        except Exception:
            self.failures("response end")

    def close(self) -> None:
        """Stop the slow-request watchdog."""
        if self.slow is not None:
            self.slow.close()

    def _abandon(self, request: RequestState, where: str) -> None:
        """Log once, stop this request's profiles on this thread, and let the request go on without them."""
        self.failures(where)
        profile = request.extras.pop(_PROFILE_KEY, None)
        for stage in profile.running.values() if profile is not None else ():
            stage.abort()


def install_profiler(recorder: StageRecorder | None, config: ProfilerConfig) -> RequestProfiler | None:
    """Register a ``RequestProfiler`` on ``recorder``; None when telemetry or both triggers are off."""
    if recorder is None or (config.sample_rate <= 0 and config.slow_ms <= 0):
        return None
    profiler = RequestProfiler(config)
    recorder.observers.append(profiler)
    recorder.request_hooks.append(profiler)
    return profiler
