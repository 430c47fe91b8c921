"""Adapter for the "Fashion Product Images" catalogue (Myntra; Kaggle paramaggarwal/fashion-product-images).

Input: ``styles.csv`` (or the folder holding it), with pictures as ``images/<id>.jpg`` beside it. The source
has no users and no events, so those tables are written empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from atelier.config import Settings
from atelier.errors import InputError
from atelier.ingest._common import (
    attributes_json,
    clean_catalogue,
    files_under,
    image_paths,
    images_folder,
    read_counted,
    trimmed,
    value_counts,
    write_empty,
)
from atelier.ingest.csvfile import CsvSource
from atelier.ingest.report import IngestReport, Quarantine
from atelier.store.tables import write_table

REQUIRED = ["id"]
OPTIONAL = [
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
]
# gender is kept too: target_audience folds Boys and Girls into "kids".
ATTRIBUTES = ["gender", "masterCategory", "subCategory", "season", "year", "usage"]
AUDIENCE = {"women": "women", "men": "men", "boys": "kids", "girls": "kids", "unisex": "unisex"}


def styles_file(inputs: Sequence[Path]) -> Path:
    """The one ``styles.csv`` among the inputs (a file, or a folder holding it)."""
    if len(inputs) != 1:
        raise InputError(
            f"fashion-product-images expects one styles.csv (or its folder), found {len(inputs)}"
        )
    path = inputs[0]
    if path.is_dir():
        path = path / "styles.csv"
        if not path.is_file():
            raise InputError(f"{inputs[0]}: folder holds no styles.csv")
    return path


def ingest(
    inputs: Sequence[Path], out: Path, settings: Settings, report: IngestReport, quarantine: Quarantine
) -> None:
    """styles.csv -> products; users and interactions written empty."""
    products = read_styles(styles_file(inputs), settings, report, quarantine)
    write_table(products, out, "products")
    write_empty(out, "users", "interactions")
    report.tables["products"] = {
        "rows": products.height,
        "with_image": int(products["image_path"].is_not_null().sum()),
        "by_target_audience": value_counts(products, "target_audience"),
    }
    report.tables["users"] = {"rows": 0}
    report.tables["interactions"] = {"rows": 0}


def read_styles(path: Path, settings: Settings, report: IngestReport, quarantine: Quarantine) -> pl.DataFrame:
    """Read and clean styles.csv into product rows (one per id; pictures resolved, not opened)."""
    counts = report.file(path, "products")
    raw = read_counted(CsvSource(path, REQUIRED, OPTIONAL), "products", counts, quarantine)
    rows = clean_catalogue(raw, "id", "products", path, counts, quarantine)
    images = images_folder(path, settings.ingest)
    return rows.with_columns(trimmed(OPTIONAL)).select(
        pl.col("id").alias("product_id"),
        pl.col("id").alias("group_id"),
        pl.col("productDisplayName").alias("title"),
        pl.col("articleType").alias("department"),
        pl.col("baseColour").alias("color"),
        pl.col("gender").str.to_lowercase().replace_strict(AUDIENCE, default=None).alias("target_audience"),
        image_paths(pl.col("id") + ".jpg", images, files_under(images)),
        attributes_json(ATTRIBUTES),
    )
