"""Ranking metrics at k, computed once for every query (user, basket or item) with NumPy, and their errors.

Everything starts from a *hit matrix*: ``hits[q, j]`` is true when the j-th recommendation for query q is
relevant, and ``n_relevant[q]`` counts the relevant items query q has. Lists shorter than k are padded with -1,
which is never a hit. Definitions (per query, then averaged over queries):

- precision@k = hits in the top k / k (a short list is not rewarded for being short);
- recall@k = hits in the top k / n_relevant;
- NDCG@k = sum of 1/log2(rank + 1) over hits, divided by its best possible value min(n_relevant, k);
- MAP@k = sum of precision@j at each hit j <= k, divided by min(n_relevant, k) (the H&M benchmark's MAP@12);
- hit rate@k = 1 when any of the top k is a hit; MRR@k = 1 / rank of the first hit (0 when none).

A query without any relevant item has no recall, NDCG or MAP: protocols leave such queries out and count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from atelier.features.segments import stored_in_rows

RANKING = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")
BEYOND = ("coverage", "novelty", "diversity")


def hits_from_truth(recs: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """``hits[q, j]``: is ``recs[q, j]`` among the non-zero columns of ``truth[q]``."""
    return stored_in_rows(truth, recs)


def hits_from_labels(recs: np.ndarray, item_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """``hits[q, j]``: does item ``recs[q, j]`` share the label of query q (labels as integer codes, -1 = none)."""
    rec_labels = np.where(recs >= 0, item_labels[np.clip(recs, 0, None)], -1)
    return (rec_labels == query_labels[:, None]) & (rec_labels >= 0)


def ranking_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, ks: list[int]
) -> dict[tuple[str, int], np.ndarray]:
    """Per-query values of every metric in ``RANKING`` at every k (k may exceed the list length)."""
    n_q, width = hits.shape
    k_max = max(ks)
    if width < k_max:
        hits = np.hstack([hits, np.zeros((n_q, k_max - width), dtype=bool)])
    hits = hits[:, :k_max].astype(np.float64)
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    cum_hits = np.cumsum(hits, axis=1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    out: dict[tuple[str, int], np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ks:
            found = cum_hits[:, k - 1]
            best = np.minimum(n_relevant, k)
            out["precision", k] = found / k
            out["recall", k] = found / n_relevant
            out["ndcg", k] = (hits[:, :k] @ discounts[:k]) / ideal[best.astype(np.int64)]
            out["map", k] = (cum_hits[:, :k] / ranks[:k] * hits[:, :k]).sum(axis=1) / best
            out["hit_rate", k] = (found > 0).astype(np.float64)
            out["mrr", k] = np.where((first_hit > 0) & (first_hit <= k), 1.0 / np.maximum(first_hit, 1), 0.0)
    undefined = n_relevant <= 0
    for metric in ("recall", "ndcg", "map"):
        for k in ks:
            out[metric, k][undefined] = np.nan
    return out


def self_information(item_users: np.ndarray, n_users: int) -> np.ndarray:
    """-log2 of the share of training users who interacted with each item (unseen items count as seen once)."""
    return -np.log2(np.maximum(item_users, 1) / max(n_users, 1))


def novelty(recs: np.ndarray, info: np.ndarray, k: int) -> np.ndarray:
    """Mean self-information of each query's top k (NaN for an empty list)."""
    top = recs[:, :k]
    valid = top >= 0
    total = np.where(valid, info[np.clip(top, 0, None)], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / valid.sum(axis=1)


def diversity(recs: np.ndarray, features: sp.csr_matrix, k: int) -> np.ndarray:
    """Intra-list diversity: 1 - mean cosine similarity over pairs of the top k items (NaN below 2 items).

    ``features`` holds one L2-normalised row per item; items without features are left out of the pairs.
    """
    top = recs[:, :k]
    n_q = top.shape[0]
    has_features = np.diff(features.indptr) > 0
    valid = (top >= 0) & has_features[np.clip(top, 0, None)]
    rows = np.repeat(np.arange(n_q), valid.sum(axis=1))
    chosen = sp.csr_matrix((np.ones(len(rows)), (rows, top[valid])), shape=(n_q, features.shape[0]))
    summed = chosen @ features
    sq_norm = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    m = valid.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_similarity = (sq_norm - m) / (m * (m - 1))
    return np.where(m >= 2, 1.0 - mean_similarity, np.nan)


def coverage(recs: np.ndarray, k: int, n_candidates: int, weights: sp.csr_matrix | None = None) -> np.ndarray:
    """Share of the ``n_candidates`` items that appear in some top k.

    With ``weights`` (resamples x queries: how often each query is drawn) one value per resample, for the
    bootstrap; without, a single value.
    """
    top = recs[:, :k]
    valid = top >= 0
    rows = np.repeat(np.arange(top.shape[0]), valid.sum(axis=1))
    n_items = int(top.max()) + 1 if valid.any() else 1
    shown = sp.csr_matrix((np.ones(len(rows)), (rows, top[valid])), shape=(top.shape[0], n_items))
    if weights is None:
        return np.array([np.unique(top[valid]).size / max(n_candidates, 1)])
    # Weights and indicators are non-negative, so an item is shown in a resample exactly when its entry is stored.
    return (weights @ shown).getnnz(axis=1) / max(n_candidates, 1)


@dataclass(frozen=True)
class Estimate:
    """A mean over queries with its bootstrap standard error."""

    value: float
    se: float
    n: int


class Bootstrap:
    """Resamples of the queries, drawn once so every method and metric is judged on the same draws (paired).

    With ``clusters`` (one label per query, e.g. the basket a query was cut from) whole clusters are resampled,
    so queries that share a basket or a user are not counted as independent evidence.
    """

    def __init__(self, n_queries: int, n_resamples: int, seed: int, clusters: np.ndarray | None = None):
        rng = np.random.default_rng(seed)
        self.n = n_queries
        self.n_resamples = n_resamples
        if clusters is None:
            clusters = np.arange(n_queries)
        codes, self._cluster_of = np.unique(np.asarray(clusters), return_inverse=True)
        self._n_clusters = len(codes)
        self._drawn = rng.integers(0, max(self._n_clusters, 1), size=(n_resamples, self._n_clusters))

    @cached_property
    def weights(self) -> sp.csr_matrix:
        """Resamples x queries: how many times each query is drawn (sparse, built once)."""
        b, c = self._drawn.shape
        rows = np.repeat(np.arange(b), c)
        per_cluster = sp.csr_matrix((np.ones(rows.size), (rows, self._drawn.ravel())), shape=(b, c))
        per_cluster.sum_duplicates()
        member = sp.csr_matrix(
            (np.ones(self.n), (self._cluster_of, np.arange(self.n))), shape=(self._n_clusters, self.n)
        )
        return (per_cluster @ member).tocsr()

    def estimate(self, values: np.ndarray) -> Estimate:
        """Mean of ``values`` (NaN left out) and the standard deviation of the resampled means."""
        values = np.asarray(values, dtype=np.float64)
        defined = ~np.isnan(values)
        n = int(defined.sum())
        if n == 0:
            return Estimate(float("nan"), float("nan"), 0)
        mean = float(values[defined].mean())
        if len(np.unique(self._cluster_of[defined])) < 2:  # one cluster resampled is always itself: no spread
            return Estimate(mean, float("nan"), n)
        totals = self.weights @ np.where(defined, values, 0.0)
        counts = self.weights @ defined.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample may draw only undefined values
            means = totals / counts
        return Estimate(mean, float(np.nanstd(means, ddof=1)), n)

    def paired(self, values: np.ndarray, baseline: np.ndarray) -> Estimate:
        """Mean difference ``values - baseline`` over the queries both define, with its bootstrap error."""
        return self.estimate(np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64))
