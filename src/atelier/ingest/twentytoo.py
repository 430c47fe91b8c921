"""Adapter for TwentyToo exports: one products CSV and one or more event CSVs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest._common import ChunkReader, bare_products, images_folder
from atelier.ingest.report import IngestReport, Quarantine
from atelier.ingest.twentytoo_events import EventIngest, event_sources
from atelier.ingest.twentytoo_products import products_source, read_products
from atelier.store.tables import write_table


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """Products first (events are checked against the catalogue), then every events file in order; every
    file is checked to exist, with its required columns, before any work."""
    if len(inputs) < 2:
        raise InputError(
            f"twentytoo needs PRODUCTS.csv and at least one EVENTS.csv, found {len(inputs)} file(s)"
        )
    products_csv, *event_csvs = inputs
    catalogue, sources = products_source(products_csv), event_sources(event_csvs, settings.ingest)
    # The events are read from now on, in a thread, while the catalogue is cleaned (Python, per product).
    # Handed over rather than queued: the events' own worker thread holds a chunk in flight already.
    with ChunkReader(sources, "events", read_ahead=0) as chunks:
        products = read_products(catalogue, report, quarantine, images_folder(products_csv, settings.ingest))
        events = EventIngest(settings.ingest, products, out, report, quarantine)
        try:
            events.read(chunks)
        finally:
            events.close()
    if events.unknown_products:
        bare = bare_products(events.unknown_products)
        products = pl.concat([products, bare])
        report.tables["products"]["added_from_events"] = bare.height
    users, user_stats = events.users.finish(quarantine)
    write_table(products, out, "products")
    write_table(users, out, "users")
    report.tables["products"]["rows"] = products.height
    report.tables["users"] = user_stats
