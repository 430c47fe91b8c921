"""The seeds' text method: TF-IDF over the product's combined text, stacked with one-hot colour, target
audience and department, each row L2-normalised. Sparse all the way (44k products x 5,000 words stay small)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import OneHotEncoder, normalize

from atelier.encoders.base import DEFAULT_TEXT_FIELDS, Encoder, product_texts

ONE_HOT_FIELDS = ("color", "target_audience", "department")


class TfidfEncoder(Encoder):
    """TF-IDF (``max_features`` words) of ``text_fields`` + one-hot ``one_hot_fields``."""

    name = "tfidf"
    modality = "text"

    def __init__(
        self,
        text_fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
        one_hot_fields: Sequence[str] = ONE_HOT_FIELDS,
        max_features: int = 5_000,
    ):
        self.text_fields = tuple(text_fields)
        self.one_hot_fields = tuple(one_hot_fields)
        self.max_features = max_features

    def fit(self, products: pl.DataFrame) -> TfidfEncoder:
        texts = product_texts(products, self.text_fields)
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features, sublinear_tf=True, dtype=np.float32
        )
        # No usable word in the catalogue's text: the one-hot block alone describes the products.
        with contextlib.suppress(ValueError):
            self.vectorizer_.fit(texts)
        fields = [f for f in self.one_hot_fields if f in products.columns]
        self.one_hot_columns_ = fields
        self.one_hot_ = OneHotEncoder(handle_unknown="ignore", dtype=np.float32)
        if fields:
            self.one_hot_.fit(self._categories(products))
        self.fitted_ = True
        return self

    def product_vectors(
        self, products: pl.DataFrame, pictures: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """TF-IDF of the product texts beside the one-hot block of ``one_hot_fields``, L2-normalised."""
        self._check_fitted()
        blocks = []
        if hasattr(self.vectorizer_, "vocabulary_"):
            blocks.append(self.vectorizer_.transform(product_texts(products, self.text_fields)))
        if self.one_hot_columns_:
            blocks.append(self.one_hot_.transform(self._categories(products)))
        if not blocks:
            return sp.csr_matrix((products.height, 0), dtype=np.float32), np.zeros(
                products.height, dtype=bool
            )
        vectors = normalize(sp.hstack(blocks).tocsr().astype(np.float32))
        return vectors, np.diff(vectors.indptr) > 0

    def encode_texts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF of free texts (a search query), zero in the one-hot block, L2-normalised."""
        self._check_fitted()
        words = (
            self.vectorizer_.transform(list(texts))
            if hasattr(self.vectorizer_, "vocabulary_")
            else sp.csr_matrix((len(texts), 0), dtype=np.float32)
        )
        padding = sp.csr_matrix((len(texts), self.dimension - words.shape[1]), dtype=np.float32)
        return normalize(sp.hstack([words, padding]).tocsr().astype(np.float32))

    @property
    def dimension(self) -> int:
        self._check_fitted()
        words = len(self.vectorizer_.vocabulary_) if hasattr(self.vectorizer_, "vocabulary_") else 0
        one_hot = sum(len(c) for c in self.one_hot_.categories_) if self.one_hot_columns_ else 0
        return words + one_hot

    def _categories(self, products: pl.DataFrame) -> np.ndarray:
        # A missing value is its own category ("") so it never matches a known one.
        return products.select(
            pl.col(c).cast(pl.String).fill_null("") for c in self.one_hot_columns_
        ).to_numpy()
