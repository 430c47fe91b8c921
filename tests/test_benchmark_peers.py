"""The ingest benchmark's DuckDB peer does the same events job as Atelier, or its speed would mean nothing."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from atelier.config import load_settings
from atelier.ingest import ingest
from atelier.schema import polars_schema
from atelier.store.tables import read_table

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
COLUMNS = list(polars_schema("interactions"))


def run_peer(products: Path, events: list[Path], out: Path) -> dict[str, int]:
    """benchmarks/duckdb_method.py in a child process, as the benchmark runs it.

    Not in the test process: DuckDB's bindings print a wall of harmless "nanobind: leaked ..." lines when the
    interpreter that imported them shuts down after a long test session.
    """
    code = f"import json, sys; sys.path.insert(0, {str(BENCHMARKS)!r}); from pathlib import Path; "
    code += "from duckdb_method import run; "
    code += "print(json.dumps(run(Path(sys.argv[1]), [Path(p) for p in sys.argv[3:]], Path(sys.argv[2]))))"
    args = [sys.executable, "-c", code, str(products), str(out), *map(str, events)]
    # A machine zone far from UTC: times must not depend on it.
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_duckdb_peer_writes_the_interactions_atelier_writes(sample_shop, ingested, tmp_path):
    if importlib.util.find_spec("duckdb") is None:  # found, not imported (see run_peer)
        pytest.skip("duckdb is missing: it is a dev dependency, which make test installs")
    # The sample, plus rows where a careless peer would differ: a row two rules match (the button's rule
    # wins), upper-case ids, times with an offset or a fraction, white space around or after a value.
    known = read_table(ingested[0], "products")["product_id"].to_list()
    events = [shutil.copy(p, tmp_path / p.name) for p in sample_shop.events]
    with open(events[-1], encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    extra = [
        ("U_two_rules", "2023-07-01 10:00:00", "add_to_bag", "heart_button", known[0]),
        ("U_upper", "2023-07-01 10:00:01", "purchase", "", known[1].upper()),
        ("U_offset", "2023-07-01T10:00:02+02:00", "purchase", "", known[2]),
        ("U_offset", "2023-07-01 10:00:03", "purchase", "", known[3]),  # no offset carried over
        ("U_fraction", "2023-07-01 10:00:04.5", "purchase", "", known[4]),
        ("\tU_tab ", "2023-07-01 10:00:05", "purchase", "", known[5]),
        ("U_spaces", "2023-07-01 10:00:06", " purchase\t", "", known[6]),
        ("U_trailing\t", "2023-07-01 10:00:07", "purchase\t", "", known[7]),
    ]
    with open(events[-1], "a", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        for user, time, event, button, product in extra:
            writer.writerow(
                dict.fromkeys(header, "")
                | {"User_ID": user, "Session_ID": "S1", "event_time": time, "event_name": event}
                | {"button_name": button, "product_package": f'{{"id": "{product}"}}'}
            )
    ours_dir, peer_dir = tmp_path / "atelier", tmp_path / "duckdb"
    ingest("twentytoo", [sample_shop.products, *events], ours_dir, load_settings())
    counts = run_peer(sample_shop.products, events, peer_dir)

    ours = read_table(ours_dir, "interactions").select(COLUMNS).sort(COLUMNS)
    peer = pl.read_parquet(peer_dir / "interactions.parquet").select(COLUMNS).sort(COLUMNS)
    assert_frame_equal(peer, ours)  # dtypes too
    assert counts["interactions"] == ours.height
    assert counts["raw_event_rows"] == 12_000 + len(extra)
    added = ours.filter(pl.col("user_id").str.starts_with("U_"))
    assert added.height == len(extra)
    assert added.filter(user_id="U_two_rules")["kind"].to_list() == ["wishlist"]

    user_columns = ["user_id", "first_seen", "last_seen", "n_events"]
    our_users = read_table(ours_dir, "users").select(user_columns).sort("user_id")
    peer_users = pl.read_parquet(peer_dir / "users.parquet").select(user_columns).sort("user_id")
    assert_frame_equal(peer_users, our_users, check_dtypes=False)  # event counts: Int64 against UInt32
