"""Service settings, read in one place.

Every variable the service itself defines is listed in ``ENV_VARS`` with its default and
meaning (the settings table of docs/operations.md lists the same facts; a test checks every
variable is there). The standard ``OTEL_*`` variables are *not* parsed here: the
OpenTelemetry SDK reads them itself, and ``otel.setup`` only asks it.

``Settings.from_env`` takes the environment as a parameter so tests can pass one, and a bad
value raises ``SettingsError`` naming the variable and the rule it broke.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from otel.middleware import REQUEST_LOG_MODES

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH = PACKAGE_DIR / "model" / "credit_risk.onnx"


class SettingsError(ValueError):
    """A configuration variable has a value the service cannot use."""


def _env(name: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": name, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told from its environment (defaults are production-safe)."""

    host: str = _env("HOST", "127.0.0.1", "Bind address of `python -m service`.")
    port: int = _env("PORT", 8000, "Port of `python -m service`.")
    workers: int = _env("WORKERS", 1, "Worker processes; each gets its own telemetry providers.")
    model_path: Path = _env("MODEL_PATH", DEFAULT_MODEL_PATH, "ONNX model file; its card is `model_card.json` beside it.")
    max_batch_size: int = _env("MAX_BATCH_SIZE", 1000, "Most rows accepted by `POST /predict/batch` (more → 422).")
    max_body_bytes: int = _env("MAX_BODY_BYTES", 1_048_576, "Largest request body (more → 413, never read whole).")
    max_header_bytes: int = _env(
        "MAX_HEADER_BYTES",
        32_768,
        "Largest request head (request line + headers; more → 431 before the app runs). nginx's default is 4 × 8 KiB.",
    )
    max_headers: int = _env(
        "MAX_HEADERS", 100, "Most header fields in one request (more → 431 before the app runs), as Envoy and Apache."
    )
    header_timeout_s: float = _env(
        "HEADER_TIMEOUT_S",
        10.0,
        "A request head not complete this long after it started (or the connection opened) → 408, connection closed.",
    )
    max_connections: int = _env(
        "MAX_CONNECTIONS",
        1000,
        "Open connections per worker; one more is closed at once (under the usual 1024 file-descriptor limit).",
    )
    client_attribute_max_chars: int = _env(
        "CLIENT_ATTRIBUTE_MAX_CHARS",
        1024,
        "Longest span attribute taken from the client (path, method); OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT also applies.",
    )
    onnx_intra_op_threads: int = _env("ONNX_INTRA_OP_THREADS", 1, "onnxruntime intra-op threads (0 = onnxruntime default).")
    onnx_inter_op_threads: int = _env("ONNX_INTER_OP_THREADS", 1, "onnxruntime inter-op threads (0 = onnxruntime default).")
    telemetry_dir: Path = _env("TELEMETRY_DIR", Path("telemetry"), "Embedded default: where traces/logs go as OTLP/JSON lines.")
    telemetry_file_max_bytes: int = _env(
        "TELEMETRY_FILE_MAX_BYTES", 50 * 1_048_576, "Embedded default: rotate a telemetry file past this size."
    )
    telemetry_file_backups: int = _env("TELEMETRY_FILE_BACKUPS", 3, "Embedded default: rotated files kept per signal.")
    log_level: str = _env("LOG_LEVEL", "INFO", "Level of the stdout log (the OTLP log export is always INFO and up).")
    log_format: str = _env("LOG_FORMAT", "text", "stdout log format: `text` or `json`.")
    request_log: str = _env(
        "REQUEST_LOG",
        "notable",
        "Per-request log record: `notable` (5xx, slow, profiled), `sampled` (also every sampled trace), `all` or `off`.",
    )
    inline_single_rows: bool = _env(
        "INLINE_SINGLE_ROWS",
        True,
        "Score one-row requests on the event loop: a thread-pool hop costs more than their ~60 µs of work. Batches larger than "
        "`INLINE_BATCH_MAX_BYTES`, and everything while `FAULT_SLOW_FEATURE_MS` is set, go to the thread pool.",
    )
    inline_batch_max_bytes: int = _env(
        "INLINE_BATCH_MAX_BYTES",
        4096,
        "Also score a `/predict/batch` body of at most this many bytes (a dozen rows or so) on the event loop, as "
        "one row is; 0 sends every batch to the thread pool.",
    )
    api_keys: str = _env(
        "API_KEYS", "", "Comma-separated API keys; when set, prediction endpoints need header `X-API-Key` (health stays open)."
    )
    api_key_protects_metrics: bool = _env("API_KEY_PROTECTS_METRICS", False, "Also require the API key for `/metrics`.")
    api_key_protects_model: bool = _env("API_KEY_PROTECTS_MODEL", False, "Also require the API key for `/model`.")
    record_feature_values: bool = _env(
        "RECORD_FEATURE_VALUES", False, "Put request feature values on spans (off: never recorded)."
    )
    trace_health_endpoints: bool = _env("TRACE_HEALTH_ENDPOINTS", False, "Trace /health/* and /metrics too.")
    profile_sample_rate: float = _env(
        "PROFILE_SAMPLE_RATE", 0.1, "Fraction of sampled traces profiled with pyinstrument (0 disables)."
    )
    profile_interval_ms: float = _env("PROFILE_INTERVAL_MS", 1.0, "Profiler sampling interval.")
    profile_top_n: int = _env("PROFILE_TOP_N", 5, "Hot functions attached per span.")
    profile_slow_ms: float = _env(
        "PROFILE_SLOW_MS", 250.0, "Requests slower than this get hot functions even when not profiled (0 disables)."
    )
    fault_slow_feature_ms: float = _env(
        "FAULT_SLOW_FEATURE_MS", 0.0, "Fault injection: slow pure-Python work in feature engineering, ms per request."
    )
    fault_error_rate: float = _env("FAULT_ERROR_RATE", 0.0, "Fault injection: fraction of inference calls that raise.")
    fault_block_loop_ms: float = _env(
        "FAULT_BLOCK_LOOP_MS",
        0.0,
        "Fault injection: block the event loop for this many ms inside every `POST /predict` (all requests stall meanwhile).",
    )
    loop_lag_interval_ms: float = _env(
        "LOOP_LAG_INTERVAL_MS",
        100.0,
        "Event-loop lag (`asyncio.event_loop.lag`): a task sleeps this long and records how late it wakes up.",
    )
    fault_slow_load_ms: float = _env(
        "FAULT_SLOW_LOAD_MS",
        0.0,
        "Fault injection: delay the model load at startup by this many ms (not ready, `ml_model_loaded` 0 meanwhile).",
    )

    @property
    def model_card_path(self) -> Path:
        return self.model_path.with_name("model_card.json")

    @property
    def api_key_list(self) -> tuple[str, ...]:
        return tuple(key.strip() for key in self.api_keys.split(",") if key.strip())

    def fault_settings(self) -> dict[str, float]:
        """Every ``FAULT_*`` variable and its value."""
        return {f.metadata["env"]: getattr(self, f.name) for f in fields(self) if f.metadata["env"].startswith("FAULT_")}

    @property
    def faults_enabled(self) -> bool:
        return any(value > 0 for value in self.fault_settings().values())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``env`` (default ``os.environ``); ``overrides`` win over both."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif name in env:
                values[f.name] = _parse(name, env[name], type(f.default))
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject values that would only fail later, far from their cause."""
        rules: list[tuple[str, bool, str]] = [
            ("PORT", 0 <= self.port <= 65535, "must be 0..65535"),
            ("WORKERS", self.workers >= 1, "must be >= 1"),
            ("MAX_BATCH_SIZE", self.max_batch_size >= 1, "must be >= 1"),
            ("MAX_BODY_BYTES", self.max_body_bytes >= 1024, "must be >= 1024"),
            ("MAX_HEADER_BYTES", self.max_header_bytes >= 1024, "must be >= 1024"),
            ("MAX_HEADERS", self.max_headers >= 8, "must be >= 8"),
            ("HEADER_TIMEOUT_S", self.header_timeout_s > 0, "must be > 0"),
            ("MAX_CONNECTIONS", self.max_connections >= 1, "must be >= 1"),
            ("CLIENT_ATTRIBUTE_MAX_CHARS", self.client_attribute_max_chars >= 16, "must be >= 16"),
            ("PROFILE_SAMPLE_RATE", 0.0 <= self.profile_sample_rate <= 1.0, "must be within 0..1"),
            ("PROFILE_INTERVAL_MS", self.profile_interval_ms > 0, "must be > 0"),
            ("PROFILE_TOP_N", self.profile_top_n >= 1, "must be >= 1"),
            ("PROFILE_SLOW_MS", self.profile_slow_ms >= 0, "must be >= 0"),
            ("INLINE_BATCH_MAX_BYTES", self.inline_batch_max_bytes >= 0, "must be >= 0"),
            ("FAULT_SLOW_FEATURE_MS", self.fault_slow_feature_ms >= 0, "must be >= 0"),
            ("FAULT_ERROR_RATE", 0.0 <= self.fault_error_rate <= 1.0, "must be within 0..1"),
            ("FAULT_SLOW_LOAD_MS", self.fault_slow_load_ms >= 0, "must be >= 0"),
            ("FAULT_BLOCK_LOOP_MS", 0 <= self.fault_block_loop_ms <= 60_000, "must be within 0..60000"),
            ("LOOP_LAG_INTERVAL_MS", 10 <= self.loop_lag_interval_ms <= 60_000, "must be within 10..60000"),
            ("LOG_FORMAT", self.log_format in ("text", "json"), "must be `text` or `json`"),
            ("REQUEST_LOG", self.request_log in REQUEST_LOG_MODES, "must be `notable`, `sampled`, `all` or `off`"),
            ("ONNX_INTRA_OP_THREADS", self.onnx_intra_op_threads >= 0, "must be >= 0"),
            ("ONNX_INTER_OP_THREADS", self.onnx_inter_op_threads >= 0, "must be >= 0"),
        ]
        for name, ok, rule in rules:
            if not ok:
                raise SettingsError(f"{name} {rule}")


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


_PARSERS: dict[type, Callable[[str], Any]] = {
    bool: _parse_bool,
    int: lambda raw: int(raw.strip()),
    float: lambda raw: float(raw.strip()),
    str: str.strip,
}


def _parse(name: str, raw: str, kind: type) -> Any:
    parser = _PARSERS.get(kind, lambda value: Path(value.strip()))
    try:
        return parser(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}: {exc}") from None


ENV_VARS: tuple[tuple[str, Any, str], ...] = tuple((f.metadata["env"], f.default, f.metadata["doc"]) for f in fields(Settings))
