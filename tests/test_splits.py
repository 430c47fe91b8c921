"""Train / test splits: by date, leave-last-n-out, and the random basket hold-out for undated data."""

from __future__ import annotations

from datetime import date

import pytest

from atelier.config import EvaluateSettings
from atelier.errors import InputError
from atelier.evaluate.splits import (
    default_split_date,
    leave_last_n,
    make_split,
    similar_catalogue,
    split_by_date,
    stratified_catalogue,
)
from evaluate_fixtures import tiny_dataset

ROWS = [
    ("u1", "a", "2023-05-01", "s1"),
    ("u1", "b", "2023-05-20", "s2"),
    ("u1", "c", "2023-06-02", "s3"),
    ("u2", "a", "2023-06-10", "s4"),
    ("u2", "b", "2023-06-10", "s4"),
]


def test_date_split_puts_the_boundary_day_in_test():
    split = split_by_date(tiny_dataset(ROWS), date(2023, 6, 2))
    assert split.train.interactions["product_id"].to_list() == ["a", "b"]
    assert split.test["product_id"].to_list() == ["c", "a", "b"]
    # Same id maps on both sides.
    assert split.train.items is not None and len(split.train.items) == 3
    assert set(split.test["item"].to_list()) == {0, 1, 2}


def test_date_outside_the_data_is_a_clear_error():
    with pytest.raises(
        InputError, match=r"split date 2030-01-01 leaves one side empty.*2023-05-01.*2023-06-10"
    ):
        split_by_date(tiny_dataset(ROWS), date(2030, 1, 1))


def test_twentytoo_data_splits_at_the_seeds_boundary_others_at_the_last_days():
    data = tiny_dataset(ROWS)
    assert default_split_date(data, "twentytoo", test_days=30) == date(2023, 6, 1)
    assert default_split_date(data, "hm", test_days=5) == date(2023, 6, 6)


def test_leave_last_n_holds_out_each_users_latest_interactions():
    split = leave_last_n(tiny_dataset(ROWS), 1)
    test = sorted(zip(split.test["user_id"], split.test["product_id"], strict=True))
    # u2's two rows share a time: row order breaks the tie, the later row is held out.
    assert test == [("u1", "c"), ("u2", "b")]
    assert split.train.interactions.height == 3
    # A user with no more than n interactions keeps them all in training.
    assert leave_last_n(tiny_dataset(ROWS), 3).test.height == 0
    only_u1 = leave_last_n(tiny_dataset(ROWS), 2)
    assert only_u1.test["product_id"].to_list() == ["b", "c"]


def test_undated_baskets_are_held_out_at_random_whole():
    rows = [(f"u{i}", p, None, f"basket{i}") for i in range(200) for p in ("a", "b")]
    split = make_split(tiny_dataset(rows), EvaluateSettings(basket_holdout=0.25, seed=3))
    held = split.test["session_id"].unique()
    assert 25 < held.len() < 75
    # A basket is never cut in two.
    assert not set(held) & set(split.train.interactions["session_id"])
    assert "no timestamps" in split.description


def test_rows_without_a_session_are_never_lost_by_the_basket_holdout():
    rows = [(f"u{i % 7}", p, None, None) for i in range(40) for p in ("a", "b")]
    split = make_split(tiny_dataset(rows), EvaluateSettings(basket_holdout=0.5, seed=1))
    assert split.train.interactions.height + split.test.height == 80


def test_data_shorter_than_the_test_window_is_split_in_the_middle():
    rows = [("u1", "a", "2024-01-01", "s1"), ("u1", "b", "2024-01-02", "s2"), ("u2", "a", "2024-01-04", "s3")]
    data = tiny_dataset(rows)
    boundary = default_split_date(data, None, test_days=30)
    assert boundary == date(2024, 1, 3)
    assert split_by_date(data, boundary).test.height == 1


def test_stratified_catalogue_keeps_each_labels_share_and_its_interactions():
    products = [
        {"product_id": f"p{i}", "group_id": f"p{i}", "title": "t", "department": dept}
        for i, dept in enumerate(["Dress"] * 60 + ["Shoes"] * 30 + ["Bags"] * 9 + [None])
    ]
    rows = [(f"u{i}", f"p{i}", "2024-01-01", f"s{i}") for i in range(100)]
    data = tiny_dataset(rows, products)
    sample = stratified_catalogue(data, 20, "department", seed=1)
    counts = sample.products["department"].value_counts()
    assert dict(zip(counts["department"], counts["count"], strict=True)) == {
        "Dress": 12,
        "Shoes": 6,
        "Bags": 2,
    }
    kept = set(sample.products["product_id"])
    assert set(sample.interactions["product_id"]) == kept  # interactions follow their products
    assert sample.n_items == 20
    again = stratified_catalogue(data, 20, "department", seed=1)
    assert again.products["product_id"].to_list() == sample.products["product_id"].to_list()
    assert stratified_catalogue(data, 500, "department", seed=1) is data
    with pytest.raises(InputError, match="no such column 'fabric'"):
        stratified_catalogue(data, 20, "fabric", seed=1)


def test_similar_catalogue_can_keep_pictured_products_only():
    products = [
        {"product_id": f"p{i}", "group_id": f"p{i}", "title": "t", "department": "Dress",
         "image_path": f"/pics/p{i}.jpg" if i % 2 else None}
        for i in range(10)
    ]  # fmt: skip
    data = tiny_dataset([("u1", "p1", "2024-01-01", "s1"), ("u1", "p2", "2024-01-01", "s1")], products)
    settings = EvaluateSettings(similar_pictured_only=True)
    kept = similar_catalogue(data, settings)
    assert sorted(kept.products["product_id"]) == ["p1", "p3", "p5", "p7", "p9"]
    assert kept.interactions["product_id"].to_list() == ["p1"]
    with pytest.raises(InputError, match="no product of this catalogue has a picture"):
        similar_catalogue(tiny_dataset([("u1", "p1", "2024-01-01", "s1")]), settings)
