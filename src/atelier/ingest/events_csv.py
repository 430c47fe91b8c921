"""Adapter for a generic event log: one row per (user, item, event, time), columns named by the config.

``settings.ingest.events_csv`` says which column holds what (and the names of a file without header), e.g.
Taobao UserBehavior (``user_id,item_id,category_id,behavior_type,timestamp``, epoch seconds) or the Fashion
Campus clickstream (``session_id`` as the user, ``event_name``, ISO ``event_time``). Each file is read in
chunks; for every chunk:
1. every row with a user feeds that user's activity (first / last event, number of raw events);
2. rows whose event is not in ``event_kinds`` are filtered out as ``event_not_of_interest``;
3. repeats of an earlier row of interest (every column equal, in any file) are filtered out as ``duplicate``;
4. rows without a user, with a time that cannot be read, or without an item are quarantined
   (``missing_user_id``, ``bad_timestamp``, ``no_product_id``);
5. the rest become interactions with the kind of their event and its configured weight.
Products are bare rows (id only) for every item of a kept interaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from atelier.config import EventsCsvSettings, IngestSettings, Settings
from atelier.errors import ConfigError, InputError
from atelier.ingest import scan
from atelier.ingest._common import (
    REASON,
    ChunkReader,
    InteractionWriter,
    UserActivity,
    bare_products,
    ingest_chunks,
    quarantine_flagged,
    source_with_all_columns,
    unique,
    users_from_activity,
)
from atelier.ingest.columns import blank_to_null, parse_timestamps, row_hash
from atelier.ingest.csvfile import ROW, CsvSource
from atelier.ingest.report import FileCounts, IngestReport, Quarantine
from atelier.store.tables import write_table

_EPOCH = r"^\d+(\.\d+)?$"
_MILLISECONDS_FROM = 1e11  # an epoch above this is in milliseconds: 1e11 s is the year 5138


def event_times(text: pl.Series, formats: Sequence[str]) -> pl.Series:
    """Datetimes (UTC, naive, µs) from epoch numbers (seconds, or milliseconds when above 1e11) or dated text.

    Null where the value fits neither.
    """
    raw = pl.DataFrame({"text": text.str.strip_chars()})
    epoch = pl.col("text").cast(pl.Float64, strict=False)
    micros = pl.when(epoch > _MILLISECONDS_FROM).then(epoch * 1e3).otherwise(epoch * 1e6)
    frame = raw.select(
        numeric=pl.col("text").str.contains(_EPOCH).fill_null(False),
        from_epoch=micros.round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")),
    )
    if frame["numeric"].all():
        return frame["from_epoch"].alias(text.name)
    parsed = parse_timestamps(raw["text"], formats)
    return frame["from_epoch"].zip_with(frame["numeric"], parsed).alias(text.name)


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """Every input file, in order, into one interactions table; products and users from what they name."""
    # Every file and its header are checked before any work.
    sources = [event_source(path, settings.ingest) for path in inputs]
    log = EventLog(settings.ingest, out, report, quarantine)
    try:
        with ChunkReader(sources, "events") as chunks:
            ingest_chunks(chunks, "interactions", report, quarantine, log.chunk)
    finally:
        log.close()
    products = bare_products(log.writer.product_ids)
    users = users_from_activity(log.activity.summary())
    write_table(products, out, "products")
    write_table(users, out, "users")
    report.tables["products"] = {"rows": products.height, "added_from_events": products.height}
    report.tables["users"] = {
        "rows": users.height,
        "without_interactions": users.height - log.users_with_interactions(),
    }


def event_source(path: Path, settings: IngestSettings) -> CsvSource:
    """A reader of one event file: the mapped columns required, every other column of the header kept."""
    m = settings.events_csv
    if path.is_dir():
        raise InputError(f"{path}: is a folder; events-csv expects event CSV files")
    return source_with_all_columns(
        path,
        unique([m.user, m.item, m.event, m.timestamp, m.session]),
        chunk_rows=settings.chunk_size,
        column_names=m.column_names,
        delimiter=m.delimiter,
    )


class EventLog:
    """Reads mapped event files one after another into ``interactions.parquet``."""

    def __init__(
        self, settings: IngestSettings, out: Path, report: IngestReport, quarantine: Quarantine
    ) -> None:
        self.settings = settings
        self.mapping: EventsCsvSettings = settings.events_csv
        unweighted = sorted(set(self.mapping.event_kinds.values()) - set(settings.kind_weights))
        if unweighted:
            raise ConfigError(f"ingest.kind_weights has no weight for kind(s) {', '.join(unweighted)}")
        self.report = report
        self.quarantine = quarantine
        self.writer = InteractionWriter(out, collect_product_ids=True)
        self.activity = UserActivity()
        self.seen = scan.SeenRows()

    def chunk(self, rows: pl.DataFrame, path: Path, counts: FileCounts) -> None:
        """Clean one chunk of raw rows of ``path`` into interactions."""
        m = self.mapping
        rows = rows.with_columns(
            blank_to_null(pl.col(m.user)).alias("_user"),
            blank_to_null(pl.col(m.item)).alias("_item"),
            self._kind(),
            self._times(rows),
        )
        self.activity.observe(rows["_user"], rows["_ts"])

        interest = rows.filter(pl.col("_kind").is_not_null())
        counts.filter_out("event_not_of_interest", rows.height - interest.height)
        interest = self._drop_duplicates(interest, counts)

        reason = (
            pl.when(pl.col("_user").is_null())
            .then(pl.lit("missing_user_id"))
            .when(pl.col("_ts").is_null() & pl.lit(m.timestamp is not None))
            .then(pl.lit("bad_timestamp"))
            .when(pl.col("_item").is_null())
            .then(pl.lit("no_product_id"))
        )
        good = quarantine_flagged(
            interest.with_columns(reason.alias(REASON)), "interactions", path, counts, self.quarantine
        )
        counts.keep(good.height)
        self.writer.write(self._interactions(good))

    def _kind(self) -> pl.Expr:
        """Interaction kind of each row; null for events of no interest (all views when there is no event)."""
        m = self.mapping
        if m.event is None:
            return pl.lit("view").alias("_kind")
        kinds = (
            pl.col(m.event)
            .str.strip_chars()
            .replace_strict(m.event_kinds, default=None, return_dtype=pl.String)
        )
        return kinds.alias("_kind")

    def _times(self, rows: pl.DataFrame) -> pl.Series:
        m = self.mapping
        if m.timestamp is None:
            return pl.Series("_ts", [None] * rows.height, dtype=pl.Datetime("us"))
        return event_times(rows[m.timestamp], self.settings.timestamp_formats).alias("_ts")

    def _drop_duplicates(self, rows: pl.DataFrame, counts: FileCounts) -> pl.DataFrame:
        """Filter out exact repeats of an earlier row of interest (this chunk or any before, any file)."""
        raw = [c for c in rows.columns if c not in (ROW, "_user", "_item", "_kind", "_ts")]
        hashes = rows.select(row_hash(raw)).to_series()
        first = self.seen.first_seen(hashes)
        counts.filter_out("duplicate", int((~first).sum()))
        return rows.filter(first)

    def _interactions(self, rows: pl.DataFrame) -> pl.DataFrame:
        m = self.mapping
        weights = {k: float(w) for k, w in self.settings.kind_weights.items()}
        session = blank_to_null(pl.col(m.session)) if m.session else pl.lit(None, pl.String)
        event = pl.col(m.event).str.strip_chars() if m.event else pl.lit(None, pl.String)
        return rows.select(
            pl.col("_user").alias("user_id"),
            pl.col("_item").alias("product_id"),
            session.alias("session_id"),
            pl.col("_ts").alias("timestamp"),
            event.alias("event_name"),
            pl.col("_kind").alias("kind"),
            pl.col("_kind").replace_strict(weights, return_dtype=pl.Float64).alias("weight"),
        )

    def users_with_interactions(self) -> int:
        """Distinct users of the written interactions."""
        query = pl.scan_parquet(self.writer.path).select(pl.col("user_id").n_unique())
        return int(query.collect().item())

    def close(self) -> None:
        """Finish the interactions file."""
        self.report.tables["interactions"] = {**self.writer.close(), "dedup_hash_bytes": self.seen.nbytes}
