"""Item features from the catalogue's categorical columns (one-hot), and label codes for evaluation."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from atelier.errors import InputError
from atelier.features.segments import row_of_entries

ATTRIBUTE_PREFIX = "attributes."


def label_column(products: pl.DataFrame, name: str) -> pl.Series:
    """A catalogue column by name; ``attributes.<key>`` reads a key of the attributes JSON."""
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name.removeprefix(ATTRIBUTE_PREFIX)
        raws = (
            products["attributes"].to_list() if "attributes" in products.columns else [None] * products.height
        )
        values = [_attribute(raw, key) for raw in raws]
        return pl.Series(name, values, dtype=pl.String)
    if name not in products.columns:
        raise InputError(f"unknown product column {name!r} (expected a products column or attributes.<key>)")
    return products[name].cast(pl.String).alias(name)


def label_codes(products: pl.DataFrame, name: str) -> np.ndarray:
    """Integer code of each item's value of column ``name`` (-1 where missing or blank); ``a+b`` combines
    columns (an item lacking either has none)."""
    parts = []
    for part in name.split("+"):
        values = label_column(products, part).str.strip_chars()
        parts.append(pl.select(pl.when(values != "").then(values)).to_series())
    combined = parts[0] if len(parts) == 1 else pl.select(pl.concat_str(parts, separator="\x1f")).to_series()
    return dense_codes(combined)


def dense_codes(values: pl.Series) -> np.ndarray:
    """Codes 0..k-1 for the k distinct values (in sorted order), -1 for null: contiguous, unlike categorical
    codes, so they can size arrays."""
    return (values.rank("dense").cast(pl.Int64) - 1).fill_null(-1).to_numpy()


def one_hot(products: pl.DataFrame, columns: list[str]) -> sp.csr_matrix:
    """Items x (column, value) one-hot features, each row L2-normalised (rows of items without values stay 0)."""
    blocks = []
    for name in columns:
        codes = label_codes(products, name)
        known = codes >= 0
        width = int(codes.max()) + 1 if known.any() else 0
        rows = np.flatnonzero(known)
        blocks.append(sp.csr_matrix((np.ones(len(rows)), (rows, codes[known])), shape=(len(codes), width)))
    if not blocks or sum(b.shape[1] for b in blocks) == 0:
        return sp.csr_matrix((products.height, 0))
    return normalize(sp.hstack(blocks).tocsr(), norm="l2")


def _attribute(raw: str | None, key: str) -> str | None:
    if not raw:
        return None
    value = json.loads(raw).get(key)
    return None if value is None else str(value)


def codes_in_queries(queries: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
    """Queries x codes: does some item of query row r carry code c (items coded -1 carry none)."""
    q = sp.csr_matrix(queries)
    out = np.zeros((q.shape[0], int(codes.max(initial=-1)) + 1), dtype=bool)
    rows, item_codes = row_of_entries(q), codes[q.indices]
    known = item_codes >= 0
    out[rows[known], item_codes[known]] = True
    return out


def shares_code(queries: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
    """Queries x items: does item i share a known code (its style, its department) with query row r."""
    present = codes_in_queries(queries, codes)
    out = np.zeros((present.shape[0], len(codes)), dtype=bool)
    coded = codes >= 0
    out[:, coded] = present[:, codes[coded]]
    return out
