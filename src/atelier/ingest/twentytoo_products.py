"""TwentyToo products export -> canonical ``products`` table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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
# Cleaning is pure Python, about 200 µs a product: a catalogue this long is cleaned in worker processes, one
# per usable core. Below it, starting them (about a second: a fresh interpreter imports polars) costs more than
# it saves. Each worker holds its own interpreter (about 150 MB): a big host gets no more than _MAX_WORKERS.
PARALLEL_FROM = 10_000
_BATCH_ROWS = 1_000
_MAX_WORKERS = 8
_Unusable = list[tuple[int, str, str]]  # record number, reason, detail


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
    source: CsvSource,
    report: IngestReport,
    quarantine: Quarantine,
    images_dir: Path,
    workers: int | None = None,
) -> pl.DataFrame:
    """Read, clean and de-duplicate a TwentyToo products CSV into the canonical products table.

    ``workers``: processes that clean a catalogue of at least :data:`PARALLEL_FROM` rows (default: one per
    usable core, at most 8 and one per batch of rows; 1 cleans in this process). The result does not depend
    on it.
    """
    path = source.path
    counts = report.file(path, "products")
    raw = drop_exact_duplicates(read_counted(source, "products", counts, quarantine), counts)
    if raw.height < PARALLEL_FROM:
        workers = 1
    elif workers is None:
        import joblib  # only here: most catalogues are cleaned in this process

        # joblib counts the cores this process may use (affinity, container limits), not the machine's
        workers = min(joblib.cpu_count(), _MAX_WORKERS, -(-raw.height // _BATCH_ROWS))

    frames: list[pl.DataFrame] = []
    bad: _Unusable = []
    with progress() as bar:
        task = bar.add_task(f"products {path.name}", total=raw.height)
        for frame, unusable in _cleaned_batches(raw, workers):
            frames.append(frame)
            bad += unusable
            bar.advance(task, frame.height + len(unusable))
    products = pl.concat(frames) if frames else _frame([])

    first = products["product_id"].is_first_distinct()
    for row, pid in products.filter(~first).select(ROW, "product_id").iter_rows():
        bad.append((row, "duplicate_product_id", f"{pid} already read with other values; first row kept"))
    products = products.filter(first)
    if bad:
        bad.sort(key=lambda b: b[0])  # file order, as the reasons are counted
        rows, reasons, details = zip(*bad, strict=True)
        flagged = pl.DataFrame(
            {ROW: rows, "_reason": reasons, "_detail": details}, schema_overrides={ROW: pl.Int64}
        )
        flagged = raw.join(flagged, on=ROW).sort(ROW)
        quarantine.add(
            "products", flagged.drop("_reason", "_detail"), path, flagged["_reason"], flagged["_detail"]
        )
        for reason in reasons:
            counts.quarantine(reason)
    counts.keep(products.height)

    images_dir = images_dir.resolve()
    present = files_under(images_dir)
    ids = products["product_id"].to_list()
    images = [
        find_image(images_dir, present, pid, preview)
        for pid, preview in zip(ids, products["preview_image"].to_list(), strict=True)
    ]
    products = products.with_columns(
        image_path=pl.Series(images, dtype=pl.String),
        group_id=pl.Series(_group_ids(ids, products["children"].to_list()), dtype=pl.String),
    )
    unreadable = int(products["attributes_unreadable"].sum())
    report.tables.setdefault("products", {})["attributes_unreadable"] = unreadable
    return conform("products", products)


def _cleaned_batches(raw: pl.DataFrame, workers: int) -> Iterator[tuple[pl.DataFrame, _Unusable]]:
    """:func:`_clean_batch` over slices of the raw rows, in file order, in ``workers`` processes (in this
    one when ``workers`` is 1)."""
    batches = (raw.slice(start, _BATCH_ROWS) for start in range(0, raw.height, _BATCH_ROWS))
    if workers <= 1:
        yield from map(_clean_batch, batches)
        return
    # joblib's loky workers are fresh interpreters (forking would copy the thread already reading the events)
    # that, unlike multiprocessing's, do not run the caller's script again: a script without a
    # `__name__ == "__main__"` guard can call ingest().
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=workers, return_as="generator")(delayed(_clean_batch)(b) for b in batches)


def _clean_batch(raw: pl.DataFrame) -> tuple[pl.DataFrame, _Unusable]:
    """:func:`clean_product` over raw rows: the cleaned products as a frame (with ``_row``, ``children``,
    ``preview_image`` and ``attributes_unreadable``), and (record number, reason, detail) of the rest.

    Frames in and out: a worker process gets and returns them as compact Arrow buffers.
    """
    products: list[dict[str, Any]] = []
    bad: _Unusable = []
    for row in raw.iter_rows(named=True):
        try:
            product = clean_product(row)
        except F.BadValue as exc:
            bad.append((row[ROW], exc.reason, str(exc)))
            continue
        product[ROW] = row[ROW]
        products.append(product)
    return _frame(products), bad


# What _clean_batch's frames hold: the canonical columns found from the raw row alone, and what the whole
# catalogue is needed for (duplicates, pictures, groups).
_BATCH_SCHEMA = {
    name: dtype for name, dtype in polars_schema("products").items() if name not in ("image_path", "group_id")
} | {
    ROW: pl.Int64,
    "children": pl.List(pl.String),
    "preview_image": pl.String,
    "attributes_unreadable": pl.Boolean,
}


def _frame(products: list[dict[str, Any]]) -> pl.DataFrame:
    """Cleaned products as a frame of :data:`_BATCH_SCHEMA`, built column by column.

    From Python lists polars builds one Series per list cell (colours, images), about 10 µs each: a tenth of
    the cleaning of a large catalogue. The list columns are therefore built from their flattened items.
    """
    columns = {}
    for name, dtype in _BATCH_SCHEMA.items():
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


def _group_ids(ids: list[str], children: list[list[str]]) -> list[str]:
    """group_id of each product: a parent and the children it lists share the parent's id; others stand
    alone. A child listed by several parents joins the first."""
    known = set(ids)
    group: dict[str, str] = {}
    for parent, kids in zip(ids, children, strict=True):
        for child in kids:
            if child in known and child not in group:
                group[child] = parent
    return [group.get(pid, pid) for pid in ids]
