"""The Personalized Picks router: four paths by who the shopper is, live events, reasons and filters."""

from __future__ import annotations

import polars as pl
import pytest

from atelier.config import load_settings
from atelier.errors import InputError, NotFoundError
from atelier.models.collaborative import ItemCF
from atelier.models.history import History
from atelier.models.popular import RecentPopular, SegmentPopular
from atelier.router import PersonalRouter, kind_weights
from evaluate_fixtures import tiny_dataset
from test_personal import ROWS


@pytest.fixture()
def router():
    data = tiny_dataset(ROWS)
    ages = {f"a{u}": "18-24" for u in range(6)} | {f"b{u}": "45-54" for u in range(6)}
    table = data.users_table.with_columns(
        age_group=pl.Series([ages.get(u) for u in data.users_table["user_id"]]), region=pl.lit("Cairo")
    )
    data = type(data)(data.users, data.items, data.interactions, data.products, table)
    models = {
        "history": History().fit(data),
        "item_cf": ItemCF(neighbours=5).fit(data),
        "popular_segment": SegmentPopular(["age_group", "region"]).fit(data),
        "popular_recent": RecentPopular().fit(data),
    }
    return PersonalRouter(data, models, "history", kind_weights(load_settings().ingest.interaction_rules))


def ids(picks) -> list[str]:
    return [p.product_id for p in picks]


def test_a_known_shopper_gets_the_configured_method_with_reasons(router):
    path, picks = router.recommend("a1", n=3)
    assert path == "known"
    assert {p.source for p in picks} <= {"history", "popular"}
    # a1 bought d1, d2, d4 and pop: bought items are left out by default, so popularity fills the list
    assert not set(ids(picks)) & {"d1", "d2", "d4", "pop"}
    padding = [p for p in picks if p.source == "popular"]
    assert padding and all(p.reason == "popular with 18-24 in Cairo" for p in padding)  # their segment's
    path, picks = router.recommend("a1", n=2, exclude_bought=False)
    assert picks[0].source == "history" and picks[0].reason == "you bought it before"
    path, picks = router.recommend("stranger", n=1, demographics={"age_group": "18-24", "region": "Aswan"})
    assert (
        path == "demographics" and picks[0].reason == "popular with 18-24"
    )  # nobody from Aswan: the age alone


def test_a_new_shopper_with_events_gets_item_cf_from_them(router):
    router.log_interaction("newbie", "k1", "view")
    path, picks = router.recommend("newbie", n=3)
    assert path == "new_with_events"
    assert all(p.startswith("k") for p in ids(picks)) and picks[0].source == "item_cf"


def test_a_shopper_known_by_demographics_gets_their_segments_favourites(router):
    path, picks = router.recommend("stranger", n=2, demographics={"age_group": "45-54", "region": "Cairo"})
    assert path == "demographics"
    assert picks[0].reason == "popular with 45-54 in Cairo"
    assert ids(picks)[0] in {"pop", "k1", "k2", "k3", "k4"} and not ids(picks)[0].startswith("d")


def test_a_shopper_with_nothing_gets_what_is_popular_lately(router):
    path, picks = router.recommend(None, n=1)
    assert path == "nothing" and ids(picks) == ["pop"] and picks[0].source == "popular_recent"


def test_live_events_change_the_next_list_without_retraining(router):
    before = ids(router.recommend("b2", n=3, exclude_bought=False)[1])
    router.log_interaction("b2", "d3", "purchase")
    path, after = router.recommend("b2", n=3, exclude_bought=False)
    assert path == "known" and ids(after) != before and "d3" in ids(after)
    assert "d3" not in ids(router.recommend("b2", n=10)[1])  # bought now: left out by default


def test_filters_and_bad_input(router):
    _, picks = router.recommend(None, n=5, department="nowhere")
    assert picks == []
    with pytest.raises(InputError, match="unknown interaction kind"):
        router.log_interaction("x", "k1", "stare")
    with pytest.raises(NotFoundError, match="unknown product"):
        router.log_interaction("x", "nope", "view")
    with pytest.raises(InputError, match="n must be between"):
        router.recommend("a1", n=0)


def test_the_two_tower_method_serves_a_known_shopper(router):
    from atelier.models.two_tower import TwoTower

    router.models["two_tower"] = TwoTower(dimension=8, epochs=30, batch_size=16, learning_rate=0.01).fit(
        router.data
    )
    path, picks = router.recommend("a1", n=3, method="two_tower")
    assert path == "known" and len(picks) == 3
    assert all(p.source == "two_tower" and p.reason.startswith("picked for you") for p in picks)
    assert not set(ids(picks)) & {"d1", "d2", "d4", "pop"}  # bought: left out
