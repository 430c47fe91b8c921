"""Weighted fusion of encoders: the seeds' text + image concatenation, plus colour.

Each block is L2-normalised and scaled by the square root of its weight, so the cosine of two fused vectors is the
weighted sum of the blocks' cosines; a product a block cannot encode (no picture) keeps the other blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

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

    def encode_products(self, products: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        blocks, masks = [], []
        for name, encoder in self.encoders_.items():
            vectors, ok = encoder.encode_products(products)
            if sp.issparse(vectors):
                vectors = vectors.toarray()
            blocks.append(np.sqrt(self.weights[name]) * np.asarray(vectors, dtype=np.float32))
            masks.append(ok)
        return l2_normalise(np.hstack(blocks)), np.any(masks, axis=0)
