"""Baskets: the sets of items a shopper bagged or bought together, as a baskets x items 0/1 matrix.

A basket is the items of one session (TwentyToo sessions, H&M customer-days and FIMI lines are all written as
sessions by ingest) or of one shopper-day; interactions without a session fall back to the shopper-day.
Oversized baskets (a wholesale order, a bot) would swamp the pair counts, so they are left out and counted, as
are single-item baskets, which pair nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.features.dataset import Dataset
from atelier.features.segments import position_in_segment, segment_of

BasketBy = Literal["session", "day"]


@dataclass(frozen=True, eq=False)
class Baskets:
    """``matrix[b, i] = 1`` when basket b holds item i; ``users[b]`` is the shopper of basket b."""

    matrix: sp.csr_matrix
    users: np.ndarray
    n_single: int
    n_oversized: int

    @property
    def n_baskets(self) -> int:
        return self.matrix.shape[0]

    @property
    def item_counts(self) -> np.ndarray:
        """Baskets holding each item."""
        return np.diff(self.matrix.tocsc().indptr)


def build_baskets(
    data: Dataset, kinds: Sequence[str], by: BasketBy = "session", max_size: int = 50
) -> Baskets:
    """The baskets of ``data``'s interactions of the given kinds (distinct items per basket)."""
    day = pl.col("timestamp").dt.date().cast(pl.String).fill_null("")
    key = pl.concat_str([pl.col("user").cast(pl.String), day], separator="|")
    if by == "session":
        key = pl.coalesce(pl.col("session_id"), key)
    rows = (
        data.interactions.filter(pl.col("kind").is_in(list(kinds)))
        .select(key.alias("basket"), "user", "item")
        .unique(["basket", "item"])
    )
    sizes = rows.group_by("basket").agg(pl.len().alias("size"), pl.col("user").first())
    n_single = int((sizes["size"] == 1).sum())
    n_oversized = int((sizes["size"] > max_size).sum())
    kept = sizes.filter((pl.col("size") >= 2) & (pl.col("size") <= max_size)).sort("basket")
    kept = kept.with_row_index("b")
    rows = rows.join(kept.select("basket", "b"), on="basket", how="inner")
    matrix = sp.csr_matrix(
        (np.ones(rows.height, dtype=np.float32), (rows["b"].to_numpy(), rows["item"].to_numpy())),
        shape=(kept.height, data.n_items),
    )
    return Baskets(matrix, kept["user"].to_numpy(), n_single, n_oversized)


def shoppers_together(baskets: Baskets) -> sp.csr_matrix:
    """Items x items: the number of distinct shoppers with at least one basket holding both."""
    m = baskets.matrix.tocsr()
    sizes = np.diff(m.indptr)
    # Every ordered pair (i, j) of every basket, tagged with the basket's shopper.
    basket_of = segment_of(sizes)
    left = np.repeat(m.indices, sizes[basket_of])
    starts = np.repeat(m.indptr[:-1][basket_of], sizes[basket_of])
    right = m.indices[starts + position_in_segment(sizes[basket_of])]
    user = np.repeat(baskets.users[basket_of], sizes[basket_of])
    off = left != right
    n_items = m.shape[1]
    # Each (shopper, i, j) once: (shopper, i) is compacted first so the combined key cannot overflow int64.
    shopper_item, compact = np.unique(user[off].astype(np.int64) * n_items + left[off], return_inverse=True)
    keys = np.unique(compact.astype(np.int64) * n_items + right[off])
    i = shopper_item[keys // n_items] % n_items
    j = keys % n_items
    counts = sp.csr_matrix((np.ones(len(keys), dtype=np.int32), (i, j)), shape=(n_items, n_items))
    counts.sum_duplicates()
    return counts
