"""The reference OTLP/JSON of a protobuf request: protobuf's own JSON mapping, with the ids OTLP/JSON writes in hex.

OTLP/JSON is the proto3 JSON mapping with two differences the specification names: trace and span
ids are hex strings rather than base64, and enums are integers. Every other field (camelCase names,
64-bit integers as strings, defaults left out, ``bytesValue`` in base64) is ``json_format``'s.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(message: Message) -> dict[str, Any]:
    """``message`` as OTLP/JSON, as a dict (compare with ``json.loads`` of a line)."""
    return _hex_ids(MessageToDict(message, use_integers_for_enums=True))


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: base64.b64decode(value).hex() if key in _ID_KEYS else _hex_ids(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node
