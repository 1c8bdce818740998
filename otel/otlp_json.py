"""OTLP/JSON encoding of span and log batches: ``otel.span_encoder``'s encoder with a JSON layout.

The embedded default writes its files with these encoders. Each ``encode`` returns one line, an
``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` in the OTLP/JSON form of the protobuf
JSON mapping, as the Collector's ``otlpjsonfile`` receiver and its OTLP/HTTP receiver read it:
camelCase names, trace and span ids in hex, 64-bit integers as strings, enums as integers, fields
at their default value left out.

The walk over the batch, the attribute, resource and scope caches and the policy for a value OTLP
cannot carry are ``SpanEncoder``'s, so this costs about what the protobuf encoding does; only the
byte layout differs. The output parses to what protobuf's ``json_format`` makes of the SDK
encoder's request for the same spans and records (tested).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from otel.compat import ReadableLogRecord, span_fields
from otel.span_encoder import Groups, SpanEncoder, otlp_flags

_KIND = {kind: b',"kind":%d' % (kind.value + 1) for kind in SpanKind}  # the protobuf enum counts from UNSPECIFIED = 0
# A span's flags depend only on whether its parent is remote: both forms written once.
_FLAGS_LOCAL = b',"flags":%d}' % otlp_flags(None)
_REMOTE_PARENT = SpanContext(trace_id=1, span_id=1, is_remote=True)
_FLAGS_REMOTE = b',"flags":%d}' % otlp_flags(_REMOTE_PARENT)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NON_FINITE = {math.inf: b'"Infinity"', -math.inf: b'"-Infinity"'}
_UNSET_CODE = StatusCode.UNSET
_dumps = orjson.dumps


def any_value(value: Any) -> bytes:
    """The OTLP/JSON ``AnyValue`` of an attribute or log body value (the SDK encoder's type rules)."""
    if value is None:
        return b"{}"
    if isinstance(value, bool):
        return b'{"boolValue":true}' if value else b'{"boolValue":false}'
    if isinstance(value, str):
        return b'{"stringValue":' + _dumps(value) + b"}"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"int attribute {value} out of int64 range")
        return b'{"intValue":"%d"}' % value
    if isinstance(value, float):
        number = b'"NaN"' if math.isnan(value) else _NON_FINITE.get(value) or _dumps(value)
        return b'{"doubleValue":' + number + b"}"
    if isinstance(value, bytes):
        return b'{"bytesValue":"' + base64.b64encode(value) + b'"}'
    if isinstance(value, (tuple, list, Sequence)):
        items = b",".join(any_value(item) for item in value)
        return b'{"arrayValue":{"values":[' + items + b"]}}" if items else b'{"arrayValue":{}}'
    if isinstance(value, Mapping):
        pairs = b",".join(key_value(str(k), v) for k, v in value.items())
        return b'{"kvlistValue":{"values":[' + pairs + b"]}}" if pairs else b'{"kvlistValue":{}}'
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def key_value(key: str, value: Any) -> bytes:
    """One OTLP/JSON ``KeyValue``."""
    return (b'{"key":' + _dumps(key) + b',"value":' if key else b'{"value":') + any_value(value) + b"}"


def _optional_string(name: bytes, text: str | None) -> bytes:
    return b',"' + name + b'":' + _dumps(text) if text else b""


def _object(body: bytes) -> bytes:
    """``{...}`` from ``,"a":1,"b":2`` (every field is written with its leading comma)."""
    return b"{" + body[1:] + b"}" if body else b"{}"


