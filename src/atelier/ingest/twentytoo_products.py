"""TwentyToo products export -> canonical ``products`` table."""

from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from atelier.ingest import fields as F
from atelier.ingest._common import drop_exact_duplicates, files_under, read_counted
from atelier.ingest.csvfile import ROW, CsvSource
from atelier.ingest.report import IngestReport, Quarantine
from atelier.progress import progress
from atelier.schema import conform, polars_schema

REQUIRED = ["product_id", "title", "price"]
OPTIONAL = ["_id", "brand", "website", "target_audience", "color", "department", "other_attributes"]

# other_attributes keys read into their own column; every other key stays in the `attributes` JSON.
_CONSUMED = {
    "sku",
    "Product_URL",
    "All_Reviews_Rating",
    "All_Reviews_Count",
    "Clothing-Color",
    "Images",
    "Availability",
    "is_available",
    "Clothing-Department",
    "Clothing-Pattern",
    "Clothing-Material",
    "Clothing-Composition",
    "All-Care",
    "Original>Description",
    "product_description",
    "CM_product_measurements",
    "child_product_ids",
}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def clean_product(raw: dict[str, Any]) -> dict[str, Any]:
    """One raw products row -> canonical fields (plus ``children``); BadValue when unusable.

    ``other_attributes`` that cannot be read do not cost the product: the raw text is kept under
    ``attributes._unparsed`` and ``attributes_unreadable`` is set.
    """
    pid = F.product_id(raw.get("product_id"))
    price = F.price_list(raw.get("price"))
    unreadable = False
    try:
        attrs = F.attributes(raw.get("other_attributes"))
    except F.BadValue:
        attrs, unreadable = {"_unparsed": raw.get("other_attributes")}, True
    colors = F.text_list(attrs.get("Clothing-Color"))
    available = F.to_bool_lenient(attrs.get("is_available", attrs.get("Availability")))
    if available is None:
        available = F.to_bool_lenient(attrs.get("Availability"))
    try:
        rating = F.to_float(attrs.get("All_Reviews_Rating"))
    except F.BadValue:
        rating = None
    try:
        count = F.to_float(attrs.get("All_Reviews_Count"))
    except F.BadValue:
        count = None
    extra = {k: v for k, v in attrs.items() if k not in _CONSUMED}
    if raw.get("_id") is not None:
        try:
            extra["mongo_id"] = F.object_id_hex(raw["_id"])
        except F.BadValue:
            extra["mongo_id_raw"] = raw["_id"]
    children = F.text_list(attrs.get("child_product_ids"))
    return {
        "product_id": pid,
        "title": F.clean_text(raw.get("title")),
        "brand": F.clean_text(raw.get("brand")),
        "website": F.clean_text(raw.get("website")),
        "target_audience": (F.clean_text(raw.get("target_audience")) or "").lower() or None,
        "department": F.clean_text(raw.get("department")) or F.clean_text(attrs.get("Clothing-Department")),
        "color": F.clean_text(raw.get("color")) or (colors[0] if colors else None),
        "colors": colors,
        "description": F.clean_text(attrs.get("product_description"))
        or F.clean_text(attrs.get("Original>Description")),
        "price": price.price,
        "original_price": price.original_price,
        "currency": price.currency,
        "price_valid_from": price.valid_from,
        "price_valid_to": price.valid_to,
        "is_available": available,
        "rating": rating,
        "rating_count": None if count is None else int(count),
        "pattern": F.clean_text(attrs.get("Clothing-Pattern")),
        "material": F.clean_text(attrs.get("Clothing-Material")),
        "composition": F.clean_text(attrs.get("Clothing-Composition")),
        "care": F.clean_text(attrs.get("All-Care")),
        "measurements": F.clean_text(attrs.get("CM_product_measurements")),
        "sku": F.clean_text(attrs.get("sku")),
        "product_url": F.clean_text(attrs.get("Product_URL")),
        "image_urls": F.text_list(attrs.get("Images"), sep=";"),
        "attributes": json.dumps(extra, default=str, ensure_ascii=False),
        "attributes_unreadable": unreadable,
        "children": [c.lower() for c in children],
        "preview_image": F.clean_text(attrs.get("preview_image")),
    }


