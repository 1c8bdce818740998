"""Where bucket counts come from: Prometheus over a time range, or a Prometheus text exposition.

* Prometheus (the stack): per series, its last value in the window minus its value at ``start``
  (its last sample in an equally long span before), summed over workers and replicas. A series
  with no sample before ``start`` began inside the window, so all of it counts: a service whose
  zero-valued first export Prometheus never saw is first seen with traffic already in the counter,
  which ``increase()`` would count as 0.
  The counts are whole; a series whose counter reset inside the window (a scraped ``/metrics``
  whose process restarted) falls back to ``increase()``, rounded. ``prometheus_query`` is the
  ``increase()`` form, for pasting into Prometheus (approximate: it extrapolates and misses first samples).
* An exposition (no Prometheus, the embedded default): the service's own ``/metrics`` or a
  saved copy of it (or of the Collector's ``:8889``). Counters there are cumulative since each
  process started, so the window is "since start"; several sources (one per worker) are summed.

Both give ``{feature: {bucket: count}}``, and a warning naming every instance (or exposition) that
contributed no prediction.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.drift.buckets import SCORE_FEATURE

SERIES = "ml_feature_bucket_total"
Counts = dict[str, dict[str, int]]
_RELATIVE = re.compile(r"^(?:now)?-(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SourceError(RuntimeError):
    """A source could not be read; the message says which and why, in one line."""


@dataclass
class Fetched:
    """Counts plus what the report should say about where they came from."""

    counts: Counts
    source: dict[str, Any] = field(default_factory=dict)
    model_versions: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def parse_time(text: str, now: float) -> float:
    """``now``, ``-1h``/``now-90m`` (relative to ``now``), unix seconds, or ISO 8601 -> unix seconds."""
    value = text.strip()
    if value == "now":
        return now
    if m := _RELATIVE.match(value):
        return now - float(m[1]) * _UNIT_S[m[2]]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SourceError(f"time {text!r}: use now, -1h, unix seconds or ISO 8601") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise SourceError(f"{url}: HTTP {exc.code} {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def _regex_escape(value: str) -> str:
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", value)


def _selector(job: str | None, model_version: str | None) -> str:
    matchers = []
    if job:
        matchers.append(f'job="{job}"')
    if model_version:
        # Collector-less scrapes carry no ml_model_version label: accept absent too.
        matchers.append(f'ml_model_version=~"{_regex_escape(model_version)}|"'.replace("\\", "\\\\"))
    return f"{SERIES}{{{', '.join(matchers)}}}"


def _window(start: float, end: float) -> str:
    return f"{max(round(end - start), 1)}s"


def prometheus_query(start: float, end: float, job: str | None = None, model_version: str | None = None) -> str:
    """The ``increase()`` PromQL of the same counts, for a user to paste into Prometheus (approximate, see above)."""
    return f"sum by (ml_feature, ml_bucket) (increase({_selector(job, model_version)}[{_window(start, end)}]))"


def _instant(base_url: str, query: str, at: float, timeout: float) -> dict[tuple[tuple[str, str], ...], float]:
    """One instant query at ``at``: each series' labels (without ``__name__``) -> value."""
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    try:
        answer = json.loads(_get(url, timeout))
    except json.JSONDecodeError:
        raise SourceError(f"{base_url}: not a Prometheus HTTP API (answer is not JSON)") from None
    if answer.get("status") != "success":
        raise SourceError(f"{base_url}: {answer.get('errorType')}: {answer.get('error')}")
    out = {}
    for item in answer["data"]["result"]:
        labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__"))
        out[labels] = float(item["value"][1])
    return out


def series_counts(
    last: dict[Any, float], at_start: dict[Any, float], resets: dict[Any, float], increases: dict[Any, float]
) -> dict[Any, int]:
    """Whole count per series: last value minus the value at start (0 for a series that began in the window).

    A series whose counter reset in the window (or since its value at start) falls back to its ``increase()``, rounded.
    """
    out = {}
    for key, value in last.items():
        reset = resets.get(key) or value < at_start.get(key, 0.0)
        counted = increases.get(key, 0.0) if reset else value - at_start.get(key, 0.0)
        out[key] = max(round(counted), 0)
    return out


