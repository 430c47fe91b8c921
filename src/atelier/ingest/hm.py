"""Adapter for the H&M Personalized Fashion Recommendations export (Kaggle, 2022).

Input: a folder holding ``articles.csv``, ``customers.csv`` and ``transactions.csv`` (pictures optional, as
``images/<first 3 digits>/<article_id>.jpg``), or those files named one by one (recognised by their names).
``customers.csv`` may be left out: users then come from the transactions alone.

- articles -> products. ``article_id`` stays text: its leading zero is part of the id. ``group_id`` is the
  ``product_code`` padded to the 7 digits it has inside ``article_id``, so that the colour variants of a
  style, and bare rows added for articles only the transactions name, share one group.
- customers -> users, with the age and its configured band; an age outside ``min_age..max_age`` (or not a
  number) is dropped and written to the quarantine, the customer is kept.
- transactions -> interactions (purchases), read in chunks; a session is a customer-day basket.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest._common import (
    REASON,
    ChunkReader,
    InteractionWriter,
    UserActivity,
    attributes_json,
    bare_products,
    clean_catalogue,
    files_under,
    header_columns,
    image_paths,
    images_folder,
    ingest_chunks,
    quarantine_flagged,
    read_counted,
    source_with_all_columns,
    trimmed,
    value_counts,
)
from atelier.ingest.columns import age_group, blank_to_null, parse_timestamps
from atelier.ingest.csvfile import CsvSource
from atelier.ingest.report import FileCounts, IngestReport, Quarantine
from atelier.schema import conform
from atelier.store.tables import write_table

ROLES = ("articles", "customers", "transactions")
REQUIRED_ROLES = ("articles", "transactions")
GROUP_CHARS = 7  # article_id = 7-digit product code (with its leading zero) + 3-digit colour variant

# articles.csv column -> canonical products column; every other column goes into `attributes`.
ARTICLE_COLUMNS = {
    "prod_name": "title",
    "product_type_name": "department",
    "colour_group_name": "color",
    "graphical_appearance_name": "pattern",
    "detail_desc": "description",
}
# index_group_name stays in `attributes` too: target_audience folds Ladieswear and Divided together.
_CONSUMED = {"article_id", "product_code", *ARTICLE_COLUMNS}
ARTICLE_OPTIONAL = [*ARTICLE_COLUMNS, "product_code", "index_group_name"]
AUDIENCE = {
    "Ladieswear": "women",
    "Divided": "women",
    "Menswear": "men",
    "Baby/Children": "kids",
    "Sport": "unisex",
}
TRANSACTION_COLUMNS = ["t_dat", "customer_id", "article_id"]


def hm_files(inputs: Sequence[Path]) -> dict[str, Path]:
    """Role (articles / customers / transactions) -> file, from a folder or from files named by role."""
    found: dict[str, Path] = {}
    for path in inputs:
        if path.is_dir():
            candidates = [path / f"{role}.csv" for role in ROLES if (path / f"{role}.csv").is_file()]
        else:
            candidates = [path]
        for candidate in candidates:
            role = next((r for r in ROLES if candidate.name.lower().startswith(r)), None)
            if role is None:
                raise InputError(
                    f"{candidate}: not an H&M file (expected articles, customers or transactions .csv)"
                )
            if role in found:
                raise InputError(f"two H&M {role} files given: {found[role]} and {candidate}")
            found[role] = candidate
    missing = [r for r in REQUIRED_ROLES if r not in found]
    if missing:
        shown = ", ".join(str(p) for p in inputs)
        raise InputError(f"hm needs {' and '.join(f'{r}.csv' for r in missing)}; found only: {shown}")
    return found


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """Articles, customers, then transactions (checked against both); every file is checked to exist, with its
    required columns, before any work."""
    files = hm_files(inputs)
    articles = source_with_all_columns(files["articles"], ["article_id"], ARTICLE_OPTIONAL)
    people = (
        source_with_all_columns(files["customers"], ["customer_id"], ["age"])
        if "customers" in files
        else None
    )
    sold = source_with_all_columns(
        files["transactions"], TRANSACTION_COLUMNS, chunk_rows=settings.ingest.chunk_size
    )
    # The transactions are read from now on, in a thread, while articles and customers are cleaned.
    with ChunkReader([sold], "transactions") as chunks:
        products = read_articles(articles, settings, report, quarantine)
        customers = read_customers(people, settings, report, quarantine) if people else None
        unknown, activity = read_transactions(
            chunks, products["product_id"], out, settings, report, quarantine
        )
    products = _with_bare_products(products, unknown, report)
    users = _users(customers, activity, report)
    write_table(products, out, "products")
    write_table(users, out, "users")


def read_articles(
    source: CsvSource, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> pl.DataFrame:
    """articles.csv -> canonical product rows (one per article_id)."""
    path = source.path
    counts = report.file(path, "products")
    raw = read_counted(source, "products", counts, quarantine)
    rows = clean_catalogue(raw, "article_id", "products", path, counts, quarantine)
    images = images_folder(path, settings.ingest)
    picture = pl.col("article_id").str.slice(0, 3) + "/" + pl.col("article_id") + ".jpg"
    group = pl.coalesce(
        pl.col("product_code").str.zfill(GROUP_CHARS), pl.col("article_id").str.slice(0, GROUP_CHARS)
    )
    products = rows.with_columns(trimmed(ARTICLE_OPTIONAL)).select(
        pl.col("article_id").alias("product_id"),
        group.alias("group_id"),
        *[pl.col(raw).alias(canonical) for raw, canonical in ARTICLE_COLUMNS.items()],
        pl.col("index_group_name").replace_strict(AUDIENCE, default=None).alias("target_audience"),
        image_paths(picture, images, files_under(images)),
        attributes_json([c for c in header_columns(source) if c not in _CONSUMED]),
    )
    return conform("products", products)


def read_customers(
    source: CsvSource, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> pl.DataFrame:
    """customers.csv -> users (user_id, age, age_group); unusable ages are quarantined, the users kept."""
    s = settings.ingest
    path = source.path
    counts = report.file(path, "users")
    raw = read_counted(source, "users", counts, quarantine)
    rows = clean_catalogue(raw, "customer_id", "users", path, counts, quarantine)
    rows = rows.with_columns(_text=blank_to_null(pl.col("age"))).with_columns(
        _age=pl.col("_text").cast(pl.Float64, strict=False)
    )
    reason = (
        pl.when(pl.col("_text").is_not_null() & pl.col("_age").is_null())
        .then(pl.lit("bad_age"))
        .when(~pl.col("_age").is_between(s.min_age, s.max_age))
        .then(pl.lit("age_out_of_range"))
    )
    rows = rows.with_columns(reason.alias(REASON))
    bad = rows.filter(pl.col(REASON).is_not_null())
    if bad.height:
        # The value is quarantined, not the row: the customer is kept (already counted) with no age.
        detail = pl.format("age {} (expected {}..{})", "_text", pl.lit(s.min_age), pl.lit(s.max_age))
        quarantine.add("users", bad, path, bad[REASON], bad.select(detail).to_series())
    report.tables["users"] = {"ages_rejected": value_counts(bad, REASON) if bad.height else {}}
    age = pl.when(pl.col(REASON).is_null()).then(pl.col("_age"))
    return rows.select(pl.col("customer_id").alias("user_id"), age.alias("age")).with_columns(
        age_group(pl.col("age"), s.age_groups), age_imputed=pl.lit(False)
    )


def read_transactions(
    chunks: ChunkReader,
    catalogue: pl.Series,
    out: Path,
    settings: Settings,
    report: IngestReport,
    quarantine: Quarantine,
) -> tuple[set[str], pl.DataFrame]:
    """transactions.csv -> interactions.parquet, in chunks; returns unknown article ids and user activity."""
    s = settings.ingest
    keep_unknown = (s.unknown_products or "keep") == "keep"
    known = catalogue.implode()
    unknown: set[str] = set()
    activity = UserActivity()
    writer = InteractionWriter(out)

    def chunk(rows: pl.DataFrame, path: Path, counts: FileCounts) -> None:
        rows = _clean_transactions(rows, s.timestamp_formats)
        activity.observe(rows["_user"], rows["_ts"])
        rows = rows.with_columns(_known=pl.col("_pid").is_in(known))
        rows = quarantine_flagged(
            rows.with_columns(_reason(keep_unknown)), "interactions", path, counts, quarantine
        )
        if keep_unknown:
            unknown.update(rows.filter(~pl.col("_known"))["_pid"].unique().to_list())
        # No de-duplication: H&M writes one line per unit bought, so identical lines are real purchases.
        counts.keep(rows.height)
        writer.write(_interactions(rows, s.kind_weights["purchase"]))

    try:
        ingest_chunks(chunks, "interactions", report, quarantine, chunk)
    finally:
        stats = writer.close()
    stats["customer_day_baskets"] = _baskets(writer)
    stats["unknown_products"] = "kept" if keep_unknown else "quarantined"
    report.tables["interactions"] = stats
    return unknown, activity.summary()


def _clean_transactions(rows: pl.DataFrame, formats: Sequence[str]) -> pl.DataFrame:
    return rows.with_columns(
        blank_to_null(pl.col("customer_id")).alias("_user"),
        blank_to_null(pl.col("article_id")).alias("_pid"),
        parse_timestamps(rows["t_dat"], formats).alias("_ts"),
    )


def _reason(keep_unknown: bool) -> pl.Expr:
    reason = (
        pl.when(pl.col("_user").is_null())
        .then(pl.lit("missing_user_id"))
        .when(pl.col("_ts").is_null())
        .then(pl.lit("bad_timestamp"))
        .when(pl.col("_pid").is_null())
        .then(pl.lit("no_product_id"))
    )
    if not keep_unknown:
        reason = reason.when(~pl.col("_known")).then(pl.lit("unknown_product"))
    return reason.otherwise(None).alias(REASON)


def _interactions(rows: pl.DataFrame, weight: float) -> pl.DataFrame:
    return rows.select(
        pl.col("_user").alias("user_id"),
        pl.col("_pid").alias("product_id"),
        (pl.col("_user") + "|" + pl.col("_ts").dt.strftime("%Y-%m-%d")).alias("session_id"),
        pl.col("_ts").alias("timestamp"),
        pl.lit("purchase").alias("event_name"),
        pl.lit("purchase").alias("kind"),
        pl.lit(float(weight)).alias("weight"),
    )


def _baskets(writer: InteractionWriter) -> int:
    return pl.scan_parquet(writer.path).select(pl.col("session_id").n_unique()).collect().item()


def _with_bare_products(products: pl.DataFrame, unknown: set[str], report: IngestReport) -> pl.DataFrame:
    """The catalogue plus a bare row (id and group only) for each article that only transactions name."""
    bare = bare_products(unknown, group_chars=GROUP_CHARS)
    stats: dict[str, Any] = {
        "from_catalogue": products.height,
        "added_from_events": bare.height,
        "with_image": int(products["image_path"].is_not_null().sum()),
        "by_target_audience": value_counts(products, "target_audience"),
    }
    products = pl.concat([products, bare])
    report.tables["products"] = {"rows": products.height, **stats}
    return products


def _users(customers: pl.DataFrame | None, activity: pl.DataFrame, report: IngestReport) -> pl.DataFrame:
    """Customers with their purchase activity, plus a bare row for each buyer missing from customers.csv."""
    if customers is None:
        customers = pl.DataFrame(
            schema={
                "user_id": pl.String,
                "age": pl.Float64,
                "age_group": pl.String,
                "age_imputed": pl.Boolean,
            }
        )
    users = customers.join(activity, on="user_id", how="full", coalesce=True)
    added = int(users["age_imputed"].is_null().sum())  # bare rows: only the activity side had them
    users = users.with_columns(pl.col("age_imputed").fill_null(False), pl.col("n_events").fill_null(0)).sort(
        "user_id"
    )
    stats = report.tables.setdefault("users", {})
    stats.update(
        rows=users.height,
        from_customers=customers.height,
        added_from_events=added,
        age_missing=int(users["age"].is_null().sum()),
        by_age_group=value_counts(users, "age_group"),
    )
    return conform("users", users)
