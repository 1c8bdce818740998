"""Standard ``logging`` to stdout and, bridged, to OTel logs; both carry the trace and span ids.

Attributes passed with ``extra=`` become OTel log attributes; stdout shows them in JSON mode.
Nothing here logs request bodies or feature values: callers decide what goes in ``extra``. Both
handlers cut every text argument of a record to a short excerpt (``ExcerptFilter``), so no line quotes
a client's header, path or body whole, whoever logs it (the SDK's baggage propagator quotes the
whole header it rejects).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import orjson
from opentelemetry import trace

from otel.setup import Telemetry

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "trace_id", "span_id"}
_HANDLER_MARK = "_otel_ml_handler"
MAX_ARG_CHARS = 256  # per text argument of a log record
MAX_MESSAGE_CHARS = 4096  # a message logged without arguments (its text may embed anything)


class TraceContextFilter(logging.Filter):
    """Stamps ``trace_id``/``span_id`` of the current span on every stdout record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else ""
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else ""
        return True


class RateLimitFilter(logging.Filter):
    """At most one record per (logger, message template) per ``interval_s`` from the SDK itself.

    A dead collector makes the SDK warn once per dropped span or failed batch; this keeps the
    warning (with a count of what was suppressed) without flooding stdout.
    """

    def __init__(self, prefix: str = "opentelemetry", interval_s: float = 30.0) -> None:
        super().__init__()
        self.prefix, self.interval_s = prefix, interval_s
        self._last: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, str(record.msg))
        with self._lock:
            last, suppressed = self._last.get(key, (0.0, 0))
            if record.created - last < self.interval_s:
                self._last[key] = (last, suppressed + 1)
                return False
            self._last[key] = (record.created, 0)
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar messages suppressed in the last {self.interval_s:.0f}s)"
        return True


def excerpt(value: str | bytes, max_chars: int = MAX_ARG_CHARS) -> str | bytes:
    """``value`` itself when short, else its first ``max_chars`` followed by how much was cut."""
    if len(value) <= max_chars:
        return value
    note = f"... [{len(value) - max_chars} more]"
    if isinstance(value, bytes):
        return value[:max_chars] + note.encode()
    return value[:max_chars] + note


class ExcerptFilter(logging.Filter):
    """Cuts text arguments (str, bytes, exceptions) to ``MAX_ARG_CHARS``; a message without any to ``MAX_MESSAGE_CHARS``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if any(_long(arg) for arg in args):
                record.args = tuple(_cut(arg) for arg in args)
        elif isinstance(args, dict) and args:
            if any(_long(arg) for arg in args.values()):
                record.args = {key: _cut(arg) for key, arg in args.items()}
        elif isinstance(record.msg, str) and len(record.msg) > MAX_MESSAGE_CHARS:
            record.msg = excerpt(record.msg, MAX_MESSAGE_CHARS)
        return True


def _long(arg: object) -> bool:
    if isinstance(arg, (str, bytes)):
        return len(arg) > MAX_ARG_CHARS
    return isinstance(arg, BaseException) and len(str(arg)) > MAX_ARG_CHARS


def _cut(arg: object) -> object:
    if isinstance(arg, (str, bytes)):
        return excerpt(arg)
    return excerpt(str(arg)) if isinstance(arg, BaseException) else arg


class _NotFromTheSdk(logging.Filter):
    """The SDK's own complaints stay out of the OTel log pipeline they are about (no feedback loop)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("opentelemetry")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, trace and span ids, and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def remove_otel_bridge() -> None:
    """Detach the OTel handler before its provider shuts down (late records would loop back otherwise)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, "") == "otel"]:
        root.removeHandler(handler)


def configure_logging(telemetry: Telemetry, level: str = "INFO", fmt: str = "text") -> None:
    """Install the stdout handler and the OTel bridge on the root logger (idempotent per process)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.setLevel(level.upper())
    stdout.addFilter(ExcerptFilter())
    stdout.addFilter(RateLimitFilter())
    stdout.addFilter(TraceContextFilter())
    stdout.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s")
    )
    setattr(stdout, _HANDLER_MARK, "stdout")
    root.addHandler(stdout)
    if telemetry.logger_provider is not None:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler

        bridge = LoggingHandler(level=logging.INFO, logger_provider=telemetry.logger_provider)
        bridge.addFilter(_NotFromTheSdk())
        bridge.addFilter(ExcerptFilter())
        setattr(bridge, _HANDLER_MARK, "otel")
        root.addHandler(bridge)
    stdout_level = logging.getLevelName(level.upper())
    # Records below the stdout level are still made when the OTel bridge wants them (INFO and up).
    root.setLevel(min(logging.INFO, stdout_level) if telemetry.logger_provider is not None else stdout_level)
    logging.getLogger("uvicorn.access").disabled = True  # our request record replaces it, with trace ids
