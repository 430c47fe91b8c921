"""Read a basket file (one basket a line, items separated by white space, as the FIMI repository's) into a
baskets x items matrix, the miners' input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp


def read_basket_file(path: str | Path) -> tuple[sp.csr_matrix, np.ndarray]:
    """(baskets x items 0/1 matrix, item labels); blank lines are skipped, repeated items count once."""
    # polars splits and encodes the tokens in Rust, several times faster than Python's str.split per line.
    if Path(path).stat().st_size == 0:
        return sp.csr_matrix((0, 0), dtype=np.float32), np.array([], dtype=object)
    lines = pl.read_csv(
        path, has_header=False, new_columns=["line"], separator="\x1f", quote_char=None,
        schema_overrides={"line": pl.String},
    )  # fmt: skip
    tokens = (
        lines.select(pl.col("line").str.strip_chars())
        .filter(pl.col("line") != "")
        .with_row_index("basket")
        .select("basket", pl.col("line").str.replace_all(r"\s+", " ").str.split(" ").alias("item"))
        .explode("item", empty_as_null=False)
        .filter(pl.col("item") != "")
    )
    if tokens.height == 0:
        return sp.csr_matrix((0, 0), dtype=np.float32), np.array([], dtype=object)
    # Categorical codes are cheap but need not be contiguous: compact them, keeping one label per code.
    physical = tokens["item"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    _, first, codes = np.unique(physical, return_index=True, return_inverse=True)
    labels = tokens["item"].gather(first).to_numpy()
    baskets = tokens["basket"].to_numpy()
    indptr = np.concatenate([[0], np.cumsum(np.bincount(baskets))]).astype(np.int64)
    m = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.float32), codes.astype(np.int32), indptr),
        shape=(len(indptr) - 1, len(labels)),
    )
    m.sum_duplicates()  # an item written twice on a line counts once
    m.data[:] = 1.0
    return m, labels
