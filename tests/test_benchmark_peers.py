"""The ingest benchmark's DuckDB peer does the same events job as Atelier, or its speed would mean nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
duckdb_method = pytest.importorskip("duckdb_method", reason="duckdb is a dev dependency (make test installs it)")


def test_duckdb_peer_writes_the_interactions_atelier_writes(sample_shop, ingested, tmp_path):
    data, _ = ingested
    counts = duckdb_method.run(sample_shop.products, sample_shop.events, tmp_path)

    columns = ["user_id", "product_id", "session_id", "timestamp", "event_name", "button_name", "kind", "weight"]
    ours = pl.read_parquet(data / "interactions.parquet").select(columns)
    peer = pl.read_parquet(tmp_path / "interactions.parquet").select(columns)
    peer = peer.with_columns(pl.col("timestamp").cast(ours["timestamp"].dtype))
    assert counts["interactions"] == ours.height > 0
    assert counts["raw_event_rows"] == 12_000
    assert ours.sort(columns).equals(peer.sort(columns))

    users = pl.read_parquet(data / "users.parquet")
    assert counts["users"] == users.height
