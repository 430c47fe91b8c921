"""The one interface every encoder keeps: products in, L2-normalised vectors out.

An encoder reads the modality it knows — text built from catalogue fields, or the product picture — and returns
one row per product plus a mask of the products it could encode (a product without a title or with a missing or
corrupt picture gets no vector, is counted, and stays findable through other encoders). Constructors only store
settings; ``fit`` learns what needs learning from the catalogue (a vocabulary) and loads weights.

The interface: ``encode_texts`` (free texts: product texts, or a search box query), ``encode_images`` (picture
files or addresses), ``encode_products`` (what the model indexes: by default the product text for a text encoder
and the picture for an image encoder), ``dimension`` and ``name``. An encoder of one modality asked for the other
raises ``InputError`` naming what it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.errors import InputError, NotFittedError
from atelier.params import constructor_params

Vectors = np.ndarray | sp.csr_matrix

DEFAULT_TEXT_FIELDS = ("title", "target_audience", "color", "department", "description")


class Encoder:
    """Base of every encoder; see the module docstring."""

    name: ClassVar[str] = "encoder"
    modality: ClassVar[str] = "text"  # "text", "image" or "both"

    def get_params(self) -> dict:
        """The constructor arguments (how to rebuild this encoder)."""
        return constructor_params(self)

    def fit(self, products: pl.DataFrame) -> Self:
        """Learn from the catalogue (default: nothing to learn)."""
        self.fitted_ = True
        return self

    text_fields: tuple[str, ...] = DEFAULT_TEXT_FIELDS

    @property
    def dimension(self) -> int:
        """Length of the vectors this (fitted) encoder returns."""
        self._check_fitted()
        return int(self.dim)

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        """n_texts x dim vectors, L2-normalised (an empty text gives a zero row)."""
        raise InputError(
            f"encoder {self.name!r} reads pictures, not text (use a text encoder: tfidf, text, clip)"
        )

    def encode_images(self, sources: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """(n x dim vectors, L2-normalised; bool mask of the pictures that could be read) for files or URLs."""
        raise InputError(f"encoder {self.name!r} reads text, not pictures (use image, colour or clip)")

    def fit_encode(self, products: pl.DataFrame) -> tuple[Vectors, np.ndarray]:
        """``fit`` then ``encode_products`` on the same catalogue (an encoder that must see its own vectors to fit,
        like the centred hybrid, does both in one pass)."""
        return self.fit(products).encode_products(products)

    @property
    def reads_pictures(self) -> bool:
        """Whether the product vectors need the product pictures (what :meth:`product_vectors` is given)."""
        return self.modality == "image"

    def encode_products(self, products: pl.DataFrame) -> tuple[Vectors, np.ndarray]:
        """(n_products x dim vectors, L2-normalised; bool mask of the products that got one)."""
        pictures = None
        if self.reads_pictures:
            # Through encode_pictures: addresses are downloaded in batches, several at once, and a dead host
            # is given up, for every encoder alike.
            from atelier.encoders.pictures import encode_pictures, picture_sources

            pictures = encode_pictures({self.name: self}, picture_sources(products))[self.name]
        return self.product_vectors(products, pictures)

    def product_vectors(
        self, products: pl.DataFrame, pictures: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[Vectors, np.ndarray]:
        """The product vectors and their mask, given ``pictures``: this encoder's ``encode_images`` of the
        products' pictures (vectors, mask) when it :attr:`reads_pictures`, else None. A hybrid reads the
        pictures once for all its blocks and hands each its own."""
        if self.reads_pictures:
            assert pictures is not None, "an encoder that reads pictures is given them"
            return pictures
        texts = product_texts(products, self.text_fields)
        vectors = self.encode_texts(texts)
        if sp.issparse(vectors):
            return vectors, np.diff(vectors.indptr) > 0
        has_text = np.array([bool(t.strip()) for t in texts], dtype=bool)
        vectors[~has_text] = 0.0
        # A zero row says nothing (an encoder may find nothing in a text, as colour_names does): left out, as
        # an empty sparse row is above.
        return vectors, has_text & vectors.any(axis=1)

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"encoder {self.name!r} is not fitted: call fit(products) first")


def product_texts(products: pl.DataFrame, fields: Sequence[str] = DEFAULT_TEXT_FIELDS) -> list[str]:
    """One text per product: the non-empty ``fields`` joined with '. '."""
    present = [f for f in fields if f in products.columns]
    if not present:
        return [""] * products.height
    joined = products.select(
        pl.concat_str(
            [pl.col(f).cast(pl.String).str.strip_chars() for f in present], separator=". ", ignore_nulls=True
        )
    ).to_series()
    return joined.fill_null("").to_list()


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
