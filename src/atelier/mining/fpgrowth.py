"""FP-Growth, compiled with numba: exact frequent itemsets at the speed of the C miners.

The recursion is FP-Growth's: items are relabelled by falling frequency, every basket keeps its frequent items in
that order, and for each item (least frequent first) the *conditional pattern base* — the prefixes that precede
it in the baskets holding it, weighted by how many baskets share them — is mined in turn. The pattern bases are
kept as weighted, de-duplicated prefix arrays instead of a linked FP-tree: the same bases and the same output,
laid out for a compiler (flat arrays, no pointers), which is what makes it fast.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, types
from numba.typed import List

from atelier.features.segments import row_of_entries, segment_of
from atelier.mining.itemsets import Itemsets, min_count_for


def fpgrowth(baskets: sp.csr_matrix, min_support: float, max_len: int = 0) -> Itemsets:
    """Frequent itemsets of ``baskets`` (baskets x items, non-zero = holds) with support >= ``min_support``
    (a share of the baskets); ``max_len`` > 0 caps the itemset size."""
    m = sp.csr_matrix(baskets, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    n_baskets = m.shape[0]
    min_count = min_count_for(min_support, n_baskets)
    item_counts = np.bincount(m.indices, minlength=m.shape[1])
    frequent = np.flatnonzero(item_counts >= min_count)
    # Rank 0 = the most frequent item (ties: lower id first): the FP-tree order.
    order = frequent[np.lexsort((frequent, -item_counts[frequent]))]
    rank = np.full(m.shape[1], -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    ranks = rank[m.indices]
    keep = ranks >= 0
    rows = row_of_entries(m)[keep]
    ranks = ranks[keep]
    by_basket = np.lexsort((ranks, rows))
    rows, ranks = rows[by_basket], ranks[by_basket]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_baskets))]).astype(np.int64)
    flat, lengths, counts = _mine(
        indptr, ranks.astype(np.int64), len(order), min_count, max_len or len(order)
    )
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = order[flat] if len(flat) else np.zeros(0, dtype=np.int64)
    # Each itemset's items sorted by id, for a canonical form.
    sort_key = segment_of(lengths)
    items = items[np.lexsort((items, sort_key))]
    return Itemsets(items, offsets, counts, n_baskets)


@njit(cache=True)
def _mine(indptr, items, n_items, min_count, max_len):
    """Depth-first over conditional databases with an explicit stack (numba's cache cannot hold recursion)."""
    # Output in growing numpy buffers (typed lists cost microseconds per element to hand back).
    flat = np.empty(1024, dtype=np.int64)
    lengths = np.empty(256, dtype=np.int64)
    counts = np.empty(256, dtype=np.int64)
    n_flat = 0
    n_sets = 0
    prefix = np.zeros(max(max_len, 1), dtype=np.int64)
    # One stack entry per open conditional database: its arrays, its depth and the next item to extend.
    s_indptr = List()
    s_items = List()
    s_weights = List()
    s_labels = List()
    s_support = List()
    s_starts = List()
    s_rows = List()
    s_pos = List()
    s_depth = List.empty_list(types.int64)
    s_next = List.empty_list(types.int64)
    weights = np.ones(len(indptr) - 1, dtype=np.int64)
    labels = np.arange(n_items)
    support, starts, rows, pos = _index(indptr, items, weights, n_items)
    s_indptr.append(indptr)
    s_items.append(items)
    s_weights.append(weights)
    s_labels.append(labels)
    s_support.append(support)
    s_starts.append(starts)
    s_rows.append(rows)
    s_pos.append(pos)
    s_depth.append(0)
    s_next.append(n_items - 1)
    while len(s_next) > 0:
        top = len(s_next) - 1
        support = s_support[top]
        i = s_next[top]
        while i >= 0 and support[i] < min_count:
            i -= 1
        if i < 0:
            for stack in (s_indptr, s_items, s_weights, s_labels, s_support, s_starts, s_rows, s_pos):
                stack.pop()
            s_depth.pop()
            s_next.pop()
            continue
        s_next[top] = i - 1
        depth = s_depth[top]
        prefix[depth] = s_labels[top][i]
        if n_flat + depth + 1 > len(flat):
            flat = _grown(flat, n_flat + depth + 1)
        if n_sets + 1 > len(lengths):
            lengths = _grown(lengths, n_sets + 1)
            counts = _grown(counts, n_sets + 1)
        for d in range(depth + 1):
            flat[n_flat] = prefix[d]
            n_flat += 1
        lengths[n_sets] = depth + 1
        counts[n_sets] = support[i]
        n_sets += 1
        if depth + 1 >= max_len or i == 0:
            continue
        sub = _conditional(
            s_indptr[top],
            s_items[top],
            s_weights[top],
            s_labels[top],
            s_starts[top],
            s_rows[top],
            s_pos[top],
            i,
            min_count,
        )
        sub_indptr, sub_items, sub_weights, sub_labels = sub
        if len(sub_labels) == 0 or len(sub_weights) == 0:
            continue
        support, starts, rows, pos = _index(sub_indptr, sub_items, sub_weights, len(sub_labels))
        s_indptr.append(sub_indptr)
        s_items.append(sub_items)
        s_weights.append(sub_weights)
        s_labels.append(sub_labels)
        s_support.append(support)
        s_starts.append(starts)
        s_rows.append(rows)
        s_pos.append(pos)
        s_depth.append(depth + 1)
        s_next.append(len(sub_labels) - 1)
    return flat[:n_flat].copy(), lengths[:n_sets].copy(), counts[:n_sets].copy()


@njit(cache=True)
def _grown(buffer, needed):
    """``buffer`` copied into one at least twice as large (and at least ``needed``)."""
    out = np.empty(max(2 * len(buffer), needed), dtype=buffer.dtype)
    out[: len(buffer)] = buffer
    return out


@njit(cache=True)
def _index(indptr, items, weights, n_items):
    """Weighted support of each item, and where it occurs: (basket, position) lists by counting sort."""
    n_rows = len(indptr) - 1
    support = np.zeros(n_items, dtype=np.int64)
    occurrences = np.zeros(n_items + 1, dtype=np.int64)
    for t in range(n_rows):
        for p in range(indptr[t], indptr[t + 1]):
            support[items[p]] += weights[t]
            occurrences[items[p] + 1] += 1
    starts = np.cumsum(occurrences)
    fill = starts[:-1].copy()
    rows = np.empty(starts[-1], dtype=np.int64)
    pos = np.empty(starts[-1], dtype=np.int64)
    for t in range(n_rows):
        for p in range(indptr[t], indptr[t + 1]):
            i = items[p]
            rows[fill[i]] = t
            pos[fill[i]] = p
            fill[i] += 1
    return support, starts, rows, pos


@njit(cache=True)
def _conditional(indptr, items, weights, labels, starts, rows, pos, i, min_count):
    """The conditional pattern base of item i: what precedes i in each basket holding it, frequent items only,
    relabelled 0..m-1 in the same order; empty prefixes dropped."""
    cond_support = np.zeros(i, dtype=np.int64)
    for o in range(starts[i], starts[i + 1]):
        t = rows[o]
        for p in range(indptr[t], pos[o]):
            cond_support[items[p]] += weights[t]
    new_label = np.full(i, -1, dtype=np.int64)
    m = 0
    for j in range(i):
        if cond_support[j] >= min_count:
            new_label[j] = m
            m += 1
    sub_labels = np.empty(m, dtype=np.int64)
    for j in range(i):
        if new_label[j] >= 0:
            sub_labels[new_label[j]] = labels[j]
    size = 0
    for o in range(starts[i], starts[i + 1]):
        t = rows[o]
        for p in range(indptr[t], pos[o]):
            if new_label[items[p]] >= 0:
                size += 1
    n_baskets = starts[i + 1] - starts[i]
    sub_items = np.empty(size, dtype=np.int64)
    sub_indptr = np.zeros(n_baskets + 1, dtype=np.int64)
    sub_weights = np.empty(n_baskets, dtype=np.int64)
    r = 0
    q = 0
    for o in range(starts[i], starts[i + 1]):
        t = rows[o]
        first = q
        for p in range(indptr[t], pos[o]):
            k = new_label[items[p]]
            if k >= 0:
                sub_items[q] = k
                q += 1
        if q > first:
            sub_weights[r] = weights[t]
            r += 1
            sub_indptr[r] = q
    return sub_indptr[: r + 1], sub_items, sub_weights[:r], sub_labels
