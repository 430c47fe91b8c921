"""Small pieces the adapters (twentytoo, hm, fashion-product-images, events-csv, baskets) share.

Reading a catalogue-like CSV with its accounting, quarantining rows by reason, streaming interactions to
Parquet, per-user activity summaries, bare product / user rows, and a listing of picture files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from queue import Queue
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from rich.progress import TaskID

from atelier.config import IngestSettings
from atelier.ingest.columns import blank_to_null
from atelier.ingest.csvfile import ROW, Chunk, CsvSource, Prefetch, read_all
from atelier.ingest.report import FileCounts, IngestReport, Quarantine
from atelier.progress import progress
from atelier.schema import conform, empty
from atelier.store.tables import table_path, write_table

REASON = "_reason"
BARE_ATTRIBUTES = '{"added_from_events": true}'


def unique(names: Iterable[str | None]) -> list[str]:
    """The names without None and repeats, first occurrence order (a column may serve two roles)."""
    return list(dict.fromkeys(n for n in names if n))


def account_chunk(chunk: Chunk, table: str, path: Path, counts: FileCounts, quarantine: Quarantine) -> None:
    """Count a chunk's rows as read and quarantine the lines the CSV parser could not split."""
    counts.read(chunk.rows.height + len(chunk.malformed))
    quarantine.add_malformed(table, chunk.malformed, path)
    counts.quarantine("malformed_csv_row", len(chunk.malformed))


class ChunkReader:
    """The chunks of several CSV files, one file after the other, read ahead in a background thread.

    Reading starts as soon as this is made, so the first chunks are ready when the caller is (it may clean
    a catalogue meanwhile), and the next file is opened while the last chunk of the previous one is worked
    on. Yields ``(source, chunk)``; shows a progress bar per file on a terminal. Use as a context manager.
    """

    def __init__(self, sources: Sequence[CsvSource], label: str, read_ahead: int = 1) -> None:
        """``read_ahead``: chunks read and waiting (see :class:`Prefetch`; 0 is a hand-over, one chunk less in
        memory)."""
        self.sources = list(sources)
        self.label = label
        self._chunks = Prefetch(
            ((source, chunk) for source in self.sources for chunk in source.chunks()),
            depth=read_ahead,
            name="csv-prefetch",
        )

    def __iter__(self) -> Iterator[tuple[CsvSource, Chunk]]:
        with progress() as bar:
            tasks: dict[CsvSource, TaskID] = {}
            for source, chunk in self._chunks:
                if source not in tasks:
                    tasks[source] = bar.add_task(f"{self.label} {source.path.name}", total=source.size)
                yield source, chunk
                bar.update(tasks[source], completed=chunk.bytes_done)

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._chunks.close()


def ingest_chunks(
    chunks: ChunkReader,
    table: str,
    report: IngestReport,
    quarantine: Quarantine,
    handle: Callable[[Any, Path, FileCounts], None],
    prepare: Callable[[Chunk, Path], Any] | None = None,
) -> None:
    """Every chunk of every file: counted as read, its malformed lines quarantined, its rows handed to
    ``handle(rows, path, counts)``. Every file is in the report, in order, even one without a row.

    With ``prepare``, ``handle`` gets ``prepare(chunk, path)`` instead of the rows, and a worker thread runs
    ``prepare`` on the next chunk while ``handle`` works on this one (both mostly in polars, which releases
    the GIL, so on two cores they overlap). ``prepare`` sees the chunks one at a time, in order.
    """
    counts = {source: report.file(source.path, table) for source in chunks.sources}
    if chunks.sources:
        # Every file's columns: a column only a later file has must not be cut from its quarantined rows.
        quarantine.declare(table, unique(c for source in chunks.sources for c in source.columns))
    if prepare is None:
        stage: Any = nullcontext((source, chunk, chunk.rows) for source, chunk in chunks)
    else:
        prepared = (
            (source, chunk, prepare(chunk, source.path) if chunk.rows.height else None)
            for source, chunk in chunks
        )
        # A hand-over, not a queue: one chunk more in flight costs tens of MB, and the reader is ahead already.
        stage = Prefetch(prepared, depth=0, name=f"{table}-prepare")
    with stage as ready:
        for source, chunk, work in ready:
            account_chunk(chunk, table, source.path, counts[source], quarantine)
            if chunk.rows.height:
                handle(work, source.path, counts[source])


