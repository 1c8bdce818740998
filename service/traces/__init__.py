"""Read recorded requests back: the slowest, one trace's waterfall and hot functions, Parquet/CSV export.

``python -m service.traces --help`` (or the console script ``service-traces``) is the manual; the
sources are the embedded default's files, Jaeger's query API and Elasticsearch.
"""

from __future__ import annotations

from service.traces.cli import main
from service.traces.model import Query, Span, Trace, TracesError

__all__ = ["Query", "Span", "Trace", "TracesError", "main"]
