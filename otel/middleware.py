"""The HTTP server span and everything else a request needs, in one pure-ASGI middleware.

Usage::

    app = FastAPI(telemetry=telemetry.fastapi_config())   # FastAPI's own telemetry stays off
    recorder = instrument_app(app, telemetry, excluded_paths={"/health/live"})

Per request it continues the caller's W3C ``traceparent``/``baggage``, opens the one SERVER span
(``POST /predict``, HTTP semantic-convention attributes), answers with ``traceresponse:
00-<trace-id>-<span-id>-<flags>``, records ``http.server.request.duration`` and
``http.server.active_requests``, runs request hooks (the profiler) while the span is still open,
and writes the per-request performance record as one log line keyed by the trace id.

A client that goes away before its response is complete (the app reads ``http.disconnect``) is not a
server error: the request is recorded with ``error.type`` ``client_disconnect``, no
``http.response.status_code`` (none reached the client) and a span status left unset. Values the
client chose (path, original method) are cut to ``client_value_max_chars`` on the span. A request
with more than one ``traceparent`` starts a new trace, as W3C Trace Context requires.

Why not FastAPI's native telemetry or ``opentelemetry-instrumentation-fastapi``: both do this
generically, at several times this path's CPU per *unsampled* request (BENCHMARKS.md, "Where the CPU goes:
telemetry pieces in isolation"). This path does the minimum for unsampled requests (a sampling
decision, a context attach, two pre-aggregated metric records) and the full attribute work only for
sampled ones. If another instrumentation already opened a server span around this app, that span is
reused, so a request never has two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from time import perf_counter_ns
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel.attributes import ERROR_TYPE, HTTP_METHOD, HTTP_ROUTE, HTTP_STATUS, LATENCY_BUCKETS_S
from otel.request import RequestHook, RequestState, StageRecorder, enter_request, exit_request
from otel.route_names import RouteNames
from otel.setup import Telemetry

REQUEST_LOGGER = "otel_ml.request"
# Which requests leave a per-request record. `notable` (default): 5xx, slow, profiled; the trace already
# holds the rest, and a record costs a sampled request noticeable CPU (BENCHMARKS.md, "Where the time goes: a sampled request").
REQUEST_LOG_MODES = ("notable", "sampled", "all", "off")
_PROPAGATION_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
CLIENT_DISCONNECT = "client_disconnect"  # error.type of a request whose client left before its response ended
DEFAULT_CLIENT_VALUE_MAX_CHARS = 1024
# Attribute names of the two request metrics, in the order their values are passed to ``point_of``.
_ACTIVE_ATTRIBUTES = (HTTP_METHOD, "url.scheme")
_DURATION_ATTRIBUTES = (HTTP_METHOD, HTTP_ROUTE, HTTP_STATUS, ERROR_TYPE)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


def traceresponse(span: trace.Span) -> bytes | None:
    """The W3C ``traceresponse`` header value of ``span``, or None for an invalid span context."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return b"00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, ctx.trace_flags)  # half the cost of an f-string + encode


