"""The result of a mining run: frequent itemsets as flat arrays (no Python object per itemset)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def min_count_for(min_support: float, n_baskets: int) -> int:
    """The smallest basket count whose support reaches ``min_support`` (at least 1)."""
    # A relative threshold s keeps itemsets in at least s * N baskets (as mlxtend and PyFIM do).
    return max(1, math.ceil(min_support * n_baskets - 1e-9))


@dataclass(frozen=True, eq=False)
class Itemsets:
    """Frequent itemsets: itemset j holds ``items[offsets[j]:offsets[j+1]]`` (sorted item ids), in ``counts[j]``
    baskets out of ``n_baskets``."""

    items: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    n_baskets: int

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def support(self) -> np.ndarray:
        return self.counts / max(self.n_baskets, 1)

    def itemset(self, j: int) -> tuple[int, ...]:
        return tuple(int(i) for i in self.items[self.offsets[j] : self.offsets[j + 1]])

    def as_dict(self) -> dict[frozenset[int], int]:
        """{itemset: count}, for comparisons in tests and small data."""
        return {frozenset(self.itemset(j)): int(self.counts[j]) for j in range(len(self))}

    def matrix(self, n_items: int) -> sp.csr_matrix:
        """Itemsets x items 0/1 matrix."""
        return sp.csr_matrix(
            (np.ones(len(self.items), dtype=np.float32), self.items, self.offsets), shape=(len(self), n_items)
        )

    @classmethod
    def from_lists(cls, itemsets: list[tuple[int, ...]], counts: list[int], n_baskets: int) -> Itemsets:
        """Build from Python lists (each itemset sorted here)."""
        sizes = np.array([len(s) for s in itemsets], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = np.array([i for s in itemsets for i in sorted(s)], dtype=np.int64)
        return cls(flat, offsets, np.asarray(counts, dtype=np.int64), n_baskets)