def find_image(images_dir: Path, present: set[str], product_id: str, preview: str | None) -> str | None:
    """Local picture of a product: the ``preview_image`` file or ``<product_id>.<ext>`` among the files
    ``present`` in ``images_dir`` (listed once by :func:`files_under`, not one ``stat`` per product)."""
    names = ([os.path.basename(preview)] if preview else []) + [product_id + s for s in _IMAGE_SUFFIXES]
    for name in names:
        if name in present:
            return os.path.join(images_dir, name)
    return None


def products_source(path: Path) -> CsvSource:
    """A reader of a TwentyToo products CSV; the file and its header are checked here."""
    return CsvSource(path, REQUIRED, OPTIONAL)


def read_products(
    source: CsvSource, report: IngestReport, quarantine: Quarantine, images_dir: Path
) -> pl.DataFrame:
    """Read, clean and de-duplicate a TwentyToo products CSV into the canonical products table."""
    path = source.path
    counts = report.file(path, "products")
    raw = drop_exact_duplicates(read_counted(source, "products", counts, quarantine), counts)
    images_dir = images_dir.resolve()
    present = files_under(images_dir)

    cleaned: list[dict[str, Any]] = []
    bad_rows: list[int] = []
    bad_reasons: list[str] = []
    bad_details: list[str] = []
    seen: set[str] = set()
    unreadable = 0
    with progress() as bar:
        task = bar.add_task(f"products {path.name}", total=raw.height)
        for n, row in enumerate(raw.iter_rows(named=True), 1):
            if n % 1000 == 0 or n == raw.height:
                bar.update(task, completed=n)
            try:
                product = clean_product(row)
            except F.BadValue as exc:
                bad_rows.append(row[ROW])
                bad_reasons.append(exc.reason)
                bad_details.append(str(exc))
                continue
            if product["product_id"] in seen:
                bad_rows.append(row[ROW])
                bad_reasons.append("duplicate_product_id")
                bad_details.append(f"{product['product_id']} already read with other values; first row kept")
                continue
            seen.add(product["product_id"])
            unreadable += product.pop("attributes_unreadable")
            product["image_path"] = find_image(
                images_dir, present, product["product_id"], product.pop("preview_image")
            )
            cleaned.append(product)
    if bad_rows:
        bad = raw.join(
            pl.DataFrame(
                {ROW: bad_rows, "_reason": bad_reasons, "_detail": bad_details},
                schema_overrides={ROW: pl.Int64},
            ),
            on=ROW,
        ).sort(ROW)
        quarantine.add("products", bad.drop("_reason", "_detail"), path, bad["_reason"], bad["_detail"])
        for reason in bad_reasons:
            counts.quarantine(reason)
    counts.keep(len(cleaned))

    _assign_groups(cleaned)
    report.tables.setdefault("products", {})["attributes_unreadable"] = unreadable
    return conform("products", _frame(cleaned))


def _frame(products: list[dict[str, Any]]) -> pl.DataFrame:
    """The cleaned products as a frame of the canonical schema, built column by column.

    From Python lists polars builds one Series per list cell (colours, images), about 10 µs each: a tenth of
    the cleaning of a large catalogue. The list columns are therefore built from their flattened items.
    """
    columns = {}
    for name, dtype in polars_schema("products").items():
        values = [p.get(name) for p in products]
        columns[name] = (
            _string_lists(name, values) if isinstance(dtype, pl.List) else pl.Series(name, values, dtype)
        )
    return pl.DataFrame(columns)


def _string_lists(name: str, lists: list[list[str]]) -> pl.Series:
    """A List[String] column from Python lists of strings, in one pass over the flattened items."""
    items = pl.DataFrame(
        {
            "row": np.repeat(np.arange(len(lists)), [len(v) for v in lists]),
            name: pl.Series(list(chain.from_iterable(lists)), dtype=pl.String),
        }
    )
    grouped = items.group_by("row", maintain_order=True).agg(pl.col(name))
    every_row = pl.DataFrame({"row": np.arange(len(lists))})
    joined = every_row.join(grouped, on="row", how="left", maintain_order="left")
    return joined[name].fill_null(pl.lit([], pl.List(pl.String)))


def _assign_groups(products: list[dict[str, Any]]) -> None:
    """group_id: a parent and the children it lists share the parent's id; others stand alone."""
    known = {p["product_id"] for p in products}
    group = {}
    for p in products:
        for child in p["children"]:
            if child in known and child not in group:
                group[child] = p["product_id"]
    for p in products:
        p["group_id"] = group.get(p["product_id"], p["product_id"])
        p.pop("children")
