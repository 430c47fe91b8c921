"""The ``users`` table, built while the event files stream by.

Per user it keeps a running summary (first and last event, event count, the last known city, region and
platform), the birth dates found in answers, and interaction counts per kind and department. At the end:
- the birth date of the latest answer wins (the seeds' forward/backward fill within a user, done once per user);
  dates that are no calendar date, or give an age outside ``min_age..max_age``, are quarantined;
- a missing region is filled from the city (its most frequent region in the data) and vice versa;
- ages still missing are predicted by a linear (ridge) regression on the other user features and flagged
  ``age_imputed``; age groups come from the configured bands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from atelier.config import IngestSettings
from atelier.ingest._common import Folding
from atelier.ingest.columns import age_group, blank_to_null
from atelier.ingest.csvfile import ROW
from atelier.ingest.report import Quarantine
from atelier.schema import conform, empty

_LAST = ("city", "region", "platform")


class UserAccumulator:
    """Collects what the event files say about each user, chunk by chunk, in memory bounded by the users."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        # Merged every 8 chunks: parts of about 15,000 users each, kept until merged, were 20-25 MB of a 3M-event
        # ingest's peak at 16; merging twice as often cost nothing measurable.
        self.summary = Folding(_merge, every=8)
        self.births: list[pl.DataFrame] = []
        # user_id, then a count per kind ("kind_view", ...) and per department ("department_Dresses", ...)
        self._activity = Folding(_summed_activity, every=8)

    def plans(self, rows: pl.LazyFrame, path: Path) -> list[pl.LazyFrame]:
        """What a chunk of raw rows (with ``_user`` and ``_ts``) says about users, as lazy queries.

        The caller collects them together with its own queries (polars then runs them side by side) and hands
        the results to :meth:`absorb`. "Last known" follows file order, as the seeds' forward fill within a
        user does; a later chunk's non-null value replaces an earlier one. Blank-only text is cleaned once per
        user in :meth:`finish`.
        """
        rows = rows.filter(pl.col("_user").is_not_null())
        summary = rows.group_by("_user").agg(
            pl.col("_ts").min().alias("first_seen"),
            pl.col("_ts").max().alias("last_seen"),
            pl.len().alias("n_events"),
            *[pl.col(c).drop_nulls().last().alias(c) for c in _LAST],
        )
        pattern = self.settings.birthdate_pattern
        births = rows.filter(pl.col("Answer").str.contains(pattern)).select(
            pl.col("_user"),
            pl.col("_ts"),
            pl.col("Answer").str.extract(f"({pattern})", 1).alias("birth_text"),
            pl.col("Answer"),
            pl.col("event_time"),
            pl.col(ROW),
            pl.lit(str(path)).alias("source_file"),
        )
        return [summary, births]

    def absorb(self, summary: pl.DataFrame, births: pl.DataFrame) -> None:
        """Fold the collected results of :meth:`plans` into the running summary."""
        summary, births = _detach(summary), _detach(births)
        self.summary.add(summary)
        if births.height:
            self.births.append(births)

    def count_interactions(self, interactions: pl.DataFrame) -> None:
        """Count a chunk's interactions per user and kind, and per user and department (``department`` column).

        These are the activity features of the age regression, kept as one wide table (a row per user, a count
        column per kind and per department seen), folded every few chunks so memory stays bounded by the users.
        One table keyed by the user alone: merging it costs one hash of each user id, not one per pair.
        """
        rows = interactions.select("user_id", "kind", pl.col("department").fill_null("?"))
        counts = rows.to_dummies(["kind", "department"]).group_by("user_id").sum()
        self._activity.add(_detach(counts))

    def finish(self, quarantine: Quarantine) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The canonical users table and its statistics."""
        s = self.settings
        stats: dict[str, Any] = {}
        summary = self.summary.result()
        if summary is None or summary.height == 0:
            return empty("users"), {"rows": 0}
        users = summary.rename({"_user": "user_id"}).with_columns(
            [blank_to_null(pl.col(c)).alias(c) for c in _LAST]
        )
        reference = users["last_seen"].max()
        ref_day = reference.date() if isinstance(reference, datetime) else datetime.now().date()
        stats["age_reference_day"] = ref_day.isoformat()

        births = self._valid_births(ref_day, quarantine, stats)
        users = users.join(births, on="user_id", how="left")
        users, filled = _fill_places(users)
        stats.update(filled)

        users = users.with_columns(age_imputed=pl.lit(False))
        users, regression = self._impute_ages(users)
        stats["age_regression"] = regression
        users = users.with_columns(age_group(pl.col("age"), s.age_groups)).sort("user_id")
        stats.update(
            rows=users.height,
            age_from_answer=int(users["birth_date"].is_not_null().sum()),
            age_imputed=int(users["age_imputed"].sum()),
            age_missing=int(users["age"].is_null().sum()),
            by_age_group=dict(users.group_by("age_group").len().sort("age_group").iter_rows()),
        )
        return conform("users", users), stats

    def _valid_births(self, ref_day, quarantine: Quarantine, stats: dict[str, Any]) -> pl.DataFrame:
        s = self.settings
        if not self.births:
            stats["birthdates_rejected"] = {}
            return pl.DataFrame(schema={"user_id": pl.String, "birth_date": pl.Date, "age": pl.Float64})
        births = pl.concat(self.births).with_columns(
            pl.col("birth_text").str.to_date(s.birthdate_format, strict=False).alias("birth_date")
        )
        births = births.with_columns(
            age=(
                pl.lit(ref_day).dt.year()
                - pl.col("birth_date").dt.year()
                - (
                    (pl.lit(ref_day).dt.month() < pl.col("birth_date").dt.month())
                    | (
                        (pl.lit(ref_day).dt.month() == pl.col("birth_date").dt.month())
                        & (pl.lit(ref_day).dt.day() < pl.col("birth_date").dt.day())
                    )
                ).cast(pl.Int32)
            ).cast(pl.Float64)
        )
        reason = (
            pl.when(pl.col("birth_date").is_null())
            .then(pl.lit("impossible_birthdate"))
            .when(~pl.col("age").is_between(s.min_age, s.max_age))
            .then(pl.lit("age_out_of_range"))
        )
        births = births.with_columns(_reason=reason)
        bad = births.filter(pl.col("_reason").is_not_null())
        for source, part in bad.group_by("source_file", maintain_order=True):
            quarantine.add(
                "users",
                part.select(ROW, pl.col("_user").alias("User_ID"), "event_time", "Answer"),
                source[0],
                part["_reason"],
                part.select(pl.format("birth date {} gives age {}", "birth_text", "age")).to_series(),
            )
        stats["birthdates_rejected"] = dict(bad.group_by("_reason").len().sort("_reason").iter_rows())
        good = births.filter(pl.col("_reason").is_null()).sort("_ts", nulls_last=False)
        return (
            good.group_by("_user")
            .agg(pl.col("birth_date").last(), pl.col("age").last())
            .rename({"_user": "user_id"})
        )

    # One BLAS thread: the matrix products are a few dozen features wide, and OpenBLAS's helper thread spins for
    # about a tenth of a second after each call, taking a core from the ingest's last steps (perf: 9% of all
    # CPU). OpenBLAS has one thread pool per process: the limit holds for other threads' BLAS calls meanwhile.
    @threadpool_limits.wrap(limits=1, user_api="blas")
    def _impute_ages(self, users: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        features = self._features(users)
        known = users["age"].is_not_null().to_numpy()
        info: dict[str, Any] = {"trained_on": int(known.sum()), "predicted": int((~known).sum())}
        if known.sum() < 10 or (~known).sum() == 0:
            info["note"] = "not run: fewer than 10 users with an age, or none without"
            return users, info
        x, y = features[known], users["age"].to_numpy()[known]
        cv, moments = _cross_validated(x, y, folds=5)
        info["cv_mae_years"] = round(float(np.mean(np.abs(cv - y))), 2)
        # polars' median skips the nulls, which are the users left out of y (np.median imported numpy.ma: 9 ms)
        info["baseline_mae_years"] = round(float(np.mean(np.abs(y - users["age"].median()))), 2)
        fit = moments.ridge()  # on every user with an age
        guess = np.clip(fit(features[~known]), self.settings.min_age, self.settings.max_age)
        ages = users["age"].to_numpy().copy()
        ages[~known] = np.round(guess, 1)
        imputed = ~known
        return users.with_columns(age=pl.Series(ages), age_imputed=pl.Series(imputed)), info

    def _features(self, users: pl.DataFrame) -> np.ndarray:
        """Per-user features: region and platform one-hot, log activity per kind, share per department."""
        base = users.select(
            "user_id",
            pl.col("region").fill_null("?"),
            pl.col("platform").fill_null("?"),
            pl.col("n_events").log1p().alias("log_events"),
        )
        parts = [base.select("log_events").to_numpy()]
        parts.append(base.select("region").to_dummies().to_numpy())
        parts.append(base.select("platform").to_dummies().to_numpy())
        activity = self._activity.result()
        if activity is not None and activity.height:
            kind_cols = sorted(c for c in activity.columns if c.startswith("kind_"))
            dept_cols = sorted(c for c in activity.columns if c.startswith("department_"))
            joined = base.select("user_id").join(activity, on="user_id", how="left").fill_null(0)
            kinds = joined.select(kind_cols).to_numpy().astype(float)
            depts = joined.select(dept_cols).to_numpy().astype(float)
            parts.append(np.log1p(kinds))
            parts.append(depts / np.maximum(depts.sum(axis=1, keepdims=True), 1.0))
        return np.hstack(parts).astype(float)


@dataclass(frozen=True)
class _Moments:
    """What a ridge fit needs of some rows: their count, sums and cross products. The moments of two sets of
    rows add and subtract, so the folds of a cross-validation cost one pass over the data."""

    n: int
    sum_x: np.ndarray
    sum_y: float
    xx: np.ndarray
    xy: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _Moments:
        return cls(len(y), x.sum(axis=0), float(y.sum()), x.T @ x, x.T @ y)

    def __add__(self, o: _Moments) -> _Moments:
        return _Moments(
            self.n + o.n, self.sum_x + o.sum_x, self.sum_y + o.sum_y, self.xx + o.xx, self.xy + o.xy
        )

    def __neg__(self) -> _Moments:
        return _Moments(-self.n, -self.sum_x, -self.sum_y, -self.xx, -self.xy)

    def __sub__(self, o: _Moments) -> _Moments:
        return self + -o

    def ridge(self, alpha: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
        """The ridge-regularised linear regression of these rows (closed form, the intercept not penalised);
        returns its predict function.

        A few dozen features and at most millions of users: the normal equations are exact and instant, and
        importing scikit-learn would cost more than the fit.
        """
        mean_x, mean_y = self.sum_x / self.n, self.sum_y / self.n
        centred_xx = self.xx - self.n * np.outer(mean_x, mean_x)
        centred_xy = self.xy - self.n * mean_x * mean_y
        coef = np.linalg.solve(centred_xx + alpha * np.eye(len(mean_x)), centred_xy)
        return lambda new: (new - mean_x) @ coef + mean_y


def _cross_validated(x: np.ndarray, y: np.ndarray, folds: int) -> tuple[np.ndarray, _Moments]:
    """Out-of-fold ridge predictions (row i is in fold i mod ``folds``, so runs are repeatable), and the moments
    of all the rows, for the fit on all of them."""
    fold_of = np.arange(len(y)) % min(folds, len(y))
    parts = [np.flatnonzero(fold_of == f) for f in range(fold_of.max() + 1)]
    held_out = [_Moments.of(x[part], y[part]) for part in parts]
    everything = sum(held_out[1:], start=held_out[0])
    out = np.empty_like(y, dtype=float)
    for part, moments in zip(parts, held_out, strict=True):
        out[part] = (everything - moments).ridge()(x[part])
    return out, everything


def _detach(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy whose text owns its bytes.

    Polars strings are views into the buffers they were cut from: a few kept values would otherwise pin every
    chunk's whole CSV text in memory, and memory would grow with the file instead of with the users.
    """
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(pl.concat_str([pl.col(c), pl.lit("")]).alias(c) for c in text)


