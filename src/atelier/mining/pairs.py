"""Rules for every co-bought pair at once: one sparse product (baskets^T baskets) gives the pair counts, one
compiled pass over its non-zeros gives confidence and lift. The figures stay in the product's CSR layout (row =
antecedent, column = consequent), so nothing is copied: on these machines fresh memory costs more than
arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit


@dataclass(frozen=True, eq=False)
class PairTable:
    """``count[a, b]`` baskets hold both a and b (the diagonal is 0); ``confidence`` and ``lift`` are aligned
    with ``count.data`` (0 on the diagonal)."""

    count: sp.csr_matrix
    confidence: np.ndarray
    lift: np.ndarray
    n_baskets: int

    @property
    def n_rules(self) -> int:
        """Directed pair rules a -> b with a != b."""
        return int(np.count_nonzero(self.confidence))

    def antecedents(self) -> np.ndarray:
        """The antecedent (row) of every stored entry."""
        return np.repeat(np.arange(self.count.shape[0]), np.diff(self.count.indptr))


def pair_rules(baskets: sp.csr_matrix) -> PairTable:
    """Every ordered pair of items sharing a basket, with count, confidence(a -> b) and lift."""
    b = sp.csr_matrix(baskets, dtype=np.int32)
    b.data[:] = 1
    co = (b.T.tocsr() @ b).tocsr()
    co.sort_indices()
    item_counts = np.bincount(b.indices, minlength=b.shape[1]).astype(np.float64)
    confidence, lift = _figures(co.indptr, co.indices, co.data, item_counts, float(max(b.shape[0], 1)))
    return PairTable(co, confidence, lift, b.shape[0])


@njit(cache=True)
def _figures(indptr, indices, counts, item_counts, n_baskets):
    confidence = np.empty(len(counts), np.float32)
    lift = np.empty(len(counts), np.float32)
    for a in range(len(indptr) - 1):
        for p in range(indptr[a], indptr[a + 1]):
            b = indices[p]
            if b == a:  # an item with itself is no rule: zero it in place (the product's own array)
                counts[p] = 0
                confidence[p] = 0.0
                lift[p] = 0.0
            else:
                c = counts[p] / item_counts[a]
                confidence[p] = c
                lift[p] = c * n_baskets / item_counts[b]
    return confidence, lift
