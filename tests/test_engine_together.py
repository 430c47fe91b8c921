"""`atelier train` and `atelier recommend together`: artefacts, explanations, filters, clear errors."""

from __future__ import annotations

import json

import pytest

from atelier.config import load_settings
from atelier.engine import Engine
from atelier.errors import InputError, NotFoundError
from atelier.pipeline import train
from cli_support import atelier


@pytest.fixture(scope="module")
def engine(artifacts) -> Engine:
    return Engine.load(artifacts)


def test_manifest_records_what_was_trained(artifacts):
    manifest = json.loads((artifacts / "manifest.json").read_text())
    assert manifest["format"] == 2
    together = manifest["widgets"]["together"]["chain"]
    assert together["pair_rules"] > 0 and together["baskets"] > 0
    assert set(manifest["widgets"]["similar"]) == {"tfidf", "colour"}
    assert manifest["widgets"]["similar"]["colour"]["encoded"] > 0
    assert manifest["settings"]["together"]["min_count"] == 2


def test_planted_partner_comes_first_with_its_figures(engine, truth):
    a, b = truth["complementary_pairs"][0]
    first = engine.together(a, n=5)[0]
    assert first.product_id == b and first.source == "rules"
    assert first.count >= 2 and first.lift > 1 and 0 < first.confidence <= 1
    assert "bought both together" in first.reason and "more often than by chance" in first.reason


def test_lists_are_full_and_every_item_names_its_source(engine, truth):
    a, _ = truth["complementary_pairs"][0]
    items = engine.together(a, n=30)
    assert len(items) == 30
    assert {i.source for i in items} <= {
        "rules",
        "variants",
        "department_pairs",
        "department_popular",
        "popular",
    }
    assert len({i.product_id for i in items}) == 30 and a not in {i.product_id for i in items}
    assert all(i.reason for i in items)


def test_exclude_own_department_and_in_stock_filters(engine, truth):
    a, _ = truth["complementary_pairs"][0]
    department = engine.catalogue["department"][engine.items.one(a)]
    departments = engine.catalogue.select("product_id", "department").to_dict(as_series=False)
    by_id = dict(zip(departments["product_id"], departments["department"], strict=True))
    items = engine.together(a, n=20, exclude_department=True)
    assert items and all(by_id[i.product_id] != department for i in items)
    stock = engine.catalogue.select("product_id", "is_available").to_dict(as_series=False)
    out_of_stock = {
        p for p, ok in zip(stock["product_id"], stock["is_available"], strict=True) if ok is False
    }
    assert out_of_stock, "the sample shop marks some products out of stock"
    assert not {i.product_id for i in engine.together(a, n=100, in_stock=True)} & out_of_stock


def test_unknown_product_and_bad_n_are_clear_errors(engine):
    with pytest.raises(NotFoundError, match="unknown product 'nope'"):
        engine.together("nope")
    for bad in (0, -1, 10**11):
        with pytest.raises(InputError, match="n must be between 1 and 1000"):
            engine.together(engine.items.ids[0], n=bad)
    with pytest.raises(InputError, match="n must be between"):
        engine.bundles(engine.items.ids[0], n=-1)


def test_damaged_artefacts_are_clear_errors(artifacts, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(artifacts, broken)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="not a valid manifest"):
        Engine.load(broken)
    (broken / "manifest.json").write_text(json.dumps({"format": 99, "widgets": {}}))  # not this version's
    with pytest.raises(InputError, match="artefact format 99"):
        Engine.load(broken)
    (broken / "manifest.json").write_text((artifacts / "manifest.json").read_text())
    (broken / "catalogue.parquet").unlink()
    with pytest.raises(InputError, match="incomplete or damaged"):
        Engine.load(broken)


