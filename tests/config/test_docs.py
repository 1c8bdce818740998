"""The README and docs/: a README read in minutes, links that lead somewhere, measured figures with their source.

Three promises of issue 22, checked on every page of README.md and docs/:

* the README stays short (at most ``README_MAX_LINES`` lines): the rest belongs in docs/;
* every relative link points at a file that exists, and every ``#anchor`` at a heading of that file
  (GitHub's slugs), so a renamed heading or a moved page fails here instead of in a reader's browser;
* measured figures live in BENCHMARKS.md: any other page may mention one only in a passage that links to
  BENCHMARKS.md.

What counts as a measured figure (``measured_figures``) is deliberately narrow, so settings stay free to
be written down: microseconds (no setting is in µs), milliseconds with a decimal point or as a range
(settings are whole ms: ``PROFILE_SLOW_MS`` 250 ms), ratios like ``1.42×``, throughputs in req/s or
rows/s, and any figure with a unit in a passage that says "measured". Fenced code blocks (commands and
sample outputs: what one run printed, not a claim about cost) and inline code (setting values, names)
are not read. ``test_the_figure_check_*`` pins what the detector catches and what it lets through.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 260
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
NUMBER = r"\d[\d,]*(?:\.\d+)?"
RANGE = rf"{NUMBER}(?:\s*[-–]\s*{NUMBER})?"
FIGURES = [
    re.compile(rf"{RANGE}\s*(?:µs|μs|us\b|microseconds?\b)"),  # no setting is in microseconds
    re.compile(r"\d+\.\d+\s*ms\b"),  # a decimal ms: settings are whole ms
    re.compile(rf"{NUMBER}\s*[-–]\s*{NUMBER}\s*ms\b"),  # a range of ms
    re.compile(r"\d+(?:\.\d+)?\s?[×x](?![\w\d])(?!\s*\d)"),  # a ratio (1.42×, 0.74x), not a product (4 × 8 KiB)
    re.compile(rf"{NUMBER}\s*(?:req|requests|rows)/s\b"),
]
MEASURED = re.compile(r"\bmeasured\b", re.IGNORECASE)
ANY_UNIT = re.compile(rf"{RANGE}\s*(?:µs|μs|us|ms|s|seconds?|minutes?|KB|MB|GB|%|×)(?!\w)")
BENCHMARKS_LINK = re.compile(r"\]\((?:\.\./|\./)?BENCHMARKS\.md(?:#[^)]*)?\)")


def _prose(text: str) -> str:
    """The page without fenced code blocks (their lines kept blank, so line numbers stay right)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _passages(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each paragraph, list item and table row, outside code blocks."""
    passages: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(_prose(text).splitlines(), 1):
        new_item = line.lstrip().startswith(("|", "* ", "- ")) or re.match(r"\s*\d+\. ", line) is not None
        if not line.strip() or new_item or (current and current[0].lstrip().startswith("|")):
            if current:
                passages.append((start, " ".join(current)))
            current = []
        if line.strip():
            if not current:
                start = number
            current.append(line)
    if current:
        passages.append((start, " ".join(current)))
    return passages


def measured_figures(passage: str) -> list[str]:
    """The figures in one passage that read as measurements (the module docstring says which)."""
    text = INLINE_CODE.sub(" ", passage)
    found = [m.group(0) for pattern in FIGURES for m in pattern.finditer(text)]
    if MEASURED.search(text):
        found += [m.group(0) for m in ANY_UNIT.finditer(text)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps only its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(_prose(page.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def _relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(INLINE_CODE.sub(" ", _prose(page.read_text()))) if not re.match(r"[a-z]+:", t)]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_there_is_a_readme_and_docs() -> None:
    names = {_name(p) for p in PAGES}
    wanted = {"docs/telemetry.md", "docs/operations.md", "docs/stack.md", "docs/benchmarks.md"}
    assert "README.md" in names and wanted <= names, sorted(names)


def test_the_readme_reads_in_minutes() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file does not exist, or whose ``#anchor`` no heading there has."""
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {linked.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, f"{_name(page)}: " + "; ".join(broken)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\nSee [this](#page), [that](other.md#a-code-heading-here), [gone](gone.md), [moved](other.md#moved),\n"
        "[self](#nowhere) and [web](https://example.com/x.md).\n\n```\n[in code](gone-too.md)\n```\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#moved: no heading with the anchor #moved in other.md",
        "#nowhere: no heading with the anchor #nowhere in page.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_measured_figures_link_to_benchmarks(page: Path) -> None:
    unsourced = [
        f"line {line}: {figures}"
        for line, passage in _passages(page.read_text())
        if (figures := measured_figures(passage)) and not BENCHMARKS_LINK.search(passage)
    ]
    assert not unsourced, (
        f"{_name(page)} quotes measured figures without a link to BENCHMARKS.md (where they belong): " + "; ".join(unsourced)
    )


@pytest.mark.parametrize(
    "passage",
    [
        "straight to protobuf wire bytes: 7.5 µs per span against 31",  # the README's old encoder figure
        "the unsampled layer costs about 41 µs in-process",
        "a span costs 8–9 µs against 20 for the SDK tracer",
        "Measured in one run: **1.42× throughput**",
        "production now serves 3261 req/s",
        "normal requests kept a p99 of 6.62 ms",
        "Event-loop stall at p99.9: 19-24 → 0.7-4.4 ms.",
        "Measured: first build about 20 minutes, then a cached start in 32-39 s",
        "bare throughput ×1.4–1.6 and 0.74x of bare",
    ],
)
def test_the_figure_check_catches_measurements(passage: str) -> None:
    assert measured_figures(passage), passage


@pytest.mark.parametrize(
    "passage",
    [
        "Requests slower than `PROFILE_SLOW_MS` (250 ms by default) get hot functions",
        "one watchdog thread wakes every `min(PROFILE_SLOW_MS/4, 50 ms)`",
        "Largest request head; nginx's default is 4 × 8 KiB.",
        "bucket boundaries from `0.00005` to `10` seconds",
        "metrics every 10 s as compose sets them; the SDK's default is 60 s",
        "FAULT_SLOW_FEATURE_MS=300 make run",
        "W3C Trace Context level 2, flag `03`",
    ],
)
def test_the_figure_check_lets_settings_through(passage: str) -> None:
    assert not measured_figures(passage), passage


def test_the_figure_check_accepts_a_link_to_benchmarks() -> None:
    passage = "costs 5.2 µs per span ([BENCHMARKS.md](../BENCHMARKS.md#where-the-cpu-goes-telemetry-pieces-in-isolation))"
    assert measured_figures(passage) and BENCHMARKS_LINK.search(passage)
    assert not BENCHMARKS_LINK.search("costs 5.2 µs per span (BENCHMARKS.md)"), "naming the file is not a link"


def test_slugs_follow_github() -> None:
    assert slug("The embedded default (`make run`): the file export made cheap") == (
        "the-embedded-default-make-run-the-file-export-made-cheap"
    )
    assert slug("Small batches: `POST /predict/batch`") == "small-batches-post-predictbatch"
    assert slug("Without Grafana: curl") == "without-grafana-curl"


def test_every_make_target_the_docs_name_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    # A command: at the start of a line (code blocks) or of inline code, after any VAR=value settings.
    command = re.compile(r"(?:^|`)\s*(?:[A-Z_]+=\S+\s+)*make ([a-z][\w-]*)", re.MULTILINE)
    named = {(_name(page), t) for page in PAGES for t in command.findall(page.read_text())}
    missing = sorted(f"{page}: make {t}" for page, t in named if t not in targets)
    assert named and not missing, missing
