"""Slow-request capture: hot functions for a request that runs past ``PROFILE_SLOW_MS``, profiled or not.

Head-based choice (``PROFILE_SAMPLE_RATE``) misses most slow requests, and profiling every request
costs too much, so slow requests are caught by one low-rate watchdog thread instead:

* when a recorded request starts a stage, its worker thread registers (one dict insert per
  request, a couple of attribute writes per stage); the request's response removes it (one delete);
* the watchdog wakes every ``min(PROFILE_SLOW_MS / 4, 50 ms)``, or sooner when an in-flight request is due
  to cross the threshold; as long as no registered request is past it it does nothing else, so the
  fast majority pays nothing more;
* once one is, it samples that thread's stack with ``sys._current_frames()`` every
  ``PROFILE_INTERVAL_MS`` (in practice also bounded by the GIL switch interval, 5 ms, while the
  request runs pure Python), tagging each sample with the stage running at that moment; each sample
  stands for the wall time since the previous one, but never for time before its stage began;
* at the end of a stage its samples become ``profile.hot_function`` events on the stage span, and at
  the response the whole request's on the server span, with ``profile.trigger="slow"``.

Why the clip to the stage start, and why functions under one ``PROFILE_INTERVAL_MS`` of self time are
left out: the watchdog needs the GIL to sample. While the request runs pure Python it only gets it
at the next forced switch, but when the request *releases* the GIL (onnxruntime, I/O, a sleep) it
gets it at once, and the stack it sees is the call that just released it, not where the time since
the previous sample went. Unclipped, a short GIL-releasing stage after a slow one would be charged
the slow one's time; clipped, a span's hot functions never claim more than the span lasted, and a
function seen only in such gaps stays below what the sampler can resolve and is not reported.

What it sees is the time *after* the threshold (plus up to one wake period): enough to name the
function that is slow, and ``profile.observed_ms`` on the server span says how much was observed.
Events need a recorded span: with head sampling below 1 an unsampled slow request has no span to
carry them. Keep the SDK sampler at ``parentbased_always_on`` (the default) and let the Collector's
tail sampling keep slow and failed traces.

The thread starts with the first registered request and retires after ``idle_exit_s`` with nothing
in flight. Its failures are logged once (``FailureLog``) and never reach a request.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import CodeType, FrameType
from typing import Final

from opentelemetry.trace import Span

from otel.failures import FailureLog
from otel.hot_functions import (
    PROFILE_OBSERVED_MS,
    PROFILE_TRIGGER,
    Frame,
    FrameClassifier,
    Sample,
    Stack,
    add_hot_function_events,
    clean,
    describe_code,
    hot_functions,
    observed_ms,
    resolvable,
)
from otel.request import RequestState

log = logging.getLogger("otel.profiling")


def profiler_failures(logger: logging.Logger = log) -> FailureLog:
    """The ``FailureLog`` of the profilers: the first failure at WARNING on ``logger``, later ones at DEBUG."""
    return FailureLog(logger, "profiler", "requests proceed without hot functions")


SLOW: Final = "slow"
_WATCH_KEY: Final = "otel.slow_capture"
_STALE_NS: Final = 300 * 10**9  # a request whose response never finished (client gone) is forgotten after this
_MAX_CACHED_CODES: Final = 8192


def clip_to_stage(samples: list[tuple[int, Sample]], stage_start_ns: int | None) -> list[Sample]:
    """Samples taken at ``perf_counter_ns`` times, each cut to the time since the stage started (``None``: uncut)."""
    if stage_start_ns is None:
        return [sample for _, sample in samples]
    out = []
    for taken_ns, (stack, seconds) in samples:
        seconds = min(seconds, (taken_ns - stage_start_ns) / 1e9)
        if seconds > 0:
            out.append((stack, seconds))
    return out


def _started_ns(span: Span | None) -> int | None:
    """The open span's start on the ``perf_counter_ns`` clock (spans carry wall-clock nanoseconds)."""
    start = getattr(span, "start_time", None)
    if not isinstance(start, int):
        return None
    return time.perf_counter_ns() - (time.time_ns() - start)


class _Watch:
    """One in-flight request as the watchdog sees it; written by its worker thread, sampled by the watchdog."""

    __slots__ = ("assigned", "kept", "last_ns", "samples", "stage", "start_ns", "thread_id")

    def __init__(self, start_ns: int, thread_id: int) -> None:
        self.start_ns = start_ns
        self.thread_id = thread_id
        self.stage: str | None = None
        self.last_ns = 0
        self.samples: list[tuple[str, int, Sample]] = []  # (stage, perf_counter_ns taken, sample); append is atomic
        self.assigned = 0  # samples[:assigned] were handed to an ended stage (request thread only)
        self.kept: list[Sample] = []  # ended stages' samples, clipped and cleaned (request thread only)


