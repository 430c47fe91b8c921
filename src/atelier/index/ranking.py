"""Turning score matrices into ranked lists: top k per row, excluded items masked, ties broken by item index."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

PAD = -1  # an empty slot of a list shorter than k


def mask_rows(scores: np.ndarray, exclude: sp.csr_matrix | None, rows: slice | np.ndarray) -> None:
    """Set ``scores`` to -inf where ``exclude[rows]`` is non-zero (in place)."""
    if exclude is None:
        return
    part = exclude[rows].tocoo()
    scores[part.row, part.col] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best items of each row: (items, scores), best first.

    Ties are broken by the lower item index, so a ranking is deterministic. Items scored -inf (excluded, or
    unknown to the model) are never returned: a row with fewer than k finite scores is padded with ``PAD``
    and -inf.
    """
    n_rows, n_items = scores.shape
    k_eff = min(k, n_items)
    items = np.full((n_rows, k), PAD, dtype=np.int64)
    best = np.full((n_rows, k), -np.inf, dtype=np.float64)
    if n_rows == 0 or k_eff == 0:
        return items, best
    if k_eff < n_items:
        cand = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        cand_scores = np.take_along_axis(scores, cand, axis=1)
        # A tie straddling the cut would let argpartition pick arbitrary items: re-rank those rows exactly.
        kth = cand_scores.min(axis=1, keepdims=True)
        straddling = np.flatnonzero(((scores >= kth).sum(axis=1) > k_eff) & np.isfinite(kth[:, 0]))
        if straddling.size:
            cand[straddling] = np.argsort(-scores[straddling], kind="stable", axis=1)[:, :k_eff]
        cand_scores = np.take_along_axis(scores, cand, axis=1)
    else:
        cand = np.broadcast_to(np.arange(n_items), (n_rows, n_items)).copy()
        cand_scores = scores.astype(np.float64, copy=True)
    order = np.lexsort((cand, -cand_scores), axis=1)
    cand = np.take_along_axis(cand, order, axis=1)
    cand_scores = np.take_along_axis(cand_scores, order, axis=1)
    finite = np.isfinite(cand_scores)
    items[:, :k_eff] = np.where(finite, cand, PAD)
    best[:, :k_eff] = np.where(finite, cand_scores, -np.inf)
    return items, best


# Dense scores per batch stay near 2**24 floats (128 MB) whatever the catalogue size.
BATCH_CELLS = 2**24


def rank_in_batches(
    score_rows: Callable[[int, int], np.ndarray], n_rows: int, k: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """top_k over ``score_rows(start, stop) -> dense scores`` a batch of rows at a time (bounded memory)."""
    items = np.full((n_rows, k), PAD, dtype=np.int64)
    best = np.full((n_rows, k), -np.inf)
    batch = max(1, BATCH_CELLS // max(n_items, 1))
    for start in range(0, n_rows, batch):
        stop = min(start + batch, n_rows)
        items[start:stop], best[start:stop] = top_k(score_rows(start, stop), k)
    return items, best
