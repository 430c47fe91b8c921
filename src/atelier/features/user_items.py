"""The weighted user x item matrix the personal models learn from: sparse throughout.

Each interaction weighs what its kind weighs in the settings (view 1 ... purchase 5, applied at ingest), and, with
a half-life, less the older it is: weight x 0.5 ** (age / half_life), the age counted back from the last event
of the data. Nothing here builds a dense users x users or users x items matrix.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from atelier.features.dataset import Dataset
from atelier.features.segments import position_in_segment, row_of_entries


def weighted_matrix(data: Dataset, half_life_days: float | None = None) -> sp.csr_matrix:
    """Users x items, the summed (optionally time-decayed) interaction weights, float32 CSR."""
    inter = data.interactions
    weights = inter["weight"].fill_null(1.0).to_numpy().astype(np.float64)
    if half_life_days and inter.height and inter["timestamp"].null_count() < inter.height:
        last = inter["timestamp"].max()
        age_days = (
            inter.select((pl.lit(last) - pl.col("timestamp")).dt.total_seconds() / 86_400.0)
            .to_series()
            .fill_null(0.0)
            .to_numpy()
        )
        weights = weights * np.power(0.5, age_days / half_life_days)
    m = sp.csr_matrix(
        (weights.astype(np.float32), (inter["user"].to_numpy(), inter["item"].to_numpy())),
        shape=(data.n_users, data.n_items),
    )
    m.sum_duplicates()
    return m


# Popularity only orders what a method leaves unscored: scaled far below any score the method gives.
POPULARITY_PAD = 1e-6


def popularity_pad(data: Dataset) -> np.ndarray:
    """Per item, its share of the most popular item's shoppers times ``POPULARITY_PAD`` (0 when never bought)."""
    users_per_item = data.item_users.astype(np.float64)
    return POPULARITY_PAD * users_per_item / max(users_per_item.max(initial=0.0), 1.0)


def row_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 length (empty rows stay empty): dot products become cosines."""
    return normalize(matrix, norm="l2", axis=1, copy=True).astype(np.float32)


def top_n_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row (ties: the lower column), drop the rest."""
    m = sp.csr_matrix(matrix)
    if m.nnz > 4 * n * m.shape[0]:
        m = _above_nth(m, n)  # sort only the candidates: a popular item makes a row of 100k similarities
    rows = row_of_entries(m)
    order = np.lexsort((m.indices, -m.data, rows))  # by row, then best first
    keep = order[position_in_segment(np.diff(m.indptr)) < n]
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def _above_nth(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """The entries of each row at least as large as its n-th largest (ties kept, so the sort still decides)."""
    keep = np.zeros(m.nnz, dtype=bool)
    for r in range(m.shape[0]):
        start, stop = m.indptr[r], m.indptr[r + 1]
        if stop - start <= n:
            keep[start:stop] = True
        else:
            values = m.data[start:stop]
            keep[start:stop] = values >= np.partition(values, stop - start - n)[stop - start - n]
    rows = row_of_entries(m)[keep]
    return sp.csr_matrix((m.data[keep], (rows, m.indices[keep])), shape=m.shape)
