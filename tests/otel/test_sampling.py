"""The head sampler from OTEL_TRACES_SAMPLER[_ARG]: what it accepts, and refusing what it does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, TraceIdRatioBased

from otel.sampling import SamplerError, accepted, sampler_from_env


def planted_sampler(arg: str) -> Sampler:
    """An installed sampler plugin, as a later `jaeger_remote` would be (entry point of the SDK's group)."""
    return ParentBased(ALWAYS_ON) if arg == "" else TraceIdRatioBased(float(arg))


@pytest.mark.parametrize("name", ["parentbased_traceidration", "always-on", "jaeger", "traceid_ratio"])
def test_an_unknown_sampler_is_refused_naming_the_variable_and_the_accepted_names(name: str) -> None:
    with pytest.raises(SamplerError) as refused:
        sampler_from_env({"OTEL_TRACES_SAMPLER": name})
    message = str(refused.value)
    assert f"OTEL_TRACES_SAMPLER={name!r}" in message
    assert "parentbased_traceidratio" in message and "parentbased_always_on" in message


@pytest.mark.parametrize("arg", ["10", "-0.1", "0,1", "ten", "nan"])
def test_an_invalid_ratio_is_refused_naming_the_argument_variable(arg: str) -> None:
    with pytest.raises(SamplerError) as refused:
        sampler_from_env({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": arg})
    assert f"OTEL_TRACES_SAMPLER_ARG={arg!r}" in str(refused.value) and "0..1" in str(refused.value)


def test_a_valid_ratio_is_used_and_described() -> None:
    sampler, text = sampler_from_env({"OTEL_TRACES_SAMPLER": "ParentBased_TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": " 0.1 "})
    assert text == "parentbased_traceidratio (rate 0.1)"
    assert sampler.should_sample(None, 0xFFFFFFFFFFFFFFFFFFFF, "x").decision is Decision.DROP
    assert sampler.should_sample(None, 1, "x").decision is Decision.RECORD_AND_SAMPLE


def test_the_default_is_parentbased_always_on_and_a_ratio_without_argument_is_1() -> None:
    assert sampler_from_env({})[1] == "parentbased_always_on"
    assert sampler_from_env({"OTEL_TRACES_SAMPLER": "traceidratio"})[1] == "traceidratio (rate 1)"


def test_an_installed_sampler_entry_point_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "planted_sampler-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: planted-sampler\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[opentelemetry_traces_sampler]\nplanted_remote = {__name__}:planted_sampler\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert "planted_remote" in accepted()
    sampler, text = sampler_from_env({"OTEL_TRACES_SAMPLER": "planted_remote", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert isinstance(sampler, TraceIdRatioBased) and sampler.rate == 0.25
    assert text == "planted_remote (arg '0.25')"
    with pytest.raises(SamplerError, match="OTEL_TRACES_SAMPLER_ARG='x' refused"):
        sampler_from_env({"OTEL_TRACES_SAMPLER": "planted_remote", "OTEL_TRACES_SAMPLER_ARG": "x"})
