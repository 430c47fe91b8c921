"""Train / test splits that keep time's arrow: by date, leave-last-n-out per user, or (undated baskets) at random.

Every split keeps the dataset's id maps, so the train and test halves speak the same integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from atelier.config import EvaluateSettings
from atelier.errors import InputError
from atelier.features.dataset import Dataset

# The seeds' "Data1" / "Data2" boundary: TwentyToo exports arrive in two parts split on this day.
NATURAL_SPLIT = {"twentytoo": date(2023, 6, 1)}


@dataclass(frozen=True, eq=False)
class Split:
    """Training data (a Dataset with the full id maps) and the held-out interactions (with ``user`` / ``item``)."""

    train: Dataset
    test: pl.DataFrame
    description: str


def make_split(data: Dataset, settings: EvaluateSettings, source_format: str | None = None) -> Split:
    """The split the settings ask for; undated interactions fall back to a random basket hold-out."""
    if data.interactions.height == 0:
        return Split(data, data.interactions, "no interactions: nothing to hold out")
    if data.interactions["timestamp"].null_count() == data.interactions.height:
        return holdout_baskets(data, settings.basket_holdout, settings.seed)
    if settings.split == "last-n":
        return leave_last_n(data, settings.leave_last)
    boundary = settings.split_date or default_split_date(data, source_format, settings.test_days)
    return split_by_date(data, boundary)


def default_split_date(data: Dataset, source_format: str | None, test_days: int) -> date:
    """The source's natural boundary when it has one inside the data, else the last ``test_days`` days."""
    first, last = _time_range(data)
    natural = NATURAL_SPLIT.get(source_format or "")
    if natural is not None and first.date() < natural <= last.date():
        return natural
    return (last - timedelta(days=test_days)).date() + timedelta(days=1)


def split_by_date(data: Dataset, boundary: date) -> Split:
    """Interactions before ``boundary`` train; those on or after it test."""
    first, last = _time_range(data)
    if not first.date() < boundary <= last.date():
        raise InputError(
            f"split date {boundary} leaves one side empty: expected a day after {first.date()} "
            f"and no later than {last.date()} (the range of the interactions)"
        )
    cut = datetime.combine(boundary, datetime.min.time())
    before = pl.col("timestamp") < cut
    inter = data.interactions
    # Undated rows in dated data cannot be placed in time: they stay in training.
    train = inter.filter(before | pl.col("timestamp").is_null())
    test = inter.filter(~before)
    return Split(
        data.with_interactions(train), test, f"by date: train before {boundary}, test from {boundary}"
    )


def leave_last_n(data: Dataset, n: int) -> Split:
    """Each user's last ``n`` interactions test (users with no more than ``n`` keep all of them in training)."""
    # Time order within the user, row order breaking ties; positions counted from the end (the last is 1).
    ranked = (
        data.interactions.with_row_index("_row")
        .sort(["user", "timestamp", "_row"])
        .with_columns(_from_end=pl.int_range(pl.len(), 0, -1).over("user"), _count=pl.len().over("user"))
    )
    held = (pl.col("_from_end") <= n) & (pl.col("_count") > n)
    drop = ["_row", "_from_end", "_count"]
    train = ranked.filter(~held).sort("_row").drop(drop)
    test = ranked.filter(held).sort("_row").drop(drop)
    return Split(
        data.with_interactions(train), test, f"leave last {n} out: each user's last {n} interactions test"
    )


def holdout_baskets(data: Dataset, fraction: float, seed: int) -> Split:
    """A random ``fraction`` of the sessions (baskets) test: for data without timestamps."""
    sessions = data.interactions["session_id"].unique().sort()
    rng = np.random.default_rng(seed)
    held = sessions.filter(pl.Series(rng.random(sessions.len()) < fraction))
    is_held = pl.col("session_id").is_in(held.implode())
    inter = data.interactions
    return Split(
        data.with_interactions(inter.filter(~is_held)),
        inter.filter(is_held),
        f"random {fraction:.0%} of the baskets test (the data has no timestamps)",
    )


def _time_range(data: Dataset) -> tuple[datetime, datetime]:
    ts = data.interactions["timestamp"]
    if ts.null_count() == len(ts):
        raise InputError("the interactions have no timestamps: a date split needs them")
    return ts.min(), ts.max()
