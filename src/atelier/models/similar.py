"""Similar Styles: the nearest products in an encoder's vector space.

A query (one product, or several) is the normalised sum of its products' vectors; candidates are ranked by
cosine similarity. The product's own colour variants (same ``group_id``) are left out by default: the engine
offers them apart, as "other colours".
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from atelier.encoders import make_encoder
from atelier.encoders.base import Encoder
from atelier.features.dataset import Dataset
from atelier.features.items import dense_codes
from atelier.index.exact import ExactIndex
from atelier.models.base import Recommender


class SimilarStyles(Recommender):
    """Nearest neighbours of an ``encoder``'s product vectors."""

    name = "similar"
    widgets = frozenset({"similar"})
    needs_interactions = False

    def __init__(self, encoder: str | dict | Encoder = "tfidf", exclude_variants: bool = True):
        self.encoder = make_encoder(encoder)
        self.exclude_variants = exclude_variants

    def get_params(self) -> dict:
        return {
            "encoder": {"name": self.encoder.name, **self.encoder.get_params()},
            "exclude_variants": self.exclude_variants,
        }

    def _fit(self, data: Dataset) -> None:
        self.encoder.fit(data.products)
        self.vectors_, self.encoded_ = self.encoder.encode_products(data.products)
        self.group_ = dense_codes(data.products["group_id"])

    @property
    def index_(self) -> ExactIndex:
        """The exact index over the product vectors (built on first use, after fit or load)."""
        if getattr(self, "_index", None) is None or self._index.vectors_ is not self.vectors_:
            self._index = ExactIndex().add(self.vectors_)
            self.vectors_ = self._index.vectors_
        return self._index

    @property
    def n_encoded(self) -> int:
        return int(self.encoded_.sum())

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        q = sp.csr_matrix(queries)
        vectors = q @ self.index_.vectors_
        if sp.issparse(vectors):
            norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1))).ravel()
            vectors = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors
        else:
            norms = np.linalg.norm(vectors, axis=1)
            vectors = vectors / np.maximum(norms, 1e-12)[:, None]
        scores = self.index_.scores(vectors)
        scores[:, ~self.encoded_] = -np.inf
        scores[norms <= 0] = -np.inf  # a query without any vector has no neighbours here
        if self.exclude_variants:
            rows = np.repeat(np.arange(q.shape[0]), np.diff(q.indptr))
            groups = self.group_[q.indices]
            known = groups >= 0
            same = np.zeros((q.shape[0], int(self.group_.max(initial=-1)) + 1), dtype=bool)
            same[rows[known], groups[known]] = True
            has_group = self.group_ >= 0
            scores[:, has_group] = np.where(same[:, self.group_[has_group]], -np.inf, scores[:, has_group])
        return scores
