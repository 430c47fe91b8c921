"""Collaborative filtering on the weighted user x item matrix: the seeds' user-based method, and item-item.

- ``user_cf``: cosine similarity between users' interaction vectors, the top ``neighbours`` of each user, their
  weighted items summed (the seeds' method). Computed on demand, a few users at a time, with sparse products:
  nothing users x users is ever stored, so it scales to 100k users.
- ``item_cf``: asymmetric cosine between items' columns (who interacted with them; ``alpha`` 0.5 is the plain
  cosine, larger keeps popular partners ahead), the top ``neighbours`` of each item kept; a user's score for an
  item sums the similarities to the items they touched. It ranks for a new shopper with a few events as well
  (``related`` on those events): the seeds' path for new users.

Both pad their lists with popularity, so a shopper whose neighbours offer little still gets a full list, and
leave out what the shopper already has (``exclude_seen``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.features.segments import row_of_entries
from atelier.features.user_items import popularity_pad, row_normalised, top_n_per_row, weighted_matrix
from atelier.models.base import Recommender

USERS_PER_PRODUCT = 256  # users whose similarities are computed together (bounds the sparse product's size)
ITEMS_PER_PRODUCT = 2048


class _Collaborative(Recommender):
    widgets = frozenset({"personal"})
    handles_cold_users = True
    pads_with_popularity = True

    def __init__(self, neighbours: int, half_life_days: float | None = None, exclude_seen: bool = True):
        self.neighbours = neighbours
        self.half_life_days = half_life_days
        self.exclude_seen = exclude_seen

    def _fit_common(self, data: Dataset) -> None:
        self.matrix_ = weighted_matrix(data, self.half_life_days)
        self.pad_ = np.where(data.active_items, popularity_pad(data), -np.inf)

    def _finish(self, scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
        """Neighbour scores plus the popularity pad; the shopper's own items masked when asked."""
        scores = np.where(scores > 0, scores, 0.0) + self.pad_
        if self.exclude_seen:
            part = seen.tocoo()
            scores[part.row, part.col] = -np.inf
        return scores


class UserCF(_Collaborative):
    """Items of the ``neighbours`` most similar shoppers (cosine on weighted interactions)."""

    name = "user_cf"

    def __init__(self, neighbours: int = 50, half_life_days: float | None = None, exclude_seen: bool = True):
        super().__init__(neighbours, half_life_days, exclude_seen)

    def _fit(self, data: Dataset) -> None:
        self._fit_common(data)
        self.unit_rows_ = row_normalised(self.matrix_)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._scores(self.matrix_[users], users)

    def _score_rows(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return self._scores(rows, users)

    def warm(self) -> UserCF:
        super().warm()
        self._by_item()
        return self

    def _by_item(self) -> sp.csr_matrix:
        """Items x users unit rows, made once: multiplying by ``unit_rows_.T`` would convert 2M entries per request."""
        if getattr(self, "_unit_by_item", None) is None:
            self._unit_by_item = self.unit_rows_.T.tocsr()
        return self._unit_by_item

    def _scores(self, rows: sp.csr_matrix, users: np.ndarray | None) -> np.ndarray:
        """Neighbour scores for interaction ``rows`` (of training ``users``, who are not their own neighbours)."""
        out = np.empty((rows.shape[0], self.matrix_.shape[1]))
        unit = row_normalised(rows)
        for start in range(0, rows.shape[0], USERS_PER_PRODUCT):
            stop = min(start + USERS_PER_PRODUCT, rows.shape[0])
            similar = (unit[start:stop] @ self._by_item()).tocsr()
            if users is not None:
                similar = _without_self(similar, users[start:stop])  # -1 (a newcomer) matches no column
            nearest = top_n_per_row(similar, self.neighbours)
            scores = np.asarray((nearest @ self.matrix_).todense())
            out[start:stop] = self._finish(scores, rows[start:stop])
        return out


class ItemCF(_Collaborative):
    """Items most co-interacted with the shopper's items (asymmetric cosine between item columns, top
    ``neighbours`` kept)."""

    name = "item_cf"

    def __init__(
        self,
        neighbours: int = 100,
        half_life_days: float | None = None,
        exclude_seen: bool = True,
        alpha: float = 0.5,
    ):
        super().__init__(neighbours, half_life_days, exclude_seen)
        self.alpha = alpha

    def _fit(self, data: Dataset) -> None:
        self._fit_common(data)
        columns = self.matrix_.tocsc().astype(np.float32)
        sizes = np.asarray(columns.multiply(columns).sum(axis=0)).ravel()  # squared norms: counts when binary
        safe = np.where(sizes > 0, sizes, 1.0)
        # asymmetric cosine: co-interaction / (|touched| ** alpha * |candidate| ** (1 - alpha)); 0.5 is the cosine,
        # a larger alpha divides less by the candidate's own weight, so popular partners keep their lead
        scaled_columns = columns @ sp.diags((safe ** -(1.0 - self.alpha)).astype(np.float32))
        by_item = (columns @ sp.diags((safe**-self.alpha).astype(np.float32))).T.tocsr()
        blocks = []
        for start in range(0, by_item.shape[0], ITEMS_PER_PRODUCT):
            rows = np.arange(start, min(start + ITEMS_PER_PRODUCT, by_item.shape[0]))
            similar = _without_self((by_item[rows] @ scaled_columns).tocsr(), rows)
            blocks.append(top_n_per_row(similar, self.neighbours))
        self.similar_ = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, 0), dtype=np.float32)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        seen = self.matrix_[users]
        return self._finish(np.asarray((seen @ self.similar_).todense()), seen)

    def _score_rows(self, rows: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Scores for a shopper known by the items of ``rows`` (a new shopper's first events)."""
        return self._finish(np.asarray((rows @ self.similar_).todense()), sp.csr_matrix(rows))

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        return self._score_rows(queries)


def _without_self(similar: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``similar`` (row i = the similarities of ``rows[i]``) without each row's similarity to itself."""
    self_entry = similar.indices == rows[row_of_entries(similar)]
    similar.data[self_entry] = 0.0
    similar.eliminate_zeros()
    return similar
