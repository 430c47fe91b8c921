"""Tiny hand-written shops for the model and evaluation tests."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from atelier.features.dataset import Dataset
from atelier.schema import empty


def tiny_dataset(rows: list[tuple[str, str, str | None, str]], products: list[dict] | None = None) -> Dataset:
    """A dataset from (user, product, day 'YYYY-MM-DD' or None, session) rows; kind purchase, weight 5."""
    interactions = empty("interactions").vstack(
        pl.DataFrame(
            {
                "user_id": [r[0] for r in rows],
                "product_id": [r[1] for r in rows],
                "session_id": [r[3] for r in rows],
                "timestamp": [datetime.fromisoformat(r[2]) if r[2] else None for r in rows],
                "event_name": ["purchase"] * len(rows),
                "button_name": [None] * len(rows),
                "kind": ["purchase"] * len(rows),
                "weight": [5.0] * len(rows),
            },
            schema=empty("interactions").schema,
        )
    )
    if products is None:
        ids = sorted({r[1] for r in rows})
        products = [{"product_id": p, "group_id": p, "title": f"item {p}"} for p in ids]
    catalogue = pl.concat([empty("products"), pl.DataFrame(products)], how="diagonal_relaxed")
    users = sorted({r[0] for r in rows})
    user_table = pl.concat(
        [
            empty("users"),
            pl.DataFrame(
                {"user_id": users, "age_imputed": [False] * len(users), "n_events": [1] * len(users)}
            ),
        ],
        how="diagonal_relaxed",
    )
    return Dataset.from_tables(catalogue, user_table, interactions)
