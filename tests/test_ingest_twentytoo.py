"""TwentyToo ingest end to end on the sample shop: nothing lost, and the known answer recovered."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from atelier.config import load_settings
from atelier.errors import InputError
from atelier.ingest import ingest
from atelier.schema import TABLES
from atelier.store.tables import read_table, table_path


def test_report_reconciles_for_every_file(ingested, sample_shop):
    out, _report = ingested
    data = json.loads((out / "ingest_report.json").read_text())
    assert data["reconciles"] is True
    assert {Path(f["path"]).name for f in data["files"]} == {
        "products.csv",
        *(p.name for p in sample_shop.events),
    }
    for f in data["files"]:
        assert f["rows_read"] == f["rows_kept"] + f["rows_quarantined"] + f["rows_filtered_out"]
        assert sum(f["quarantined_by_reason"].values()) == f["rows_quarantined"]
        assert sum(f["filtered_out_by_reason"].values()) == f["rows_filtered_out"]
    events = [f for f in data["files"] if f["table"] == "interactions"]
    raw_rows = sum(sum(1 for _ in csv.reader(p.open())) - 1 for p in sample_shop.events)
    assert sum(f["rows_read"] for f in events) == raw_rows


def test_quarantine_holds_every_quarantined_row_with_its_reason(ingested):
    out, report = ingested
    for table in ("products", "interactions"):
        rows = pl.read_csv(out / "quarantine" / f"{table}.csv", infer_schema=False)
        expected = sum(f.rows_quarantined for f in report.files if f.table == table)
        assert rows.height == expected
        assert rows["reason"].null_count() == 0
    reasons = pl.read_csv(out / "quarantine" / "interactions.csv", infer_schema=False)["reason"].unique()
    assert set(reasons) >= {"bad_timestamp", "no_product_id", "unknown_product", "missing_user_id"}


def test_planted_breakage_is_found(ingested, truth):
    _, report = ingested
    products = next(f for f in report.files if f.table == "products")
    planted = truth["planted"]["products"]
    assert products.filtered_out_by_reason["duplicate"] == planted["duplicate_rows"]
    assert products.quarantined_by_reason["unparseable_price"] == planted["bad_price_rows"]
    assert products.quarantined_by_reason["missing_product_id"] == planted["bad_id_rows"]
    events = [f for f in report.files if f.table == "interactions"]
    assert sum(f.filtered_out_by_reason["duplicate"] for f in events) > 0
    assert sum(f.filtered_out_by_reason["event_not_of_interest"] for f in events) > 0


def test_tables_follow_the_schema(ingested):
    out, _ = ingested
    for table, columns in TABLES.items():
        df = read_table(out, table)
        assert df.columns == [c.name for c in columns]
        for c in columns:
            assert df[c.name].dtype == c.dtype
            if c.required:
                assert df[c.name].null_count() == 0


def test_products(ingested, truth):
    out, _ = ingested
    products = read_table(out, "products")
    assert products.height == 120 and products["product_id"].is_unique().all()
    assert products["price"].is_not_null().all() and (products["original_price"] >= products["price"]).all()
    assert (products["price"] < products["original_price"]).any()  # sales were read
    assert products["currency"].unique().to_list() == ["USD"]
    for column in ("title", "department", "color", "pattern", "material", "description", "image_path"):
        assert products[column].null_count() == 0, column
    assert products["image_urls"].list.len().min() == 3
    assert all(Path(p).is_file() for p in products["image_path"])
    attributes = json.loads(products["attributes"][0])
    assert len(attributes["mongo_id"]) == 24 and "lang" in attributes
    group_of = dict(products.select("product_id", "group_id").iter_rows())
    for parent, *children in truth["colour_variant_groups"]:
        assert group_of[parent] == parent
        assert all(group_of[c] == parent for c in children)


def test_interactions(ingested):
    out, _ = ingested
    inter = read_table(out, "interactions")
    rules = {(r.kind, r.weight) for r in load_settings().ingest.interaction_rules}
    assert set(inter.select("kind", "weight").unique().iter_rows()) <= rules
    assert set(inter["kind"].unique()) == {"view", "click", "wishlist", "bag", "purchase"}
    products = set(read_table(out, "products")["product_id"])
    assert set(inter["product_id"].unique()) <= products
    assert inter["timestamp"].min().year == 2023
    assert inter.is_duplicated().sum() < inter.height * 0.01  # exact duplicates removed


def test_twentytoo_times_are_written_without_a_dictionary(ingested):
    """Event times to the second are nearly all distinct: no dictionary, but statistics a reader can skip by."""
    out, _ = ingested
    group = pq.ParquetFile(table_path(out, "interactions")).metadata.row_group(0)
    times = next(
        group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == "timestamp"
    )
    assert "RLE_DICTIONARY" not in times.encodings
    assert times.is_stats_set and times.statistics.min.year == 2023


def test_planted_pairs_are_bought_together(ingested, truth):
    out, _ = ingested
    inter = read_table(out, "interactions").filter(pl.col("kind").is_in(["bag", "purchase"]))
    baskets = inter.group_by("session_id").agg(pl.col("product_id").unique())
    together = 0
    for a, b in truth["complementary_pairs"][:5]:
        together += baskets.filter(
            pl.col("product_id").list.contains(a) & pl.col("product_id").list.contains(b)
        ).height
    assert together >= 10


def test_users_ages_regions_and_segments(ingested, truth):
    out, report = ingested
    users = read_table(out, "users")
    segment_of = {u: seg for seg in truth["segments"] for u in seg["users"]}
    assert set(users["user_id"]) <= set(segment_of)
    assert users.height >= 0.95 * len(segment_of)
    given = users.filter(pl.col("birth_date").is_not_null())
    assert given.height > 0.6 * users.height
    assert not given["age_imputed"].any()
    agree = [segment_of[u]["age_group"] == g for u, g in given.select("user_id", "age_group").iter_rows()]
    assert all(agree)  # a real birth date puts a shopper in the age group the generator gave them
    assert given["age"].is_between(10, 100).all()
    imputed = users.filter(pl.col("age_imputed"))
    assert imputed.height > 0 and imputed["age"].is_not_null().all()
    close = [
        abs(age - sum(map(int, segment_of[u]["age_group"].split("-"))) / 2) <= 8
        for u, age in imputed.select("user_id", "age").iter_rows()
    ]
    assert sum(close) / len(close) > 0.6  # the regression learned age from tastes and places
    stats = report.tables["users"]
    assert stats["birthdates_rejected"]["impossible_birthdate"] > 0
    assert stats["birthdates_rejected"]["age_out_of_range"] > 0
    regions = [segment_of[u]["region"] == r for u, r in users.select("user_id", "region").iter_rows()]
    assert sum(regions) / len(regions) > 0.97
    assert users["city"].null_count() == 0 and users["region"].null_count() == 0


def test_chunking_does_not_change_the_result(sample_shop, ingested, tmp_path):
    out, _ = ingested
    settings = load_settings(ingest={"chunk_size": 1_000})
    ingest("twentytoo", [sample_shop.products, *sample_shop.events], tmp_path, settings)
    for table in TABLES:
        expected = read_table(out, table).sort(pl.all())
        got = read_table(tmp_path, table).sort(pl.all())
        assert got.equals(expected), table


def test_missing_file_is_one_clear_error(sample_shop, tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        ingest("twentytoo", [sample_shop.products, tmp_path / "nope.csv"], tmp_path / "out", load_settings())


def test_missing_column_names_file_and_column(sample_shop, tmp_path):
    broken = tmp_path / "events.csv"
    pl.read_csv(sample_shop.events[0], infer_schema=False).drop("product_package").head(5).write_csv(broken)
    with pytest.raises(InputError, match=r"events\.csv: missing required column 'product_package'"):
        ingest("twentytoo", [sample_shop.products, broken], tmp_path / "out", load_settings())
    # a broken last file stops the run before anything is read or written
    out = tmp_path / "out2"
    with pytest.raises(InputError, match=r"events\.csv: missing required column 'product_package'"):
        ingest("twentytoo", [sample_shop.products, *sample_shop.events, broken], out, load_settings())
    assert not (out / "interactions.parquet").exists() and not (out / "products.parquet").exists()


def test_unknown_format(sample_shop, tmp_path):
    with pytest.raises(InputError, match="unknown format 'xml'"):
        ingest("xml", [sample_shop.products], tmp_path, load_settings())


def test_keep_unknown_products_adds_bare_rows(sample_shop, tmp_path):
    settings = load_settings(ingest={"unknown_products": "keep"})
    report = ingest("twentytoo", [sample_shop.products, *sample_shop.events], tmp_path, settings)
    added = report.tables["products"]["added_from_events"]
    assert added > 0
    assert not any(f.quarantined_by_reason.get("unknown_product") for f in report.files)
    assert read_table(tmp_path, "products").height == 120 + added


def test_cleaning_the_catalogue_in_worker_processes_changes_nothing(
    sample_shop, ingested, tmp_path, monkeypatch
):
    import atelier.ingest.twentytoo_products as products_module
    from atelier.ingest.report import IngestReport, Quarantine

    # The sample's catalogue, plus a repeated id with other values and an unreadable price near the end.
    lines = sample_shop.products.read_text(encoding="utf-8").splitlines()
    header = next(csv.reader([lines[0]]))
    first = dict(zip(header, next(csv.reader([lines[1]])), strict=True))
    repeated = first | {"title": "same id, other title"}
    unpriced = first | {"product_id": "ab" * 20, "price": "price on request"}
    raw = tmp_path / "products.csv"
    with raw.open("w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
        csv.DictWriter(fh, header).writerows([repeated, unpriced])

    monkeypatch.setattr(products_module, "PARALLEL_FROM", 0)
    results = []
    # one batch in this process (as before batches existed), then batches of 16 here and in 2 workers
    for workers, batch_rows in ((1, 1_000_000), (1, 16), (2, 16)):
        monkeypatch.setattr(products_module, "_BATCH_ROWS", batch_rows)
        out = tmp_path / f"workers-{workers}-{batch_rows}"
        report, quarantine = IngestReport("twentytoo", str(out)), Quarantine(out)
        source = products_module.products_source(raw)
        frame = products_module.read_products(
            source, report, quarantine, sample_shop.products.parent / "images", workers=workers
        )
        quarantine.close()
        (counts,) = report.to_dict()["files"]
        results.append((frame, counts, (out / "quarantine" / "products.csv").read_text()))

    (whole, whole_counts, whole_quarantine), *batched = results
    for frame, counts, quarantine_text in batched:
        assert frame.equals(whole)
        assert counts == whole_counts
        assert quarantine_text == whole_quarantine
    assert whole.height == 120
    (planted,) = [f for f in ingested[1].to_dict()["files"] if f["table"] == "products"]
    planted = planted["quarantined_by_reason"]
    assert whole_counts["quarantined_by_reason"] == planted | {
        "duplicate_product_id": planted.get("duplicate_product_id", 0) + 1,
        "unparseable_price": planted.get("unparseable_price", 0) + 1,
    }
