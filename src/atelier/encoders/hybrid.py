"""Weighted fusion of encoders: the seeds' text + image concatenation, plus colour.

Each block is L2-normalised and scaled by the square root of its weight, so the cosine of two fused vectors is the
weighted sum of the blocks' cosines; a product a block cannot encode (no picture) keeps the other blocks.

With ``centre`` (the default) each block is first centred on its catalogue mean. CNN features and histograms are
non-negative, so their raw cosines crowd near 1 and a block's weight would say little about its pull; centred,
every block's cosines spread over the same range and the weights mean what they say. On the FPI sample this
lifts text + image fusion from 0.787 to 0.802 precision@10 on article type at equal weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.encoders.base import Encoder, l2_normalise
from atelier.encoders.pictures import encode_pictures, picture_sources
from atelier.params import plain_value


class HybridEncoder(Encoder):
    """Concatenation of ``parts`` (name -> encoder spec) weighted by ``weights`` (name -> weight)."""

    name = "hybrid"
    modality = "both"

    def __init__(self, parts: Mapping[str, str | dict], weights: Mapping[str, float], centre: bool = True):
        from atelier.encoders import make_encoder  # the registry imports this module

        missing = set(parts) ^ set(weights)
        if missing:
            raise ValueError(
                f"hybrid parts and weights must name the same blocks, differing on {sorted(missing)}"
            )
        self.parts = {name: plain_value(spec) for name, spec in parts.items()}
        self.weights = dict(weights)
        self.centre = centre
        self.encoders_ = {name: make_encoder(spec) for name, spec in self.parts.items()}

    def fit(self, products: pl.DataFrame) -> HybridEncoder:
        self.fit_encode(products)
        return self

    def fit_encode(self, products: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Fit every block, learn the block means from the catalogue's own vectors, and return them fused."""
        encoded = self._encoded(products, fit=True)
        self.means_ = {name: block_mean(vectors, ok) for name, (vectors, ok) in encoded.items()}
        self.fitted_ = True
        return self._fused_products(encoded)

    def _encoded(self, products: pl.DataFrame, fit: bool) -> dict[str, tuple]:
        """Every block's (vectors, mask), in block order, fitting each first when ``fit``. The picture blocks
        read the pictures together (:func:`encode_pictures`): a picture given as an address is downloaded once
        for all of them."""
        # Blocks that encode products the standard way (pictures, when they read them, then product_vectors):
        # their pictures are read in one pass. One that overrides encode_products or fit_encode (a hybrid as a
        # block) is left to do it its own way.
        standard = {
            n: e
            for n, e in self.encoders_.items()
            if type(e).encode_products is Encoder.encode_products and type(e).fit_encode is Encoder.fit_encode
        }
        encoded = {}
        for name, encoder in self.encoders_.items():
            if name in standard:
                if fit:
                    encoder.fit(products)
            else:
                encoded[name] = encoder.fit_encode(products) if fit else encoder.encode_products(products)
        readers = {n: e for n, e in standard.items() if e.reads_pictures}
        pictures = encode_pictures(readers, picture_sources(products)) if readers else {}
        for name, encoder in standard.items():
            encoded[name] = encoder.product_vectors(products, pictures.get(name))
        return {name: encoded[name] for name in self.encoders_}

    @property
    def dimension(self) -> int:
        self._check_fitted()
        return sum(encoder.dimension for encoder in self.encoders_.values())

    def encode_products(self, products: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return self._fused_products(self._encoded(products, fit=False))

    def _fused_products(self, encoded: Mapping[str, tuple]) -> tuple[np.ndarray, np.ndarray]:
        fused = self._fuse(
            {name: vectors for name, (vectors, _) in encoded.items()},
            {n: ok for n, (_, ok) in encoded.items()},
        )
        return fused, np.any([ok for _, ok in encoded.values()], axis=0)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """A text query in the fused space: the text blocks encode it, the picture blocks stay zero."""
        self._check_fitted()
        blocks, present = {}, {}
        for name, encoder in self.encoders_.items():
            reads_text = encoder.modality != "image"
            blocks[name] = (
                encoder.encode_texts(texts)
                if reads_text
                else np.zeros((len(texts), encoder.dimension), np.float32)
            )
            present[name] = np.full(len(texts), reads_text) & np.array(
                [bool(t.strip()) for t in texts], dtype=bool
            )
        return self._fuse(blocks, present)

    def _fuse(
        self, blocks: Mapping[str, np.ndarray | sp.csr_matrix], present: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Centre (optionally) and normalise each block, scale it by the square root of its weight, concatenate,
        normalise. Rows a block could not encode stay zero in that block."""
        dense = []
        for name, vectors in blocks.items():
            mean = self.means_[name] if self.centre else None
            block, _ = prepared_block(vectors, present[name], mean)
            dense.append(np.sqrt(self.weights[name]) * block)
        return l2_normalise(np.hstack(dense))


def prepared_block(
    vectors: np.ndarray | sp.csr_matrix, ok: np.ndarray, mean: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """A block as the fusion uses it: dense, centred on ``mean`` when given, rows normalised, and zero where
    the encoder gave nothing (or nothing is left after centring); with the mask of rows that count."""
    v = np.asarray(vectors.toarray() if sp.issparse(vectors) else vectors, dtype=np.float32)
    # "encoded" is not enough: a query of unknown words is a zero tfidf row, and centring it would invent one
    has = ok & (np.abs(v).sum(axis=1) > 0)
    if mean is not None:
        v = l2_normalise(v - mean)
        has &= np.linalg.norm(v, axis=1) > 0
    return np.where(has[:, None], v, 0.0).astype(np.float32), has


def block_mean(vectors: np.ndarray | sp.csr_matrix, ok: np.ndarray) -> np.ndarray:
    """Mean vector of the rows an encoder could encode (zeros when none)."""
    if not ok.any():
        return np.zeros(vectors.shape[1], dtype=np.float32)
    rows = vectors[np.flatnonzero(ok)]
    return np.asarray(rows.mean(axis=0), dtype=np.float32).ravel()
