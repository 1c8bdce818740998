"""OTLP span encoding straight to protobuf wire bytes (the OTLP span exporters in ``otel.otlp_spans`` send them).

Why: the SDK's encoder (``opentelemetry-exporter-otlp-proto-common``) builds a protobuf object per
span, attribute and value, and hashes each span's ``Resource`` (a ``json.dumps`` of its attributes)
to group them, several times this module's cost per span (BENCHMARKS.md, unit costs), on the export
thread, holding the GIL the request path needs. This module writes the same ``ExportTraceServiceRequest`` directly:

* the resource and the instrumentation scope are encoded once and reused (grouped by identity);
* a ``KeyValue`` whose value is a string, bool or int (``ml.stage``, ``http.route``, model
  version...) is encoded once and reused from a bounded cache; other values are encoded each time.

The output decodes to a message equal to the SDK encoder's for the same spans (tested with
``opentelemetry-proto`` over spans with every attribute type, events, links, statuses, remote parents
and trace state), so any OTLP receiver sees exactly what it would have seen.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from otel.compat import span_fields

log = logging.getLogger(__name__)

Groups = dict[int, tuple[Resource, dict[int, tuple[InstrumentationScope | None, list[bytes]]]]]

_MAX_CACHED_ATTRIBUTES = 4096
_KIND = {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200  # SpanFlags
_FLAGS_LOCAL = b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE)  # field 16, fixed32
_FLAGS_REMOTE = b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE | _IS_REMOTE)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UNSET_CODE = StatusCode.UNSET
_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` is the already-shifted key byte)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _string(tag: int, text: str) -> bytes:
    return _field(tag, text.encode("utf-8")) if text else b""


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message body, as ``_encode_value`` of the SDK encoder would build it."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(0x0A, value.encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"int attribute {value} out of int64 range")
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(0x3A, value)
    if isinstance(value, (tuple, list, Sequence)):  # the concrete types first: they match before the slow ABC check
        return _field(0x2A, b"".join(_field(0x0A, _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(0x32, b"".join(_field(0x0A, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return _string(0x0A, key) + _field(0x12, _any_value(value))


class SpanEncoder:
    """Encodes ``ReadableSpan`` batches; one per exporter (its caches are not shared between threads).

    The walk over a batch (grouping, field reads, the attribute, resource and scope caches, dropping an
    attribute that cannot be encoded) is shared with ``otel.otlp_json``, which only lays the same
    fields out as OTLP/JSON: the ``*_entry`` methods and ``_separator`` are the layout.
    """

    _separator = b""

    def __init__(self, max_cached_attributes: int = _MAX_CACHED_ATTRIBUTES) -> None:
        self._attributes: dict[tuple[int, str, type, Any], bytes] = {}
        self._max_cached = max_cached_attributes
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The serialized ``ExportTraceServiceRequest`` of ``spans``."""
        out = []
        for resource, by_scope in self._grouped(spans, self._span_entry).values():
            body = [self._resource(resource)]
            for scope, encoded in by_scope.values():
                scope_body = self._scope(scope) + b"".join(encoded)
                if scope is not None and scope.schema_url:
                    scope_body += _string(0x1A, scope.schema_url)
                body.append(_field(0x12, scope_body))
            if resource.schema_url:
                body.append(_string(0x1A, resource.schema_url))
            out.append(_field(0x0A, b"".join(body)))
        return b"".join(out)

    def _grouped(self, items: Sequence[Any], encode: Callable[[Any], bytes]) -> Groups:
        """``items`` (spans or log records) encoded one by one, grouped by resource, then by scope (by identity)."""
        groups: Groups = {}
        for item in items:
            resource, scope = item.resource, item.instrumentation_scope or None
            by_scope = groups.setdefault(id(resource), (resource, {}))[1]
            by_scope.setdefault(id(scope), (scope, []))[1].append(encode(item))
        return groups

    def _span_entry(self, span: ReadableSpan) -> bytes:
        return _field(0x12, self._span(span))

    def _span(self, span: ReadableSpan) -> bytes:
        (context, parent, name, kind, start_time, end_time, attributes, dropped_attributes,
         events, dropped_events, links, dropped_links, status) = span_fields(span)  # fmt: skip
        assert context is not None
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            parts.append(_string(0x1A, ",".join(f"{k}={v}" for k, v in context.trace_state.items())))
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        parts.append(_string(0x2A, name))
        parts.append(_KIND[kind])
        if start_time:
            parts.append(b"\x39" + _pack_fixed64(start_time))
        if end_time:
            parts.append(b"\x41" + _pack_fixed64(end_time))
        parts.append(self._attributes_of(0x4A, attributes))
        if dropped_attributes:
            parts.append(b"\x50" + _varint(dropped_attributes))
        for event in events:
            body = b""
            if event.timestamp:
                body += b"\x09" + _pack_fixed64(event.timestamp)
            body += _string(0x12, event.name) + self._attributes_of(0x1A, event.attributes)
            if event.dropped_attributes:
                body += b"\x20" + _varint(event.dropped_attributes)
            parts.append(_field(0x5A, body))
        if dropped_events:
            parts.append(b"\x60" + _varint(dropped_events))
        for link in links:
            body = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big") + b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
            body += self._attributes_of(0x22, link.attributes)
            if link.dropped_attributes:
                body += b"\x28" + _varint(link.dropped_attributes)
            body += b"\x35" + _pack_fixed32(otlp_flags(link.context))
            parts.append(_field(0x6A, body))
        if dropped_links:
            parts.append(b"\x70" + _varint(dropped_links))
        if status is not None and status.status_code is _UNSET_CODE and not status.description:
            parts.append(b"\x7a\x00")  # the common case: an empty Status message
        elif status is not None:
            code = status.status_code.value
            parts.append(_field(0x7A, _string(0x12, status.description or "") + (b"\x18" + _varint(code) if code else b"")))
        parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
        return b"".join(parts)

    def _attributes_of(self, tag: int, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        cache = self._attributes
        out = []
        for key, value in attributes.items():
            cacheable = isinstance(value, (str, int))  # bool is an int; floats rarely repeat
            encoded = cache.get((tag, key, type(value), value)) if cacheable else None
            if encoded is None:
                try:
                    encoded = self._key_value_entry(tag, key, value)
                except Exception as error:
                    log.error("Failed to encode key %s: %s", key, error)
                    continue
                if cacheable:
                    if len(cache) >= self._max_cached:
                        cache.clear()
                    cache[(tag, key, type(value), value)] = encoded
            out.append(encoded)
        return self._separator.join(out)

    def _key_value_entry(self, tag: int, key: str, value: Any) -> bytes:
        """One attribute as it appears in its list (raises on a value OTLP cannot carry)."""
        return _field(tag, _key_value(key, value))

    def _resource(self, resource: Resource) -> bytes:
        cached = self._resources.get(id(resource))
        if cached is None or cached[0] is not resource:
            if len(self._resources) >= 64:
                self._resources.clear()
            cached = self._resources[id(resource)] = (resource, self._resource_entry(resource))
        return cached[1]

    def _resource_entry(self, resource: Resource) -> bytes:
        return _field(0x0A, self._attributes_of(0x0A, resource.attributes))

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        cached = self._scopes.get(id(scope))
        if cached is None or cached[0] is not scope:
            if len(self._scopes) >= 64:
                self._scopes.clear()
            cached = self._scopes[id(scope)] = (scope, self._scope_entry(scope))
        return cached[1]

    def _scope_entry(self, scope: InstrumentationScope | None) -> bytes:
        body = b""
        if scope is not None:
            body = _string(0x0A, scope.name) + _string(0x12, scope.version or "") + self._attributes_of(0x1A, scope.attributes)
        return _field(0x0A, body)


def otlp_flags(context: SpanContext | None) -> int:
    """The OTLP ``SpanFlags`` of a span or link whose parent or target is ``context``: remote or not, said explicitly."""
    return _HAS_IS_REMOTE | _IS_REMOTE if context is not None and context.is_remote else _HAS_IS_REMOTE
