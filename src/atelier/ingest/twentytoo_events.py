"""TwentyToo event logs -> canonical ``interactions`` (streamed to Parquet) and observations for ``users``.

Each file is read in chunks (``ingest.chunk_size`` rows). For every chunk, column-wise:
1. each row's rule, time, product ids, trimmed ids and raw-row hash are read from the parser's Arrow columns
   (:class:`RowColumns`, compiled passes); every row feeds the user profile (answers, city, region, platform);
2. rows whose (event_name, button_name) no rule maps are filtered out as ``event_not_of_interest``;
   steps 1-2 need nothing but the chunk: a worker thread does them (:meth:`EventIngest._prepare`) while the
   main thread settles the chunk before (:meth:`EventIngest._settle`), which needs the earlier chunks;
   the worker also checks each row of interest (user, time, product ids, the catalogue), as that needs only
   the row;
3. exact duplicates of an earlier row of interest, in any file, are filtered out as ``duplicate``
   (:class:`~atelier.ingest.scan.SeenRows`: at most 16 bytes per kept row);
4. rows without a user, with a broken time, without a product id, or naming only unknown products are
   quarantined with that reason;
5. a row naming several products becomes one interaction per product, with the kind and weight of its rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from atelier.config import IngestSettings
from atelier.ingest import scan
from atelier.ingest._common import (
    REASON,
    ChunkReader,
    InteractionWriter,
    ingest_chunks,
    quarantine_flagged,
)
from atelier.ingest.columns import parse_timestamps, product_ids
from atelier.ingest.csvfile import ROW, Chunk, CsvSource
from atelier.ingest.report import FileCounts, IngestReport, Quarantine, Stopwatch
from atelier.ingest.users import UserAccumulator

REQUIRED = ["User_ID", "Session_ID", "event_time", "event_name", "button_name", "product_package"]
OPTIONAL = ["Question", "Answer", "city", "region", "platform"]
RAW = REQUIRED + OPTIONAL
# Read only from the parser's Arrow columns (by the compiled passes, and for the raw rows quarantined): a polars
# frame of them would copy their bytes, the packages' above all. The user profile reads the others from the frame.
ARROW_ONLY = ["User_ID", "Session_ID", "event_name", "button_name", "product_package", "Question"]


def event_sources(paths: Sequence[Path], settings: IngestSettings) -> list[CsvSource]:
    """A reader per events file; every file and its header are checked here, before any work is done."""
    return [
        CsvSource(p, REQUIRED, OPTIONAL, chunk_rows=settings.chunk_size, keep_text=True, text_only=ARROW_ONLY)
        for p in paths
    ]


class RowColumns:
    """What each raw row says on its own, computed from the chunk's Arrow columns (by the worker thread):

    - ``_rule``: index of the interaction rule of (event_name, button_name); null for an event of no interest;
    - ``_ts``: the event time (UTC, naive, microseconds); null where no configured format fits;
    - ``_ids``: the lower-cased product ids in ``product_package`` of the rows of interest (for the others:
      empty, or their ids when the regex runs);
    - ``_user``, ``_session``, ``_button``: those columns trimmed, blanks as null; ``_event``: event_name trimmed;
    - ``_hash``: a 64-bit hash of the whole raw row, for the rows of interest (exact duplicates; 0 otherwise).

    The compiled passes of :mod:`atelier.ingest.scan` do the work where the settings allow (ISO times first
    among the formats, a product-id pattern that is a run of one character class: the defaults); their polars
    twins in :mod:`atelier.ingest.columns` do it otherwise, and for the times the fast path leaves.
    """

    def __init__(self, settings: IngestSettings) -> None:
        self.rules = [(r.event, r.button) for r in settings.interaction_rules]
        self.formats = list(settings.timestamp_formats)
        self.pattern = settings.product_id_pattern
        self.id_class = scan.run_class(self.pattern)
        self.hash_seed = scan.hash_seed()

    def __call__(self, columns: Mapping[str, pa.ChunkedArray]) -> dict[str, pl.Series]:
        rule = scan.rule_index(columns["event_name"], columns["button_name"], self.rules)
        hashes = scan.row_hashes([columns[c] for c in RAW], rule, self.hash_seed)
        return {
            "_rule": _series(scan.arrow_array(rule, pa.int32(), valid=rule >= 0)),
            "_ts": self._times(columns["event_time"]),
            "_ids": self._ids(columns["product_package"], rule),
            "_user": _series(scan.trimmed(columns["User_ID"])),
            "_session": _series(scan.trimmed(columns["Session_ID"])),
            "_event": _series(scan.trimmed(columns["event_name"], blank_is_null=False)),
            "_button": _series(scan.trimmed(columns["button_name"])),
            "_hash": _series(scan.arrow_array(hashes, pa.uint64())),
        }

    def _times(self, text: pa.ChunkedArray) -> pl.Series:
        if not (self.formats and self.formats[0] == scan.ISO_SECONDS):
            return parse_timestamps(_series(text), self.formats)
        micros, state = scan.iso_timestamps(text)
        times = _series(scan.arrow_array(micros, pa.timestamp("us"), valid=state == 1))
        left = np.flatnonzero(state == 2)
        if left.size:
            # Only those values go to polars (``take`` from an Arrow index: ``pa.array`` would import pandas).
            others = _series(text.take(scan.arrow_array(left, pa.int64())))
            times = times.scatter(left, parse_timestamps(others, self.formats))
        return times

    def _ids(self, package: pa.ChunkedArray, rule: np.ndarray) -> pl.Series:
        if self.id_class is not None:
            return _series(scan.find_ids(package, rule, *self.id_class))
        found = _series(package).to_frame("p").select(product_ids(pl.col("p"), self.pattern))
        return found.to_series().list.eval(pl.element().str.to_lowercase())


def _series(values: pa.Array | pa.ChunkedArray) -> pl.Series:
    series = pl.from_arrow(values, rechunk=False)
    assert isinstance(series, pl.Series)
    return series


@dataclass
class _Prepared:
    """What a chunk says on its own: its raw rows (the frame, and the ``ARROW_ONLY`` columns as Arrow text); its
    rows of interest, narrowed, each with the hash of the raw row, the number of product ids ``_n``, the reason
    it cannot be used (or null) and, for a row naming one product, that product (``_pid``) and whether the
    catalogue lists it (``_known``); the rows naming several products, one row per distinct product (``_pid``,
    ``_known``, ``_any``: the row names a known one); and its user summary and birth dates
    (:meth:`UserAccumulator.plans`)."""

    rows: pl.DataFrame
    arrow_only: dict[str, pa.ChunkedArray]
    interest: pl.DataFrame
    several: pl.DataFrame
    summary: pl.DataFrame
    births: pl.DataFrame


class EventIngest:
    """Reads TwentyToo event files one after another into one interactions Parquet file."""

    def __init__(
        self,
        settings: IngestSettings,
        catalogue: pl.DataFrame,
        out: Path,
        report: IngestReport,
        quarantine: Quarantine,
    ) -> None:
        self.settings = settings
        self.catalogue_ids = catalogue["product_id"].implode()  # what is_in takes; made once
        self.departments = catalogue.select("product_id", "department")
        self.report = report
        self.quarantine = quarantine
        self.users = UserAccumulator(settings)
        self.seen = scan.SeenRows()
        self.watch = Stopwatch()  # the main thread's steps
        self.prepare_watch = Stopwatch()  # the worker thread's steps
        self.rules = settings.interaction_rules
        self.row_columns = RowColumns(settings)
        self.keep_unknown = (settings.unknown_products or "quarantine") == "keep"
        self.unknown_products: set[str] = set()
        self.writer = InteractionWriter(out)

    def read(self, chunks: ChunkReader) -> None:
        """Ingest the chunks of every events file, in order (see :func:`event_sources`)."""
        self.watch.reset()
        self.prepare_watch.reset()
        ingest_chunks(chunks, "interactions", self.report, self.quarantine, self._settle, self._prepare)

    def _prepare(self, chunk: Chunk, path: Path) -> _Prepared:
        """Steps 1-2 for a chunk, and the checks of each row of interest. Runs in a worker thread: of ``self`` it
        reads the settings, rules and catalogue, asks ``users`` for its queries (which read the settings only)
        and times itself on ``prepare_watch``."""
        watch = self.prepare_watch
        watch.lap("wait for the reader, or to hand over")
        text = chunk.take_text()
        rows = chunk.rows.with_columns(**self.row_columns(text))
        watch.lap("rules, times, ids, hashes (compiled)")
        # Rows of interest, narrowed to what the rest needs (raw columns of rows to quarantine are fetched back
        # by record number), each checked: a row's checks and its products need nothing but the row.
        catalogue = self.catalogue_ids
        interest = (
            rows.lazy()
            .filter(pl.col("_rule").is_not_null())
            .select(ROW, "_user", "_ts", "_rule", "_session", "_event", "_button", "_hash", "_ids")
            .with_columns(_n=pl.col("_ids").list.len().fill_null(0))
            .with_columns(
                pl.when(pl.col("_user").is_null())
                .then(pl.lit("missing_user_id"))
                .when(pl.col("_ts").is_null())
                .then(pl.lit("bad_timestamp"))
                .when(pl.col("_n") == 0)
                .then(pl.lit("no_product_id"))
                .alias(REASON),
                # Nearly every row names one product: those are checked without exploding.
                _pid=pl.when(pl.col("_n") == 1).then(pl.col("_ids").list.first()),
            )
            .with_columns(_known=pl.col("_pid").is_in(catalogue))
        )
        several = (
            interest.filter(pl.col(REASON).is_null() & (pl.col("_n") > 1))
            .select(
                ROW, "_user", "_ts", "_rule", "_session", "_event", "_button", pl.col("_ids").alias("_pid")
            )
            .explode("_pid", empty_as_null=False)
            .filter(pl.struct(ROW, "_pid").is_first_distinct())  # an id named twice in one package
            .with_columns(_known=pl.col("_pid").is_in(catalogue))
            .with_columns(_any=pl.col("_known").any().over(ROW))
        )
        summary, births, interest, several = pl.collect_all(
            [*self.users.plans(rows.lazy(), path), interest.drop("_ids"), several]
        )
        if not self.keep_unknown:
            naming_none = several.filter(~pl.col("_any"))[ROW].implode()
            unknown = pl.col(REASON).is_null() & (
                ((pl.col("_n") == 1) & ~pl.col("_known")) | pl.col(ROW).is_in(naming_none)
            )
            interest = interest.with_columns(
                pl.when(unknown).then(pl.lit("unknown_product")).otherwise(pl.col(REASON)).alias(REASON)
            )
        watch.lap("user profiles, rows of interest and their checks")
        arrow_only = {c: text[c] for c in ARROW_ONLY}
        return _Prepared(rows, arrow_only, interest, several, summary, births)

    def _settle(self, prepared: _Prepared, path: Path, counts: FileCounts) -> None:
        """Steps 3-5 for a chunk, in file order: counts, duplicates, quarantine, interactions, users."""
        self.watch.lap("wait for prepared chunk")
        rows, interest = prepared.rows, prepared.interest
        self.users.absorb(prepared.summary, prepared.births)
        counts.filter_out("event_not_of_interest", rows.height - interest.height)

        first = self.seen.first_seen(interest["_hash"])
        counts.filter_out("duplicate", int((~first).sum()))
        interest = interest.filter(first)
        self.watch.lap("duplicates")

        bad = interest.filter(pl.col(REASON).is_not_null()).select(ROW, REASON)
        good = interest.filter(pl.col(REASON).is_null())
        single = good.filter(pl.col("_n") == 1)
        several = prepared.several
        if several.height:  # of the first-seen rows only
            several = several.filter(pl.col(ROW).is_in(good.filter(pl.col("_n") > 1)[ROW].implode()))
        if self.keep_unknown:
            for part in (single, several):
                self.unknown_products.update(part.filter(~pl.col("_known"))["_pid"].to_list())
            single = single.with_columns(_known=pl.lit(True))
            several = several.with_columns(_known=pl.lit(True), _any=pl.lit(True))
        self._quarantine(prepared, bad, path, counts)
        # Unknown ids next to known ones in a kept row: the row is kept, the stray id is recorded.
        stray = several.filter(pl.col("_any") & ~pl.col("_known"))
        if stray.height:
            self.quarantine.add(
                "unknown_product_refs",
                stray.select(ROW, pl.col("_pid").alias("product_id")),
                path,
                "unknown_product",
                "row kept for its other products",
            )
            stats = self.report.tables.setdefault("interactions", {})
            stats["unknown_refs_in_kept_rows"] = stats.get("unknown_refs_in_kept_rows", 0) + stray.height
        self.watch.lap("product ids, checks, catalogue")

        columns = ["_user", "_pid", "_session", "_ts", "_event", "_button", "_rule", ROW]
        kept = pl.concat(
            [
                single.filter(pl.col("_known")).select(columns),
                several.filter(pl.col("_known")).select(columns),
            ]
        )
        # Counted from what is written, so a row lost on the way breaks the report's reconciliation.
        counts.keep(kept[ROW].n_unique())
        self._write(kept)
        self.watch.lap("hand to writer")

    def _quarantine(self, chunk: _Prepared, bad: pl.DataFrame, path: Path, counts: FileCounts) -> None:
        """Quarantine the raw rows of ``chunk`` whose record numbers ``bad`` lists (each once), with ``bad``'s
        reasons."""
        if bad.height:
            bad = bad.sort(ROW)
            # Record numbers grow through a chunk: each bad row is found by a binary search, not a pass, and only
            # those rows are gathered (a select of the chunk's columns first costs 3 ms a chunk).
            at = chunk.rows[ROW].search_sorted(bad[ROW])
            positions = scan.arrow_array(at.to_numpy().astype(np.int64), pa.int64())
            from_arrow = {c: _series(text.take(positions)).alias(c) for c, text in chunk.arrow_only.items()}
            raw = chunk.rows.select(
                *(pl.lit(from_arrow[c]) if c in from_arrow else pl.col(c).gather(at) for c in RAW),
                pl.col(ROW).gather(at),
                bad[REASON],
            )
            quarantine_flagged(raw, "interactions", path, counts, self.quarantine)

    def _write(self, kept: pl.DataFrame) -> None:
        kinds = pl.Series([r.kind for r in self.rules], dtype=pl.String)
        weights = pl.Series([float(r.weight) for r in self.rules], dtype=pl.Float64)
        table = kept.select(
            pl.col("_user").alias("user_id"),
            pl.col("_pid").alias("product_id"),
            pl.col("_session").alias("session_id"),
            pl.col("_ts").alias("timestamp"),
            pl.col("_event").alias("event_name"),
            pl.col("_button").alias("button_name"),
            pl.lit(kinds).gather(pl.col("_rule")).alias("kind"),
            pl.lit(weights).gather(pl.col("_rule")).alias("weight"),
        )
        self.writer.write(table)
        self.users.count_interactions(
            table.select("user_id", "product_id", "kind").join(self.departments, on="product_id", how="left")
        )

    def close(self) -> None:
        """Finish the Parquet file."""
        stats = self.writer.close()
        self.report.tables.setdefault("interactions", {}).update(
            stats
            | {
                "dedup_hash_bytes": self.seen.nbytes,
                # each step timed in the thread that does it; the two threads overlap
                "seconds_by_step": {
                    "worker thread": self.prepare_watch.to_dict(),
                    "main thread": self.watch.to_dict(),
                },
            }
        )
