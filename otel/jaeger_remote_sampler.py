"""The specification's ``jaeger_remote`` sampler: a head sampling strategy fetched from Jaeger, changed without a restart.

Selected with the standard variables (``otel.sampling`` builds it)::

    OTEL_TRACES_SAMPLER=parentbased_jaeger_remote        # or jaeger_remote (ignores the parent)
    OTEL_TRACES_SAMPLER_ARG=endpoint=http://jaeger:5778,pollingIntervalMs=5000,initialSamplingRate=0.1

``OTEL_TRACES_SAMPLER_ARG`` keys (the specification's names; each optional):

* ``endpoint``: base URL of Jaeger's sampling HTTP endpoint (the v2 ``remote_sampling`` extension,
  default ``http://localhost:5778``); polled as ``GET <endpoint>/sampling?service=<service.name>``;
* ``pollingIntervalMs``: time between polls (default 60000);
* ``initialSamplingRate``: trace-id ratio used until the first good answer (default 0.001).

A daemon thread polls; each good answer replaces the strategy object in one assignment, so a request
only ever reads an attribute and never waits on a poll. When the endpoint is down, slow (timeout:
the polling interval, at most 10 s) or answers garbage, the last good strategy stays: one WARNING when
such an outage starts, one INFO when it ends, and every failed poll counts on
``otel.sampler.jaeger_remote.poll_failures`` (attribute ``error.type``: ``timeout``, ``connection``,
``http_status`` or ``invalid_strategy``). The strategies themselves are in ``otel.jaeger_strategies``.

Roots are decided by ``root_decider.sample_root(trace_id, name)`` (no result objects), which
``otel.spans`` calls directly, so a dropped root costs what it costs with a ratio sampler.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, MeterProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel.jaeger_strategies import Probabilistic, Strategy, StrategyError, StrategySpec, build_strategy, parse_strategy

log = logging.getLogger(__name__)

ARG_VARIABLE: Final = "OTEL_TRACES_SAMPLER_ARG"
DEFAULT_ENDPOINT: Final = "http://localhost:5778"
DEFAULT_POLLING_INTERVAL_MS: Final = 60_000
DEFAULT_INITIAL_SAMPLING_RATE: Final = 0.001
MIN_POLLING_INTERVAL_MS: Final = 100
MAX_POLL_TIMEOUT_S: Final = 10.0
MAX_RESPONSE_BYTES: Final = 1_048_576
POLL_FAILURES_METRIC: Final = "otel.sampler.jaeger_remote.poll_failures"
_DROP: Final = SamplingResult(Decision.DROP)


class ArgumentError(ValueError):
    """``OTEL_TRACES_SAMPLER_ARG`` of a jaeger_remote sampler is unusable; the message says which key and why."""


@dataclass(frozen=True)
class RemoteSamplerConfig:
    """The parsed ``OTEL_TRACES_SAMPLER_ARG``."""

    endpoint: str = DEFAULT_ENDPOINT
    polling_interval_ms: int = DEFAULT_POLLING_INTERVAL_MS
    initial_sampling_rate: float = DEFAULT_INITIAL_SAMPLING_RATE

    @classmethod
    def parse(cls, arg: str | None) -> RemoteSamplerConfig:
        """Parse ``endpoint=<url>,pollingIntervalMs=<ms>,initialSamplingRate=<p>`` (any subset, any order).

        Raises :class:`ArgumentError` for anything else.
        """
        values: dict[str, str] = {}
        for item in (arg or "").split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in ("endpoint", "pollingIntervalMs", "initialSamplingRate"):
                raise ArgumentError(
                    f"{ARG_VARIABLE}: {item.strip()!r} is not key=value"
                    " with key endpoint, pollingIntervalMs or initialSamplingRate"
                )
            values[key] = value
        endpoint = values.get("endpoint", DEFAULT_ENDPOINT)
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname or url.query:
            raise ArgumentError(f"{ARG_VARIABLE}: endpoint={endpoint!r} must be an http(s) URL such as {DEFAULT_ENDPOINT}")
        try:
            interval = int(values.get("pollingIntervalMs", DEFAULT_POLLING_INTERVAL_MS))
        except ValueError:
            interval = -1
        if interval < MIN_POLLING_INTERVAL_MS:
            raise ArgumentError(
                f"{ARG_VARIABLE}: pollingIntervalMs={values['pollingIntervalMs']!r}"
                f" must be an integer >= {MIN_POLLING_INTERVAL_MS}"
            )
        try:
            rate = float(values.get("initialSamplingRate", DEFAULT_INITIAL_SAMPLING_RATE))
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise ArgumentError(
                f"{ARG_VARIABLE}: initialSamplingRate={values['initialSamplingRate']!r} must be a probability within 0..1"
            )
        return cls(endpoint.rstrip("/"), interval, rate)


class JaegerRemoteSampler(Sampler):
    """Samples roots (and, unwrapped, every span) by the strategy Jaeger serves for this service.

    Built stopped: :meth:`start` (once per process, after fork) begins polling for ``service_name``;
    :meth:`shutdown` stops the thread.
    """

    def __init__(self, config: RemoteSamplerConfig) -> None:
        self.config = config
        self.spec: StrategySpec = StrategySpec("probabilistic", rate=config.initial_sampling_rate)
        self._strategy: Strategy = Probabilistic(config.initial_sampling_rate)  # replaced whole, never changed in place
        # What otel.spans calls per root (via root_decider): the strategy's bound method, swapped with it.
        self.sample_root = self._strategy.sample
        self.root_decider = self
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: Counter | None = None
        self._failing = False
        self._failed_polls = 0
        self.url = ""
        self.polls = 0  # answered polls, good or bad (tests wait on it)
        self.polled = threading.Condition()

    # --- Sampler ---

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.sample_root(trace_id, name):
            return _DROP
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state if parent.is_valid else None)

    def get_description(self) -> str:
        return f"JaegerRemoteSampler{{{self.config.endpoint}, {self.spec.describe()}}}"

    # --- polling ---

    def start(self, service_name: str, meter_provider: MeterProvider | None = None) -> None:
        """Poll ``<endpoint>/sampling?service=<service_name>`` now and every ``pollingIntervalMs``, in a daemon thread."""
        if self._thread is not None:
            return
        self.url = f"{self.config.endpoint}/sampling?{urllib.parse.urlencode({'service': service_name})}"
        if meter_provider is not None:
            self._failures = meter_provider.get_meter("otel-ml").create_counter(
                POLL_FAILURES_METRIC, unit="{failure}", description="Polls of the Jaeger sampling endpoint that failed."
            )
        self._thread = threading.Thread(target=self._run, name="otel-jaeger-remote-sampler", daemon=True)
        self._thread.start()

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Stop polling; waits up to ``timeout_s`` for a poll in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        interval_s = self.config.polling_interval_ms / 1000
        while not self._stop.is_set():
            self.poll_once(min(interval_s, MAX_POLL_TIMEOUT_S))
            self._stop.wait(interval_s)

    def poll_once(self, timeout_s: float) -> None:
        """One poll: a good answer becomes the strategy; a failure keeps the last one and is counted."""
        try:
            spec = parse_strategy(json.loads(self._fetch(timeout_s)))
        except StrategyError as exc:
            self._failed("invalid_strategy", str(exc))
        except ValueError as exc:  # JSON or UTF-8 decoding
            self._failed("invalid_strategy", f"not JSON: {exc}")
        except TimeoutError:
            self._failed("timeout", f"no answer within {timeout_s:g} s")
        except urllib.error.HTTPError as exc:
            self._failed("http_status", f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            self._failed("timeout" if isinstance(reason, TimeoutError) else "connection", str(reason))
        else:
            self._succeeded(spec)
        with self.polled:
            self.polls += 1
            self.polled.notify_all()

    def _fetch(self, timeout_s: float) -> bytes:
        with urllib.request.urlopen(self.url, timeout=timeout_s) as response:  # the URL was validated as http(s)
            body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        if len(body) > MAX_RESPONSE_BYTES:
            raise StrategyError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
        return body

    def _succeeded(self, spec: StrategySpec) -> None:
        if self._failing:
            log.info("jaeger_remote sampler: %s answers again after %d failed polls", self.url, self._failed_polls)
        self._failing, self._failed_polls = False, 0
        if spec != self.spec:  # an unchanged answer keeps the token buckets' state
            strategy = build_strategy(spec)
            self.spec, self._strategy, self.sample_root = spec, strategy, strategy.sample
            log.info("jaeger_remote sampler: strategy for %s is now %s", self.url, spec.describe())

    def _failed(self, error_type: str, detail: str) -> None:
        self._failed_polls += 1
        if self._failures is not None:
            self._failures.add(1, {"error.type": error_type})
        if not self._failing:
            self._failing = True
            log.warning(
                "jaeger_remote sampler: polling %s failed (%s: %s); keeping %s until it answers",
                self.url,
                error_type,
                detail,
                self.spec.describe(),
            )


class ParentBasedJaegerRemoteSampler(ParentBased):
    """``parentbased_jaeger_remote``: a span with a parent follows it; a root asks :attr:`remote`."""

    def __init__(self, remote: JaegerRemoteSampler) -> None:
        super().__init__(root=remote)
        self.remote = remote
        self.root_decider = remote  # otel.spans decides roots with remote.sample_root

    def get_description(self) -> str:
        return f"ParentBased{{root:{self.remote.get_description()}}}"


def remote_sampler_of(sampler: Sampler) -> JaegerRemoteSampler | None:
    """The polling sampler inside ``sampler`` (itself or the root of the parent-based one), else None."""
    if isinstance(sampler, ParentBasedJaegerRemoteSampler):
        return sampler.remote
    return sampler if isinstance(sampler, JaegerRemoteSampler) else None
