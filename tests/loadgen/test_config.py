"""Every run is bounded and loopback-only unless told otherwise; bad options name themselves."""

from __future__ import annotations

import pytest

from service.loadgen.config import (
    MAX_DURATION_S,
    MAX_REQUESTS,
    ConfigError,
    LoadConfig,
    is_loopback,
)


def test_defaults_are_a_short_closed_loop_run_on_loopback() -> None:
    cfg = LoadConfig().resolved()
    assert (cfg.url, cfg.concurrency, cfg.rate, cfg.duration_s) == ("http://127.0.0.1:8000", 8, None, 10.0)


def test_a_count_bounded_run_is_still_bounded_in_time_and_vice_versa() -> None:
    by_count = LoadConfig(requests=100).resolved()
    assert by_count.duration_s is None and by_count.max_duration_s == MAX_DURATION_S
    by_time = LoadConfig(duration_s=5).resolved()
    assert by_time.max_requests == MAX_REQUESTS


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"duration_s": MAX_DURATION_S + 1}, "--duration"),
        ({"requests": MAX_REQUESTS + 1}, "--requests"),
        ({"requests": 0}, "--requests"),
        ({"concurrency": 0}, "--concurrency"),
        ({"concurrency": 100_000}, "--concurrency"),
        ({"rate": 1e9}, "--rate"),
        ({"timeout_s": 0}, "--timeout"),
        ({"scenario": "chaos"}, "--scenario"),
        ({"concurrency": 4, "rate": 10.0}, "not both"),
        ({"url": "ftp://127.0.0.1"}, "--url"),
    ],
)
def test_out_of_range_options_are_refused_by_name(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        LoadConfig(**options).resolved()  # type: ignore[arg-type]


def test_remote_targets_need_an_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="--allow-remote"):
        LoadConfig(url="http://10.1.2.3:8000").resolved()
    assert LoadConfig(url="http://10.1.2.3:8000", allow_remote=True).resolved().url == "http://10.1.2.3:8000"


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", "::"))
