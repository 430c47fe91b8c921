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
from atelier.features.items import label_codes

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
    boundary = (last - timedelta(days=test_days)).date() + timedelta(days=1)
    if boundary <= first.date():  # the data spans fewer days than the test window: split it in the middle
        boundary = first.date() + (last.date() - first.date() + timedelta(days=1)) / 2
    return boundary


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
    """Each user's last ``n`` new items test: every interaction with them, the rest of the user's history trains.

    Items are ordered by the user's first interaction with them (row order breaking ties), so a held-out item
    never appears in the user's training history. Users with no more than ``n`` items stay whole in training.
    Unlike a date split this lets training see other users' later events, as leave-last-out protocols do.
    """
    inter = data.interactions.with_row_index("_row")
    firsts = (
        inter.group_by("user", "item")
        .agg(pl.col("timestamp").min().alias("_first"), pl.col("_row").min().alias("_first_row"))
        .sort(["user", "_first", "_first_row"])
        .with_columns(_from_end=pl.int_range(pl.len(), 0, -1).over("user"), _count=pl.len().over("user"))
        .filter((pl.col("_from_end") <= n) & (pl.col("_count") > n))
        .select("user", "item", _held=pl.lit(True))
    )
    marked = inter.join(firsts, on=["user", "item"], how="left").sort("_row")
    held = pl.col("_held").fill_null(False)
    train = marked.filter(~held).drop("_row", "_held")
    test = marked.filter(held).drop("_row", "_held")
    return Split(
        data.with_interactions(train), test, f"leave last {n} out: each user's last {n} new items test"
    )


def holdout_baskets(data: Dataset, fraction: float, seed: int) -> Split:
    """A random ``fraction`` of the sessions (baskets) test: for data without timestamps.

    A row without a session counts as one basket with the user's other session-less rows.
    """
    basket = pl.coalesce("session_id", pl.lit("user:") + pl.col("user_id"))
    inter = data.interactions
    sessions = inter.select(basket.alias("basket"))["basket"].unique().sort()
    rng = np.random.default_rng(seed)
    held = sessions.filter(pl.Series(rng.random(sessions.len()) < fraction))
    is_held = basket.is_in(held.implode())
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


def stratified_catalogue(data: Dataset, size: int, label: str, seed: int) -> Dataset:
    """A catalogue of about ``size`` products in which every value of ``label`` keeps its share (Similar Styles
    is then judged within it). Interactions on products left out go too; products without the label are drawn
    as one more stratum. A catalogue no larger than ``size`` is returned whole."""
    products = data.products
    if products.height <= size:
        return data
    missing = [part for part in label.split("+") if part not in products.columns and "." not in part]
    if missing:
        raise InputError(
            f"cannot stratify the catalogue by {label!r}: the products have no such column {missing[0]!r}"
        )
    rng = np.random.default_rng(seed)
    _, codes, counts = np.unique(label_codes(products, label), return_inverse=True, return_counts=True)
    # Largest-remainder rounding: the quotas add up to ``size`` exactly.
    exact = counts * size / products.height
    quota = np.floor(exact).astype(int)
    quota[np.argsort(quota - exact)[: size - quota.sum()]] += 1
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(codes == c), size=q, replace=False) for c, q in enumerate(quota) if q > 0]
    )
    kept = products[np.sort(chosen)]
    interactions = data.interactions.filter(pl.col("product_id").is_in(kept["product_id"].implode()))
    return Dataset.from_tables(kept, data.users_table, interactions.drop("user", "item"))


def similar_catalogue(data: Dataset, ev: EvaluateSettings) -> Dataset:
    """The catalogue Similar Styles is judged in: products with a picture only (a file or an address), and / or a
    stratified sample, as ``evaluate.similar_pictured_only`` and ``evaluate.similar_catalogue`` say."""
    if ev.similar_pictured_only:
        from atelier.encoders.pictures import picture_sources

        has_picture = pl.Series([s is not None for s in picture_sources(data.products)], dtype=pl.Boolean)
        pictured = data.products.filter(has_picture)
        if pictured.height == 0:
            raise InputError("evaluate.similar_pictured_only: no product of this catalogue has a picture")
        kept = data.interactions.filter(pl.col("product_id").is_in(pictured["product_id"].implode()))
        data = Dataset.from_tables(pictured, data.users_table, kept.drop("user", "item"))
    if ev.similar_catalogue:
        data = stratified_catalogue(data, ev.similar_catalogue, ev.similar_labels[0], ev.seed)
    return data
