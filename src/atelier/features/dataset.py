"""The data a model trains on: users, items and interactions with integer ids, and their matrices.

A :class:`Dataset` is built once from the canonical tables; a split of it (train / test) keeps the same id maps, so
an item has the same integer in the training data, the test data and every model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from atelier.features.ids import IdMap
from atelier.store.tables import read_table


@dataclass(frozen=True, eq=False)
class Dataset:
    """Users, items and interactions of one shop.

    ``interactions`` holds integer columns ``user`` and ``item`` beside the canonical ones (timestamp, kind,
    weight, session_id). ``products`` and ``users_table`` are aligned with the id maps: row i describes item i
    (user i).
    """

    users: IdMap
    items: IdMap
    interactions: pl.DataFrame
    products: pl.DataFrame
    users_table: pl.DataFrame

    @classmethod
    def from_tables(cls, products: pl.DataFrame, users: pl.DataFrame, interactions: pl.DataFrame) -> Dataset:
        """Map ids: items are the catalogue then any product only interactions name (users likewise)."""
        items = IdMap.union(products["product_id"], interactions["product_id"])
        user_map = IdMap.union(users["user_id"], interactions["user_id"])
        indexed = interactions.with_columns(
            pl.Series("user", user_map.index_of(interactions["user_id"]), dtype=pl.Int32),
            pl.Series("item", items.index_of(interactions["product_id"]), dtype=pl.Int32),
        )
        return cls(
            users=user_map,
            items=items,
            interactions=indexed,
            products=_aligned(products, "product_id", items),
            users_table=_aligned(users, "user_id", user_map),
        )

    @classmethod
    def load(cls, data_dir: str | Path) -> Dataset:
        """The dataset of a data folder written by ``atelier ingest``."""
        return cls.from_tables(
            read_table(data_dir, "products"),
            read_table(data_dir, "users"),
            read_table(data_dir, "interactions"),
        )

    def with_interactions(self, interactions: pl.DataFrame) -> Dataset:
        """The same users and items with other interactions (a subset of these, e.g. a training split)."""
        return replace(self, interactions=interactions)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x items, the summed interaction weights (float32, canonical CSR)."""
        return self._matrix(self.interactions["weight"].to_numpy())

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """Users x items, 1 where the user interacted with the item."""
        m = self.matrix.copy()
        m.data[:] = 1.0
        return m

    def _matrix(self, values: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix(
            (
                values.astype(np.float32),
                (self.interactions["user"].to_numpy(), self.interactions["item"].to_numpy()),
            ),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        return m

    @cached_property
    def item_users(self) -> np.ndarray:
        """Number of distinct users who interacted with each item."""
        return np.diff(self.binary.tocsc().indptr)

    @cached_property
    def active_items(self) -> np.ndarray:
        """Bool mask of items with at least one interaction."""
        return self.item_users > 0

    @cached_property
    def active_users(self) -> np.ndarray:
        """Bool mask of users with at least one interaction."""
        return np.diff(self.binary.indptr) > 0

    @cached_property
    def described_items(self) -> np.ndarray:
        """Bool mask of items the catalogue describes (a title or a department), not bare ids."""
        p = self.products
        return (p["title"].is_not_null() | p["department"].is_not_null()).to_numpy()


def _aligned(table: pl.DataFrame, key: str, ids: IdMap) -> pl.DataFrame:
    """``table`` reordered so row i holds id i; ids the table lacks get a row of nulls."""
    order = pl.DataFrame({key: pl.Series(ids.ids, dtype=pl.String)})
    return order.join(table.unique(key, keep="first"), on=key, how="left", maintain_order="left")