class TelemetryMiddleware:
    """The pure-ASGI middleware ``instrument_app`` adds; see the module docstring for what it does per request."""

    def __init__(
        self,
        app: ASGIApp,
        recorder: StageRecorder,
        excluded_paths: Iterable[str] = (),
        log_attributes: Mapping[str, AttributeValue] | None = None,
        request_log: str = "notable",
        slow_ms: float = 0.0,
        client_value_max_chars: int = DEFAULT_CLIENT_VALUE_MAX_CHARS,
    ) -> None:
        self.app = app
        self.client_value_max_chars = client_value_max_chars
        self.recorder = recorder
        self.tracer = recorder.tracer
        self.excluded_paths = frozenset(excluded_paths)
        self.log_attributes = dict(log_attributes or {})
        self.request_log = request_log
        self.slow_ns = int(slow_ms * 1e6) if slow_ms > 0 else None
        self.logger = logging.getLogger(REQUEST_LOGGER)
        fast = recorder.fast
        self._duration = fast.histogram(
            "http.server.request.duration", "s", "Duration of HTTP server requests.", LATENCY_BUCKETS_S
        )
        self._active = fast.up_down_counter("http.server.active_requests", "{request}", "Number of active HTTP server requests.")
        self._names = RouteNames()  # the sampler sees `POST /predict/batch`, so per-route rates work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "_OTHER"
        active = self._active.point_of(_ACTIVE_ATTRIBUTES, (method, scope.get("scheme", "http")))
        active.add(1)
        outer = trace.get_current_span()
        owns_span = not (outer.is_recording() and getattr(outer, "kind", None) is SpanKind.SERVER)
        token = None
        if owns_span:
            parent = _extract(scope["headers"])
            span = self.tracer.start_span(self._names.span_name(scope, method), context=parent, kind=SpanKind.SERVER)
            token = context.attach(trace.set_span_in_context(span, parent))
        else:
            span = outer
        sampled = span.is_recording()
        if sampled and owns_span:
            span.set_attributes(_request_attributes(scope, method, self.client_value_max_chars))
        request = RequestState(self.recorder, span, sampled=sampled)
        header = traceresponse(span)
        status_code: int | None = 500
        error_type: str | None = None
        client_gone = responded = False
        hooks = self.recorder.request_hooks if sampled else None
        if hooks:
            _call_hooks(hooks, "on_request_start", request)

        async def receive_watching() -> Message:
            nonlocal client_gone
            message = await receive()
            if message["type"] == "http.disconnect" and not responded:
                client_gone = True  # whatever the app sends from now on, nobody receives it
            return message

        async def send_with_telemetry(message: Message) -> None:
            nonlocal status_code, responded
            if message["type"] == "http.response.start":
                status_code = message["status"]
                if header is not None:
                    message["headers"] = [*message.get("headers", ()), (b"traceresponse", header)]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                responded = True
                if hooks:
                    _call_hooks(hooks, "on_response_end", request, status_code)
            await send(message)

        request_token = enter_request(request)
        try:
            await self.app(scope, receive_watching, send_with_telemetry)
        except BaseException as exc:
            error_type = type(exc).__qualname__
            if sampled and not client_gone:
                span.record_exception(exc)
            raise
        finally:
            exit_request(request_token)
            elapsed_ns = perf_counter_ns() - request.start_ns
            route = getattr(scope.get("route"), "path", None)
            if route is not None:
                self._names.learn(scope, method, route)  # known ahead from the next request on
            if client_gone:
                status_code, error_type = None, CLIENT_DISCONNECT
            elif error_type is None and status_code is not None and status_code >= 500:
                error_type = str(status_code)
            self._record_duration(method, route, status_code, error_type, elapsed_ns, span if sampled else None)
            active.add(-1)
            if owns_span:
                if sampled:
                    _finish_span(span, method, route, status_code, error_type)
                span.end()
            if self._should_log(sampled, status_code, elapsed_ns, request):
                self._log(scope, method, route, request, status_code, elapsed_ns)
            if token is not None:
                context.detach(token)

    def _record_duration(
        self, method: str, route: str | None, status: int | None, error_type: str | None, elapsed_ns: int, span: trace.Span | None
    ) -> None:
        point = self._duration.point_of(_DURATION_ATTRIBUTES, (method, route, status, error_type))  # no route: unmatched
        point.record(elapsed_ns / 1e9, span.get_span_context() if span is not None else None)

    def _should_log(self, sampled: bool, status_code: int | None, elapsed_ns: int, request: RequestState) -> bool:
        mode = self.request_log
        if mode == "all":
            return True
        if mode == "off":
            return False
        notable = request.notable or (status_code or 0) >= 500 or (self.slow_ns is not None and elapsed_ns > self.slow_ns)
        return notable or (mode == "sampled" and sampled)

    def _log(
        self, scope: Scope, method: str, route: str | None, request: RequestState, status_code: int | None, elapsed_ns: int
    ) -> None:
        level = logging.ERROR if (status_code or 0) >= 500 else logging.INFO  # a failed request is an error record
        if not self.logger.isEnabledFor(level):
            return
        latency_ms = elapsed_ns / 1e6
        attributes: dict[str, Any] = {
            HTTP_METHOD: method,
            HTTP_STATUS: status_code or 0,
            "latency_ms": round(latency_ms, 3),
            **self.log_attributes,
            **{f"stage_ms.{name}": round(ms, 3) for name, ms in request.stage_ms.items()},
            **request.log_attributes,
        }
        if route is not None:
            attributes[HTTP_ROUTE] = route
        self.logger.log(level, "%s %s %d %.2fms", method, route or "<unmatched>", status_code or 0, latency_ms, extra=attributes)


