"""The service's exception hierarchy; each error is mapped to an HTTP answer at the API edge.

Every error has the same telemetry face: ``error_type``, a short stable name that becomes the
span's and the ``ml.errors`` point's ``error.type``, and ``span_attributes()``, what it adds to the
stage's exception event (never a client's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.util.types import AttributeValue


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    error_type = "service_error"

    def span_attributes(self) -> dict[str, AttributeValue]:
        """Extra attributes for the stage span's exception event (``otel.SpanError``); none by default."""
        return {}


class InvalidRequest(ServiceError):
    """The client sent something we will not score; ``errors`` name the field and the rule."""

    error_type = "validation_error"

    def __init__(self, errors: list[dict[str, Any]], status_code: int = 422) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors
        self.status_code = status_code

    @property
    def fields(self) -> list[str]:
        """Dotted locations of the failed fields (never their values)."""
        return [".".join(str(part) for part in error.get("loc", ())) for error in self.errors]

    def span_attributes(self) -> dict[str, AttributeValue]:
        """Added to the stage's exception event: which fields failed, and how; never their values."""
        return {"ml.validation.fields": self.fields, "ml.validation.rules": [str(e.get("type")) for e in self.errors]}


class Unauthorized(ServiceError):
    """Missing or wrong API key. The message says which header; the key itself is never logged."""

    status_code = 401
    error_type = "unauthorized"


class ClientDisconnected(ServiceError):
    """The client closed the connection before its request body was read: nobody is left to answer.

    499 is nginx's "client closed request"; the answer never reaches the wire, and telemetry
    records the request as ``error.type`` ``client_disconnect`` without a status code.
    """

    status_code = 499
    error_type = "client_disconnect"


class ModelNotReady(ServiceError):
    """A scoring request arrived before the lifespan loaded and warmed the model (or after shutdown began)."""

    status_code = 503
    error_type = "model_not_ready"


class ModelError(ServiceError):
    """Inference failed inside the model runtime: a server fault, not the client's."""

    error_type = "model_error"


class InjectedFault(ModelError):
    """Fault injection: a deliberate inference failure (FAULT_ERROR_RATE)."""

    error_type = "injected_fault"


class ModelLoadError(ServiceError):
    """The model file is missing or unusable; the process cannot serve and must exit."""

    error_type = "model_load_error"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot load model {path}: {reason}")
        self.path = path
