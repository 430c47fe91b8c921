"""Ranking metrics, beyond-accuracy metrics and bootstrap errors against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from atelier.evaluate.metrics import (
    Bootstrap,
    coverage,
    diversity,
    hits_from_labels,
    hits_from_truth,
    novelty,
    ranking_metrics,
    self_information,
)
from atelier.index.ranking import PAD, top_k

L2, L3, L4 = math.log2(2), math.log2(3), math.log2(4)


def truth_matrix(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [item for items in rows for item in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def test_metrics_match_hand_computed_values():
    # Query 0: relevant {1, 2}, list 3,1,2 -> hits at ranks 2 and 3.
    # Query 1: relevant {4}, list 4,0,1 -> a hit at rank 1.
    # Query 2: relevant {9}, list 5,6 then padding -> no hit (a list shorter than k).
    recs = np.array([[3, 1, 2], [4, 0, 1], [5, 6, PAD]])
    hits = hits_from_truth(recs, truth_matrix([[1, 2], [4], [9]]))
    assert hits.tolist() == [[False, True, True], [True, False, False], [False, False, False]]
    m = ranking_metrics(hits, np.array([2, 1, 1]), [1, 3])
    assert m["precision", 3].tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    assert m["precision", 1].tolist() == pytest.approx([0, 1, 0])
    assert m["recall", 3].tolist() == pytest.approx([1, 1, 0])
    assert m["ndcg", 3].tolist() == pytest.approx([(1 / L3 + 1 / L4) / (1 / L2 + 1 / L3), 1, 0])
    assert m["map", 3].tolist() == pytest.approx([(1 / 2 + 2 / 3) / 2, 1, 0])
    assert m["hit_rate", 3].tolist() == [1, 1, 0]
    assert m["mrr", 3].tolist() == pytest.approx([1 / 2, 1, 0])
    assert m["mrr", 1].tolist() == pytest.approx([0, 1, 0])


def test_more_relevant_items_than_k_caps_the_ideal():
    # Five relevant items, k = 2, both recommendations relevant: a perfect list at k.
    hits = np.array([[True, True]])
    m = ranking_metrics(hits, np.array([5]), [2])
    assert m["ndcg", 2][0] == pytest.approx(1.0)
    assert m["map", 2][0] == pytest.approx(1.0)
    assert m["recall", 2][0] == pytest.approx(2 / 5)


def test_k_beyond_the_list_length_counts_missing_slots_as_misses():
    m = ranking_metrics(np.array([[True]]), np.array([1]), [1, 5])
    assert m["precision", 5][0] == pytest.approx(1 / 5)
    assert m["ndcg", 5][0] == pytest.approx(1.0)


def test_empty_truth_is_undefined_not_zero():
    m = ranking_metrics(np.array([[False, False]]), np.array([0]), [2])
    assert math.isnan(m["recall", 2][0]) and math.isnan(m["ndcg", 2][0]) and math.isnan(m["map", 2][0])
    assert m["precision", 2][0] == 0 and m["hit_rate", 2][0] == 0


def test_padding_is_never_a_hit_even_against_item_zero():
    recs = np.array([[PAD, PAD]])
    assert not hits_from_truth(recs, truth_matrix([[0]])).any()
    assert not hits_from_labels(recs, np.array([0, 0]), np.array([0])).any()


def test_label_hits_compare_with_the_query_label_and_ignore_missing_labels():
    item_labels = np.array([0, 0, 1, -1])
    recs = np.array([[1, 2, 3], [0, 1, 2]])
    hits = hits_from_labels(recs, item_labels, np.array([0, -1]))
    assert hits.tolist() == [[True, False, False], [False, False, False]]


def test_top_k_breaks_ties_by_item_index_and_pads_excluded_items():
    scores = np.array([[1.0, 3.0, 3.0, 3.0, 0.0], [5.0, -np.inf, -np.inf, -np.inf, -np.inf]])
    items, values = top_k(scores, 2)
    assert items.tolist() == [[1, 2], [0, PAD]]
    assert values[1, 1] == -np.inf
    items, _ = top_k(scores, 7)
    assert items[0].tolist() == [1, 2, 3, 0, 4, PAD, PAD]
    # A tie straddling the cut: the lowest indices win, whatever argpartition picks.
    flat = np.zeros((3, 50))
    assert (top_k(flat, 3)[0] == [0, 1, 2]).all()


def test_novelty_is_the_mean_self_information_of_the_list():
    info = self_information(np.array([4, 2, 1, 0]), n_users=4)  # shares 1, 1/2, 1/4, unseen -> 1/4
    assert info.tolist() == pytest.approx([0, 1, 2, 2])
    out = novelty(np.array([[0, 1], [2, PAD], [PAD, PAD]]), info, 2)
    assert out[:2].tolist() == pytest.approx([0.5, 2.0])
    assert math.isnan(out[2])


def test_diversity_is_one_minus_mean_pairwise_cosine():
    # Items 0 and 1 identical, item 2 orthogonal, item 3 without features.
    features = sp.csr_matrix(np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 0]]))
    recs = np.array([[0, 1, PAD], [0, 2, PAD], [0, 1, 2], [0, 3, PAD]])
    out = diversity(recs, features, 3)
    assert out[:3].tolist() == pytest.approx([0.0, 1.0, 1 - 1 / 3])
    assert math.isnan(out[3])  # one item with features: no pair


def test_coverage_counts_distinct_items_over_candidates_and_resamples():
    recs = np.array([[0, 1], [1, 2], [PAD, PAD]])
    assert coverage(recs, 2, 10)[0] == pytest.approx(0.3)
    assert coverage(recs, 1, 10)[0] == pytest.approx(0.2)
    weights = sp.csr_matrix(
        np.array([[1.0, 0, 2], [0, 3.0, 0]])
    )  # resample 1 draws query 0 and 2; resample 2 query 1
    assert coverage(recs, 2, 10, weights).tolist() == pytest.approx([0.2, 0.2])


def test_bootstrap_error_agrees_with_the_textbook_formula():
    values = np.random.default_rng(0).random(2_000)
    est = Bootstrap(len(values), 400, seed=1).estimate(values)
    assert est.value == pytest.approx(values.mean())
    assert est.se == pytest.approx(values.std(ddof=1) / math.sqrt(len(values)), rel=0.15)
    assert est.n == 2_000


def test_paired_difference_error_is_smaller_than_unpaired_when_methods_agree():
    rng = np.random.default_rng(3)
    base = rng.random(500)
    better = base + 0.01 + rng.normal(0, 0.001, 500)  # the same users, slightly better each
    boot = Bootstrap(500, 300, seed=4)
    diff = boot.paired(better, base)
    assert diff.value == pytest.approx(0.01, abs=1e-3)
    assert diff.se < 0.1 * boot.estimate(base).se


def test_bootstrap_skips_undefined_values_and_same_seed_same_error():
    values = np.array([1.0, np.nan, 0.0, 1.0])
    a, b = Bootstrap(4, 50, seed=9).estimate(values), Bootstrap(4, 50, seed=9).estimate(values)
    assert a == b
    assert a.n == 3 and a.value == pytest.approx(2 / 3)
    empty = Bootstrap(0, 50, seed=9).estimate(np.array([]))
    assert empty.n == 0 and math.isnan(empty.value)
    # One query cannot show its spread: no error rather than a false certainty of zero.
    single = Bootstrap(1, 50, seed=9).estimate(np.array([0.5]))
    assert single.value == 0.5 and math.isnan(single.se)


def test_clustered_bootstrap_resamples_whole_clusters():
    # Two baskets of 50 identical queries: the evidence is two baskets, not a hundred queries.
    values = np.repeat([0.0, 1.0], 50)
    clusters = np.repeat([0, 1], 50)
    clustered = Bootstrap(100, 400, seed=2, clusters=clusters).estimate(values)
    independent = Bootstrap(100, 400, seed=2).estimate(values)
    assert clustered.value == independent.value == 0.5
    assert clustered.se == pytest.approx(0.5 / math.sqrt(2), rel=0.2)
    assert independent.se == pytest.approx(0.05, rel=0.2)