class JsonSpanEncoder(SpanEncoder):
    """Encodes ``ReadableSpan`` batches as one OTLP/JSON ``ExportTraceServiceRequest`` line."""

    _separator = b","

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The ``ExportTraceServiceRequest`` of ``spans`` as compact JSON (no newline)."""
        return self._request(b"resourceSpans", b"scopeSpans", b"spans", self._grouped(spans, self._span))

    def _request(self, resources_key: bytes, scopes_key: bytes, items_key: bytes, groups: Groups) -> bytes:
        by_resource = []
        for resource, by_scope in groups.values():
            scopes = []
            for scope, encoded in by_scope.values():
                scope_body = b'{"scope":' + self._scope(scope) + b',"' + items_key + b'":[' + b",".join(encoded) + b"]"
                if scope is not None:
                    scope_body += _optional_string(b"schemaUrl", scope.schema_url)
                scopes.append(scope_body + b"}")
            body = b'{"resource":' + self._resource(resource) + b',"' + scopes_key + b'":[' + b",".join(scopes) + b"]"
            by_resource.append(body + _optional_string(b"schemaUrl", resource.schema_url) + b"}")
        return b'{"' + resources_key + b'":[' + b",".join(by_resource) + b"]}" if by_resource else b"{}"

    def _span(self, span: ReadableSpan) -> bytes:
        (context, parent, name, kind, start_time, end_time, attributes, dropped_attributes,
         events, dropped_events, links, dropped_links, status) = span_fields(span)  # fmt: skip
        assert context is not None
        parts = [b'{"traceId":"%032x","spanId":"%016x"' % (context.trace_id, context.span_id)]
        if context.trace_state:
            parts.append(b',"traceState":' + _dumps(",".join(f"{k}={v}" for k, v in context.trace_state.items())))
        if parent is not None:
            parts.append(b',"parentSpanId":"%016x"' % parent.span_id)
        parts.append(_optional_string(b"name", name))
        parts.append(_KIND[kind])
        if start_time:
            parts.append(b',"startTimeUnixNano":"%d"' % start_time)
        if end_time:
            parts.append(b',"endTimeUnixNano":"%d"' % end_time)
        parts.append(self._attribute_list(attributes, dropped_attributes))
        if events:
            parts.append(b',"events":[' + b",".join(self._event(event) for event in events) + b"]")
        if dropped_events:
            parts.append(b',"droppedEventsCount":%d' % dropped_events)
        if links:
            parts.append(b',"links":[' + b",".join(self._link(link) for link in links) + b"]")
        if dropped_links:
            parts.append(b',"droppedLinksCount":%d' % dropped_links)
        if status is not None and status.status_code is _UNSET_CODE and not status.description:
            parts.append(b',"status":{}')
        elif status is not None:
            code = status.status_code.value
            parts.append(
                b',"status":'
                + _object(_optional_string(b"message", status.description) + (b',"code":%d' % code if code else b""))
            )
        parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
        return b"".join(parts)

    def _attribute_list(self, attributes: Mapping[str, Any] | None, dropped: int) -> bytes:
        """``,"attributes":[...]`` and ``,"droppedAttributesCount":n``, each only when there is one."""
        encoded = self._attributes_of(0, attributes)
        return (b',"attributes":[' + encoded + b"]" if encoded else b"") + (
            b',"droppedAttributesCount":%d' % dropped if dropped else b""
        )

    def _event(self, event: Any) -> bytes:
        body = b',"timeUnixNano":"%d"' % event.timestamp if event.timestamp else b""
        return _object(
            body + _optional_string(b"name", event.name) + self._attribute_list(event.attributes, event.dropped_attributes)
        )

    def _link(self, link: Any) -> bytes:
        head = b'{"traceId":"%032x","spanId":"%016x"' % (link.context.trace_id, link.context.span_id)
        return head + self._attribute_list(link.attributes, link.dropped_attributes) + b',"flags":%d}' % otlp_flags(link.context)

    def _key_value_entry(self, tag: int, key: str, value: Any) -> bytes:
        return key_value(key, value)

    def _resource_entry(self, resource: Resource) -> bytes:
        return _object(self._attribute_list(resource.attributes, 0))

    def _scope_entry(self, scope: InstrumentationScope | None) -> bytes:
        if scope is None:
            return b"{}"
        body = _optional_string(b"name", scope.name) + _optional_string(b"version", scope.version)
        return _object(body + self._attribute_list(scope.attributes, 0))


class JsonLogEncoder(JsonSpanEncoder):
    """Encodes ``ReadableLogRecord`` batches as one OTLP/JSON ``ExportLogsServiceRequest`` line (the same caches and layout)."""

    def encode(self, records: Sequence[ReadableLogRecord]) -> bytes:  # type: ignore[override]
        """The ``ExportLogsServiceRequest`` of ``records`` as compact JSON (no newline)."""
        return self._request(b"resourceLogs", b"scopeLogs", b"logRecords", self._grouped(records, self._record))

    def _record(self, readable: ReadableLogRecord) -> bytes:
        record = readable.log_record
        parts = [b',"timeUnixNano":"%d"' % record.timestamp if record.timestamp else b""]
        if record.observed_timestamp:
            parts.append(b',"observedTimeUnixNano":"%d"' % record.observed_timestamp)
        severity = getattr(record.severity_number, "value", None)
        if severity:
            parts.append(b',"severityNumber":%d' % severity)
        parts.append(_optional_string(b"severityText", record.severity_text))
        parts.append(b',"body":' + any_value(record.body))
        parts.append(self._attribute_list(record.attributes, readable.dropped_attributes))
        flags = int(record.trace_flags or 0)
        if flags:
            parts.append(b',"flags":%d' % flags)
        if record.trace_id:
            parts.append(b',"traceId":"%032x"' % record.trace_id)
        if record.span_id:
            parts.append(b',"spanId":"%016x"' % record.span_id)
        parts.append(_optional_string(b"eventName", record.event_name))
        return _object(b"".join(parts))
