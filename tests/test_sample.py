"""The synthetic shop: deterministic, messy like the real export, and with a known answer."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
from PIL import Image

from atelier.sample import write_sample
from atelier.sample.catalogue import COLORS
from atelier.sample.pictures import draw_product


def _digest(root) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files(tmp_path):
    a = write_sample(tmp_path / "a", products=30, users=40, events=2_000, seed=5)
    b = write_sample(tmp_path / "b", products=30, users=40, events=2_000, seed=5)
    c = write_sample(tmp_path / "c", products=30, users=40, events=2_000, seed=6)
    assert _digest(a.root) == _digest(b.root)
    assert _digest(a.root) != _digest(c.root)


def test_files_and_row_counts(sample_shop):
    for path in [sample_shop.products, *sample_shop.events, sample_shop.ground_truth]:
        assert path.is_file()
    events = [pl.read_csv(p, infer_schema=False) for p in sample_shop.events]
    assert sum(e.height for e in events) == 12_000
    # split like the seeds' Data1 / Data2 at 2023-06-01 (broken timestamps aside)
    days = [e["event_time"].str.extract(r"^(2023-(0\d|1[0-2])-\d{2})", 1).drop_nulls() for e in events]
    assert days[0].max() < "2023-06-01" <= days[1].min()


def test_raw_export_is_messy_like_the_real_one(sample_shop):
    products = pl.read_csv(sample_shop.products, infer_schema=False)
    assert products["_id"].str.starts_with("ObjectId('").all()
    assert products["price"].str.contains("True").any() and products["price"].str.contains("true").any()
    assert products["price"].str.contains(r"\}, \{").any()  # sale entries
    assert products["other_attributes"].str.contains(r'\\"child_product_ids\\": \[').any()
    assert products.is_duplicated().any()
    events = pl.concat([pl.read_csv(p, infer_schema=False) for p in sample_shop.events])
    package = events["product_package"].drop_nulls()
    assert package.str.contains(r'"product_brand": "[^"]*, "website"').any()  # the broken quote
    assert package.str.contains("product_ids").any()  # several products in one package
    assert events.is_duplicated().any()
    from atelier.sample.events import NOISE_EVENTS

    assert events["event_name"].is_in(NOISE_EVENTS).mean() > 0.3
    answers = events["Answer"].drop_nulls()
    assert answers.str.contains(r"\b\d{2}-\d{2}-\d{4}\b").mean() > 0.5
    assert answers.str.contains("31-02-").any()
    assert events["city"].is_null().any() and events["region"].is_null().any()


def test_ground_truth(sample_shop, truth):
    products = pl.read_csv(sample_shop.products, infer_schema=False)
    ids = set(products["product_id"])
    assert len(truth["complementary_pairs"]) >= 5
    assert all(a in ids and b in ids and a != b for a, b in truth["complementary_pairs"])
    users = {u for seg in truth["segments"] for u in seg["users"]}
    assert len(users) == 300
    assert all(
        seg["preferred_departments"] and seg["age_group"] and seg["region"] for seg in truth["segments"]
    )
    assert truth["colour_variant_groups"]


def test_every_product_has_a_picture_that_shows_its_colour(sample_shop):
    ids = set(pl.read_csv(sample_shop.products, infer_schema=False)["product_id"])
    pictures = {p.stem for p in sample_shop.images.glob("*.png")}
    assert len(pictures) == 120 and pictures <= ids
    red = np.asarray(draw_product("dress", COLORS["Red"], "Plain"), dtype=float)
    blue = np.asarray(draw_product("dress", COLORS["Navy Blue"], "Plain"), dtype=float)
    bag = np.asarray(draw_product("bag", COLORS["Red"], "Plain"), dtype=float)
    centre = (slice(60, 90), slice(55, 75))
    assert red[centre][..., 0].mean() > 150 and blue[centre][..., 2].mean() > red[centre][..., 2].mean()
    assert np.abs(red - bag).mean() > 10  # silhouettes differ by department
    striped = np.asarray(draw_product("dress", COLORS["Red"], "Striped"), dtype=float)
    assert np.abs(red - striped).mean() > 5
    assert Image.open(next(sample_shop.images.glob("*.png"))).size == (128, 128)
