"""The events job in DuckDB SQL: what a compiled, vectorised engine does with the same files on this machine.

It is no ingest Atelier could ship (see "Left out" below); it is a reference point for the benchmark's
absolute target: how fast does an engine built for this kind of query do the job here? With DuckDB's own
CSV reader and every core:

- events: every file read as text; (event_name, button_name) mapped by Atelier's default rules (the most
  specific rule wins, as in Atelier); rows of interest de-duplicated on a hash of the whole raw row; rows
  without user or time left out; times parsed with Atelier's default formats (an offset converted to UTC) as
  far as DuckDB's strptime and timestamptz cast go: the same on the sample's spellings, not on rarer ones
  (DuckDB reads "epoch" and "2023-07-01 10:00", Atelier a space before an offset);
  product ids pulled from ``product_package`` with ``[a-fA-F0-9]{32,}``, lower-cased, one row per distinct
  id, kept when the catalogue lists the id; written as Parquet (snappy) with kind and weight;
- users: first and last event, event count, the city, region and platform of the latest event that has one;
  the latest birth date found in ``Answer`` (``\\b\\d{2}-\\d{2}-\\d{4}\\b``, ``%d-%m-%Y``) whose age on the
  data's last day is within 10..100;
- products: the catalogue's ids and departments.

Left out, which Atelier does and pays for: the quarantine (record numbers, reasons, the raw text of every
row that cannot be used) and the per-file report that reconciles every row; malformed CSV lines (DuckDB's
``store_rejects`` keeps them aside, uncounted here); the catalogue's cleaning (prices, attributes: events are
checked against the raw catalogue's ids, so an event naming a product Atelier quarantines is kept here);
"last known" city and region in file order (here: in time order); filling places from each other and the age
regression. Its interactions equal Atelier's row for row on the test sample (``tests/test_benchmark_peers.py``)
and in number on the benchmark's samples (the benchmark checks it); its users table is a simpler one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import joblib

from atelier.config import ANY, DEFAULT_RULES, IngestSettings
from atelier.ingest.twentytoo_events import RAW

# polars' strip_chars() for ASCII white space (polars also strips Unicode spaces such as U+00A0). trim() with a
# set of characters is slow in DuckDB (about a third of the job), so it is only called when the first or last
# character is a space or a control one.
_STRIP = (
    "create macro strip(s) as case when ascii(s) <= 32 or ascii(right(s, 1)) <= 32 "
    "then trim(s, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)) else s end"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def timestamp_formats(settings: IngestSettings) -> list[str]:
    """Atelier's timestamp formats without an offset, in DuckDB's spelling (polars' ``%.f`` is ``.%f``).

    Times with an offset are cast instead: in one strptime list with the others, DuckDB carries an offset
    over to later rows.
    """
    return [f.replace("%.f", ".%f") for f in settings.timestamp_formats if "%z" not in f and "%:z" not in f]


def rule_case() -> str:
    """A SQL CASE giving each row the index of its rule in DEFAULT_RULES (NULL: of no interest).

    Atelier's order of specificity: exact event and button, then any event with that button, then that
    event with any button.
    """
    # The default rules: the benchmark's children run without ATELIER_* variables, as Atelier's does.
    event, button = "_event", "_button"  # stripped once, in the query
    exact = [(i, r) for i, r in enumerate(DEFAULT_RULES) if ANY not in (r.event, r.button)]
    by_button = [(i, r) for i, r in enumerate(DEFAULT_RULES) if r.event == ANY and r.button != ANY]
    by_event = [(i, r) for i, r in enumerate(DEFAULT_RULES) if r.button == ANY and r.event != ANY]
    whens = [f"when {event} = {_quote(r.event)} and {button} = {_quote(r.button)} then {i}" for i, r in exact]
    whens += [f"when {button} = {_quote(r.button)} then {i}" for i, r in by_button]
    whens += [f"when {event} = {_quote(r.event)} then {i}" for i, r in by_event]
    return "case " + " ".join(whens) + " end"


def run(products: Path, events: Sequence[Path], out: Path) -> dict[str, int]:
    """Write the three tables under ``out``; return their sizes and the raw event rows read."""
    out.mkdir(parents=True, exist_ok=True)
    settings = IngestSettings()
    # the cores this process may use, counted as Atelier counts them for its catalogue workers
    con = duckdb.connect(config={"threads": joblib.cpu_count(), "preserve_insertion_order": False})
    # times with an offset become UTC, as in Atelier, whatever the machine's zone
    con.sql("set TimeZone = 'UTC'")
    con.sql(_STRIP)
    files = "[" + ", ".join(_quote(str(p)) for p in events) + "]"
    formats = "[" + ", ".join(_quote(f) for f in timestamp_formats(settings)) + "]"
    kinds = "[" + ", ".join(_quote(r.kind) for r in DEFAULT_RULES) + "]"
    weights = "[" + ", ".join(f"{float(r.weight)}::double" for r in DEFAULT_RULES) + "]"
    birth = _quote(settings.birthdate_pattern)
    interest = "rule is not null"

    con.sql(
        f"""create temp table catalogue as select lower(strip(product_id)) as product_id, department
        from read_csv({_quote(str(products))}, all_varchar = true, header = true)"""
    )
    # One read of the events; what is not needed later is not kept (text of rows of no interest).
    con.sql(
        f"""create temp table ev as
        with stripped as (
            select *, strip(event_name) as _event, strip(button_name) as _button, strip(event_time) as _time
            from read_csv({files}, all_varchar = true, header = true, store_rejects = true)
        ),
        raw as (select *, {rule_case()} as rule from stripped)
        select rule,
            coalesce(
                try_strptime(rtrim(replace(_time, 'T', ' '), 'Z'), {formats}),
                try_cast(_time as timestamptz)::timestamp
            ) as ts,
            nullif(strip(User_ID), '') as user_id,
            nullif(strip(city), '') as city,
            nullif(strip(region), '') as region,
            nullif(strip(platform), '') as platform,
            regexp_extract(Answer, {birth}) as birth_text,
            case when {interest} then hash({", ".join(RAW)}) end as row_hash,
            case when {interest} then product_package end as product_package,
            case when {interest} then nullif(strip(Session_ID), '') end as session_id,
            case when {interest} then _event end as event_name,
            case when {interest} then nullif(_button, '') end as button_name
        from raw"""
    )
    raw_rows = con.sql("select count(*) from ev").fetchall()[0][0]
    con.sql(
        f"""copy (
            with firsts as (
                select distinct on (row_hash) * from ev where {interest}
            ),
            ids as (
                select user_id, session_id, ts, event_name, button_name, rule,
                    unnest(list_distinct(list_transform(
                        regexp_extract_all(product_package, {_quote(settings.product_id_pattern)}), lambda x: lower(x)
                    ))) as product_id
                from firsts where user_id is not null and ts is not null
            )
            select ids.user_id, ids.product_id, session_id, ts as timestamp, event_name, button_name,
                {kinds}[rule + 1] as kind, {weights}[rule + 1] as weight
            from ids semi join catalogue using (product_id)
        ) to {_quote(str(out / "interactions.parquet"))} (format parquet, compression snappy)"""
    )
    con.sql(
        f"""copy (
            with summary as (
                select user_id, min(ts) as first_seen, max(ts) as last_seen, count(*) as n_events,
                    arg_max(city, ts) filter (where city is not null) as city,
                    arg_max(region, ts) filter (where region is not null) as region,
                    arg_max(platform, ts) filter (where platform is not null) as platform
                from ev where user_id is not null group by user_id
            ),
            births as (
                select user_id, arg_max(birth_date, coalesce(ts, timestamp '0001-01-01')) as birth_date
                from (
                    select user_id, ts, try_strptime(birth_text, {_quote(settings.birthdate_format)})::date as birth_date
                    from ev where user_id is not null and birth_text <> ''
                ) where date_sub('year', birth_date, (select max(last_seen) from summary)::date)
                    between {settings.min_age} and {settings.max_age}
                group by user_id
            )
            select * from summary left join births using (user_id)
        ) to {_quote(str(out / "users.parquet"))} (format parquet, compression snappy)"""
    )
    con.sql(f"copy catalogue to {_quote(str(out / 'products.parquet'))} (format parquet, compression snappy)")

    def rows(name: str) -> int:
        return con.sql(f"select count(*) from {_quote(str(out / name))}").fetchall()[0][0]

    counts = {
        "raw_event_rows": raw_rows,
        "interactions": rows("interactions.parquet"),
        "users": rows("users.parquet"),
        "products": rows("products.parquet"),
    }
    con.close()
    return counts
