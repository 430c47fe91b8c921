"""Property: whatever garbage sits in whichever column of either raw file, ingest never raises and every row
read is accounted for exactly once (kept, quarantined with a reason, or filtered out)."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atelier.config import load_settings
from atelier.ingest import ingest
from atelier.ingest.twentytoo_events import RAW as EVENT_COLUMNS

PID = "ab27bf375ed51569746345ece5d0dd9e49a39768"
VALID_PRODUCT = {
    "_id": "ObjectId('663b200a012b93dcf0dedffe')",
    "product_id": PID,
    "title": "retro sport leggings",
    "brand": "GLOWMODE",
    "website": "tfk",
    "target_audience": "women",
    "color": "Russet Orange",
    "department": "Pants",
    "price": '[{"value": 18.0, "currency": "USD", "is_original": True, "valid_from": "2023/09/13", '
    '"valid_to": False}]',
    "other_attributes": '{\\"sku\\": \\"st22\\", \\"Availability\\": true, \\"Clothing-Color\\": [\\"Red\\"]}',
}
VALID_EVENT = {
    "User_ID": "U1",
    "Session_ID": "S1",
    "event_time": "2023-05-14 13:45:12",
    "event_name": "product_details_page_view",
    "button_name": "",
    "product_package": f'{{"product_id": "{PID}", "product_brand": "Premoda, "website": "tfk"}}',
    "Question": "What is your date of birth?",
    "Answer": "born 14-03-1995",
    "city": "Cairo",
    "region": "Cairo Governorate",
    "platform": "ios",
}

garbage = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(
        [
            "",
            "N/A",
            "null",
            "True",
            "[",
            "{",
            "ObjectId(')",
            "31-02-1990",
            "01-01-1890",
            "2023-13-45 25:61:00",
            PID,
            PID.upper() + " " + PID,
            '{"product_id": ""}',
            "purchase",
            "heart_button",
            '"',
            "\\",
            "\n",
            ",",
        ]
    ),
)


def _rows(template: dict[str, str]):
    """Rows that start valid and have any subset of their columns replaced by garbage."""
    columns = list(template)
    return st.lists(
        st.fixed_dictionaries({c: st.one_of(st.just(template[c]), garbage) for c in columns}),
        max_size=12,
    )


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in columns])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(products=_rows(VALID_PRODUCT), events_1=_rows(VALID_EVENT), events_2=_rows(VALID_EVENT))
def test_garbage_never_crashes_and_counts_reconcile(tmp_path_factory, products, events_1, events_2):
    root = tmp_path_factory.mktemp("garbage")
    files = [root / "products.csv", root / "events_1.csv", root / "events_2.csv"]
    _write(files[0], list(VALID_PRODUCT), products)
    _write(files[1], EVENT_COLUMNS, events_1)
    _write(files[2], EVENT_COLUMNS, events_2)

    report = ingest("twentytoo", files, root / "out", load_settings())

    assert report.to_dict()["reconciles"]
    by_file = {Path(f.path).name: f for f in report.files}
    assert by_file["products.csv"].rows_read == len(products)
    assert by_file["events_1.csv"].rows_read == len(events_1)
    assert by_file["events_2.csv"].rows_read == len(events_2)
    for table in ("products", "interactions"):
        quarantined = sum(f.rows_quarantined for f in report.files if f.table == table)
        path = root / "out" / "quarantine" / f"{table}.csv"
        written = pl.read_csv(path, infer_schema=False).height if path.exists() else 0
        assert written == quarantined
    kept_events = sum(f.rows_kept for f in report.files if f.table == "interactions")
    interactions = pl.read_parquet(root / "out" / "interactions.parquet")
    assert interactions.height >= kept_events
