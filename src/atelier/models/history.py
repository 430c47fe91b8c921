"""``history``: the shopper's own recent items and their other colours, padded with popularity.

Fashion basics are bought again (the same tights, the same T-shirt in another colour), so a shopper's own
history is a strong list: on the H&M sample this simple method is among the strongest. Recent interactions
weigh more (``half_life_days``); an item's colour variants (same ``group_id``) get ``variant_weight`` of its
score; popularity orders the rest — within the shopper's segment (``segment_columns``, e.g. age group and region)
when they have one, overall otherwise. Unlike the other methods it keeps what the shopper already has.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.features.items import dense_codes
from atelier.features.user_items import POPULARITY_PAD, weighted_matrix
from atelier.models.base import Recommender
from atelier.models.popular import segment_popularity, user_segments


class History(Recommender):
    """Own recent items first, then their colour variants, then what is popular."""

    name = "history"
    widgets = frozenset({"personal"})
    handles_cold_users = True
    pads_with_popularity = True

    def __init__(
        self,
        half_life_days: float | None = 30.0,
        variant_weight: float = 0.5,
        segment_columns: tuple[str, ...] | list[str] = ("age_group", "region"),
    ):
        self.half_life_days = half_life_days
        self.variant_weight = variant_weight
        self.segment_columns = tuple(segment_columns)

    def _fit(self, data: Dataset) -> None:
        self.matrix_ = weighted_matrix(data, self.half_life_days)
        groups = dense_codes(data.products["group_id"]).copy()
        # An item without a group is its own group.
        alone = groups < 0
        groups[alone] = groups.max(initial=-1) + 1 + np.arange(int(alone.sum()))
        self.groups_ = sp.csr_matrix(
            (np.ones(data.n_items, dtype=np.float32), (np.arange(data.n_items), groups)),
            shape=(data.n_items, int(groups.max(initial=-1)) + 1),
        )
        self.bought_ = data.active_items
        self.overall_ = data.item_users.astype(np.float32)
        self.segment_, _, members = user_segments(data, self.segment_columns)
        self.segment_items_ = (members @ data.binary).tocsr().astype(np.float32)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score_rows(self.matrix_[users], users)

    def _score_rows(self, own: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        variants = own @ self.groups_ @ self.groups_.T - own  # the group's score, minus the item's own
        scores = np.asarray((own + self.variant_weight * variants).todense(), dtype=np.float64)
        # A new colour nobody bought yet is offered through its variant; other unbought items are not.
        return np.where((scores > 0) | self.bought_, np.maximum(scores, 0.0) + self._pad(users), -np.inf)

    def _pad(self, users: np.ndarray) -> np.ndarray:
        """Per row, popularity in the shopper's segment (overall popularity breaking its ties, and alone for a
        shopper without one), scaled into [0, POPULARITY_PAD]: it only orders what the history leaves unscored."""
        overall = self.overall_.astype(np.float64)
        segments = np.where(users >= 0, self.segment_[np.clip(users, 0, None)], -1)
        pad = segment_popularity(overall / (overall.max(initial=0.0) + 1.0), self.segment_items_, segments)
        return POPULARITY_PAD * pad / np.maximum(pad.max(axis=1, keepdims=True), 1e-12)
