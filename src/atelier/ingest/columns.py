"""Vectorised cleaning of whole columns: the column-at-a-time twins of :mod:`atelier.ingest.fields`.

The event pipeline handles millions of rows, so it cannot call a Python function per cell; these helpers do the
same cleaning with polars expressions and are tested against the scalar functions on the same inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from atelier.config import AgeGroup

US = "us"


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Trimmed text, with empty strings as null."""
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).otherwise(None)


def parse_timestamps(values: pl.Series, formats: Sequence[str]) -> pl.Series:
    """Datetimes (UTC, naive, microseconds) from text in any of ``formats``; null where none fits.

    Every value is tried with the first format (the common case); when that format is all digits, ISO's ``T``
    and ``Z`` are removed first. The few values still null are trimmed, normalised the same way, and take the
    first of ``formats`` that fits.
    """
    if not formats:
        return pl.Series(values.name, [None] * len(values), pl.Datetime(US))
    if _NUMERIC_FORMAT.fullmatch(formats[0]):
        # A failed parse sends polars down a slow path per value, and a third of real logs write ISO "T":
        # the marks go first (an all-digit format cannot match text that still has them).
        out = _parse(_without_iso_marks(values), formats[0])
    else:
        out = _parse(values, formats[0])
    missing = out.is_null() & values.is_not_null()
    if missing.any():
        idx = missing.arg_true()
        out = out.scatter(idx, _first_fit(_normalised(values.gather(idx)), formats))
    return out.alias(values.name)


# A format of digits and separators only (no month names, no literal T or Z).
_NUMERIC_FORMAT = re.compile(r"(%[YmdHMSfjy]|%\.f|%\.3f|%\.6f|[-/ :.,])+")


def _without_iso_marks(text: pl.Series) -> pl.Series:
    return text.str.replace("T", " ", literal=True, n=1).str.strip_suffix("Z")


def _normalised(text: pl.Series) -> pl.Series:
    return text.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.strip_suffix("Z")


def _first_fit(text: pl.Series, formats: Sequence[str]) -> pl.Series:
    """Each value parsed with the first of ``formats`` that fits (for the few values the first one missed:
    every format is tried on every value, in one pass)."""
    tried = text.to_frame("t").select(
        pl.col("t").str.to_datetime(f, strict=False, time_unit=US, cache=False).alias(str(i))
        for i, f in enumerate(formats)
    )
    return (
        pl.DataFrame([_naive_utc(tried[c]) for c in tried.columns]).select(pl.coalesce(pl.all())).to_series()
    )


def _parse(text: pl.Series, fmt: str) -> pl.Series:
    # No cache: event times are nearly all distinct, and the cache costs more than it saves.
    return _naive_utc(text.str.to_datetime(fmt, strict=False, time_unit=US, cache=False))


def _naive_utc(parsed: pl.Series) -> pl.Series:
    """Times with a time zone (formats with an offset) converted to naive UTC."""
    if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
        return parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return parsed


def row_hash(columns: Sequence[str], seed: int = 0x5EED) -> pl.Expr:
    """A 64-bit hash of the whole row over ``columns`` (for exact-duplicate detection across chunks).

    Each column is hashed on its own (column by column, so polars runs them in parallel) with its own seed, so
    equal values in different columns differ, and the hashes are folded with a multiply-xor. About twice as
    fast as hashing a struct of the columns.
    """
    hashes = [pl.col(c).hash(seed=seed + i) for i, c in enumerate(columns)]
    folded = hashes[0]
    for h in hashes[1:]:
        folded = (folded * pl.lit(_GOLDEN, pl.UInt64)) ^ h
    return folded


_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: an odd multiplier that spreads the bits


def product_ids(expr: pl.Expr, pattern: str) -> pl.Expr:
    """Every id matching ``pattern`` in the text, as found (a List[String] column; the ingest lower-cases them).

    The event ingest runs :func:`atelier.ingest.scan.find_ids` instead where the pattern is a run of one
    character class (the default)."""
    return expr.str.extract_all(pattern)


def interaction_rule_index(
    event: pl.Expr, button: pl.Expr, rules: Sequence[tuple[str, str]], any_value: str = "*"
) -> pl.Expr:
    """Index of the most specific rule matching (event, button): exact pair, then button only, then event only.

    Null where no rule matches (the row is of no interest). The event ingest runs its compiled twin,
    :func:`atelier.ingest.scan.rule_index`; this one is the reference the tests hold it to (the twin compares the
    pair itself, where this one compares ``event + "\x1f" + button``: they differ only for values holding that
    control character).
    """
    exact = {f"{e}\x1f{b}": i for i, (e, b) in enumerate(rules) if any_value not in (e, b)}
    by_button = {b: i for i, (e, b) in enumerate(rules) if e == any_value and b != any_value}
    by_event = {e: i for i, (e, b) in enumerate(rules) if b == any_value and e != any_value}
    key = pl.concat_str([event.fill_null(""), pl.lit("\x1f"), button.fill_null("")])
    parts = []
    if exact:
        parts.append(key.replace_strict(exact, default=None, return_dtype=pl.Int32))
    if by_button:
        parts.append(button.replace_strict(by_button, default=None, return_dtype=pl.Int32))
    if by_event:
        parts.append(event.replace_strict(by_event, default=None, return_dtype=pl.Int32))
    return pl.coalesce(parts) if parts else pl.lit(None, pl.Int32)


def age_group(age: pl.Expr, groups: Sequence[AgeGroup]) -> pl.Expr:
    """Name of the configured band holding the age rounded to whole years; null outside every band."""
    out = pl.lit(None, pl.String)
    for g in reversed(groups):
        out = pl.when(age.round(0).is_between(g.min, g.max)).then(pl.lit(g.name)).otherwise(out)
    return out.alias("age_group")
