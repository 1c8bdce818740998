"""The validation stage: a request body checked against the request contract (``schemas``) in one pass.

Errors name the field and the rule, never the value; they become the 400/422 body and the stage
span's exception event.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from otel.stages import stage
from service.api.schemas import batch_adapter, row_adapter
from service.errors import InvalidRequest
from service.pipeline.endpoints import Endpoint
from service.telemetry import ML_BATCH_SIZE

MAX_REPORTED_ERRORS = 20
"""A hostile body can fail thousands of times (1000 rows x 11 fields, or 50 000 extra keys): listing
every error turned 10 kB into a 1 MB answer and a span event too big for a collector batch."""
MAX_LOC_CHARS = 64
"""An extra key is the client's string; it is named in ``loc`` (and on the span), so it is shortened."""


class RequestValidator:
    """Turns a scoring request's body into validated rows under the ``validation`` stage span.

    Args:
        max_batch_size: most rows a ``/predict/batch`` body may hold (``MAX_BATCH_SIZE``).
        record_feature_values: put a one-row request's fields on the span (``RECORD_FEATURE_VALUES``).
    """

    def __init__(self, max_batch_size: int, record_feature_values: bool = False) -> None:
        self._row = row_adapter()
        self._batch = batch_adapter(max_batch_size)
        self._record_feature_values = record_feature_values

    def rows(self, endpoint: Endpoint, body: bytes) -> list[dict[str, Any]]:
        """The body's rows (one, or a batch's instances) as plain dicts; raises ``InvalidRequest``."""
        batch = endpoint is Endpoint.BATCH
        with stage("validation") as validating:
            rows = validate(body, self._batch if batch else self._row, batch)
            validating.set_attribute(ML_BATCH_SIZE, len(rows))
            if self._record_feature_values and validating.span is not None and len(rows) == 1:
                validating.span.set_attributes({f"ml.feature.{k}": v for k, v in rows[0].items()})
        return rows


def validate(body: bytes, adapter: TypeAdapter[Any], batch: bool) -> list[dict[str, Any]]:
    """Parse and check the JSON body in one pass; errors name field and rule, never the value."""
    try:
        parsed = adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=True)
        shown: list[dict[str, Any]] = [dict(error) for error in errors[:MAX_REPORTED_ERRORS]]
        for error in shown:
            error["loc"] = ["body", *(_short(part) for part in error["loc"])]
        if len(errors) > len(shown):
            more = len(errors) - len(shown)
            shown.append({"type": "too_many_errors", "loc": ["body"], "msg": f"{more} more invalid field(s) not listed"})
        malformed = any(error["type"] == "json_invalid" for error in shown)
        raise InvalidRequest(_jsonable(shown), status_code=400 if malformed else 422) from None
    rows: list[dict[str, Any]] = parsed["instances"] if batch else [parsed]
    return rows


def _short(part: Any) -> Any:
    return part if not isinstance(part, str) or len(part) <= MAX_LOC_CHARS else part[:MAX_LOC_CHARS] + "…"


def _jsonable(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's error ``ctx`` may hold exception objects; keep only JSON-safe scalars."""
    for error in errors:
        ctx = error.get("ctx")
        if ctx is not None:
            error["ctx"] = {k: v if isinstance(v, (int, float, str, bool, type(None), list)) else str(v) for k, v in ctx.items()}
    return errors
