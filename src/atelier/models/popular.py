"""Baselines every method is measured against: most popular (overall or recently) and random."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.models.base import Recommender

ALL_WIDGETS = frozenset({"personal", "together", "similar"})


class Popular(Recommender):
    """Items ranked by the number of distinct users who interacted with them, the same list for everyone.

    With ``window_days`` only the last days of the data count (ties broken by popularity over all time): the
    "trending now" baseline, strong in fashion where collections turn over quickly.
    """

    name = "popular"
    widgets = ALL_WIDGETS
    handles_cold_users = True

    def __init__(self, window_days: float | None = None):
        self.window_days = window_days

    def _fit(self, data: Dataset) -> None:
        overall = data.item_users.astype(np.float64)
        scores = overall.copy()
        if self.window_days is not None:
            recent = _recent_item_users(data, self.window_days)
            # Recent counts rank first; all-time popularity breaks their ties and orders the items after them.
            scores = recent * (overall.max() + 1.0) + overall
        self.scores_ = np.where(scores > 0, scores, -np.inf)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.scores_, (len(users), 1))

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.scores_, (queries.shape[0], 1))


class RecentPopular(Popular):
    """Popular over the last ``window_days`` of the data."""

    name = "popular_recent"

    def __init__(self, window_days: float | None = 14.0):
        super().__init__(window_days)


class RandomItems(Recommender):
    """Items in random order: the floor any method must clear.

    It draws from the items with interactions (or, in a catalogue without any, every described item); the same
    seed gives the same lists for the same requests.
    """

    name = "random"
    widgets = ALL_WIDGETS
    handles_cold_users = True
    needs_interactions = False

    def __init__(self, seed: int = 7):
        self.seed = seed

    def _fit(self, data: Dataset) -> None:
        pool = data.active_items if data.active_items.any() else data.described_items
        self.pool_ = pool.astype(bool)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        # Seeded by the user ids too, so a user gets the same list whatever batch it comes in.
        scores = np.empty((len(users), self.n_items_))
        for row, user in enumerate(users):
            scores[row] = np.random.default_rng([self.seed, int(user)]).random(self.n_items_)
        scores[:, ~self.pool_] = -np.inf
        return scores

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        scores = np.empty(queries.shape)
        for row in range(queries.shape[0]):
            key = queries.indices[queries.indptr[row] : queries.indptr[row + 1]].tolist()
            scores[row] = np.random.default_rng([self.seed, *key]).random(self.n_items_)
        scores[:, ~self.pool_] = -np.inf
        return scores


def _recent_item_users(data: Dataset, days: float) -> np.ndarray:
    """Distinct users per item over the last ``days`` of the interactions (all of them when undated)."""
    inter = data.interactions
    end = inter["timestamp"].max()
    if end is not None:
        inter = inter.filter(pl.col("timestamp") > end - timedelta(days=days))
    counts = inter.select("user", "item").unique().group_by("item").len()
    out = np.zeros(data.n_items)
    out[counts["item"].to_numpy()] = counts["len"].to_numpy()
    return out
