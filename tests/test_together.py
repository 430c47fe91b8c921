"""Top Picks Together: baskets, pair rules with their figures, and the planted pairs of the sample shop."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from atelier.config import load_settings
from atelier.features.baskets import build_baskets, shoppers_together
from atelier.features.dataset import Dataset
from atelier.mining.pairs import pair_rules
from atelier.models import make_model
from atelier.models.together import PairRules
from evaluate_fixtures import tiny_dataset

# u1 buys a+b twice (two sessions), u2 buys a+b+c once, u3 buys c alone, u4 buys d+e once.
ROWS = [
    ("u1", "a", "2024-01-01", "s1"),
    ("u1", "b", "2024-01-01", "s1"),
    ("u1", "a", "2024-01-03", "s2"),
    ("u1", "b", "2024-01-03", "s2"),
    ("u2", "a", "2024-01-05", "s3"),
    ("u2", "b", "2024-01-05", "s3"),
    ("u2", "c", "2024-01-05", "s3"),
    ("u3", "c", "2024-01-05", "s4"),
    ("u4", "d", "2024-01-06", "s5"),
    ("u4", "e", "2024-01-06", "s5"),
]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return tiny_dataset(ROWS)


def test_baskets_drop_single_items_and_oversized_ones(data):
    baskets = build_baskets(data, ["purchase"], max_size=2)
    assert baskets.n_single == 1 and baskets.n_oversized == 1  # s4 alone; s3 has 3 items
    assert baskets.n_baskets == 3
    by_day = build_baskets(data, ["purchase"], by="day")
    assert by_day.n_baskets == 4  # u2's and u3's 2024-01-05 are different shoppers: s3 by day, s4 single


def test_pair_counts_distinguish_baskets_from_shoppers(data):
    baskets = build_baskets(data, ["purchase"])
    a, b, c = (data.items.one(x) for x in "abc")
    counts = pair_rules(baskets.matrix).count
    assert counts[a, b] == 3  # s1, s2, s3
    assert shoppers_together(baskets)[a, b] == 2  # u1 (twice) and u2
    assert counts[a, c] == 1 and counts[a, a] == 0


def test_rule_figures_match_hand_computation(data):
    model = PairRules(kinds=["purchase"], min_count=1, min_lift=0.0).fit(data)
    a, b, c = (data.items.one(x) for x in "abc")
    rule = model.rule(a, b)
    # 4 baskets (s1, s2, s3, s5); a in 3, b in 3, both in 3.
    assert rule.count == 3 and rule.shoppers == 2
    assert rule.support == pytest.approx(3 / 4)
    assert rule.confidence == pytest.approx(1.0)
    assert rule.lift == pytest.approx(1.0 / (3 / 4))
    assert model.rule(c, a).confidence == pytest.approx(1.0)  # c is in one basket, with a
    assert model.rule(a, c).confidence == pytest.approx(1 / 3)
    assert rule.reason() == "2 shoppers bought both together; 1.3x more often than by chance"


def test_thresholds_drop_weak_rules(data):
    a, c = data.items.one("a"), data.items.one("c")
    assert PairRules(kinds=["purchase"], min_count=2, min_lift=0.0).fit(data).rule(a, c) is None
    # lift(a -> b) = 4/3 > 1 is kept; lift(a -> c) = (1/3) / (1/4) = 4/3 too; a rule at lift 1 would not be.
    strict = PairRules(kinds=["purchase"], min_count=1, min_lift=1.4).fit(data)
    assert strict.rule(a, c) is None


def test_partners_rank_by_confidence_and_unknown_items_get_nothing(data):
    model = PairRules(kinds=["purchase"], min_count=1, min_lift=0.0).fit(data)
    a = data.items.one("a")
    query = sp.csr_matrix(([1.0], ([0], [a])), shape=(1, data.n_items))
    items, scores = model.related(query, 3)
    assert data.items.to_ids(items[0]).tolist() == ["b", "c", None]
    assert scores[0, 0] > scores[0, 1]


def test_planted_pairs_are_recovered_in_the_top_5(ingested, truth):
    data = Dataset.load(ingested[0])
    model = make_model("pairs", load_settings()).fit(data)
    found, total = 0, 0
    for x, y in truth["complementary_pairs"]:
        for query, partner in ((x, y), (y, x)):
            if query not in data.items:
                continue
            row = sp.csr_matrix(([1.0], ([0], [data.items.one(query)])), shape=(1, data.n_items))
            top = data.items.to_ids(model.related(row, 5)[0][0]).tolist()
            found += partner in top
            total += 1
    assert total >= 10
    assert found / total >= 0.9, f"{found}/{total} planted partners in the top 5"


def test_empty_baskets_fit_without_error():
    data = tiny_dataset([("u1", "a", "2024-01-01", "s1")])
    model = PairRules().fit(data)
    assert model.n_rules == 0
    items, _ = model.related(sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 1)), 2)
    assert (items == -1).all()
    assert np.isfinite(model.n_baskets_)


# A small catalogue: two styles in two colours each, tops and trousers bought together.
CATALOGUE = [
    {"product_id": "top-red", "group_id": "top", "title": "t", "department": "Tops"},
    {"product_id": "top-blue", "group_id": "top", "title": "t", "department": "Tops"},
    {"product_id": "jeans-black", "group_id": "jeans", "title": "j", "department": "Trousers"},
    {"product_id": "jeans-grey", "group_id": "jeans", "title": "j", "department": "Trousers"},
    {"product_id": "chino", "group_id": "chino", "title": "c", "department": "Trousers"},
    {"product_id": "scarf", "group_id": "scarf", "title": "s", "department": "Accessories"},
    {"product_id": "hat", "group_id": "hat", "title": "h", "department": "Accessories"},
]
CHAIN_ROWS = [
    ("u1", "top-red", "2024-01-01", "s1"),
    ("u1", "jeans-black", "2024-01-01", "s1"),
    ("u2", "top-red", "2024-01-02", "s2"),
    ("u2", "jeans-black", "2024-01-02", "s2"),
    ("u3", "chino", "2024-01-03", "s3"),
    ("u3", "scarf", "2024-01-03", "s3"),
    ("u4", "jeans-grey", "2024-01-04", "s4"),
    ("u4", "chino", "2024-01-04", "s4"),
    ("u5", "scarf", "2024-01-05", "s5"),
    ("u5", "hat", "2024-01-05", "s5"),
]


def chain_list(model, data, item: str, n: int) -> list[tuple[str, str]]:
    query = sp.csr_matrix(([1.0], ([0], [data.items.one(item)])), shape=(1, data.n_items))
    items, scores = model.related(query, n)
    ids = data.items.to_ids(items[0])
    return [(i, s) for i, s in zip(ids, model.split_scores(scores[0])[0], strict=True) if i is not None]


def test_chain_fills_from_variants_then_departments_each_item_naming_its_source():
    from atelier.models.together_chain import TogetherChain

    data = tiny_dataset(CHAIN_ROWS, CATALOGUE)
    model = TogetherChain(PairRules(kinds=["purchase"], min_count=2, min_lift=0.0)).fit(data)
    got = chain_list(model, data, "top-red", 6)
    assert got[0] == ("jeans-black", "rules")  # bought together twice
    assert got[1] == ("top-blue", "variants")  # never sold, but the other colour of the style
    # Tops and Trousers are bought together: the remaining trousers come as department complements.
    assert {i for i, s in got if s == "department_pairs"} == {"chino", "jeans-grey"}
    assert [s for _, s in got[4:]] == ["popular", "popular"]  # accessories: no department link to tops
    assert "top-red" not in dict(got)


def test_chain_without_rules_still_answers_with_popular_items():
    from atelier.models.together_chain import TogetherChain

    data = tiny_dataset(CHAIN_ROWS, CATALOGUE)
    model = TogetherChain(sources=["rules", "popular"]).fit(data)  # min_count 2: only the top-red pair
    got = chain_list(model, data, "scarf", 3)
    assert [s for _, s in got] == ["popular"] * 3


def test_complete_the_look_bundles_come_from_frequent_itemsets():
    from atelier.models.together_chain import TogetherChain

    rows = [(f"u{k}", p, "2024-01-01", f"s{k}") for k in range(3) for p in ("top", "jeans", "belt")]
    rows += [("u9", "top", "2024-01-02", "s9"), ("u9", "scarf", "2024-01-02", "s9")]
    data = tiny_dataset(rows)
    model = TogetherChain(bundle_min_count=3).fit(data)
    (bundle,) = model.bundles(data.items.one("top"))
    assert sorted(data.items.to_ids(np.array(bundle.items))) == ["belt", "jeans"]
    assert bundle.count == 3 and bundle.confidence == pytest.approx(3 / 4)
    assert model.bundles(data.items.one("scarf")) == []


def test_chain_keeps_the_order_of_scores_above_one_lift_and_basket_sums():
    from atelier.models.together_chain import TogetherChain

    data = tiny_dataset(CHAIN_ROWS, CATALOGUE)
    for rank_by in ("confidence", "lift"):
        rules = PairRules(kinds=["purchase"], min_count=1, min_lift=0.0, rank_by=rank_by)
        chain = TogetherChain(rules, sources=["rules"]).fit(data)
        alone = PairRules(kinds=["purchase"], min_count=1, min_lift=0.0, rank_by=rank_by).fit(data)
        # A basket query sums several items' scores; the chain must rank exactly as the rules alone do.
        query = sp.csr_matrix(
            ([1.0, 1.0], ([0, 0], [data.items.one("jeans-grey"), data.items.one("scarf")])),
            shape=(1, data.n_items),
        )
        np.testing.assert_array_equal(chain.related(query, 4)[0], alone.related(query, 4)[0])
        _, own = chain.split_scores(chain.related(query, 4)[1][0])
        expected = alone.related(query, 4)[1][0]
        finite = np.isfinite(expected)
        np.testing.assert_allclose(own[finite], expected[finite], rtol=1e-9)


def test_rules_need_enough_distinct_shoppers_when_asked(data):
    a, b = data.items.one("a"), data.items.one("b")
    assert PairRules(kinds=["purchase"], min_count=1, min_shoppers=2).fit(data).rule(a, b) is not None
    assert PairRules(kinds=["purchase"], min_count=1, min_shoppers=3).fit(data).rule(a, b) is None


def test_bad_model_settings_are_refused():
    with pytest.raises(ValueError, match="rank_by"):
        PairRules(rank_by="support")
    with pytest.raises(ValueError, match="basket_by"):
        PairRules(basket_by="week")
