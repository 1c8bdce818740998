"""Settings come from one place; a bad value names its variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.config import ENV_VARS, Settings, SettingsError


def test_defaults_match_the_contract() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.max_batch_size, settings.max_body_bytes) == (
        "127.0.0.1",
        8000,
        1000,
        1_048_576,
    )
    assert (settings.profile_sample_rate, settings.profile_interval_ms, settings.profile_top_n, settings.profile_slow_ms) == (
        0.1,
        1.0,
        5,
        250.0,
    )
    assert settings.telemetry_dir == Path("telemetry")
    assert not settings.faults_enabled and not settings.record_feature_values


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {"MAX_BATCH_SIZE": "50", "PROFILE_SAMPLE_RATE": "0.5", "RECORD_FEATURE_VALUES": "true", "TELEMETRY_DIR": "/tmp/t"}
    )
    assert (settings.max_batch_size, settings.profile_sample_rate, settings.record_feature_values) == (50, 0.5, True)
    assert settings.telemetry_dir == Path("/tmp/t")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"FAULT_ERROR_RATE": "1.5"}, "FAULT_ERROR_RATE"),
        ({"RECORD_FEATURE_VALUES": "maybe"}, "RECORD_FEATURE_VALUES"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"FAULT_BLOCK_LOOP_MS": "-1"}, "FAULT_BLOCK_LOOP_MS"),
        ({"LOOP_LAG_INTERVAL_MS": "0"}, "LOOP_LAG_INTERVAL_MS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_every_setting_is_in_the_settings_table_of_the_operations_guide() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", guide, re.MULTILINE))
    missing = [name for name, _, _ in ENV_VARS if name not in rows]
    assert not missing, f"docs/operations.md's settings table lacks {missing}"
