"""Similar Styles: the nearest products in an encoder's vector space.

A query (one product, or several) is the normalised sum of its products' vectors; candidates are ranked by
cosine similarity. The product's own colour variants (same ``group_id``) are left out by default: the engine
offers them apart, as "other colours".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from atelier.encoders import make_encoder
from atelier.encoders.base import Encoder
from atelier.features.dataset import Dataset
from atelier.features.items import codes_in_queries, dense_codes, shares_code
from atelier.features.segments import stored_in_rows
from atelier.index.annoy import AnnoyIndex
from atelier.index.exact import ExactIndex
from atelier.index.hnsw import HnswIndex
from atelier.models.base import Recommender

ANN_INDEXES = {"hnsw": HnswIndex, "annoy": AnnoyIndex}


class SimilarStyles(Recommender):
    """Nearest neighbours of an ``encoder``'s product vectors."""

    name = "similar"
    widgets = frozenset({"similar"})
    needs_interactions = False

    def __init__(
        self, encoder: str | dict | Encoder = "tfidf", exclude_variants: bool = True, index: str = "exact"
    ):
        if index not in ("exact", *ANN_INDEXES):
            raise ValueError(f"index must be one of exact, {', '.join(ANN_INDEXES)}; got {index!r}")
        self.encoder = make_encoder(encoder)
        self.exclude_variants = exclude_variants
        self.index = index

    def related(self, queries: sp.csr_matrix, n: int, exclude: sp.csr_matrix | None = None):
        """With an approximate index: candidates from it (over-fetched, then filtered like the exact path);
        rows it cannot fill fall back to exact scoring."""
        q = self._checked_queries(queries, exclude)
        fetch = 4 * n + 32
        if self.index == "exact" or fetch >= self.encoded_.sum():
            # a catalogue no larger than the candidate list is ranked exactly (and cheaply)
            return super().related(q, n, exclude)
        vectors, norms = self._query_vectors(q)
        found, scores = self._ann().search(vectors, fetch)
        rows = self._encoded_rows[np.clip(found, 0, None)]
        # The same filters as the exact path: the query's own items, the caller's exclusions, the variants.
        blocked = q if exclude is None else (q + sp.csr_matrix(exclude))
        keep = (found >= 0) & ~stored_in_rows(blocked, rows)
        if self.exclude_variants:
            groups = self.group_[rows]
            present = codes_in_queries(q, self.group_)
            keep &= ~((groups >= 0) & present[np.arange(q.shape[0])[:, None], np.clip(groups, 0, None)])
        keep &= (norms > 0)[:, None]
        first = np.argsort(~keep, axis=1, kind="stable")[:, :n]  # kept candidates, best first
        items = np.where(np.take_along_axis(keep, first, 1), np.take_along_axis(rows, first, 1), -1)
        best = np.where(items >= 0, np.take_along_axis(scores, first, 1), -np.inf)
        short = np.flatnonzero((items < 0).any(axis=1) & (norms > 0))
        if len(short):  # too much filtered away: exact for those rows
            exact_exclude = exclude[short] if exclude is not None else None
            items[short], best[short] = super().related(q[short], n, exact_exclude)
        return items, best

    def _ann(self):
        """The approximate index over the encoded products (built on first use, or read from the saved folder)."""
        if getattr(self, "_encoded_rows", None) is None:  # once, not on every request
            self._encoded_rows = np.flatnonzero(self.encoded_)
        if getattr(self, "_graph", None) is None:
            vectors = self.vectors_[self._encoded_rows]
            self._graph = ANN_INDEXES[self.index]().add(
                vectors.toarray() if sp.issparse(vectors) else vectors
            )
        return self._graph

    def save(self, folder: str | Path) -> Path:
        """The model, and its approximate index when it has one (so a server does not rebuild it at start)."""
        folder = super().save(folder)
        if self.index != "exact":
            self._ann().save(folder / "index")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SimilarStyles:
        model = super().load(folder)
        if model.index != "exact" and (Path(folder) / "index").is_dir():
            model._graph = ANN_INDEXES[model.index].load(Path(folder) / "index")
        return model

    def _fit(self, data: Dataset) -> None:
        self.vectors_, self.encoded_ = self.encoder.fit_encode(data.products)
        self.group_ = dense_codes(data.products["group_id"])

    @property
    def index_(self) -> ExactIndex:
        """The exact index over the product vectors (built on first use, after fit or load)."""
        if getattr(self, "_index", None) is None or self._index.vectors_ is not self.vectors_:
            self._index = ExactIndex().add(self.vectors_)
            self.vectors_ = self._index.vectors_
        return self._index

    def _query_vectors(self, q: sp.csr_matrix):
        """The normalised sum of each query row's product vectors, and the norms before normalising."""
        vectors = q @ self.index_.vectors_
        if sp.issparse(vectors):
            norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1))).ravel()
            return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors, norms
        norms = np.linalg.norm(vectors, axis=1)
        return vectors / np.maximum(norms, 1e-12)[:, None], norms

    def _score_queries(self, queries: sp.csr_matrix) -> np.ndarray:
        q = sp.csr_matrix(queries)
        vectors, norms = self._query_vectors(q)
        scores = self.index_.scores(vectors)
        scores[:, ~self.encoded_] = -np.inf
        scores[norms <= 0] = -np.inf  # a query without any vector has no neighbours here
        if self.exclude_variants:
            scores[shares_code(q, self.group_)] = -np.inf
        return scores
