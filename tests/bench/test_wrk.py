"""The wrk Lua script and the parsing of its result line."""

from __future__ import annotations

import json

import pytest

from bench.wrk import RESULT_MARKER, lua_script, parse_output, sample_bodies

DONE_LINE = (
    'WRK_JSON {"requests":20000,"duration_us":10000000,"bytes":4000000,"connect_errors":0,"read_errors":1,'
    '"write_errors":0,"status_errors":3,"timeout_errors":2,"p50_us":3400,"p90_us":5000,"p99_us":41000,'
    '"max_us":90000,"mean_us":3900.5}'
)


def test_parse_output_reads_the_done_line_among_wrk_noise() -> None:
    stdout = "Running 10s test @ http://127.0.0.1:1/predict\n  1 threads and 8 connections\n" + DONE_LINE + "\n"
    result = parse_output(stdout, client_cpu_s=0.25)
    assert result.requests == 20000
    assert result.throughput == pytest.approx(2000.0)
    assert (result.p50_us, result.p90_us, result.p99_us, result.max_us) == (3400, 5000, 41000, 90000)
    assert result.errors == 6  # socket errors (read, timeout) and non-2xx answers all count
    assert result.status_errors == 3
    assert result.client_cpu_s == 0.25


def test_parse_output_without_the_done_line_fails_naming_it() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        parse_output("Running 10s test\nconnection refused\n")


def test_script_sends_every_body_and_prints_the_parsed_fields() -> None:
    bodies = sample_bodies(5)
    script = lua_script(bodies, path="/predict")
    for body in bodies:
        assert f"[[{body.decode()}]]" in script
    assert '"POST", "/predict"' in script
    # Every key parse_output reads is printed by the script's done().
    for key in json.loads(DONE_LINE[len(RESULT_MARKER) :]):
        assert f'"{key}":' in script


def test_sample_bodies_are_valid_varied_and_fixed_by_seed() -> None:
    from service.api.schemas import row_adapter

    bodies = sample_bodies(32)
    assert bodies == sample_bodies(32)
    assert len(set(bodies)) == 32
    for body in bodies:
        row_adapter().validate_json(body)


def test_script_refuses_bodies_that_would_break_the_lua_string() -> None:
    with pytest.raises(ValueError):
        lua_script([b'{"a":[[1]]}'])
    with pytest.raises(ValueError):
        lua_script([])
