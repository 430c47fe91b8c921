"""Adapter for TwentyToo exports: one products CSV and one or more event CSVs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest._common import bare_products, images_folder
from atelier.ingest.report import IngestReport, Quarantine
from atelier.ingest.twentytoo_events import EventIngest
from atelier.ingest.twentytoo_products import read_products
from atelier.store.tables import write_table


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """Products first (events are checked against the catalogue), then every events file in order."""
    if len(inputs) < 2:
        raise InputError(
            f"twentytoo needs PRODUCTS.csv and at least one EVENTS.csv, found {len(inputs)} file(s)"
        )
    products_csv, *event_csvs = inputs
    images = images_folder(products_csv, settings.ingest)
    products = read_products(products_csv, report, quarantine, images)
    events = EventIngest(settings.ingest, products, out, report, quarantine)
    try:
        for path in event_csvs:
            events.read_file(path)
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
