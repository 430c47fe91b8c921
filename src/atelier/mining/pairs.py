"""Rules for every co-bought pair at once: one sparse product (baskets^T baskets) gives the pair counts, and
confidence and lift follow element-wise. The figures stay in the product's CSR layout (row = antecedent, column =
consequent), so nothing is copied: on these machines fresh memory costs more than arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from atelier.features.segments import row_of_entries


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
        return row_of_entries(self.count)


def pair_rules(baskets: sp.csr_matrix) -> PairTable:
    """Every ordered pair of items sharing a basket, with count, confidence(a -> b) and lift."""
    b = sp.csr_matrix(baskets, dtype=np.int32, copy=True)
    b.sum_duplicates()  # an item twice in a basket counts once; stored zeros are not items
    b.eliminate_zeros()
    b.data[:] = 1
    co = (b.T.tocsr() @ b).tocsr()
    co.sort_indices()
    item_counts = np.bincount(b.indices, minlength=b.shape[1]).astype(np.float32)
    antecedent = row_of_entries(co)
    # float32 and in place: each fresh array of millions of figures costs more than the arithmetic on it.
    confidence = co.data.astype(np.float32)
    confidence /= item_counts[antecedent]
    lift = confidence * np.float32(max(b.shape[0], 1))
    lift /= item_counts[co.indices]
    diagonal = antecedent == co.indices  # an item with itself is no rule
    co.data[diagonal] = 0
    confidence[diagonal] = 0.0
    lift[diagonal] = 0.0
    return PairTable(co, confidence, lift, b.shape[0])