def source_with_all_columns(
    path: Path, required: Sequence[str], optional: Sequence[str] = (), **options: Any
) -> CsvSource:
    """A CsvSource reading ``required``, ``optional`` (null when absent) and every other named column of the
    header, so that quarantined rows keep all their raw fields and exact duplicates compare whole rows."""
    header = CsvSource(path, required, **options).header
    return CsvSource(path, required, unique([*optional, *header]), **options)


def header_columns(source: CsvSource) -> list[str]:
    """The columns of ``source`` that its file really has (not the optional ones it lacks)."""
    return [c for c in source.columns if c in source.header]


def read_counted(source: CsvSource, table: str, counts: FileCounts, quarantine: Quarantine) -> pl.DataFrame:
    """The whole (small) file as text, every row counted as read and malformed lines quarantined."""
    quarantine.declare(table, source.columns)
    rows, malformed = read_all(source)
    account_chunk(Chunk(rows, malformed), table, source.path, counts, quarantine)
    return rows


def drop_exact_duplicates(rows: pl.DataFrame, counts: FileCounts) -> pl.DataFrame:
    """Rows with a repeat of an earlier row (every raw column equal) filtered out as ``duplicate``."""
    first = rows.select(pl.struct(pl.exclude(ROW)).is_first_distinct()).to_series()
    counts.filter_out("duplicate", rows.height - int(first.sum()))
    return rows.filter(first)


def quarantine_flagged(
    rows: pl.DataFrame, table: str, path: Path, counts: FileCounts, quarantine: Quarantine
) -> pl.DataFrame:
    """Quarantine the rows whose ``_reason`` is set (counted per reason); return the others."""
    bad = rows.filter(pl.col(REASON).is_not_null())
    if bad.height:
        quarantine.add(table, bad, path, bad[REASON])
        for reason, n in bad.group_by(REASON).len().iter_rows():
            counts.quarantine(reason, n)
    return rows.filter(pl.col(REASON).is_null())


def clean_catalogue(
    rows: pl.DataFrame, id_column: str, table: str, path: Path, counts: FileCounts, quarantine: Quarantine
) -> pl.DataFrame:
    """Exact duplicates filtered out; rows with a blank id, or repeating an id, quarantined; the rest kept.

    The id column is trimmed. Reasons: ``missing_<id_column>`` and ``duplicate_<id_column>`` (first row kept).
    """
    rows = drop_exact_duplicates(rows, counts)
    rows = rows.with_columns(blank_to_null(pl.col(id_column)).alias(id_column))
    reason = (
        pl.when(pl.col(id_column).is_null())
        .then(pl.lit(f"missing_{id_column}"))
        .when(~pl.col(id_column).is_first_distinct())
        .then(pl.lit(f"duplicate_{id_column}"))
    )
    kept = quarantine_flagged(rows.with_columns(reason.alias(REASON)), table, path, counts, quarantine)
    counts.keep(kept.height)
    return kept.drop(REASON)


def trimmed(columns: Sequence[str]) -> list[pl.Expr]:
    """Each column trimmed, blanks as null (for raw text copied into canonical columns)."""
    return [blank_to_null(pl.col(c)).alias(c) for c in columns]


def attributes_json(columns: Sequence[str]) -> pl.Expr:
    """A JSON object of ``columns`` (trimmed raw text, blanks as null), as the ``attributes`` column."""
    if not columns:
        return pl.lit(None, pl.String).alias("attributes")
    fields = pl.struct([blank_to_null(pl.col(c)).alias(c) for c in columns])
    return fields.struct.json_encode().alias("attributes")


def images_folder(catalogue: Path, settings: IngestSettings) -> Path:
    """Where product pictures are: ``ingest.images_dir`` when set, else ``images/`` beside the catalogue."""
    return Path(settings.images_dir) if settings.images_dir else catalogue.parent / "images"


