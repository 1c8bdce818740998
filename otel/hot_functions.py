"""Hot functions: the finished, serialisable result of profiling a span, and the pure steps that make it.

A profile reaches this module as *samples*, ``(stack, seconds)`` with the stack root-first, whichever
sampler took them (pyinstrument in ``otel.profiling``, the slow-request watchdog in
``otel.slow_capture``). The same small transforms then run in order::

    drop_plumbing -> fold_builtins -> fold_library -> rank -> top(n)

* ``drop_plumbing`` removes frames of the machinery every request runs through (event loop, thread
  pool, starlette/anyio/fastapi/uvicorn); time spent inside it (a wait on a future, a lock) goes to
  the nearest caller that is not plumbing, and a stack of nothing but plumbing is dropped. Time spent
  in our own instrumentation (this ``otel`` package, OpenTelemetry, pyinstrument: opening and closing
  the stage span, stopping the profiler) is not the application's, so those samples are dropped.
* ``fold_builtins`` gives a C function's time to its Python caller: a builtin has no file or line to show.
* ``fold_library`` collapses each run of consecutive library frames into its outermost one, the call
  our code made: time deep in onnxruntime or numpy shows as ``...InferenceSession.run`` or ``numpy.sum``.
* ``rank`` orders functions by **self time** (time in the function itself, after folding), then total
  time. Ranking by total time would fill the top N with the ancestors of the one hot path (every
  caller's total is at least its callee's) and name entry points, not the function doing the work;
  ``profile.total_ms`` still carries the inclusive view. Functions with no self time are left out.
* ``resolvable`` (optional, before ``rank``) drops the samples of functions with less self time than the
  sampler can resolve.

``profile.samples`` is the number of samples that saw the function anywhere on the stack (the
evidence behind ``profile.total_ms``).
"""

from __future__ import annotations

import os
import site
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

HOT_FUNCTION_EVENT: Final = "profile.hot_function"
CODE_FUNCTION: Final = "code.function.name"
CODE_FILE: Final = "code.file.path"
CODE_LINE: Final = "code.line.number"
PROFILE_RANK: Final = "profile.rank"
PROFILE_SELF_MS: Final = "profile.self_ms"
PROFILE_TOTAL_MS: Final = "profile.total_ms"
PROFILE_SAMPLES: Final = "profile.samples"
PROFILE_TRIGGER: Final = "profile.trigger"
PROFILE_OBSERVED_MS: Final = "profile.observed_ms"

APP: Final = "app"
LIBRARY: Final = "library"
BUILTIN: Final = "builtin"
PLUMBING: Final = "plumbing"
INSTRUMENTATION: Final = "instrumentation"

PLUMBING_PACKAGES: Final = (
    "asyncio",
    "selectors",
    "threading",
    "concurrent.futures",
    "queue",
    "contextvars",
    "contextlib",
    "anyio",
    "sniffio",
    "starlette",
    "fastapi",
    "uvicorn",
    "uvloop",
    "h11",
    "httptools",
)
INSTRUMENTATION_PACKAGES: Final = ("otel", "opentelemetry", "pyinstrument")
_NOT_CODE: Final = frozenset({BUILTIN, PLUMBING, INSTRUMENTATION})


@dataclass(frozen=True, slots=True)
class Frame:
    """One function as a profiler saw it: qualified name, absolute file, first line, and what kind of code it is."""

    name: str
    file: str
    line: int
    kind: str = APP


Stack = tuple[Frame, ...]
Sample = tuple[Stack, float]  # (root-first stack, seconds it stands for)


@dataclass(frozen=True, slots=True)
class HotFunction:
    """One ranked entry of a span's hot-function list; plain data, ready for a span event or JSON."""

    name: str
    file: str
    line: int
    rank: int
    self_ms: float
    total_ms: float
    samples: int

    def attributes(self) -> dict[str, AttributeValue]:
        """The ``profile.hot_function`` event attributes of this entry."""
        return {
            CODE_FUNCTION: self.name,
            CODE_FILE: self.file,
            CODE_LINE: self.line,
            PROFILE_RANK: self.rank,
            PROFILE_SELF_MS: self.self_ms,
            PROFILE_TOTAL_MS: self.total_ms,
            PROFILE_SAMPLES: self.samples,
        }


def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        roots.add(site.getusersitepackages())
    return tuple(sorted(root.rstrip("/") + "/" for root in roots if root))


@dataclass(frozen=True)
class FrameClassifier:
    """Says what kind of code a function is, from its module name and file.

    ``application_packages`` always count as application code, even when installed into
    site-packages (a container image), so they are never folded away as a library.
    """

    application_packages: tuple[str, ...] = ()
    plumbing_packages: tuple[str, ...] = PLUMBING_PACKAGES
    instrumentation_packages: tuple[str, ...] = INSTRUMENTATION_PACKAGES
    library_prefixes: tuple[str, ...] = field(default_factory=_library_prefixes)

    def kind(self, module: str, file: str) -> str:
        """``APP``, ``LIBRARY``, ``BUILTIN``, ``PLUMBING`` or ``INSTRUMENTATION`` for the code in ``module`` / ``file``."""
        if file == "<built-in>" or not file:
            return BUILTIN
        if _in_packages(module, self.instrumentation_packages):
            return INSTRUMENTATION
        if _in_packages(module, self.plumbing_packages):
            return PLUMBING
        if _in_packages(module, self.application_packages):
            return APP
        if file.startswith(("<frozen", *self.library_prefixes)):
            return LIBRARY
        return APP


