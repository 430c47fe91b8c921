"""Users from event rows: birth dates, ages, age groups and places, input rows -> expected user rows."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from atelier.config import load_settings
from atelier.ingest.csvfile import ROW
from atelier.ingest.report import Quarantine
from atelier.ingest.users import UserAccumulator

COLUMNS = ["_user", "_ts", "Answer", "city", "region", "platform"]


def chunk(rows: list[tuple]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "_user": pl.String,
            "_ts": pl.Datetime("us"),
            "Answer": pl.String,
            "city": pl.String,
            "region": pl.String,
            "platform": pl.String,
        },
        orient="row",
    )
    return frame.with_columns(
        event_time=pl.col("_ts").dt.strftime("%Y-%m-%d %H:%M:%S"), **{ROW: pl.int_range(2, frame.height + 2)}
    )


def t(day: int) -> datetime:
    return datetime(2023, 6, day, 12)


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    acc = UserAccumulator(load_settings().ingest)
    first = chunk(
        [
            ("U1", t(1), "born 14-03-1995", "Cairo", "Cairo Governorate", "ios"),
            ("U1", t(2), "oops, I mean 01-01-1990", None, None, None),  # the latest answer wins
            ("U2", t(1), "31-02-1990", "Giza", "Giza Governorate", "web"),  # no such day
            ("U3", t(1), "born 01-01-1890", None, None, None),  # 133 years old
            ("U4", t(1), None, "Cairo", None, "android"),  # region from the city
            ("U5", t(1), None, "Cairo", "Cairo Governorate", None),
            ("U5", t(2), None, "Cairo", "Cairo Governorate", None),
            ("U6", t(1), None, None, "Giza Governorate", None),  # city from the region
            ("U8", t(1), None, "Alexandria", "Alexandria Governorate", "ios"),
            ("U9", t(1), None, "Cairo", "Cairo Governorate", None),
            ("  ", t(1), "14-03-1995", None, None, None),  # not a user: ignored here, quarantined upstream
        ]
    )
    second = chunk(
        [
            ("U8", t(3), None, None, None, None),  # nothing new: the last known place stays
            ("U9", t(4), None, "Giza", "Giza Governorate", "web"),  # moved: the later place wins
            ("U7", t(5), "prefer not to say", "   ", None, None),  # blank text is no city
        ]
    )
    for rows in (first, second):
        acc.absorb(
            *pl.collect_all(
                acc.plans(
                    rows.with_columns(pl.col("_user").str.strip_chars().replace("", None)).lazy(),
                    Path("events.csv"),
                )
            )
        )
    quarantine = Quarantine(tmp_path_factory.mktemp("q"))
    table, stats = acc.finish(quarantine)
    paths = quarantine.close()
    return {r["user_id"]: r for r in table.iter_rows(named=True)}, stats, pl.read_csv(paths["users"])


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            "U1",
            {
                "birth_date": date(1990, 1, 1),
                "age": 33.0,
                "age_group": "25-34",
                "city": "Cairo",
                "region": "Cairo Governorate",
                "platform": "ios",
                "n_events": 2,
                "age_imputed": False,
            },
        ),
        ("U2", {"birth_date": None, "age": None, "age_group": None, "age_imputed": False}),
        ("U3", {"birth_date": None, "age": None}),
        ("U4", {"city": "Cairo", "region": "Cairo Governorate", "platform": "android"}),
        ("U6", {"city": "Giza", "region": "Giza Governorate"}),
        ("U7", {"city": None, "region": None}),
        ("U8", {"city": "Alexandria", "region": "Alexandria Governorate", "last_seen": t(3), "n_events": 2}),
        ("U9", {"city": "Giza", "region": "Giza Governorate", "platform": "web", "first_seen": t(1)}),
    ],
)
def test_user_rows(users, user, expected):
    table, _, _ = users
    got = {k: table[user][k] for k in expected}
    assert got == expected


def test_every_user_once_and_blank_ids_ignored(users):
    table, stats, _ = users
    assert sorted(table) == ["U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "U9"]
    assert stats["age_reference_day"] == "2023-06-05"
    assert stats["region_filled_from_city"] == 1 and stats["city_filled_from_region"] == 1


def test_rejected_birth_dates_are_quarantined_with_reason(users):
    _, stats, quarantined = users
    assert stats["birthdates_rejected"] == {"age_out_of_range": 1, "impossible_birthdate": 1}
    assert sorted(quarantined.select("User_ID", "reason").rows()) == [
        ("U2", "impossible_birthdate"),
        ("U3", "age_out_of_range"),
    ]
    assert set(quarantined["source_file"]) == {"events.csv"}
