"""Write request records to CSV (standard library) or Parquet (pyarrow, the optional ``analysis`` extra).

Both carry the same columns (``records.columns``); Parquet keeps their types (UTC timestamp, int32 status,
float64 figures, strings), CSV writes the timestamp in ISO 8601 and empty cells for missing figures.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Final

from service.traces.model import TracesError
from service.traces.records import RequestRecord, columns

FORMATS: Final = ("parquet", "csv")
INSTALL_HINT: Final = "pip install -e '.[analysis]'"


def write_csv(found: list[RequestRecord], out: Path, top: int) -> None:
    """One header line, then one line per record."""
    names = [name for name, _ in columns(top)]
    try:
        with out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for rec in found:
                row = rec.row(top)
                row["start_time"] = rec.start_time.isoformat()
                writer.writerow(row)
    except OSError as exc:
        raise TracesError(f"{out}: {exc.strerror or exc}") from None


def require_pyarrow() -> None:
    """``TracesError`` naming the install command when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TracesError(f"export --format parquet needs pyarrow: {INSTALL_HINT} (or use --format csv)") from None


def write_parquet(found: list[RequestRecord], out: Path, top: int) -> None:
    """A typed Parquet file (pyarrow, imported here: it is an optional extra)."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int32(), "float": pa.float64(), "timestamp": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(name, types[kind]) for name, kind in columns(top)])
    rows = [rec.row(top) for rec in found]
    table = pa.Table.from_pylist(rows, schema=schema)
    try:
        pq.write_table(table, out)
    except OSError as exc:
        raise TracesError(f"{out}: {exc}") from None


def write(found: list[RequestRecord], out: Path, fmt: str, top: int) -> None:
    """Write ``found`` to ``out`` as ``fmt`` (one of ``FORMATS``)."""
    if fmt == "parquet":
        write_parquet(found, out, top)
    else:
        write_csv(found, out, top)
