"""``profile``: the seeds' chosen method — a shopper is the weighted mean of the embeddings of what they touched.

Item vectors come from a Similar Styles encoder (``tfidf`` by default: it needs no network; ``text``, ``image``
or ``hybrid`` when a shop has them). A shopper's profile is the weighted (and, with a half-life, recency-weighted)
mean of their items' vectors. ``mode="items"`` ranks items by cosine to the profile; ``mode="users"`` finds the
``neighbours`` shoppers with the nearest profiles and sums their items (user-based CF in embedding space);
``mode="both"`` (the default: the seeds name both) adds the two, each scaled to at most 1, so close items and what
close shoppers took both count. The profile is computed at request time from the interaction rows, so a shopper's
new events count at once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from atelier.encoders import make_encoder
from atelier.encoders.base import Encoder
from atelier.features.dataset import Dataset
from atelier.features.user_items import popularity_pad, row_normalised, top_n_per_row, weighted_matrix
from atelier.models.base import Recommender

USERS_PER_PRODUCT = 64  # shoppers whose neighbours are found together: 64 x 100k similarities, about 50 MB


class Profile(Recommender):
    """Nearest items (or nearest shoppers' items) to the mean embedding of a shopper's items."""

    name = "profile"
    widgets = frozenset({"personal"})
    handles_cold_users = True
    pads_with_popularity = True

    def __init__(
        self,
        encoder: str | dict | Encoder = "tfidf",
        mode: str = "both",
        neighbours: int = 50,
        half_life_days: float | None = None,
        exclude_seen: bool = True,
    ):
        if mode not in ("items", "users", "both"):
            raise ValueError(f"mode must be 'items', 'users' or 'both', got {mode!r}")
        self.encoder = make_encoder(encoder)
        self.mode = mode
        self.neighbours = neighbours
        self.half_life_days = half_life_days
        self.exclude_seen = exclude_seen

    def _fit(self, data: Dataset) -> None:
        vectors, encoded = self.encoder.fit_encode(data.products)
        self.vectors_ = sp.csr_matrix(vectors, dtype=np.float32) if sp.issparse(vectors) else vectors
        self.encoded_ = encoded
        self.matrix_ = weighted_matrix(data, self.half_life_days)
        self.pad_ = popularity_pad(data)
        self.bought_ = data.active_items

    def profiles(self, rows: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """Unit profile vectors of interaction rows (users x items weights); zero for a row without vectors.
        Sparse when the item vectors are (TF-IDF): a dense profile per shopper would not fit at 100k shoppers."""
        summed = rows @ self.vectors_
        if sp.issparse(summed):
            return normalize(sp.csr_matrix(summed), norm="l2", axis=1)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        return np.divide(summed, norms, out=np.zeros_like(summed, dtype=np.float64), where=norms > 0)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score_rows(self.matrix_[users], users)

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        """Items like those of ``queries`` (weights): the nearest items to their mean embedding, whatever the mode."""
        queries = sp.csr_matrix(queries)
        return self._finish(self._item_scores(self.profiles(queries)), queries)

    def _score_rows(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        """``items``: nearest items to the profile; ``users``: the nearest shoppers' items; ``both``: the sum, each
        part scaled to at most 1 (close items and what close shoppers took)."""
        profiles = self.profiles(rows)
        if self.mode == "items":
            scores = self._item_scores(profiles)
        elif self.mode == "users":
            scores = self._neighbour_scores(profiles, users)
        else:
            near = self._neighbour_scores(profiles, users)
            top = near.max(axis=1, keepdims=True)
            scores = self._item_scores(profiles) / 2.0 + np.divide(
                near, top, out=np.zeros_like(near), where=top > 0
            )
        return self._finish(scores, rows)

    def _finish(self, scores: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Popularity pads what nothing scored; never-bought items without a score and, when asked, the shopper's
        own items are left out."""
        scores = np.where((scores > 0) | self.bought_, np.maximum(scores, 0.0) + self.pad_, -np.inf)
        if self.exclude_seen:
            part = rows.tocoo()
            scores[part.row, part.col] = -np.inf
        return scores

    def warm(self) -> Profile:
        super().warm()
        self._transposed_vectors()
        if self.mode != "items":
            self._all_profiles()
        return self

    def _item_scores(self, profiles) -> np.ndarray:
        scores = _dense(profiles @ self._transposed_vectors())
        # cosine in [-1, 1] -> [0, 2] for items with a vector, so "no vector" (0) ranks below any of them
        has_profile = _dense(abs(profiles).sum(axis=1)).ravel() > 0
        return np.where(self.encoded_ & has_profile[:, None], scores + 1.0, 0.0)

    def _neighbour_scores(self, profiles: np.ndarray, users: np.ndarray) -> np.ndarray:
        everyone = self._all_profiles()
        out = np.zeros((len(users), self.matrix_.shape[1]))
        for start in range(0, len(users), USERS_PER_PRODUCT):
            batch = slice(start, start + USERS_PER_PRODUCT)
            similar = _dense(profiles[batch] @ everyone)
            known = np.flatnonzero(users[batch] >= 0)
            similar[known, users[batch][known]] = 0.0  # a shopper is not their own neighbour
            nearest = top_n_per_row(_at_least_nth(similar, self.neighbours), self.neighbours)
            out[batch] = np.asarray((nearest @ self._taken).todense())
        return out

    def _all_profiles(self) -> np.ndarray | sp.csr_matrix:
        """Every training shopper's profile (features x shoppers, ready to multiply) and unit interaction row, made
        once: transposing 100k sparse profiles on each request would cost more than the product itself."""
        if getattr(self, "_everyone", None) is None:
            everyone = self.profiles(self.matrix_).T
            self._everyone = everyone.tocsr() if sp.issparse(everyone) else np.ascontiguousarray(everyone)
            self._taken = row_normalised(self.matrix_)
        return self._everyone

    def _transposed_vectors(self) -> np.ndarray | sp.csr_matrix:
        """Item vectors as features x items, made once (as CSR when sparse)."""
        if getattr(self, "_by_feature", None) is None:
            vectors = self.vectors_.T
            self._by_feature = vectors.tocsr() if sp.issparse(vectors) else np.ascontiguousarray(vectors)
        return self._by_feature


def _at_least_nth(similar: np.ndarray, n: int) -> sp.csr_matrix:
    """The positive entries of each dense row at least as large as its n-th largest, as CSR: converting all
    100k similarities of a row to sparse would cost more than choosing among the few kept (ties stay in, for
    ``top_n_per_row`` to break by column)."""
    if similar.shape[1] > n:
        nth = np.partition(similar, similar.shape[1] - n, axis=1)[:, similar.shape[1] - n]
        similar = np.where(similar >= nth[:, None], similar, 0.0)
    rows, cols = np.nonzero(similar > 0)
    return sp.csr_matrix((similar[rows, cols], (rows, cols)), shape=similar.shape)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
