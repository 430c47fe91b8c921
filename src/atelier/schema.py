"""The canonical tables: the data contract between ingestion and everything downstream.

Every adapter (TwentyToo, H&M, Fashion Product Images, a generic event log, basket files) writes these three
tables and nothing else; models, evaluation and the API only ever read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from atelier.errors import InputError


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    dtype: pl.DataType
    required: bool  # True: never null
    doc: str


PRODUCTS = (
    Column("product_id", pl.String(), True, "shop product id (lower-case hex for TwentyToo)"),
    Column("group_id", pl.String(), True, "the style its colour variants share (itself when it has none)"),
    Column("title", pl.String(), False, "product title"),
    Column("brand", pl.String(), False, "brand"),
    Column("department", pl.String(), False, "department / article type, e.g. Dresses"),
    Column("color", pl.String(), False, "main colour"),
    Column("target_audience", pl.String(), False, "women / men / kids / unisex"),
    Column("description", pl.String(), False, "free-text description"),
    Column("price", pl.Float64(), False, "current price"),
    Column("original_price", pl.Float64(), False, "price before any sale"),
    Column("currency", pl.String(), False, "ISO currency of price"),
    Column("price_valid_from", pl.Date(), False, "start of validity of the current price"),
    Column("price_valid_to", pl.Date(), False, "end of validity of the current price (null: open)"),
    Column("is_available", pl.Boolean(), False, "in stock"),
    Column("rating", pl.Float64(), False, "mean review rating"),
    Column("rating_count", pl.Int64(), False, "number of reviews"),
    Column("colors", pl.List(pl.String()), False, "every colour named by the shop"),
    Column("pattern", pl.String(), False, "pattern, e.g. Plain, Striped"),
    Column("material", pl.String(), False, "material"),
    Column("composition", pl.String(), False, "fibre composition"),
    Column("care", pl.String(), False, "care instructions"),
    Column("measurements", pl.String(), False, "size chart as the shop wrote it"),
    Column("sku", pl.String(), False, "stock keeping unit"),
    Column("product_url", pl.String(), False, "page of the product in the shop"),
    Column("website", pl.String(), False, "shop / website code"),
    Column("image_urls", pl.List(pl.String()), False, "picture addresses"),
    Column("image_path", pl.String(), False, "local picture file, when one was found"),
    Column("attributes", pl.String(), False, "every other attribute, as a JSON object"),
)

USERS = (
    Column("user_id", pl.String(), True, "shop user id"),
    Column("birth_date", pl.Date(), False, "birth date found in the user's answers"),
    Column("age", pl.Float64(), False, "age in years at the last event of the data (imputed when flagged)"),
    Column("age_group", pl.String(), False, "age band from the configured age groups"),
    Column("age_imputed", pl.Boolean(), True, "age predicted by regression, not given by the user"),
    Column("gender", pl.String(), False, "gender, where the source knows it"),
    Column("city", pl.String(), False, "city (filled from region when missing)"),
    Column("region", pl.String(), False, "region (filled from city when missing)"),
    Column("platform", pl.String(), False, "platform of the user's last event"),
    Column("first_seen", pl.Datetime("us"), False, "time of the user's first event"),
    Column("last_seen", pl.Datetime("us"), False, "time of the user's last event"),
    Column("n_events", pl.Int64(), True, "raw events of the user (of interest or not)"),
)

INTERACTIONS = (
    Column("user_id", pl.String(), True, "who"),
    Column("product_id", pl.String(), True, "which product"),
    Column("session_id", pl.String(), False, "session (or basket) the event belongs to"),
    Column("timestamp", pl.Datetime("us"), False, "when (UTC; null only for basket files without time)"),
    Column("event_name", pl.String(), False, "raw event name"),
    Column("button_name", pl.String(), False, "raw button name"),
    Column("kind", pl.String(), True, "view / click / wishlist / bag / purchase"),
    Column("weight", pl.Float64(), True, "strength of the signal, from the configured mapping"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "products": PRODUCTS,
    "users": USERS,
    "interactions": INTERACTIONS,
}


def polars_schema(table: str) -> dict[str, pl.DataType]:
    """The polars schema of a canonical table, columns in contract order."""
    return {c.name: c.dtype for c in TABLES[table]}


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Return ``df`` with exactly the canonical columns of ``table``, in order and with their types.

    Optional columns the source does not have are added as nulls; extra columns are dropped. A required
    column that is absent or holds a null is a bug in the adapter, reported as an InputError.
    """
    columns = TABLES[table]
    exprs = []
    for c in columns:
        if c.name in df.columns:
            exprs.append(pl.col(c.name).cast(c.dtype, strict=False))
        elif c.required:
            raise InputError(f"{table} table: required column {c.name!r} missing (found {df.columns})")
        else:
            exprs.append(pl.lit(None, dtype=c.dtype).alias(c.name))
    out = df.select(exprs)
    for c in columns:
        if c.required and out[c.name].null_count():
            raise InputError(
                f"{table} table: required column {c.name!r} has {out[c.name].null_count()} nulls"
            )
    return out


def empty(table: str) -> pl.DataFrame:
    """An empty canonical table."""
    return pl.DataFrame(schema=polars_schema(table))
