"""The head sampler from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, refusing what it cannot use.

The SDK, given a name it does not know or a ratio it cannot parse, logs one line and samples
everything (rate 1.0). A mistyped production sampler then silently becomes 100 % sampling, so this
module builds the sampler itself from the same variables and raises :class:`SamplerError` instead,
naming the variable and what it accepts.

Accepted names: the specification's built-ins (``always_on``, ``always_off``, ``traceidratio``,
``parentbased_always_on``, ``parentbased_always_off``, ``parentbased_traceidratio``), the Jaeger remote
samplers ``jaeger_remote`` and ``parentbased_jaeger_remote`` (``otel.jaeger_remote_sampler``), plus every
sampler installed under the SDK's entry-point group ``opentelemetry_traces_sampler`` (a factory taking
the ``_ARG`` string). New samplers therefore become accepted by installing them, or by adding a
builder to :data:`BUILT_IN`.

Usage::

    sampler, description = sampler_from_env()      # e.g. "parentbased_traceidratio (rate 0.1)"
    TracerProvider(sampler=sampler)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Final

from opentelemetry.sdk.environment_variables import OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)

DEFAULT_SAMPLER: Final = "parentbased_always_on"
ENTRY_POINT_GROUP: Final = "opentelemetry_traces_sampler"


class SamplerError(ValueError):
    """``OTEL_TRACES_SAMPLER`` or its argument is unusable; the message names the variable and what it accepts."""


def _ratio(arg: str | None) -> float:
    """``OTEL_TRACES_SAMPLER_ARG`` of a ratio sampler: a probability in 0..1, 1.0 when unset (the spec default)."""
    if arg is None or not arg.strip():
        return 1.0
    try:
        rate = float(arg)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:
        raise SamplerError(f"{OTEL_TRACES_SAMPLER_ARG}={arg!r}: must be a sampling probability within 0..1 (e.g. 0.1)")
    return rate


def _fixed(sampler: Sampler) -> Callable[[str | None], tuple[Sampler, str]]:
    return lambda arg: (sampler, "")


def _by_ratio(kind: Callable[[float], Sampler]) -> Callable[[str | None], tuple[Sampler, str]]:
    def build(arg: str | None) -> tuple[Sampler, str]:
        rate = _ratio(arg)
        return kind(rate), f"rate {rate:g}"

    return build


def _jaeger_remote(arg: str | None, parent_based: bool) -> tuple[Sampler, str]:
    """The specification's Jaeger remote sampler (otel.jaeger_remote_sampler), built stopped: setup starts it per process."""
    from otel.jaeger_remote_sampler import ArgumentError, JaegerRemoteSampler, ParentBasedJaegerRemoteSampler, RemoteSamplerConfig

    try:
        config = RemoteSamplerConfig.parse(arg)
    except ArgumentError as exc:
        raise SamplerError(str(exc)) from None
    remote = JaegerRemoteSampler(config)
    detail = f"{config.endpoint}, every {config.polling_interval_ms} ms, initial rate {config.initial_sampling_rate:g}"
    return (ParentBasedJaegerRemoteSampler(remote) if parent_based else remote), detail


BUILT_IN: dict[str, Callable[[str | None], tuple[Sampler, str]]] = {
    "always_on": _fixed(ALWAYS_ON),
    "always_off": _fixed(ALWAYS_OFF),
    "parentbased_always_on": _fixed(DEFAULT_ON),
    "parentbased_always_off": _fixed(DEFAULT_OFF),
    "traceidratio": _by_ratio(TraceIdRatioBased),
    "parentbased_traceidratio": _by_ratio(ParentBasedTraceIdRatio),
    "jaeger_remote": lambda arg: _jaeger_remote(arg, parent_based=False),
    "parentbased_jaeger_remote": lambda arg: _jaeger_remote(arg, parent_based=True),
}
"""Sampler name -> builder from the ``_ARG`` string (``None`` when unset) to (sampler, what to print about it)."""


def installed() -> dict[str, Callable[[str | None], tuple[Sampler, str]]]:
    """Samplers installed under the ``opentelemetry_traces_sampler`` entry-point group, by name."""
    found: dict[str, Callable[[str | None], tuple[Sampler, str]]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):

        def build(arg: str | None, point=point) -> tuple[Sampler, str]:  # type: ignore[no-untyped-def]
            try:
                return point.load()(arg or ""), f"arg {arg!r}" if arg else ""
            except Exception as exc:  # a plugin refuses its argument with whatever it raises
                refused = f"{OTEL_TRACES_SAMPLER}={point.name}: {OTEL_TRACES_SAMPLER_ARG}={arg!r} refused"
                raise SamplerError(f"{refused}: {exc}") from None

        found[point.name] = build
    return found


def accepted() -> list[str]:
    """Every name ``OTEL_TRACES_SAMPLER`` accepts here: the built-ins, then installed ones."""
    return [*BUILT_IN, *sorted(set(installed()) - set(BUILT_IN))]


def sampler_from_env(env: Mapping[str, str] | None = None) -> tuple[Sampler, str]:
    """The sampler ``env`` (default ``os.environ``) asks for, and a one-line description of it.

    Raises :class:`SamplerError` for an unknown name or an invalid argument.
    """
    env = os.environ if env is None else env
    raw = env.get(OTEL_TRACES_SAMPLER, "").strip()
    name = raw.lower() or DEFAULT_SAMPLER
    build = BUILT_IN.get(name) or installed().get(name)  # entry points are only scanned for a name not built in
    if build is None:
        raise SamplerError(f"{OTEL_TRACES_SAMPLER}={raw!r} is not a known sampler; accepted: {', '.join(accepted())}")
    sampler, detail = build(env.get(OTEL_TRACES_SAMPLER_ARG))
    return sampler, f"{name} ({detail})" if detail else name