def files_under(folder: Path) -> set[str]:
    """Paths (relative to ``folder``, ``/``-separated) of every file below it; empty when it is absent.

    Listing once is much cheaper than one ``stat`` per product on a catalogue of tens of thousands.
    """
    found: set[str] = set()
    if not folder.is_dir():
        return found
    for root, _, names in os.walk(folder):
        rel = Path(root).relative_to(folder).as_posix()
        prefix = "" if rel == "." else rel + "/"
        found.update(prefix + n for n in names)
    return found


def image_paths(relative: pl.Expr, folder: Path, present: set[str]) -> pl.Expr:
    """``image_path``: absolute path of ``folder/<relative>`` where that file is in ``present``, else null."""
    base = str(folder.resolve()) + os.sep
    found = relative.is_in(pl.Series(sorted(present), dtype=pl.String).implode())
    return pl.when(found).then(pl.lit(base) + relative).otherwise(None).alias("image_path")


def bare_products(ids: Iterable[str], group_chars: int | None = None) -> pl.DataFrame:
    """Product rows only events name: id, group (the id or its first ``group_chars``), a flag attribute."""
    frame = pl.DataFrame({"product_id": sorted(set(ids))}, schema={"product_id": pl.String})
    group = pl.col("product_id") if group_chars is None else pl.col("product_id").str.slice(0, group_chars)
    return conform("products", frame.with_columns(group_id=group, attributes=pl.lit(BARE_ATTRIBUTES)))


def value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Rows per value of ``column`` (null shown as "None"), for the report."""
    return {str(k): n for k, n in frame.group_by(column).len().sort(column).iter_rows()}


def write_empty(out: Path, *tables: str) -> None:
    """Write valid tables without rows (a source that has no users, say)."""
    for table in tables:
        write_table(empty(table), out, table)


class InteractionWriter:
    """Streams canonical interaction rows, chunk by chunk, into ``DATA_DIR/interactions.parquet``.

    Event logs are read in chunks so memory is bounded by the chunk, not the file; each chunk is checked by
    :func:`conform` exactly as :func:`write_table` checks a whole table. Encoding and writing happen in a
    background thread (pyarrow releases the GIL), so the next chunk is cleaned meanwhile; at most two chunks
    wait, and an error in the thread is raised by the next ``write`` or by ``close``.
    """

    _DONE = object()
    # Min / max only where they can let a reader skip a row group: event logs run in time order. Those of the
    # ids (unsorted) and of the few kinds and names (every row group has them all) cost a tenth of the encoding.
    WITH_STATISTICS = ("timestamp",)

    def __init__(self, out: Path, collect_product_ids: bool = False) -> None:
        """``collect_product_ids``: keep the set of product ids written (``product_ids``), for the adapters
        whose catalogue is made from the interactions; the others have a catalogue and leave it ``None``."""
        self.path = table_path(out, "interactions")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Arrow string views: polars hands its columns over without a copy.
        self._schema = empty("interactions").to_arrow(compat_level=pl.CompatLevel.newest()).schema
        assert set(self.WITH_STATISTICS) <= set(self._schema.names)  # pyarrow ignores unknown names silently
        self._writer: pq.ParquetWriter | None = None  # opened by the first rows, which choose its encodings
        self.rows = 0
        self.product_ids: set[str] | None = set() if collect_product_ids else None
        self.by_kind: dict[str, int] = {}
        self._queue: Queue = Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="parquet-writer", daemon=True)
        self._thread.start()

    def write(self, rows: pl.DataFrame) -> None:
        """Append canonical interaction rows."""
        if self._error is not None:
            raise self._error
        if rows.height:
            self._queue.put(conform("interactions", rows))

    def _drain(self) -> None:
        while (table := self._queue.get()) is not self._DONE:
            if self._error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self._write_now(table)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc

    def _open(self, first: pl.DataFrame | None) -> pq.ParquetWriter:
        """The Parquet file, its encodings chosen from the ``first`` rows written (None: no rows at all)."""
        # Times to the second are nearly all distinct: a dictionary for them costs a hash per value, is given
        # up, and leaves the file a tenth bigger. Day-only times (H&M) repeat, and there it is tiny.
        distinct_times = first is not None and first["timestamp"].n_unique() > first.height // 2
        columns = self._schema.names
        return pq.ParquetWriter(
            self.path,
            self._schema,
            compression="snappy",  # zstd doubles the cost of writing here, for a file a third smaller
            use_dictionary=[c for c in columns if not (distinct_times and c == "timestamp")],
            write_statistics=list(self.WITH_STATISTICS),
        )

    def _write_now(self, table: pl.DataFrame) -> None:
        if self._writer is None:
            self._writer = self._open(table)
        self._writer.write_table(table.to_arrow(compat_level=pl.CompatLevel.newest()))
        self.rows += table.height
        if self.product_ids is not None:
            self.product_ids.update(table["product_id"].unique().to_list())
        for kind, n in table.group_by("kind").len().iter_rows():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n

    def close(self) -> dict[str, Any]:
        """Finish the file; returns the table statistics for the report."""
        self._queue.put(self._DONE)
        self._thread.join()
        if self._writer is None:
            self._writer = self._open(None)
        self._writer.close()
        if self._error is not None:
            raise self._error
        return {"rows": self.rows, "by_kind": dict(sorted(self.by_kind.items()))}


class Folding:
    """Partial aggregates, one per chunk, merged every ``every`` chunks: memory is bounded by the keys (users,
    say), not by the rows, and a merge is paid once per ``every`` chunks instead of once per chunk.

    ``merge`` combines parts given in file order into one part (associative: the result of a merge is merged
    again with later parts).
    """

    def __init__(self, merge: Callable[[list[pl.DataFrame]], pl.DataFrame], every: int = 16) -> None:
        self._merge = merge
        self._every = every
        self._parts: list[pl.DataFrame] = []

    def add(self, part: pl.DataFrame) -> None:
        """Add one chunk's part (after the parts added before it)."""
        self._parts.append(part)
        if len(self._parts) >= self._every:
            self._parts = [self._merge(self._parts)]

    def result(self) -> pl.DataFrame | None:
        """Everything added, merged into one frame; None when nothing was added."""
        if len(self._parts) > 1:
            self._parts = [self._merge(self._parts)]
        return self._parts[0] if self._parts else None


