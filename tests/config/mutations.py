"""Break one rule on purpose (a mutation) and pick the promtool test cases that exercise it.

A mutation edits only the text of its own rule (from ``- alert: NAME`` / ``- record: NAME`` to the
next rule), so ``for: 1m`` means that rule's ``for``, and the edit must match exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RULE_START = re.compile(r"^\s*- (?:alert|record): (?P<name>\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Mutation:
    """``old`` -> ``new`` inside rule ``rule``; ``breaks`` says what the edit breaks.

    ``fires``: the rule no longer fires (or records the right value) when provoked;
    ``quiet``: it fires (or records something) where it must not.
    ``via``: the rule whose tests must notice, when ``rule`` is an intermediate recorded series.
    """

    rule: str
    old: str
    new: str
    breaks: str
    via: str | None = None

    @property
    def tested_rule(self) -> str:
        return self.via or self.rule


def apply_mutation(rules_dir: Path, mutation: Mutation) -> Path:
    """Apply ``mutation`` to the rule file that defines its rule; return that file."""
    for path in sorted(rules_dir.glob("*.yml")):
        text = path.read_text()
        starts = list(_RULE_START.finditer(text))
        for i, match in enumerate(starts):
            if match["name"] != mutation.rule:
                continue
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            block = text[match.start() : end]
            count = block.count(mutation.old)
            if count != 1:
                raise AssertionError(f"{mutation.rule}: {mutation.old!r} occurs {count} times in its rule")
            path.write_text(text[: match.start()] + block.replace(mutation.old, mutation.new) + text[end:])
            return path
    raise AssertionError(f"no rule named {mutation.rule}")


def exercises(case: dict[str, Any], rule: str) -> bool:
    """Does this promtool test case check ``rule`` (an alert by name, a recorded series by query)?"""
    if any(check.get("alertname") == rule for check in case.get("alert_rule_test", [])):
        return True
    return any(
        re.search(rf"(?<![\w:]){re.escape(rule)}(?![\w:])", check.get("expr", "")) for check in case.get("promql_expr_test", [])
    )
