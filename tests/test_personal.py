"""Personalized Picks: collaborative filtering recovers planted tastes, stays sparse, and pads with popularity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from atelier.features.user_items import top_n_per_row, weighted_matrix
from atelier.models.collaborative import ItemCF, UserCF
from evaluate_fixtures import tiny_dataset

# Two tastes: shoppers a* buy dresses d1..d4, shoppers b* buy boots k1..k4; "pop" is bought by everyone.
ROWS = [(f"a{u}", f"d{i}", "2024-01-01", f"sa{u}") for u in range(6) for i in range(1, 5) if (u + i) % 4]
ROWS += [(f"b{u}", f"k{i}", "2024-01-01", f"sb{u}") for u in range(6) for i in range(1, 5) if (u + i) % 4]
ROWS += [(f"{g}{u}", "pop", "2024-01-02", f"p{g}{u}") for g in "ab" for u in range(6)]


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(ROWS)


def ids(data, items) -> list[str]:
    return [i for i in data.items.to_ids(items) if i is not None]


@pytest.mark.parametrize("model_class", [UserCF, ItemCF])
def test_collaborative_filtering_recommends_within_the_shoppers_taste(data, model_class):
    model = model_class(neighbours=5).fit(data)
    # a1 lacks d3 ((1 + 3) % 4 == 0) and b2 lacks k2: the one item of their taste they do not have yet
    for user, expected in (("a1", "d3"), ("b2", "k2")):
        items, _ = model.recommend(np.array([data.users.one(user)]), 1)
        assert ids(data, items[0]) == [expected], user


def test_lists_are_padded_with_popularity_and_leave_out_what_the_shopper_has(data):
    model = UserCF(neighbours=2).fit(data)
    user = data.users.one("a1")
    items, scores = model.recommend(np.array([user]), data.n_items)
    offered = ids(data, items[0])
    owned = set(ids(data, data.binary[user].indices))
    assert not set(offered) & owned
    assert len(offered) == data.n_items - len(owned)  # every other item, the taste's first
    assert offered[0] == "d3" and np.all(np.diff(scores[0][items[0] >= 0]) <= 0)
    keep = UserCF(neighbours=2, exclude_seen=False).fit(data).recommend(np.array([user]), data.n_items)[0]
    assert owned <= set(ids(data, keep[0]))


def test_item_cf_serves_a_new_shopper_from_their_first_events(data):
    model = ItemCF(neighbours=5).fit(data)
    first_events = sp.csr_matrix(([1.0], ([0], [data.items.one("k1")])), shape=(1, data.n_items))
    items, _ = model.related(first_events, 3)
    assert all(i.startswith("k") for i in ids(data, items[0]))


def test_time_decay_halves_an_interaction_per_half_life():
    rows = [("u", "old", "2024-01-01", "s1"), ("u", "new", "2024-01-31", "s2")]
    data = tiny_dataset(rows)
    plain = weighted_matrix(data)
    decayed = weighted_matrix(data, half_life_days=30)
    old, new = data.items.one("old"), data.items.one("new")
    assert plain[0, old] == plain[0, new] == 5.0
    assert decayed[0, new] == pytest.approx(5.0) and decayed[0, old] == pytest.approx(2.5)


def test_top_n_per_row_keeps_the_largest_and_breaks_ties_by_column():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [0.3, 0.2, 0.0, 0.9]]))
    kept = top_n_per_row(m, 2).toarray()
    np.testing.assert_array_equal(kept, [[0, 0.5, 0.5, 0], [0, 0, 0, 0], [0.3, 0, 0, 0.9]])


def test_history_offers_own_items_then_their_other_colours_then_popular():
    from atelier.models.history import History

    rows = [
        ("u", "tee-red", "2024-01-01", "s1"),
        ("u", "jeans", "2024-01-30", "s2"),
        ("v", "tee-blue", "2024-01-05", "s3"),
        ("v", "cap", "2024-01-06", "s3"),
        ("w", "cap", "2024-01-06", "s4"),
    ]
    products = [
        {"product_id": "tee-red", "group_id": "tee", "title": "tee"},
        {"product_id": "tee-blue", "group_id": "tee", "title": "tee"},
        {"product_id": "tee-green", "group_id": "tee", "title": "tee"},  # nobody bought it yet
        {"product_id": "jeans", "group_id": "jeans", "title": "jeans"},
        {"product_id": "cap", "group_id": "cap", "title": "cap"},
        {
            "product_id": "belt",
            "group_id": "belt",
            "title": "belt",
        },  # never bought, no variant of anything owned
    ]
    data = tiny_dataset(rows, products)
    items, _ = History(half_life_days=30).fit(data).recommend(np.array([data.users.one("u")]), 6)
    # jeans (recent) before the older tee, then the tee's other colours, then the popular cap; never the belt
    assert ids(data, items[0]) == ["jeans", "tee-red", "tee-blue", "tee-green", "cap"]


def with_demographics(data, ages: dict[str, str], regions: dict[str, str]):
    """``data`` with age groups and regions for some of its users (the others unknown)."""
    ids_ = data.users_table["user_id"]
    return type(data)(
        users=data.users,
        items=data.items,
        interactions=data.interactions,
        products=data.products,
        users_table=data.users_table.with_columns(
            age_group=pl.Series([ages.get(u) for u in ids_], dtype=pl.String),
            region=pl.Series([regions.get(u) for u in ids_], dtype=pl.String),
        ),
    )


def test_history_pads_with_what_is_popular_in_the_shoppers_segment():
    from atelier.models.history import History

    rows = [("y1", "tee", "2024-01-01", "s1"), ("y2", "crop-top", "2024-01-01", "s2")]
    rows += [("y3", "crop-top", "2024-01-01", "s3")]
    rows += [(f"o{i}", "cardigan", "2024-01-01", f"so{i}") for i in range(4)]
    ages = {"y1": "18-24", "y2": "18-24", "y3": "18-24"} | {f"o{i}": "55+" for i in range(4)}
    data = with_demographics(tiny_dataset(rows), ages, {})
    model = History().fit(data)
    # overall the cardigan leads (4 buyers), but among 18-24 the crop-top does
    assert ids(data, model.recommend(np.array([data.users.one("y1")]), 3)[0][0]) == [
        "tee",
        "crop-top",
        "cardigan",
    ]
    assert ids(data, model.recommend(np.array([data.users.one("o1")]), 2)[0][0]) == ["cardigan", "crop-top"]
    newcomer = sp.csr_matrix(([1.0], ([0], [data.items.one("tee")])), shape=(1, data.n_items))
    assert ids(data, model.recommend_rows(newcomer, 3)[0][0]) == ["tee", "cardigan", "crop-top"]
    known = model.recommend_rows(newcomer, 3, users=np.array([data.users.one("y2")]))[0][0]
    assert ids(data, known) == ["tee", "crop-top", "cardigan"]


def test_recommend_rows_names_a_users_array_of_the_wrong_length(data):
    from atelier.errors import InputError

    rows = sp.csr_matrix((1, data.n_items), dtype=np.float32)
    with pytest.raises(InputError, match=r"users has shape \(2,\), expected \(1,\)"):
        UserCF().fit(data).recommend_rows(rows, 3, users=np.array([0, 1]))


def test_item_cf_alpha_moves_from_the_cosine_to_the_share_of_co_buyers():
    # x's buyers all took pop (which many others take too); half of them took niche (nobody else does)
    rows = [(f"u{i}", p, "2024-01-01", f"s{i}") for i in range(4) for p in ("x", "pop")]
    rows += [(f"u{i}", "niche", "2024-01-01", f"s{i}") for i in range(2)]
    rows += [(f"v{i}", "pop", "2024-01-01", f"t{i}") for i in range(8)]
    data = tiny_dataset(rows)
    first = sp.csr_matrix(([1.0], ([0], [data.items.one("x")])), shape=(1, data.n_items))
    cosine = ItemCF(alpha=0.5).fit(data).related(first, 1)[0][0]
    share = ItemCF(alpha=1.0).fit(data).related(first, 1)[0][0]
    assert ids(data, cosine) == ["niche"]  # 2 / sqrt(4 x 2) = 0.71 beats 4 / sqrt(4 x 12) = 0.58
    assert ids(data, share) == ["pop"]  # 4 / 4 of x's buyers beats 2 / 4


def test_segment_popularity_follows_the_shoppers_segment_and_falls_back_to_overall():
    from atelier.models.popular import SegmentPopular

    rows = [("y1", "crop-top", "2024-01-01", "s1"), ("y2", "crop-top", "2024-01-01", "s2")]
    rows += [("o1", "cardigan", "2024-01-01", "s3"), ("o2", "cardigan", "2024-01-01", "s4")]
    rows += [("o3", "cardigan", "2024-01-01", "s5"), ("n1", "scarf", "2024-01-01", "s6")]
    ages = {"y1": "18-24", "y2": "18-24", "o1": "55+", "o2": "55+", "o3": "55+"}
    data = with_demographics(
        tiny_dataset(rows), ages, {"o3": "Giza", "y1": "Cairo", "o1": "Cairo", "o2": "Cairo"}
    )
    model = SegmentPopular(["age_group", "region"]).fit(data)
    young, unknown = data.users.one("y1"), data.users.one("n1")
    assert ids(data, model.recommend(np.array([young]), 3)[0][0]) == ["crop-top", "cardigan", "scarf"]
    assert ids(data, model.recommend(np.array([unknown]), 3)[0][0]) == ["cardigan", "crop-top", "scarf"]
    # y2 has no region: their segment is their age group alone (y2 only here, so crop-top leads)
    y2 = data.users.one("y2")
    assert ids(data, model.recommend(np.array([y2]), 1)[0][0]) == ["crop-top"]


@pytest.mark.parametrize("mode", ["items", "users", "both"])
def test_profile_ranks_by_the_mean_embedding_of_the_shoppers_items(mode):
    from atelier.models.profile import Profile

    words = {"d": "summer floral dress", "k": "leather ankle boots", "p": "canvas tote bag"}
    products = [
        {"product_id": p, "group_id": p, "title": f"{words[p[0]]} {p}", "department": words[p[0]].split()[-1]}
        for p in [f"d{i}" for i in range(1, 5)] + [f"k{i}" for i in range(1, 5)] + ["pop"]
    ]
    data = tiny_dataset(ROWS, products)
    model = Profile("tfidf", mode=mode, neighbours=5).fit(data)
    for user, expected in (("a1", "d3"), ("b2", "k2")):
        items, _ = model.recommend(np.array([data.users.one(user)]), 1)
        assert ids(data, items[0]) == [expected], (mode, user)
    first_events = sp.csr_matrix(([1.0], ([0], [data.items.one("k1")])), shape=(1, data.n_items))
    items, _ = model.related(first_events, 3)
    assert all(
        i.startswith("k") for i in ids(data, items[0])
    )  # a new shopper's first event shapes the profile


def test_top_n_per_row_on_long_rows_matches_a_full_sort():
    rng = np.random.default_rng(3)
    dense = np.round(rng.random((3, 400)), 2) * (rng.random((3, 400)) < 0.8)  # many ties, many entries
    kept = top_n_per_row(sp.csr_matrix(dense), 5).toarray()
    for row, out in zip(dense, kept, strict=True):
        order = np.lexsort((np.arange(len(row)), -row))[:5]
        assert set(np.flatnonzero(out)) == set(order)