def _extract(headers: Sequence[tuple[bytes, bytes]]) -> context.Context | None:
    """The caller's context, parsed only when it sent propagation headers (most calls cost nothing).

    Repeated ``tracestate`` or ``baggage`` fields are one comma-joined list (RFC 9110); a repeated
    ``traceparent`` makes the parent invalid, so it and ``tracestate`` are dropped (W3C Trace Context).
    """
    carrier: dict[str, str] = {}
    for name, value in headers:
        if name in _PROPAGATION_HEADERS:
            key = name.decode("latin-1")
            carrier[key] = f"{carrier[key]},{value.decode('latin-1')}" if key in carrier else value.decode("latin-1")
    if not carrier:
        return None
    if "," in carrier.get("traceparent", ""):  # a valid traceparent has no comma: this was more than one
        carrier.pop("traceparent")
        carrier.pop("tracestate", None)
    return propagate.extract(carrier)


def _request_attributes(scope: Scope, method: str, max_chars: int = DEFAULT_CLIENT_VALUE_MAX_CHARS) -> dict[str, AttributeValue]:
    """HTTP server semantic-convention attributes; built only for sampled requests.

    Values the client chose are cut to ``max_chars``: a long path must not make a long span.
    """
    attributes: dict[str, AttributeValue] = {
        HTTP_METHOD: method,
        "url.scheme": scope.get("scheme", "http"),
        "url.path": scope["path"][:max_chars],
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if method == "_OTHER":
        attributes["http.request.method_original"] = scope["method"][:max_chars]
    server = scope.get("server")
    if server:
        attributes["server.address"], attributes["server.port"] = server[0], server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    return attributes


def _finish_span(span: trace.Span, method: str, route: str | None, status_code: int | None, error_type: str | None) -> None:
    if status_code is not None:
        span.set_attribute(HTTP_STATUS, status_code)
    if route is not None:
        span.set_attribute(HTTP_ROUTE, route)
        span.update_name(f"{method if method != '_OTHER' else 'HTTP'} {route}")
    if error_type is not None:
        span.set_attribute(ERROR_TYPE, error_type)
        if error_type != CLIENT_DISCONNECT:  # the client's choice, not a server failure
            span.set_status(StatusCode.ERROR)


def _call_hooks(hooks: Sequence[RequestHook], method: str, *args: Any) -> None:
    for hook in hooks:
        try:
            getattr(hook, method)(*args)
        except Exception:  # a hook (the profiler) must never break the request
            logging.getLogger(__name__).debug("request hook %s.%s failed", type(hook).__name__, method, exc_info=True)


def instrument_app(
    app: Any,
    telemetry: Telemetry,
    *,
    excluded_paths: Iterable[str] = (),
    span_attributes: Mapping[str, AttributeValue] | None = None,
    request_log: str = "notable",
    slow_ms: float = 0.0,
    client_value_max_chars: int = DEFAULT_CLIENT_VALUE_MAX_CHARS,
) -> StageRecorder | None:
    """Add the server span, stage recording, ``traceresponse`` and request records to ``app``.

    Returns the ``StageRecorder`` (request hooks and stage observers register on it), or None
    when telemetry is disabled, in which case nothing is added at all. ``request_log`` is one of
    ``REQUEST_LOG_MODES``: ``notable`` (5xx answers, requests slower than ``slow_ms``, profiled
    requests), ``sampled`` (also every request of a sampled trace), ``all`` or ``off``.
    ``client_value_max_chars`` caps span attributes whose value the client chose (path, method).
    """
    if not telemetry.enabled:
        return None
    recorder = StageRecorder(telemetry, span_attributes)
    app.add_middleware(
        TelemetryMiddleware,
        recorder=recorder,
        excluded_paths=excluded_paths,
        log_attributes=span_attributes,
        request_log=request_log,
        slow_ms=slow_ms,
        client_value_max_chars=client_value_max_chars,
    )
    return recorder
