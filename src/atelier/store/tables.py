"""Read and write the canonical tables of a data folder (``DATA_DIR/<table>.parquet``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from atelier.errors import InputError
from atelier.schema import TABLES, conform


def table_path(data_dir: str | Path, table: str) -> Path:
    """``DATA_DIR/<table>.parquet``."""
    if table not in TABLES:
        raise InputError(f"unknown table {table!r} (expected one of {', '.join(TABLES)})")
    return Path(data_dir) / f"{table}.parquet"


def write_table(df: pl.DataFrame, data_dir: str | Path, table: str) -> Path:
    """Write ``df`` as the canonical ``table`` (columns checked and ordered by the schema)."""
    path = table_path(data_dir, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    conform(table, df).write_parquet(path, compression="zstd", compression_level=3)
    return path


def read_table(data_dir: str | Path, table: str) -> pl.DataFrame:
    """Read a canonical table; a clear error when the data folder does not hold it."""
    path = table_path(data_dir, table)
    if not path.is_file():
        raise InputError(f"{path} not found: expected a data folder written by `atelier ingest`")
    return pl.read_parquet(path)
