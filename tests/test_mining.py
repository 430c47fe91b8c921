"""Frequent itemsets and rules: FP-Growth == Apriori == mlxtend, on hand-made, random and real baskets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from atelier.mining import apriori, association_rules, fpgrowth, min_count_for
from conftest import SHARED_DATA


def matrix(baskets: list[list[int]], n_items: int | None = None) -> sp.csr_matrix:
    rows = [b for b, items in enumerate(baskets) for _ in items]
    cols = [i for items in baskets for i in items]
    width = n_items or (max(cols, default=-1) + 1)
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(baskets), width))


def mlxtend_itemsets(m: sp.csr_matrix, min_support: float) -> dict[frozenset[int], int]:
    from mlxtend.frequent_patterns import fpgrowth as mlx_fpgrowth

    with (
        warnings.catch_warnings()
    ):  # pandas' sparse bool fill value deprecation, inside mlxtend's input format
        warnings.simplefilter("ignore", FutureWarning)
        frame = pd.DataFrame.sparse.from_spmatrix(m.astype(bool), columns=list(range(m.shape[1])))
    found = mlx_fpgrowth(frame, min_support=min_support, use_colnames=True)
    return {
        frozenset(int(i) for i in s): round(v * m.shape[0])
        for s, v in zip(found.itemsets, found.support, strict=True)
    }


# The textbook example (Han et al.): nine baskets over five items, minimum count 2.
TEXTBOOK = [[0, 1, 4], [1, 3], [1, 2], [0, 1, 3], [0, 2], [1, 2], [0, 2], [0, 1, 2, 4], [0, 1, 2]]


def test_textbook_itemsets_and_counts():
    found = fpgrowth(matrix(TEXTBOOK), min_support=2 / 9).as_dict()
    expected = {
        (0,): 6, (1,): 7, (2,): 6, (3,): 2, (4,): 2,
        (0, 1): 4, (0, 2): 4, (0, 4): 2, (1, 2): 4, (1, 3): 2, (1, 4): 2,
        (0, 1, 2): 2, (0, 1, 4): 2,
    }  # fmt: skip
    assert found == {frozenset(k): v for k, v in expected.items()}
    assert apriori(matrix(TEXTBOOK), min_support=2 / 9).as_dict() == found


def test_max_len_caps_the_itemset_size():
    found = fpgrowth(matrix(TEXTBOOK), min_support=2 / 9, max_len=2)
    assert found.sizes.max() == 2 and len(found) == 11


def test_min_count_rounds_up_like_the_peers():
    assert min_count_for(0.0005, 88_162) == 45  # 44.081 baskets -> 45
    assert min_count_for(2 / 9, 9) == 2


def test_rules_carry_support_confidence_and_lift():
    itemsets = fpgrowth(matrix(TEXTBOOK), min_support=2 / 9)
    rules = association_rules(itemsets)
    by_rule = {(rules.antecedent(r), int(rules.consequent[r])): r for r in range(len(rules))}
    r = by_rule[(0, 1), 4]  # {0, 1} -> 4: both in 4 baskets, all three in 2
    assert rules.count[r] == 2
    assert rules.support[r] == pytest.approx(2 / 9)
    assert rules.confidence[r] == pytest.approx(2 / 4)
    assert rules.lift[r] == pytest.approx((2 / 4) / (2 / 9))
    # Every itemset of size s yields s rules.
    assert len(rules) == int(sum(s for s in itemsets.sizes if s >= 2))


def test_rules_match_mlxtend():
    from mlxtend.frequent_patterns import association_rules as mlx_rules
    from mlxtend.frequent_patterns import fpgrowth as mlx_fpgrowth

    m = matrix(TEXTBOOK)
    frame = pd.DataFrame(m.toarray().astype(bool), columns=list(range(m.shape[1])))
    theirs = mlx_rules(
        mlx_fpgrowth(frame, min_support=2 / 9, use_colnames=True), metric="confidence", min_threshold=0
    )
    theirs = theirs[theirs.consequents.map(len) == 1]
    ours = association_rules(fpgrowth(m, min_support=2 / 9))
    mine = {
        (frozenset(ours.antecedent(r)), int(ours.consequent[r])): (ours.confidence[r], ours.lift[r])
        for r in range(len(ours))
    }
    assert len(mine) == len(theirs)
    for row in theirs.itertuples():
        conf, lift = mine[frozenset(row.antecedents), next(iter(row.consequents))]
        assert conf == pytest.approx(row.confidence) and lift == pytest.approx(row.lift)


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(
        st.lists(st.integers(0, 11), min_size=1, max_size=7, unique=True), min_size=1, max_size=60
    ),
    min_count=st.integers(1, 5),
)
def test_fpgrowth_equals_apriori_on_random_baskets(baskets, min_count):
    m = matrix(baskets, 12)
    support = min_count / len(baskets)
    assert fpgrowth(m, support).as_dict() == apriori(m, support).as_dict()


def test_fpgrowth_equals_mlxtend_on_the_sample_shop(ingested):
    from atelier.features.baskets import build_baskets
    from atelier.features.dataset import Dataset

    baskets = build_baskets(Dataset.load(ingested[0]), ["bag", "purchase", "view", "click", "wishlist"])
    for support in (0.01, 0.003):
        assert fpgrowth(baskets.matrix, support).as_dict() == mlxtend_itemsets(baskets.matrix, support)


@pytest.mark.realdata
def test_fpgrowth_equals_mlxtend_on_fimi_retail():
    path = SHARED_DATA / "fimi" / "retail.dat"
    if not path.exists():
        pytest.skip(f"{path} not found: real-data exactness test skipped")
    lines = [line.split() for line in path.read_text().splitlines()[:20_000] if line.strip()]
    m = matrix([[int(x) for x in line] for line in lines])
    for support in (0.005, 0.002):
        ours = fpgrowth(m, support).as_dict()
        assert ours == mlxtend_itemsets(m, support)
        assert len(ours) > 100


def test_no_rules_when_no_itemset_pairs_anything():
    assert len(association_rules(fpgrowth(matrix([[0], [1], [2]]), min_support=0.3))) == 0


def test_basket_file_reader_handles_tabs_duplicates_and_blank_lines(tmp_path):
    from atelier.mining.baskets_file import read_basket_file

    path = tmp_path / "b.dat"
    path.write_text("1 2\t3\n\n3 3 4 \n")
    m, labels = read_basket_file(path)
    rows = [sorted(labels[m.indices[m.indptr[r] : m.indptr[r + 1]]].tolist()) for r in range(m.shape[0])]
    assert rows == [["1", "2", "3"], ["3", "4"]]
    empty = tmp_path / "empty.dat"
    empty.write_text("")
    assert read_basket_file(empty)[0].shape == (0, 0)


def test_pair_rules_clean_their_input():
    from atelier.mining.pairs import pair_rules

    dirty = sp.csr_matrix(
        (np.array([1.0, 1.0, 0.0, 1.0]), np.array([0, 0, 1, 1]), np.array([0, 3, 4])), shape=(2, 2)
    )
    table = pair_rules(dirty)  # basket 0 holds item 0 twice and a stored zero for item 1
    assert table.count[0, 1] == 0 and table.n_rules == 0
