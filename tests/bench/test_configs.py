"""The ``make-run`` row measures what ``make run`` starts."""

from __future__ import annotations

import re
from pathlib import Path

from bench.configs import MAKE_RUN_PROFILE_SAMPLE_RATE, select

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def test_make_run_row_uses_the_makefiles_local_profile_rate() -> None:
    text = MAKEFILE.read_text()
    (rate,) = re.findall(r"^LOCAL_PROFILE_SAMPLE_RATE := (\S+)$", text, re.MULTILINE)
    assert (
        "PROFILE_SAMPLE_RATE=$${PROFILE_SAMPLE_RATE:-$(LOCAL_PROFILE_SAMPLE_RATE)}"
        in text.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    )
    assert rate == MAKE_RUN_PROFILE_SAMPLE_RATE
    (row,) = [c for c in select(["make-run"]) if c.name == "make-run"]
    assert row.env == {"PROFILE_SAMPLE_RATE": rate} and row.collector is None, (
        "make run: no collector, only the local profile rate"
    )
