"""Baselines every method is measured against: most popular (overall or recently) and random."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.index.ranking import top_k
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


class SegmentPopular(Recommender):
    """Items ranked by distinct buyers within the shopper's segment (e.g. age group and region together); a
    shopper outside every known segment, or a segment too small to fill a list, falls back to overall
    popularity. The seeds' answer for a new shopper known by demographics only."""

    name = "popular_segment"
    widgets = frozenset({"personal"})
    handles_cold_users = True

    def __init__(self, columns: tuple[str, ...] | list[str] = ("age_group", "region")):
        self.columns = tuple(columns)

    def _fit(self, data: Dataset) -> None:
        self.segment_, self.keys_, members = user_segments(data, self.columns)
        self.segment_items_ = (members @ data.binary).tocsr().astype(np.float32)
        overall = data.item_users.astype(np.float64)
        # Overall popularity orders what the segment leaves unranked, far below any segment count.
        self.pad_ = np.where(overall > 0, overall / (overall.max() + 1.0), -np.inf)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._segment_scores(self.segment_[users])

    def recommend_segment(
        self, demographics: dict[str, str | None], n: int
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Top ``n`` for a shopper known only by demographics (e.g. a sign-up's age group and region), with the
        segment used ("" when none is known: overall popularity)."""
        self._check_fitted()
        known = {c: demographics.get(c) for c in self.columns}
        # The whole combination first, then each value alone (a region no shopper came from still has an age).
        for key in (segment_key(known), *(segment_key({c: v}) for c, v in known.items())):
            found = np.flatnonzero(self.keys_ == key) if key else []
            if len(found):
                items, scores = top_k(self._segment_scores(np.array([int(found[0])])), n)
                return items[0], scores[0], key
        items, scores = top_k(self._segment_scores(np.array([-1])), n)
        return items[0], scores[0], ""

    def _segment_scores(self, segments: np.ndarray) -> np.ndarray:
        return segment_popularity(self.pad_, self.segment_items_, segments)


def segment_popularity(base: np.ndarray, segment_items: sp.csr_matrix, segments: np.ndarray) -> np.ndarray:
    """Per row, ``base`` (overall popularity scaled below one buyer, breaking ties) plus the buyers of each item
    in the row's segment (a segment code, -1 for none: ``base`` alone)."""
    scores = np.tile(base, (len(segments), 1))
    rows = np.flatnonzero(segments >= 0)
    if len(rows):
        scores[rows] += segment_items[segments[rows]].toarray()
    return scores


def user_segments(data: Dataset, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Each user's segment code (-1 when none of ``columns`` is known), the segment keys (code i = keys[i]) and
    the segments x users membership.

    A key joins the known ``column=value`` parts, so a missing value narrows a user's segment to the columns they
    have ("age_group=25-34" when the region is unknown). Every user also belongs to each one-column segment of
    their values, so a newcomer whose combination nobody shares still finds their age group or region.
    """
    table = data.users_table
    present = [c for c in columns if c in table.columns]
    values = (
        table.select(present).to_dicts() if present and table.height else [{} for _ in range(data.n_users)]
    )
    own = [segment_key(row) for row in values]
    memberships = [
        dict.fromkeys([key, *(segment_key({c: v}) for c, v in row.items())]) if key else {}
        for key, row in zip(own, values, strict=True)
    ]
    keys = np.array(sorted({k for member in memberships for k in member if k}), dtype=str)
    code = {k: i for i, k in enumerate(keys.tolist())}
    segment = np.array([code.get(k, -1) for k in own], dtype=np.int64)
    pairs = [(code[k], u) for u, member in enumerate(memberships) for k in member if k]
    rows, cols = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True)) if pairs else ([], [])
    members = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(keys), data.n_users))
    return segment, keys, members


def segment_key(values: dict[str, object]) -> str:
    """The segment key of one shopper's demographic values ("" when none is known)."""
    return "\x1f".join(f"{c}={v}" for c, v in values.items() if v is not None and str(v) != "")
