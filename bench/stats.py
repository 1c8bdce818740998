"""Per-round samples, their medians per configuration, and ratios to the bare baseline (pure logic)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MB = 1_048_576
BATCH_MINIMUM = 0.75  # issue 23: production keeps at least this share of bare's throughput on small batches


@dataclass(frozen=True)
class Sample:
    """One measured round of one configuration."""

    config: str
    round: int
    requests: int
    duration_s: float
    p50_us: float
    p99_us: float
    server_cpu_s: float
    peak_rss_bytes: int
    client_cpu_s: float
    errors: int
    spans_received: int = 0
    receiver_cpu_s: float = 0.0
    rows_per_request: int = 1

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.throughput * self.rows_per_request

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s * 1e6 / self.requests if self.requests else float("nan")

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_s * 1e6 / self.requests if self.requests else float("nan")

    @property
    def receiver_cpu_us_per_request(self) -> float:
        return self.receiver_cpu_s * 1e6 / self.requests if self.requests else float("nan")

    @property
    def spans_per_request(self) -> float:
        return self.spans_received / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    """Medians over the rounds of one configuration (each metric's median taken on its own)."""

    config: str
    rounds: int
    throughput: float
    p50_us: float
    p99_us: float
    cpu_us_per_request: float
    peak_rss_bytes: float
    client_cpu_us_per_request: float
    receiver_cpu_us_per_request: float
    errors: int
    requests: int
    spans_per_request: float
    throughput_spread: float  # (max - min) / median over rounds: how noisy this configuration was
    rows_per_request: int = 1

    @property
    def rows_per_second(self) -> float:
        return self.throughput * self.rows_per_request

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(config: str, samples: Sequence[Sample]) -> Summary:
    if not samples:
        raise ValueError(f"no samples for {config}")
    throughputs = [s.throughput for s in samples]
    median_tp = statistics.median(throughputs)
    return Summary(
        config=config,
        rounds=len(samples),
        throughput=median_tp,
        p50_us=statistics.median(s.p50_us for s in samples),
        p99_us=statistics.median(s.p99_us for s in samples),
        cpu_us_per_request=statistics.median(s.cpu_us_per_request for s in samples),
        peak_rss_bytes=statistics.median(s.peak_rss_bytes for s in samples),
        client_cpu_us_per_request=statistics.median(s.client_cpu_us_per_request for s in samples),
        receiver_cpu_us_per_request=statistics.median(s.receiver_cpu_us_per_request for s in samples),
        errors=sum(s.errors for s in samples),
        requests=sum(s.requests for s in samples),
        spans_per_request=statistics.median(s.spans_per_request for s in samples),
        throughput_spread=(max(throughputs) - min(throughputs)) / median_tp if median_tp else float("nan"),
        rows_per_request=samples[0].rows_per_request,
    )


def summarize_all(samples: Iterable[Sample], order: Sequence[str]) -> dict[str, Summary]:
    """Summaries in ``order`` (configurations without samples are left out)."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.config, []).append(sample)
    return {name: summarize(name, grouped[name]) for name in order if name in grouped}


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; NaN when there is no usable baseline."""
    return value / baseline if baseline else float("nan")


@dataclass(frozen=True)
class Target:
    """One goal from the issue and whether the measurement meets it."""

    name: str
    goal: str
    measured: str
    met: bool


def check_targets(
    summaries: dict[str, Summary], speedup_single_row: float | None, batch_baselines: Mapping[str, str] | None = None
) -> list[Target]:
    """The issue's targets, evaluated on the medians (missing configurations are skipped).

    ``batch_baselines`` maps each production configuration serving batches to its bare baseline
    (same batches), held to :data:`BATCH_MINIMUM` of its throughput.
    """
    targets: list[Target] = []
    bare = summaries.get("bare")
    if bare is None:
        return targets
    competitors = [name for name in ("contrib", "fastapi-native", "reference") if name in summaries]

    def add_tp(name: str, minimum: float) -> None:
        if name in summaries:
            r = ratio(summaries[name].throughput, bare.throughput)
            targets.append(Target(f"{name} throughput", f">= {minimum:.2f}x bare", f"{r:.3f}x", r >= minimum))

    add_tp("production", 0.90)
    for name, baseline_name in (batch_baselines or {}).items():
        baseline = summaries.get(baseline_name)
        if name in summaries and baseline is not None:
            r = ratio(summaries[name].throughput, baseline.throughput)
            goal = f">= {BATCH_MINIMUM:.2f}x {baseline_name}"
            targets.append(Target(f"{name} throughput", goal, f"{r:.3f}x", r >= BATCH_MINIMUM))
    if "production" in summaries:
        r = ratio(summaries["production"].p50_us, bare.p50_us)
        targets.append(Target("production p50", "<= 1.10x bare", f"{r:.3f}x", r <= 1.10))
    add_tp("full", 0.60)
    add_tp("make-run", 0.40)
    if "make-run" in summaries:
        r = ratio(summaries["make-run"].p99_us, bare.p99_us)
        targets.append(Target("make-run p99", "<= 4x bare", f"{r:.3f}x", r <= 4.0))
    for name in ("production", "full"):
        if name not in summaries:
            continue
        ours = summaries[name]
        for other in competitors:
            theirs = summaries[other]
            ahead = ours.throughput > theirs.throughput and ours.cpu_us_per_request < theirs.cpu_us_per_request
            targets.append(
                Target(
                    f"{name} ahead of {other}",
                    "more req/s and fewer CPU µs/request",
                    f"{ours.throughput:.0f} vs {theirs.throughput:.0f} req/s, "
                    f"{ours.cpu_us_per_request:.0f} vs {theirs.cpu_us_per_request:.0f} µs",
                    ahead,
                )
            )
    if "bare-slow-sockets" in summaries:
        r = ratio(summaries["bare-slow-sockets"].p99_us, bare.p99_us)
        targets.append(Target("p99 with 500 slow-header sockets open", "<= 2x bare", f"{r:.2f}x", r <= 2.0))
    if speedup_single_row is not None:
        targets.append(
            Target("ONNX vs scikit-learn, single row", ">= 10x faster", f"{speedup_single_row:.1f}x", speedup_single_row >= 10)
        )
    return targets
