"""Apriori, the reference miner: level by level, candidates joined from frequent itemsets and pruned by their
subsets, supports counted with a sparse product. Plain and slow on purpose: it is what FP-Growth is checked
against."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import scipy.sparse as sp

from atelier.mining.itemsets import Itemsets, min_count_for


def apriori(baskets: sp.csr_matrix, min_support: float, max_len: int = 0) -> Itemsets:
    """Frequent itemsets of ``baskets`` with support >= ``min_support``; same contract as ``fpgrowth``."""
    m = sp.csr_matrix(baskets, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.data[:] = 1.0
    n_baskets, n_items = m.shape
    min_count = min_count_for(min_support, n_baskets)
    item_counts = np.bincount(m.indices, minlength=n_items)
    level = {(int(i),): int(item_counts[i]) for i in np.flatnonzero(item_counts >= min_count)}
    found = dict(level)
    size = 1
    while level and (max_len == 0 or size < max_len):
        size += 1
        candidates = _candidates(sorted(level), size)
        if not candidates:
            break
        rows = np.repeat(np.arange(len(candidates)), size)
        cols = np.array([i for c in candidates for i in c])
        indicator = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(candidates), n_items))
        # A basket holds a candidate when it holds all of its items.
        held = (m @ indicator.T).tocsc()
        held.data = (held.data == size).astype(np.float64)
        counts = np.asarray(held.sum(axis=0)).ravel().astype(np.int64)
        level = {c: int(n) for c, n in zip(candidates, counts, strict=True) if n >= min_count}
        found |= level
    itemsets = sorted(found)
    return Itemsets.from_lists(itemsets, [found[s] for s in itemsets], n_baskets)


def _candidates(frequent: list[tuple[int, ...]], size: int) -> list[tuple[int, ...]]:
    """Join itemsets sharing all but their last item; keep those whose every subset is frequent."""
    known = set(frequent)
    out = []
    for a, b in combinations(frequent, 2):
        if a[:-1] != b[:-1]:
            continue
        candidate = (*a, b[-1]) if a[-1] < b[-1] else (*b, a[-1])
        if all(sub in known for sub in combinations(candidate, size - 1)):
            out.append(candidate)
    return sorted(set(out))
