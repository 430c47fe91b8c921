"""Adapter for basket files in the FIMI format (``retail.dat``, ``T10I4D100K.dat``): one basket per line.

Item ids are separated by white space; there are no users and no times. Each basket becomes a pseudo user
and a session (``basket-<line>`` for one file, ``<file stem>-<line>`` for several), with one purchase per
distinct item. Files are read in blocks of whole lines and each block is split and exploded column-wise, so a
100,000-basket file takes well under a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest._common import InteractionWriter, bare_products, users_from_activity
from atelier.ingest.csvfile import ROW
from atelier.ingest.report import FileCounts, IngestReport, Quarantine
from atelier.store.tables import write_table

_BLOCK_BYTES = 1 << 24  # whole lines, about this many bytes, per block


def basket_prefixes(inputs: Sequence[Path]) -> list[str]:
    """The prefix of the basket ids of each file: ``basket`` for a single file, else the file's stem."""
    for path in inputs:
        if not path.is_file():
            raise InputError(f"{path}: not a file; baskets expects FIMI .dat files (one basket per line)")
    if len(inputs) == 1:
        return ["basket"]
    stems = [p.stem for p in inputs]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise InputError(
            f"basket files must have distinct names (their baskets are named after them): {repeated}"
        )
    return stems


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """Every basket file into interactions; a bare product per item and a pseudo user per basket.

    Nothing in a basket line is unusable, so ``quarantine`` stays empty."""
    weight = float(settings.ingest.kind_weights["purchase"])
    writer = InteractionWriter(out, collect_product_ids=True)
    users: list[pl.DataFrame] = []
    repeated = 0
    try:
        for path, prefix in zip(inputs, basket_prefixes(inputs), strict=True):
            counts = report.file(path, "interactions")
            for block in _blocks(path):
                baskets, dropped = _read_block(block, prefix, counts)
                repeated += dropped
                users.append(baskets.select("user_id", n_events="size"))
                writer.write(_interactions(baskets, weight))
    finally:
        stats = writer.close()
    report.tables["interactions"] = {**stats, "repeated_items_dropped": repeated}
    products = bare_products(writer.product_ids)
    people = users_from_activity(pl.concat(users) if users else pl.DataFrame(schema={"user_id": pl.String}))
    write_table(products, out, "products")
    write_table(people, out, "users")
    report.tables["products"] = {"rows": products.height, "added_from_events": products.height}
    report.tables["users"] = {"rows": people.height, "note": "one pseudo user per basket"}


def _blocks(path: Path) -> Iterator[pl.DataFrame]:
    """The file as frames of (line number, text), a block of whole lines at a time."""
    first = 1
    with path.open("rb") as fh:
        while lines := fh.readlines(_BLOCK_BYTES):
            text = [line.decode("utf-8", errors="replace") for line in lines]
            rows = pl.int_range(first, first + len(text), dtype=pl.Int64, eager=True)
            yield pl.DataFrame({ROW: rows, "text": text})
            first += len(text)


def _read_block(block: pl.DataFrame, prefix: str, counts: FileCounts) -> tuple[pl.DataFrame, int]:
    """Non-empty baskets of a block (user_id, size, distinct items) and the number of repeats dropped."""
    counts.read(block.height)
    baskets = block.select(
        (pl.lit(prefix + "-") + pl.col(ROW).cast(pl.String)).alias("user_id"),
        pl.col("text").str.extract_all(r"\S+").alias("items"),
    ).with_columns(size=pl.col("items").list.len().cast(pl.Int64))
    empty = baskets["size"] == 0
    counts.filter_out("empty_basket", int(empty.sum()))
    baskets = baskets.filter(~empty).with_columns(pl.col("items").list.unique(maintain_order=True))
    counts.keep(baskets.height)
    dropped = int(baskets["size"].sum() or 0) - int(baskets["items"].list.len().sum() or 0)
    return baskets, dropped


def _interactions(baskets: pl.DataFrame, weight: float) -> pl.DataFrame:
    return (
        baskets.select("user_id", "items")
        .explode("items", empty_as_null=False)
        .select(
            pl.col("user_id"),
            pl.col("items").alias("product_id"),
            pl.col("user_id").alias("session_id"),
            pl.lit("purchase").alias("kind"),
            pl.lit(weight).alias("weight"),
        )
    )
