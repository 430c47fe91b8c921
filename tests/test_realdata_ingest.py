"""Ingest the real public data sets in ``../shared/data`` and check that the row counts are plausible.

The data lives beside the repository (never inside it); each test skips with a message when its folder is
absent, as on a machine that only cloned the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atelier.config import EventsCsvSettings, Settings, load_settings
from atelier.ingest import ingest
from atelier.store.tables import read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.realdata


def data(relative: str) -> Path:
    """``DATA/relative``, or skip the test when it is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found: real-data test skipped")
    return path


def with_mapping(mapping: EventsCsvSettings) -> Settings:
    settings = load_settings()
    return settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"events_csv": mapping})})


def only_file(report: Any) -> dict[str, Any]:
    (entry,) = report.to_dict()["files"]
    return entry


def test_hm_sample(tmp_path: Path) -> None:
    folder = data("hm-sample")
    report = ingest("hm", [folder], tmp_path, load_settings())
    assert report.to_dict()["reconciles"]
    files = {Path(f["path"]).name: f for f in report.to_dict()["files"]}
    transactions = files["transactions.csv"]
    assert transactions["rows_read"] == 29_595
    interactions = read_table(tmp_path, "interactions")
    assert interactions.height == 29_595 - transactions["rows_quarantined"]
    assert transactions["rows_quarantined"] < 100

    products = read_table(tmp_path, "products")
    assert products.height >= 11_800
    assert products["product_id"].str.len_chars().eq(10).all()  # leading zeros kept
    assert products["product_id"].is_unique().all()
    assert set(interactions["product_id"]) <= set(products["product_id"])
    catalogue = products.filter(products["title"].is_not_null())
    assert catalogue.height >= 11_700
    assert catalogue["image_path"].is_not_null().sum() >= 11_000
    assert (catalogue["group_id"] == catalogue["product_id"].str.slice(0, 7)).all()

    users = read_table(tmp_path, "users")
    assert users.height >= 1_364
    assert set(interactions["user_id"]) <= set(users["user_id"])
    assert users["age"].is_not_null().sum() >= 1_300


def test_fashion_product_images(tmp_path: Path) -> None:
    styles = data("fashion-product-images-small/styles.csv")
    report = ingest("fashion-product-images", [styles], tmp_path, load_settings())
    counts = only_file(report)
    assert counts["reconciles"] and counts["rows_read"] == 44_446
    products = read_table(tmp_path, "products")
    assert products.height == counts["rows_kept"] >= 44_000
    assert products["image_path"].is_not_null().sum() >= 44_000  # resolved, not decoded
    assert set(products["target_audience"].drop_nulls()) == {"women", "men", "kids", "unisex"}
    assert read_table(tmp_path, "interactions").height == 0


def test_taobao_user_behavior(tmp_path: Path) -> None:
    log = data("taobao-userbehavior-sample/UserBehavior.csv")
    mapping = EventsCsvSettings(
        user="user_id",
        item="item_id",
        event="behavior_type",
        timestamp="timestamp",
        column_names=["user_id", "item_id", "category_id", "behavior_type", "timestamp"],
    )
    report = ingest("events-csv", [log], tmp_path, with_mapping(mapping))
    counts = only_file(report)
    assert counts["reconciles"] and counts["rows_read"] == 4_321
    # SOURCE.txt: pv 3,926 / cart 190 / fav 128 / buy 77, 43 users, 3,276 items, 2017-09-11..2017-12-03.
    assert report.tables["interactions"]["by_kind"] == {
        "bag": 190,
        "purchase": 77,
        "view": 3_926,
        "wishlist": 128,
    }
    interactions = read_table(tmp_path, "interactions")
    assert str(interactions["timestamp"].min()) >= "2017-09-11"
    assert str(interactions["timestamp"].max()) < "2017-12-04"
    assert read_table(tmp_path, "users").height == 43
    assert read_table(tmp_path, "products").height == 3_276


def test_fashion_campus_clickstream(tmp_path: Path) -> None:
    log = data("fashion-campus-clickstream-sample/click_stream_new.csv")
    mapping = EventsCsvSettings(
        user="session_id", item="product_id", event="event_name", timestamp="event_time", session="session_id"
    )
    report = ingest("events-csv", [log], tmp_path, with_mapping(mapping))
    counts = only_file(report)
    assert counts["reconciles"] and counts["rows_read"] == 199
    # HOMEPAGE, SCROLL, SEARCH, PROMO_PAGE, ADD_PROMO are of no interest; product ids appear on carts only.
    assert counts["filtered_out_by_reason"] == {"event_not_of_interest": 98}
    assert counts["quarantined_by_reason"] == {"no_product_id": 77}
    assert counts["rows_kept"] == 24
    interactions = read_table(tmp_path, "interactions")
    assert interactions["timestamp"].null_count() == 0
    assert read_table(tmp_path, "users").height == 14  # sessions stand in for users


def test_fimi_retail_baskets(tmp_path: Path) -> None:
    retail = data("fimi/retail.dat")
    report = ingest("baskets", [retail], tmp_path, load_settings())
    counts = only_file(report)
    assert counts["reconciles"] and counts["rows_read"] == 88_162
    with retail.open() as fh:
        distinct_per_basket = sum(len(set(line.split())) for line in fh)
    assert read_table(tmp_path, "interactions").height == distinct_per_basket
    assert read_table(tmp_path, "products").height == 16_470
    assert read_table(tmp_path, "users").height == counts["rows_kept"]
