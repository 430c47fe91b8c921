"""Approximate nearest neighbours with Annoy (random projection trees, angular distance): the seeds' choice.

Annoy's angular distance on unit vectors is sqrt(2 - 2 cos), so similarities are given back as cosines. More
trees give better recall and a larger file; ``search_k`` (nodes inspected per query, default trees x k x 8) trades
recall for speed at query time. Like every index it is built once (``add``) and swapped whole, never mutated;
a saved index is memory-mapped on load, so several server workers share one copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from atelier.errors import InputError


class AnnoyIndex:
    """Cosine neighbours from a forest of ``n_trees`` Annoy trees."""

    name = "annoy"

    def __init__(self, n_trees: int = 50, search_k_factor: int = 8, seed: int = 0):
        self.n_trees = n_trees
        self.search_k_factor = search_k_factor
        self.seed = seed

    def add(self, vectors: np.ndarray | sp.csr_matrix) -> AnnoyIndex:
        """Build the forest from all vectors (row i = item i); returns self."""
        from annoy import AnnoyIndex as Forest

        dense = np.asarray(vectors.toarray() if sp.issparse(vectors) else vectors, dtype=np.float32)
        self.dim_ = dense.shape[1]
        self.forest_ = Forest(self.dim_, "angular")
        self.forest_.set_seed(self.seed)
        for i, row in enumerate(dense):
            self.forest_.add_item(i, row)
        # One thread: Annoy's forest depends on how work is split among threads, and the same vectors must give
        # the same neighbours on every machine.
        self.forest_.build(self.n_trees, n_jobs=1)
        return self

    def __len__(self) -> int:
        return int(self.forest_.get_n_items())

    def search(self, queries: np.ndarray | sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items of each query row: (items, cosine similarities), best first, -1 / -inf padding."""
        q = np.asarray(queries.toarray() if sp.issparse(queries) else queries, dtype=np.float32)
        items = np.full((q.shape[0], k), -1, dtype=np.int64)
        scores = np.full((q.shape[0], k), -np.inf)
        search_k = self.n_trees * k * self.search_k_factor
        for row, vector in enumerate(q):
            found, distances = self.forest_.get_nns_by_vector(vector, k, search_k, include_distances=True)
            items[row, : len(found)] = found
            scores[row, : len(found)] = 1.0 - np.square(distances) / 2.0
        return items, scores

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.forest_.save(str(folder / "forest.ann"))
        (folder / "annoy.txt").write_text(f"{self.dim_} {self.n_trees} {self.search_k_factor} {self.seed}\n")

    @classmethod
    def load(cls, folder: str | Path) -> AnnoyIndex:
        from annoy import AnnoyIndex as Forest

        folder = Path(folder)
        if not (folder / "forest.ann").is_file() or not (folder / "annoy.txt").is_file():
            raise InputError(
                f"{folder}: no forest.ann / annoy.txt (expected an index saved by AnnoyIndex.save)"
            )
        dim, n_trees, factor, seed = (int(x) for x in (folder / "annoy.txt").read_text().split())
        index = cls(n_trees, factor, seed)
        index.dim_ = dim
        index.forest_ = Forest(dim, "angular")
        index.forest_.load(str(folder / "forest.ann"))
        return index