def _in_packages(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or (module.startswith(package) and module[len(package)] == ".") for package in packages)


# --- the transforms, in the order they apply ---------------------------------------------------


def drop_plumbing(samples: Iterable[Sample]) -> list[Sample]:
    """``samples`` without plumbing and instrumentation frames; samples taken in our instrumentation are dropped."""
    out = []
    for stack, seconds in samples:
        if _in_instrumentation(stack):
            continue
        kept = tuple(f for f in stack if f.kind != PLUMBING and f.kind != INSTRUMENTATION)
        if kept:
            out.append((kept, seconds))
    return out


def _in_instrumentation(stack: Stack) -> bool:
    """Was the sample taken in our instrumentation (or in what it called), rather than in code it wraps?"""
    for frame in reversed(stack):
        if frame.kind == INSTRUMENTATION:
            return True
        if frame.kind not in _NOT_CODE:
            return False
    return False


def fold_builtins(samples: Iterable[Sample]) -> list[Sample]:
    """``samples`` with builtin frames removed: their time goes to the Python caller."""
    out = []
    for stack, seconds in samples:
        kept = tuple(f for f in stack if f.kind != BUILTIN)
        if kept:
            out.append((kept, seconds))
    return out


def fold_library(samples: Iterable[Sample]) -> list[Sample]:
    """``samples`` with each run of library frames folded into its outermost frame."""
    out = []
    for stack, seconds in samples:
        folded: list[Frame] = []
        in_library = False
        for frame in stack:
            is_library = frame.kind == LIBRARY
            if not (is_library and in_library):
                folded.append(frame)
            in_library = is_library
        out.append((tuple(folded), seconds))
    return out


def clean(samples: Iterable[Sample]) -> list[Sample]:
    """The three stack transforms in order; idempotent, so cleaned samples can be combined and ranked again."""
    return fold_library(fold_builtins(drop_plumbing(samples)))


def rank(samples: Iterable[Sample]) -> list[HotFunction]:
    """Every function with self time, hottest first (self time, then total time, then name)."""
    self_s: dict[Frame, float] = {}
    total_s: dict[Frame, float] = {}
    seen: dict[Frame, int] = {}
    for stack, seconds in samples:
        if not stack:
            continue
        leaf = stack[-1]
        self_s[leaf] = self_s.get(leaf, 0.0) + seconds
        for frame in set(stack):
            total_s[frame] = total_s.get(frame, 0.0) + seconds
            seen[frame] = seen.get(frame, 0) + 1
    ordered = sorted(self_s, key=lambda f: (-self_s[f], -total_s[f], f.name, f.file, f.line))
    return [
        HotFunction(f.name, f.file, f.line, i, round(self_s[f] * 1e3, 3), round(total_s[f] * 1e3, 3), seen[f])
        for i, f in enumerate(ordered, start=1)
    ]


def top(hot: Sequence[HotFunction], n: int) -> tuple[HotFunction, ...]:
    """The first ``n`` of ``hot`` (none for n <= 0)."""
    return tuple(hot[: max(n, 0)])


def resolvable(samples: Sequence[Sample], min_self_s: float) -> list[Sample]:
    """The ``clean``-ed samples whose leaf function totals at least ``min_self_s`` of self time among them.

    A sampler cannot resolve less than its interval; below it, a function is where a sample happened
    to land, not where time went.
    """
    self_s: dict[Frame, float] = {}
    for stack, seconds in samples:
        if stack:
            self_s[stack[-1]] = self_s.get(stack[-1], 0.0) + seconds
    return [(stack, seconds) for stack, seconds in samples if stack and self_s[stack[-1]] >= min_self_s]


def hot_functions(cleaned: Iterable[Sample], n: int) -> tuple[HotFunction, ...]:
    """The top ``n`` of already ``clean``-ed samples."""
    return top(rank(cleaned), n)


def observed_ms(samples: Iterable[Sample]) -> float:
    """The milliseconds ``samples`` stand for together."""
    return round(sum(seconds for _, seconds in samples) * 1e3, 3)


def add_hot_function_events(span: Span | None, hot: Sequence[HotFunction]) -> None:
    """One ``profile.hot_function`` event per function, in rank order (a no-op on a span that is not recorded)."""
    if span is None or not span.is_recording():
        return
    for function in hot:
        span.add_event(HOT_FUNCTION_EVENT, function.attributes())


def describe_code(module: str, qualname: str, file: str, line: int, classifier: FrameClassifier) -> Frame:
    """A ``Frame`` named ``module.qualname`` (``module.Class.method``) with an absolute file path, classified."""
    if file and not file.startswith("<") and not os.path.isabs(file):
        file = os.path.abspath(file)
    name = f"{module}.{qualname}" if module else qualname
    return Frame(name, file, line, classifier.kind(module, file))
