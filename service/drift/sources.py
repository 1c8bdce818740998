"""Where bucket counts come from: Prometheus over a time range, or a Prometheus text exposition.

* Prometheus (the stack): one instant query at ``end``,
  ``sum by (ml_feature, ml_bucket) (increase(ml_feature_bucket_total[<end - start>s]))``: the
  same sum over workers and replicas the recording rules do, with counter resets handled.
* An exposition (no Prometheus, the embedded default): the service's own ``/metrics`` or a
  saved copy of it (or of the Collector's ``:8889``). Counters there are cumulative since each
  process started, so the window is "since start"; several sources (one per worker) are summed.

Both give ``{feature: {bucket: count}}``.
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

SERIES = "ml_feature_bucket_total"
Counts = dict[str, dict[str, float]]
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


def prometheus_query(start: float, end: float, job: str | None = None, model_version: str | None = None) -> str:
    """The PromQL the report runs (also what a user can paste into Prometheus)."""
    matchers = []
    if job:
        matchers.append(f'job="{job}"')
    if model_version:
        # Collector-less scrapes carry no ml_model_version label: accept absent too.
        matchers.append(f'ml_model_version=~"{_regex_escape(model_version)}|"'.replace("\\", "\\\\"))
    window = max(round(end - start), 1)
    return f"sum by (ml_feature, ml_bucket) (increase({SERIES}{{{', '.join(matchers)}}}[{window}s]))"


def from_prometheus(
    base_url: str, start: float, end: float, job: str | None = None, model_version: str | None = None, timeout: float = 30.0
) -> Fetched:
    if end <= start:
        raise SourceError(f"--end must be after --start (got {end} <= {start})")
    query = prometheus_query(start, end, job, model_version)
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{end:.3f}"})
    try:
        answer = json.loads(_get(url, timeout))
    except json.JSONDecodeError:
        raise SourceError(f"{base_url}: not a Prometheus HTTP API (answer is not JSON)") from None
    if answer.get("status") != "success":
        raise SourceError(f"{base_url}: {answer.get('errorType')}: {answer.get('error')}")
    counts: Counts = defaultdict(dict)
    for item in answer["data"]["result"]:
        labels = item["metric"]
        counts[labels["ml_feature"]][labels["ml_bucket"]] = float(item["value"][1])
    source = {"kind": "prometheus", "url": base_url, "query": query, "start": _iso(start), "end": _iso(end)}
    return Fetched(dict(counts), source, {model_version} if model_version else set())


def read_text(location: str, timeout: float = 30.0) -> str:
    if location.startswith(("http://", "https://")):
        return _get(location, timeout).decode()
    try:
        return Path(location).read_text()
    except OSError as exc:
        raise SourceError(f"{location}: {exc.strerror or exc}") from None


def from_exposition(texts: Iterable[tuple[str, str]], job: str | None = None) -> Fetched:
    """Sum ``ml_feature_bucket_total`` over every ``(location, exposition text)`` given."""
    counts: Counts = defaultdict(lambda: defaultdict(float))
    versions: set[str] = set()
    locations = []
    for location, text in texts:
        locations.append(location)
        found = False
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
                counts[sample.labels["ml_feature"]][sample.labels["ml_bucket"]] += sample.value
                if "ml_model_version" in sample.labels:
                    versions.add(sample.labels["ml_model_version"])
        if not found:
            raise SourceError(f"{location}: no {SERIES} series (drift metrics off, or not this service's /metrics?)")
    source = {"kind": "exposition", "locations": locations, "window": "since each process started"}
    return Fetched({f: dict(b) for f, b in counts.items()}, source, versions)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")
