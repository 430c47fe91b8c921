"""What ingestion did: counts per input file and table, and the quarantine files.

Every raw row read from a file ends in exactly one of three places, so that for each file
``rows_read == rows_kept + rows_quarantined + rows_filtered_out`` holds exactly:
- kept: it became (part of) a canonical row;
- quarantined: it could not be used; it is written to ``quarantine/<table>.csv`` with a ``reason``;
- filtered out: it was fine but not wanted (an event of no interest, an exact duplicate), counted by reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl
from rich.table import Table

QUARANTINE_META = ["source_file", "row", "reason", "detail"]


@dataclass
class FileCounts:
    """The fate of the rows of one input file feeding one table."""

    path: str
    table: str
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    rows_filtered_out: int = 0
    quarantined_by_reason: Counter = field(default_factory=Counter)
    filtered_out_by_reason: Counter = field(default_factory=Counter)

    def read(self, n: int) -> None:
        self.rows_read += n

    def keep(self, n: int) -> None:
        self.rows_kept += n

    def quarantine(self, reason: str, n: int = 1) -> None:
        if n:
            self.rows_quarantined += n
            self.quarantined_by_reason[reason] += n

    def filter_out(self, reason: str, n: int = 1) -> None:
        if n:
            self.rows_filtered_out += n
            self.filtered_out_by_reason[reason] += n

    @property
    def reconciles(self) -> bool:
        """True when every row read is accounted for exactly once."""
        return self.rows_read == self.rows_kept + self.rows_quarantined + self.rows_filtered_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "table": self.table,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_quarantined": self.rows_quarantined,
            "rows_filtered_out": self.rows_filtered_out,
            "quarantined_by_reason": dict(sorted(self.quarantined_by_reason.items())),
            "filtered_out_by_reason": dict(sorted(self.filtered_out_by_reason.items())),
            "reconciles": self.reconciles,
        }


@dataclass
class IngestReport:
    """Everything ``ingest_report.json`` says."""

    format: str
    out_dir: str
    files: list[FileCounts] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine_files: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def file(self, path: str | Path, table: str) -> FileCounts:
        """The counts of ``path`` feeding ``table`` (created on first use)."""
        for f in self.files:
            if f.path == str(path) and f.table == table:
                return f
        counts = FileCounts(str(path), table)
        self.files.append(counts)
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "out_dir": self.out_dir,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.seconds, 3),
            "files": [f.to_dict() for f in self.files],
            "tables": self.tables,
            "quarantine_files": self.quarantine_files,
            "reconciles": all(f.reconciles for f in self.files),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))

    def summary(self) -> Table:
        """A table for the terminal: one line per file and table, then the written tables."""
        table = Table(title=f"ingest ({self.format}) -> {self.out_dir}  in {self.seconds:.1f}s")
        for name in ("file", "table", "read", "kept", "quarantined", "filtered out", "top reasons"):
            table.add_column(name, justify="left" if name in ("file", "table", "top reasons") else "right")
        for f in self.files:
            reasons = (f.quarantined_by_reason + f.filtered_out_by_reason).most_common(3)
            table.add_row(
                Path(f.path).name,
                f.table,
                f"{f.rows_read:,}",
                f"{f.rows_kept:,}",
                f"{f.rows_quarantined:,}",
                f"{f.rows_filtered_out:,}",
                ", ".join(f"{r} {n:,}" for r, n in reasons),
            )
        for name, info in self.tables.items():
            table.add_row("[bold]written", name, "", f"{info.get('rows', 0):,}", "", "", "")
        return table


class Stopwatch:
    """Seconds spent per named step, summed over chunks (written to the report to show where time goes)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        """``clock``: wall time by default; ``time.process_time`` charges the CPU of every thread instead."""
        self.seconds: Counter = Counter()
        self._clock = clock
        self._last = clock()

    def lap(self, step: str) -> None:
        """Charge the time since the previous lap to ``step``."""
        now = self._clock()
        self.seconds[step] += now - self._last
        self._last = now

    def reset(self) -> None:
        """Start timing afresh (time before this is charged to nothing)."""
        self._last = self._clock()

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.most_common()}


class Quarantine:
    """Appends unusable rows to ``DATA_DIR/quarantine/<table>.csv`` with where they came from and why."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / "quarantine"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, tuple[IO[bytes], list[str]]] = {}

    def declare(self, table: str, raw_columns: list[str]) -> None:
        """Fix the columns of ``quarantine/<table>.csv``: metadata, the raw columns, and ``raw_text``."""
        if table in self._files:
            return
        columns = QUARANTINE_META + [c for c in raw_columns if c != "_row"] + ["raw_text"]
        fh = (self.dir / f"{table}.csv").open("wb")
        pl.DataFrame(schema={c: pl.String for c in columns}).write_csv(fh)
        self._files[table] = (fh, columns)

    def add(
        self,
        table: str,
        rows: pl.DataFrame,
        source_file: str | Path,
        reason: str | pl.Series,
        detail: str | pl.Series | None = None,
    ) -> None:
        """Quarantine ``rows`` (raw text columns plus ``_row``) for ``reason``."""
        if rows.height == 0:
            return
        self.declare(table, rows.columns)
        fh, columns = self._files[table]
        meta = {
            "source_file": pl.lit(str(source_file)),
            "row": pl.col("_row") if "_row" in rows.columns else pl.lit(None, pl.Int64),
            "reason": pl.lit(reason),
            "detail": pl.lit(detail, pl.String),
        }
        frame = rows.select(
            [
                (meta[c] if c in meta else pl.col(c) if c in rows.columns else pl.lit(None))
                .cast(pl.String)
                .alias(c)
                for c in columns
            ]
        )
        frame.write_csv(fh, include_header=False)

    def add_malformed(
        self, table: str, malformed: list[tuple[int | None, str]], source_file: str | Path
    ) -> None:
        """Quarantine lines the CSV parser could not split into the expected fields."""
        if malformed:
            rows = pl.DataFrame(
                {"_row": [m[0] for m in malformed], "raw_text": [m[1] for m in malformed]},
                schema={"_row": pl.Int64, "raw_text": pl.String},
            )
            self.add(table, rows, source_file, "malformed_csv_row", "wrong number of fields")

    def close(self) -> dict[str, str]:
        """Close every file; returns table -> path of the quarantine files written."""
        paths = {}
        for table, (fh, _) in self._files.items():
            fh.close()
            paths[table] = str(self.dir / f"{table}.csv")
        return paths
