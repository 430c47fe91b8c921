"""Weighted fusion of encoders: the seeds' text + image concatenation, plus colour.

Each block is L2-normalised and scaled by the square root of its weight, so the cosine of two fused vectors is the
weighted sum of the blocks' cosines; a product a block cannot encode (no picture) keeps the other blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.encoders.base import Encoder, l2_normalise


class HybridEncoder(Encoder):
    """Concatenation of ``parts`` (name -> encoder spec) weighted by ``weights`` (name -> weight)."""

    name = "hybrid"
    modality = "both"

    def __init__(self, parts: Mapping[str, str | dict], weights: Mapping[str, float]):
        from atelier.encoders import make_encoder  # the registry imports this module

        missing = set(parts) ^ set(weights)
        if missing:
            raise ValueError(
                f"hybrid parts and weights must name the same blocks, differing on {sorted(missing)}"
            )
        self.parts = {
            name: spec.get_params() | {"name": spec.name} if isinstance(spec, Encoder) else spec
            for name, spec in parts.items()
        }
        self.weights = dict(weights)
        self.encoders_ = {name: make_encoder(spec) for name, spec in self.parts.items()}

    def fit(self, products: pl.DataFrame) -> HybridEncoder:
        for encoder in self.encoders_.values():
            encoder.fit(products)
        self.fitted_ = True
        return self

    @property
    def dimension(self) -> int:
        self._check_fitted()
        return sum(encoder.dimension for encoder in self.encoders_.values())

    def encode_products(self, products: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        encoded = {name: encoder.encode_products(products) for name, encoder in self.encoders_.items()}
        return self._fuse({name: vectors for name, (vectors, _) in encoded.items()}), np.any(
            [ok for _, ok in encoded.values()], axis=0
        )

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """A text query in the fused space: the text blocks encode it, the picture blocks stay zero."""
        self._check_fitted()
        blocks = {
            name: encoder.encode_texts(texts)
            if encoder.modality != "image"
            else np.zeros((len(texts), encoder.dimension), dtype=np.float32)
            for name, encoder in self.encoders_.items()
        }
        return self._fuse(blocks)

    def _fuse(self, blocks: Mapping[str, np.ndarray | sp.csr_matrix]) -> np.ndarray:
        """Concatenate the blocks, each scaled by the square root of its weight, then normalise."""
        dense = [
            np.sqrt(self.weights[name]) * np.asarray(v.toarray() if sp.issparse(v) else v, dtype=np.float32)
            for name, v in blocks.items()
        ]
        return l2_normalise(np.hstack(dense))