def _summed_activity(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """A merge for parts of per-user count columns (a part lacks the kinds and departments its chunk lacked)."""
    return pl.concat(parts, how="diagonal").group_by("user_id").agg(pl.all().sum())


def _merge(summaries: list[pl.DataFrame]) -> pl.DataFrame:
    """Combine per-user summaries given in file order: earliest first event, latest last event, event counts
    summed, and the last known city, region and platform."""
    return (
        pl.concat(summaries)
        .group_by("_user", maintain_order=True)
        .agg(
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("n_events").sum(),
            *[pl.col(c).drop_nulls().last() for c in _LAST],
        )
    )


def _fill_places(users: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Fill a missing region from the city (its most frequent region among users) and vice versa."""
    places = users.filter(pl.col("city").is_not_null() & pl.col("region").is_not_null())
    places = places.group_by("city", "region").len().sort("len", "city", "region", descending=True)
    region_of = places.group_by("city", maintain_order=True).agg(pl.col("region").first().alias("_r"))
    city_of = places.group_by("region", maintain_order=True).agg(pl.col("city").first().alias("_c"))
    users = users.join(region_of, on="city", how="left").join(city_of, on="region", how="left")
    stats = {
        "region_filled_from_city": int((users["region"].is_null() & users["_r"].is_not_null()).sum()),
        "city_filled_from_region": int((users["city"].is_null() & users["_c"].is_not_null()).sum()),
    }
    users = users.with_columns(region=pl.coalesce("region", "_r"), city=pl.coalesce("city", "_c")).drop(
        "_r", "_c"
    )
    return users, stats