class SlowCapture:
    """The watchdog and its per-request bookkeeping (``watch`` / ``stage_ended`` / ``finish``)."""

    def __init__(
        self,
        threshold_ms: float,
        interval_ms: float,
        top_n: int,
        classifier: FrameClassifier,
        failures: FailureLog | None = None,
        idle_exit_s: float = 10.0,
    ) -> None:
        self.threshold_ns = int(threshold_ms * 1e6)
        self.interval_s = interval_ms / 1e3
        self.idle_period_s = min(threshold_ms / 4.0, 50.0) / 1e3
        self.top_n = top_n
        self.min_self_s = interval_ms / 1e3
        self.idle_exit_s = idle_exit_s
        self._classifier = classifier
        self._failures = failures or profiler_failures()
        self._inflight: dict[int, _Watch] = {}
        self._codes: dict[CodeType, Frame] = {}  # only the watchdog thread touches it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running = False
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the watchdog thread is running now."""
        return self._running

    # --- request side: called on the request's threads, must stay tiny --------------------------

    def watch(self, request: RequestState, stage: str) -> None:
        """A stage starts on this thread (``on_stage_start``)."""
        watch = request.extras.get(_WATCH_KEY)
        if watch is None:
            watch = request.extras[_WATCH_KEY] = _Watch(request.start_ns, threading.get_ident())
            self._inflight[id(watch)] = watch
            if not self._running:
                self._start()
        else:
            watch.thread_id = threading.get_ident()
        watch.stage = stage

    def stage_ended(self, request: RequestState, name: str, span: Span | None) -> None:
        """A stage ends (``on_stage_end``, before its span ends): attach what was sampled during it."""
        watch = request.extras.get(_WATCH_KEY)
        if watch is None:
            return
        watch.stage = None
        if len(watch.samples) == watch.assigned:
            return
        taken = watch.samples[watch.assigned :]
        watch.assigned += len(taken)
        mine = clip_to_stage([(at, sample) for stage, at, sample in taken if stage == name], _started_ns(span))
        kept = resolvable(clean(mine), self.min_self_s)
        watch.kept.extend(kept)  # the server span ranks only what some stage could resolve
        hot = hot_functions(kept, self.top_n)
        if hot and span is not None:
            add_hot_function_events(span, hot)
            span.set_attribute(PROFILE_TRIGGER, SLOW)

    def finish(self, request: RequestState) -> None:
        """The response ends (``on_response_end``, server span still open): the request's overall top N."""
        watch = request.extras.pop(_WATCH_KEY, None)
        if watch is None:
            return
        self._inflight.pop(id(watch), None)
        samples = watch.kept
        if not samples:
            return
        hot = hot_functions(samples, self.top_n)
        span = request.server_span
        if hot and span.is_recording():
            add_hot_function_events(span, hot)
            span.set_attributes({PROFILE_TRIGGER: SLOW, PROFILE_OBSERVED_MS: observed_ms(samples)})

    def close(self) -> None:
        """Stop the watchdog for good (tests, benchmarks, shutdown)."""
        with self._lock:
            self._closed = True
        self._stop.set()

    # --- the watchdog thread ---------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._running or self._closed:
                return
            self._running = True
            threading.Thread(target=self._run, name="otel-slow-capture", daemon=True).start()

    def _retire(self) -> bool:
        """Stop when idle. ``watch`` inserts before it reads ``_running``, so no request is left unwatched."""
        with self._lock:
            self._running = False
            if self._inflight:
                self._running = True
                return False
            return True

    def _run(self) -> None:
        idle_since = time.monotonic()
        period = self.idle_period_s
        while not self._stop.wait(period):
            period = self.idle_period_s
            try:
                watches = self._inflight.copy()  # dict.copy is atomic under the GIL
                if watches:
                    idle_since = time.monotonic()
                    period = self._sample(watches)
                elif time.monotonic() - idle_since > self.idle_exit_s and self._retire():
                    return
            except Exception:
                self._failures("slow-request watchdog")

    def _sample(self, watches: dict[int, _Watch]) -> float:
        """Sample every request past the threshold; returns how long to sleep next."""
        now = time.perf_counter_ns()
        late = []
        next_due_ns = int(self.idle_period_s * 1e9)
        for key, watch in watches.items():
            age_ns = now - watch.start_ns
            if watch.stage is not None and age_ns >= self.threshold_ns:
                late.append(watch)
            elif age_ns > _STALE_NS:
                self._inflight.pop(key, None)
            else:
                next_due_ns = min(next_due_ns, self.threshold_ns - age_ns)
        if not late:
            return max(next_due_ns / 1e9, self.interval_s)  # wake when the next request crosses the threshold
        frames = sys._current_frames()
        try:
            for watch in late:
                frame, stage = frames.get(watch.thread_id), watch.stage
                if frame is None or stage is None:
                    continue
                seconds = (now - watch.last_ns) / 1e9 if watch.last_ns else self.interval_s
                watch.last_ns = now
                watch.samples.append((stage, now, (self._stack(frame), seconds)))
        finally:
            del frames  # holds every thread's frames: let them go at once
        return self.interval_s

    def _stack(self, frame: FrameType | None) -> Stack:
        codes = self._codes
        out: list[Frame] = []
        while frame is not None:
            code = frame.f_code
            described = codes.get(code)
            if described is None:
                if len(codes) >= _MAX_CACHED_CODES:
                    codes.clear()
                module = frame.f_globals.get("__name__", "")
                described = codes[code] = describe_code(
                    module if isinstance(module, str) else "",
                    code.co_qualname,
                    code.co_filename,
                    code.co_firstlineno,
                    self._classifier,
                )
            out.append(described)
            frame = frame.f_back
        out.reverse()
        return tuple(out)