def from_prometheus(
    base_url: str, start: float, end: float, job: str | None = None, model_version: str | None = None, timeout: float = 30.0
) -> Fetched:
    if end <= start:
        raise SourceError(f"--end must be after --start (got {end} <= {start})")
    selector, window = _selector(job, model_version), _window(start, end)
    last = _instant(base_url, f"max_over_time({selector}[{window}])", end, timeout)
    # the last value in an equally long span before the window: a series absent for a while (the collector
    # restarting, staleness after 5 minutes) still has its value at the start
    at_start = _instant(base_url, f"last_over_time({selector}[{window}])", start, timeout)
    resets = _instant(base_url, f"resets({selector}[{window}]) > 0", end, timeout)
    increases = _instant(base_url, f"increase({selector}[{window}])", end, timeout)
    counts: Counts = defaultdict(lambda: defaultdict(int))
    predictions: dict[tuple[str, str], int] = defaultdict(int)  # (job, instance) -> scored rows
    new: set[tuple[str, str]] = set()
    for key, count in series_counts(last, at_start, resets, increases).items():
        labels = dict(key)
        counts[labels["ml_feature"]][labels["ml_bucket"]] += count
        instance = (labels.get("job", ""), labels.get("instance", ""))
        if labels["ml_feature"] == SCORE_FEATURE:
            predictions[instance] += count
        if key not in at_start:
            new.add(instance)
    source = {
        "kind": "prometheus",
        "url": base_url,
        "query": prometheus_query(start, end, job, model_version),
        "start": _iso(start),
        "end": _iso(end),
        "instances": [
            {"job": j, "instance": i, "predictions": n, "started_in_window": (j, i) in new}
            for (j, i), n in sorted(predictions.items())
        ],
    }
    warnings = [
        f"instance {i} (job {j}) contributed no predictions between {_iso(start)} and {_iso(end)}"
        for (j, i), n in sorted(predictions.items())
        if n == 0
    ]
    return Fetched({f: dict(b) for f, b in counts.items()}, source, {model_version} if model_version else set(), warnings)


def read_text(location: str, timeout: float = 30.0) -> str:
    if location.startswith(("http://", "https://")):
        return _get(location, timeout).decode()
    try:
        return Path(location).read_text()
    except OSError as exc:
        raise SourceError(f"{location}: {exc.strerror or exc}") from None


def from_exposition(texts: Iterable[tuple[str, str]], job: str | None = None) -> Fetched:
    """Sum ``ml_feature_bucket_total`` over every ``(location, exposition text)`` given."""
    counts: Counts = defaultdict(lambda: defaultdict(int))
    versions: set[str] = set()
    locations = []
    warnings = []
    for location, text in texts:
        locations.append(location)
        found = False
        predictions = 0
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as exc:
            raise SourceError(f"{location}: not a Prometheus text exposition ({exc})") from None
        for family in families:
            for sample in family.samples:
                if sample.name == "target_info" and "ml_model_version" in sample.labels:
                    versions.add(sample.labels["ml_model_version"])
                if sample.name != SERIES or (job and sample.labels.get("job", job) != job):
                    continue
                found = True
                counts[sample.labels["ml_feature"]][sample.labels["ml_bucket"]] += round(sample.value)
                if sample.labels["ml_feature"] == SCORE_FEATURE:
                    predictions += round(sample.value)
                if "ml_model_version" in sample.labels:
                    versions.add(sample.labels["ml_model_version"])
        if not found:
            raise SourceError(f"{location}: no {SERIES} series (drift metrics off, or not this service's /metrics?)")
        if predictions == 0:
            warnings.append(f"{location} contributed no predictions (no traffic since that process started)")
    source = {"kind": "exposition", "locations": locations, "window": "since each process started"}
    return Fetched({f: dict(b) for f, b in counts.items()}, source, versions, warnings)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")
