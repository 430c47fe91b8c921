"""Exact nearest neighbours by cosine: a batched matrix product over L2-normalised vectors (dense or sparse).

An index is built once from all vectors (``add``) and never mutated: a new catalogue builds a new index, and the
artefact folder is swapped whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from atelier.errors import InputError
from atelier.index.ranking import rank_in_batches

Vectors = np.ndarray | sp.csr_matrix


class ExactIndex:
    """Cosine similarity against every stored vector."""

    name = "exact"

    def add(self, vectors: Vectors) -> ExactIndex:
        """Build the index from all vectors (row i = item i); returns self."""
        self.vectors_ = (
            sp.csr_matrix(vectors, dtype=np.float32)
            if sp.issparse(vectors)
            else np.asarray(vectors, dtype=np.float32)
        )
        return self

    def __len__(self) -> int:
        return self.vectors_.shape[0]

    def scores(self, queries: Vectors) -> np.ndarray:
        """Dense queries x items cosine similarities."""
        product = queries @ self.vectors_.T
        return product.toarray() if sp.issparse(product) else np.asarray(product)

    def search(self, queries: Vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items of each query row: (items, similarities), best first."""
        return rank_in_batches(lambda a, b: self.scores(queries[a:b]), queries.shape[0], k, len(self))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if sp.issparse(self.vectors_):
            sp.save_npz(folder / "vectors.npz", self.vectors_)
        else:
            np.save(folder / "vectors.npy", self.vectors_)

    @classmethod
    def load(cls, folder: str | Path) -> ExactIndex:
        folder = Path(folder)
        if (folder / "vectors.npz").is_file():
            return cls().add(sp.load_npz(folder / "vectors.npz"))
        if (folder / "vectors.npy").is_file():
            return cls().add(np.load(folder / "vectors.npy"))
        raise InputError(
            f"{folder}: no vectors.npy / vectors.npz (expected an index saved by ExactIndex.save)"
        )