def test_retraining_replaces_the_folder_whole(ingested, artifacts, tmp_path):
    target = tmp_path / "art"
    train(ingested[0], target, load_settings())
    (target / "stale.txt").write_text("left from an older run")
    train(ingested[0], target, load_settings())
    assert not (target / "stale.txt").exists() and (target / "manifest.json").is_file()
    assert not list(tmp_path.glob(".art.*"))


def test_cli_train_then_recommend_prints_json(ingested, truth, tmp_path):
    assert atelier("train", str(ingested[0]), "--out", str(tmp_path)).returncode == 0
    a, b = truth["complementary_pairs"][0]
    result = atelier("recommend", "together", a, "--artifacts", str(tmp_path), "--n", "3", "--bundles", "2")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    first = doc["recommendations"][0]
    assert set(first) == {"product_id", "score", "source", "reason", "support", "confidence", "lift", "count"}
    assert first["product_id"] == b
    assert "bundles" in doc


def test_cli_errors_are_one_line(tmp_path):
    result = atelier("recommend", "together", "x", "--artifacts", str(tmp_path))
    assert result.returncode == 2 and "no manifest.json" in result.stderr
    result = atelier("train", str(tmp_path), "--out", str(tmp_path / "a"), "--only", "outfits")
    assert result.returncode == 2 and "cannot train outfits" in result.stderr


def test_similar_styles_with_reasons_filters_and_other_colours(engine, truth):
    style = truth["colour_variant_groups"][0]
    items = engine.similar(style[0], n=5, model="colour")
    assert len(items) == 5 and all(i.source == "colour" and "colour similarity" in i.reason for i in items)
    assert not set(style) & {i.product_id for i in items}  # its own colours are offered apart
    assert {r.product_id for r in engine.other_colours(style[0])} == set(style[1:])
    audience = engine.catalogue["target_audience"][engine.items.one(style[0])]
    by_id = dict(zip(engine.catalogue["product_id"], engine.catalogue["target_audience"], strict=True))
    assert all(by_id[i.product_id] == audience for i in engine.similar(style[0], n=10, same_audience=True))
    prices = dict(zip(engine.catalogue["product_id"], engine.catalogue["price"], strict=True))
    cheap = engine.similar(style[0], n=10, model="tfidf", price_max=30.0)
    assert cheap and all(prices[i.product_id] is not None and prices[i.product_id] <= 30.0 for i in cheap)
    with pytest.raises(NotFoundError, match="unknown similar model 'clip'"):
        engine.similar(style[0], model="clip")


def test_cli_recommend_similar_prints_json(artifacts, truth):
    style = truth["colour_variant_groups"][0]
    result = atelier(
        "recommend", "similar", style[0], "--artifacts", str(artifacts), "--model", "tfidf", "--n", "3"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["recommendations"]) == 3 and doc["other_colours"]


def test_personal_picks_are_trained_and_served_with_live_events(engine, artifacts, ingested):
    import polars as pl

    manifest = json.loads((artifacts / "manifest.json").read_text())
    assert set(manifest["widgets"]["personal"]) >= {
        "history",
        "user_cf",
        "item_cf",
        "profile",
        "popular_segment",
    }
    interactions = pl.read_parquet(ingested[0] / "interactions.parquet")
    shopper = interactions["user_id"][0]
    path, picks = engine.personal(shopper, n=5, method="user_cf")
    assert path == "known" and len(picks) == 5 and all(p.reason for p in picks)
    newcomer = "brand-new-shopper"
    assert engine.personal(newcomer, n=3)[0] == "nothing"
    engine.log_interaction(newcomer, picks[0].product_id, "bag")
    path, after = engine.personal(newcomer, n=3)
    assert path == "new_with_events" and after[0].source == "item_cf"
    with pytest.raises(NotFoundError, match="unknown method"):
        engine.personal(shopper, method="magic")
    result = atelier(
        "recommend", "user", shopper, "--artifacts", str(artifacts), "--n", "3", "--method", "profile"
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["path"] == "known" and len(answer["recommendations"]) == 3
