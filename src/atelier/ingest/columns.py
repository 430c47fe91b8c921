"""Vectorised cleaning of whole columns: the column-at-a-time twins of :mod:`atelier.ingest.fields`.

The event pipeline handles millions of rows, so it cannot call a Python function per cell; these helpers do the
same cleaning with polars expressions and are tested against the scalar functions on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from atelier.config import AgeGroup

US = "us"


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Trimmed text, with empty strings as null."""
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).otherwise(None)


def parse_timestamps(values: pl.Series, formats: Sequence[str]) -> pl.Series:
    """Datetimes (UTC, naive, microseconds) from text in any of ``formats``; null where none fits.

    The first format is tried on the raw text (the common case, and the cheapest), then on ISO text with its
    ``T`` and ``Z`` removed; rows still null are trimmed, normalised the same way, and tried with every format.
    """
    if not formats:
        return pl.Series(values.name, [None] * len(values), pl.Datetime(US))
    out = _parse(values, formats[0])
    out = _retry(out, values, _without_iso_marks, formats[:1])  # ISO text is common: a cheap second try
    return _retry(out, values, _normalised, formats).alias(values.name)


def _without_iso_marks(text: pl.Series) -> pl.Series:
    return text.str.replace("T", " ", literal=True, n=1).str.strip_suffix("Z")


def _normalised(text: pl.Series) -> pl.Series:
    return text.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.strip_suffix("Z")


def _retry(
    out: pl.Series, values: pl.Series, normalise: Callable[[pl.Series], pl.Series], formats: Sequence[str]
) -> pl.Series:
    """Parse again, after ``normalise``, the values ``out`` left null, with each format in turn."""
    missing = out.is_null() & values.is_not_null()
    if not missing.any():
        return out
    idx = missing.arg_true()
    rest = normalise(values.gather(idx))
    parsed = pl.Series(values.name, [None] * len(rest), pl.Datetime(US))
    for fmt in formats:
        todo = parsed.is_null() & rest.is_not_null()
        if not todo.any():
            break
        sub = todo.arg_true()
        parsed = parsed.scatter(sub, _parse(rest.gather(sub), fmt))
    return out.scatter(idx, parsed)


def _parse(text: pl.Series, fmt: str) -> pl.Series:
    parsed = text.str.to_datetime(fmt, strict=False, time_unit=US)
    if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return parsed


def product_ids(expr: pl.Expr, pattern: str) -> pl.Expr:
    """Every id matching ``pattern`` in the text (a List[String] column; lower-case them after exploding)."""
    return expr.str.extract_all(pattern)


def interaction_rule_index(
    event: pl.Expr, button: pl.Expr, rules: Sequence[tuple[str, str]], any_value: str = "*"
) -> pl.Expr:
    """Index of the most specific rule matching (event, button): exact pair, then button only, then event only.

    Null where no rule matches (the row is of no interest).
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