class UserActivity:
    """Per-user first and last event time and event count, folded chunk by chunk."""

    def __init__(self) -> None:
        self._summary = Folding(_merge_activity, every=32)

    def observe(self, users: pl.Series, times: pl.Series | None = None) -> None:
        """Count one event per non-null entry of ``users``, at ``times`` (null: unknown time)."""
        frame = pl.DataFrame({"user_id": users.cast(pl.String)})
        ts = times if times is not None else pl.Series([None] * len(users), dtype=pl.Datetime("us"))
        frame = frame.with_columns(timestamp=ts.cast(pl.Datetime("us"))).filter(
            pl.col("user_id").is_not_null()
        )
        self._summary.add(
            frame.group_by("user_id").agg(
                first_seen=pl.col("timestamp").min(),
                last_seen=pl.col("timestamp").max(),
                n_events=pl.len().cast(pl.Int64),
            )
        )

    def summary(self) -> pl.DataFrame:
        """One row per user seen: user_id, first_seen, last_seen, n_events."""
        summary = self._summary.result()
        if summary is None:
            schema = {
                "user_id": pl.String,
                "first_seen": pl.Datetime("us"),
                "last_seen": pl.Datetime("us"),
                "n_events": pl.Int64,
            }
            return pl.DataFrame(schema=schema)
        return summary


def _merge_activity(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat(parts)
        .group_by("user_id")
        .agg(pl.col("first_seen").min(), pl.col("last_seen").max(), pl.col("n_events").sum())
    )


def users_from_activity(activity: pl.DataFrame) -> pl.DataFrame:
    """A canonical users table holding only what the events say (no demographics)."""
    return conform("users", activity.sort("user_id").with_columns(age_imputed=pl.lit(False)))
