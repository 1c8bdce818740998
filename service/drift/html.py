"""The drift report as one self-contained HTML page: inline CSS and SVG, no script, no external asset.

Rendered from the report dict (``service.drift.report``), so the page and the JSON agree.
Every text taken from the report is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_COLORS = {"none": "#2e7d32", "moderate": "#ef6c00", "significant": "#c62828", "no_data": "#757575"}
_LABELS = {"none": "no drift", "moderate": "moderate drift", "significant": "significant drift", "no_data": "no data"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:0}
.muted{color:#59636e}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:12px 16px;min-width:180px}
.card b{display:block;font-size:20px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d1d9e0}
th,td{padding:5px 10px;border-bottom:1px solid #eef1f4;text-align:right}th{background:#f0f3f6}
td:first-child,th:first-child{text-align:left}
section.feature{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:14px 16px;margin:14px 0}
.head{display:flex;gap:12px;align-items:center;margin-bottom:8px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
svg text{font-size:10px;fill:#59636e}
details{margin-top:8px}
"""


def _badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{_COLORS[verdict]}">{escape(_LABELS[verdict])}</span>'


def _psi(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _bars(buckets: list[dict[str, Any]]) -> str:
    """Grouped bars, reference (grey) beside current (blue), per bucket; hover shows the numbers."""
    slot, bar, top, plot_h = 46, 17, 12, 130
    width = max(360, 40 + slot * len(buckets))
    peak = max([b["reference"] for b in buckets] + [b["current"] for b in buckets] + [1e-9])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + plot_h + 34}" role="img">']
    parts.append(f'<line x1="34" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" stroke="#d1d9e0"/>')
    parts.append(f'<text x="30" y="{top + 4}" text-anchor="end">{peak:.0%}</text>')
    for i, b in enumerate(buckets):
        x = 40 + i * slot
        for offset, key, color in ((0, "reference", "#9aa4ae"), (bar + 2, "current", "#1f6feb")):
            h = plot_h * b[key] / peak
            title = f"{b['bucket']} {b['range']}: {key} {b[key]:.1%}"
            parts.append(
                f'<rect x="{x + offset}" y="{top + plot_h - h:.1f}" width="{bar}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(title)}</title></rect>"
            )
        label = b["bucket"] if len(b["bucket"]) <= 8 else b["bucket"][:7] + "…"
        parts.append(f'<text x="{x + bar}" y="{top + plot_h + 14}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _feature(f: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(b['bucket'])}</td><td>{escape(b['range'])}</td><td>{b['reference']:.2%}</td>"
        f"<td>{b['current']:.2%}</td><td>{b['count']:g}</td><td>{b['psi_term']:.4f}</td></tr>"
        for b in f["buckets"]
    )
    notes = "".join(f'<div class="warn">{escape(n)}</div>' for n in f["notes"])
    return (
        f'<section class="feature" id="f-{escape(f["feature"])}"><div class="head"><h3>{escape(f["feature"])}</h3>'
        f'{_badge(f["verdict"])}<span class="muted">{escape(f["kind"])} · PSI {_psi(f["psi"])} · {f["count"]:g} '
        "values</span></div>"
        f'{notes}<div class="legend muted"><span style="background:#9aa4ae"></span>reference (training)'
        f'<span style="background:#1f6feb"></span>current</div>{_bars(f["buckets"])}'
        f"<details><summary>buckets</summary><table><tr><th>bucket</th><th>range</th><th>reference</th>"
        f"<th>current</th><th>count</th><th>PSI term</th></tr>{rows}</table></details></section>"
    )


def render(report: dict[str, Any]) -> str:
    summary, method, source = report["summary"], report["method"], report["source"]
    where = source.get("url") or ", ".join(source.get("locations", []))
    window = f"{source['start']} → {source['end']}" if "start" in source else source.get("window", "")
    by_psi = sorted(report["features"], key=lambda f: -1.0 if f["psi"] is None else f["psi"], reverse=True)
    table = "".join(
        f'<tr><td><a href="#f-{escape(f["feature"])}">{escape(f["feature"])}</a></td><td>{escape(f["kind"])}</td>'
        f"<td>{_psi(f['psi'])}</td><td>{_badge(f['verdict'])}</td><td>{f['count']:g}</td></tr>"
        for f in by_psi
    )
    warnings = "".join(f'<div class="warn">{escape(w)}</div>' for w in report["warnings"])
    thresholds = method["thresholds"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report["title"])}</title><style>{_CSS}</style></head><body><main>
<h1>{escape(report["title"])}</h1>
<div class="muted">{escape(source["kind"])}: {escape(where)} · window {escape(window)} · \
generated {escape(report["generated_at"])}</div>
{warnings}
<div class="cards">
<div class="card">Input drift<b>{_badge(summary["verdict"])}</b></div>
<div class="card">Drifted features<b>{len(summary["drifted_features"])} of {summary["features"]}</b>
<span class="muted">{escape(", ".join(summary["drifted_features"]) or "none")}</span></div>
<div class="card">Prediction drift (score)<b>{_badge(summary["prediction_verdict"])}</b>
<span class="muted">PSI {_psi(summary["prediction_psi"])}</span></div>
<div class="card">Predictions counted<b>{summary["rows"]:g}</b></div>
</div>
<p class="muted">PSI = {escape(method["formula"])}. Reference: {escape(method["reference"])}.
Moderate above {thresholds["moderate"]}, significant above {thresholds["significant"]}.</p>
<h2>Features by PSI</h2>
<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>verdict</th><th>values</th></tr>{table}</table>
<h2>Reference vs current distributions</h2>
{"".join(_feature(f) for f in report["features"])}
</main></body></html>
"""
