"""Ragged arrays kept flat: segment i holds ``sizes[i]`` consecutive values (a basket's items, an itemset's
members, a CSR row). Two vectorised helpers replace per-segment Python loops."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def segment_of(sizes: np.ndarray) -> np.ndarray:
    """For each flat position, the index of the segment holding it: [2, 1] -> [0, 0, 1].

    int32 when the segments allow it: these arrays run to millions of entries, and fresh memory is dear here."""
    sizes = np.asarray(sizes, dtype=np.int64)
    dtype = np.int32 if len(sizes) < 2**31 else np.int64
    return np.repeat(np.arange(len(sizes), dtype=dtype), sizes)


def position_in_segment(sizes: np.ndarray) -> np.ndarray:
    """For each flat position, its place inside its segment: [2, 1] -> [0, 1, 0]."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def row_of_entries(matrix: sp.csr_matrix) -> np.ndarray:
    """The row of every stored entry of a CSR matrix (aligned with ``indices`` and ``data``)."""
    return segment_of(np.diff(matrix.indptr))


def stored_in_rows(matrix: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """``out[r, j]``: is ``columns[r, j]`` a stored entry of row r of ``matrix`` (negative columns never are)."""
    m = sp.csr_matrix(matrix)
    n_cols = m.shape[1]
    stored = np.unique(row_of_entries(m).astype(np.int64) * n_cols + m.indices)
    keys = np.arange(columns.shape[0], dtype=np.int64)[:, None] * n_cols + columns
    return np.isin(keys, stored) & (columns >= 0)
