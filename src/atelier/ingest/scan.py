"""Compiled fast paths of the event ingest, over the Arrow columns the CSV reader makes.

Each polars step of the event path is a pass over a column costing 30-150 ns a row; the costliest ones run here
as one C loop each (``_scan.c``, built at install), with the GIL released so they overlap the other threads:

- :func:`rule_index`: which interaction rule an (event_name, button_name) pair falls under;
- :func:`iso_timestamps`: event times written "YYYY-MM-DD HH:MM:SS" (or with "T" and "Z"), the common case,
  with anything else left to :func:`atelier.ingest.columns.parse_timestamps`;
- :func:`find_ids`: the product ids in ``product_package`` for patterns of the form ``[class]{n,}``;
- :func:`trimmed`: text with white space stripped (and blanks as null), as views into the text (no copy);
- :func:`row_hashes`: a 64-bit hash of each row of interest over all its raw columns (exact duplicates);
- :class:`SeenRows`: the 64-bit row hashes seen so far (exact duplicates across chunks and files).

The first four have a polars twin in :mod:`atelier.ingest.columns` and give what it gives for every input they
read (tests compare them on the same inputs): the rule lookup and trimming for all text, the times and ids for
the values and patterns they accept; where a setting is outside what a kernel handles (another timestamp
format first, a product-id pattern that is not a run of one character class), the caller uses the twin.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from atelier.ingest import _scan
from atelier.ingest.csvfile import arrow_memory_pool

# The timestamp layout iso_timestamps reads: used when it is the first of the configured formats.
ISO_SECONDS = "%Y-%m-%d %H:%M:%S"

Column = pa.Array | pa.ChunkedArray


def empty(n: int, dtype: np.typing.DTypeLike) -> np.ndarray:
    """An uninitialised array whose memory comes from Arrow's pool (jemalloc), not from glibc's heap.

    The kernels' outputs are a few MB per chunk, freed and made again every chunk: glibc serves such sizes from
    its arenas once its mmap threshold has grown, where they fragment; jemalloc reuses them, as it does the CSV
    parser's blocks.
    """
    dtype = np.dtype(dtype)
    buffer = pa.allocate_buffer(max(n * dtype.itemsize, 1), memory_pool=arrow_memory_pool())
    return np.frombuffer(buffer, dtype=dtype, count=n)


def arrow_array(values: np.ndarray, type: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """A fixed-width Arrow array over ``values`` (no copy), null where ``valid`` is False.

    Made from buffers, not with ``pa.array``, which imports pandas (about 0.3 s) the first time it is called.
    """
    values = np.ascontiguousarray(values)
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(type, len(values), [validity, pa.py_buffer(values)])


def _large_strings(column: Column) -> list[pa.Array]:
    """The column's chunks as large_string arrays (what the CSV reader makes; anything else is cast)."""
    chunks = list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]
    return [c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in chunks]


def _buffers(array: pa.Array) -> tuple:
    """The (validity, offsets, data, offset, length) tuple the kernels read a large_string array from."""
    validity, offsets, data = array.buffers()
    return (validity if array.null_count else None), offsets, data, array.offset, len(array)


def _pieces(*columns: Column) -> Iterator[tuple[int, int, list[pa.Array]]]:
    """(start, stop, one large_string piece of each column) for the rows of the columns, piece after piece;
    columns cut at different rows are joined into one piece each first (those of one table rarely are)."""
    chunked = [_large_strings(c) for c in columns]
    if len({tuple(len(part) for part in parts) for parts in chunked}) > 1:
        chunked = [[pa.concat_arrays(parts)] if len(parts) > 1 else parts for parts in chunked]
    start = 0
    for parts in zip(*chunked, strict=True):
        stop = start + len(parts[0])
        yield start, stop, list(parts)
        start = stop


def rule_index(
    event: Column, button: Column, rules: Sequence[tuple[str, str]], any_value: str = "*"
) -> np.ndarray:
    """Index of the most specific rule matching each stripped (event, button) pair, -1 where none does (int32).

    The twin of :func:`atelier.ingest.columns.interaction_rule_index`: the exact pair first (a null compares as
    ""), then any event with that button, then that event with any button; among equal rules the last wins; a
    rule of ``any_value`` for both never matches.
    """
    table = []
    for event_name, button_name in rules:
        kind = 0
        if event_name == any_value:
            kind = 3 if button_name == any_value else 1
        elif button_name == any_value:
            kind = 2
        table.append((event_name.encode(), button_name.encode(), kind))
    out = empty(len(event), np.int32)
    for start, stop, (e, b) in _pieces(event, button):
        _scan.rule_index(_buffers(e), _buffers(b), table, out[start:stop])
    return out


def iso_timestamps(text: Column) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since 1970 (int64) and a state per value: 0 null, 1 parsed, 2 left to the general parser.

    Parsed are values :func:`atelier.ingest.columns.parse_timestamps` reads with ``ISO_SECONDS`` as its first
    format, with the same result: that layout, "T" for the space and a final "Z" allowed, of a real calendar date
    and a time with seconds 0-59. Anything else (other layouts, spaces around the text, impossible dates, leap
    seconds) gets state 2, for the general parser.
    """
    micros, state = empty(len(text), np.int64), empty(len(text), np.uint8)
    for start, stop, (part,) in _pieces(text):
        _scan.iso_timestamps(_buffers(part), micros[start:stop], state[start:stop])
    return micros, state


# "[class]{n,}": a character class of ASCII letters, digits, '_' and ranges of them, at least n long.
_RUN_PATTERN = re.compile(r"\[((?:[A-Za-z0-9_](?:-[A-Za-z0-9_])?)+)\]\{(\d+),\}")


def run_class(pattern: str) -> tuple[bytes, int] | None:
    """The byte class (a 256-byte membership table) and minimum length of a pattern ``[class]{n,}``, or None
    for any other pattern (then the regex runs instead)."""
    match = _RUN_PATTERN.fullmatch(pattern)
    if match is None or int(match.group(2)) < 1:
        return None
    member = bytearray(256)
    for first, last in re.findall(r"([A-Za-z0-9_])(?:-([A-Za-z0-9_]))?", match.group(1)):
        low, high = ord(first), ord(last or first)
        if high < low:
            return None  # "[z-a]": the regex engine says what is wrong with it
        member[low : high + 1] = b"\x01" * (high + 1 - low)
    return bytes(member), int(match.group(2))


def find_ids(text: Column, wanted: np.ndarray, member: bytes, min_len: int) -> pa.ChunkedArray:
    """Per row, the lower-cased ids in ``text``: the maximal runs of ``member`` bytes at least ``min_len`` long,
    which is what ``str.extract_all('[class]{n,}')`` finds, in order. Rows where ``wanted`` is negative, and
    nulls, get an empty list. A list<large_string> column aligned with ``text``."""
    lists = []
    for start, stop, (part,) in _pieces(text):
        n = stop - start
        rows = np.ascontiguousarray(wanted[start:stop], dtype=np.int32)
        offsets = np.frombuffer(part.buffers()[1], dtype=np.int64)[part.offset : part.offset + n + 1]
        span = int(offsets[-1] - offsets[0]) if n else 0  # every id is a slice of this text
        list_offsets = empty(n + 1, np.int64)
        value_offsets = empty(span // min_len + 1, np.int64)
        values = empty(span, np.uint8)
        n_values, n_bytes = _scan.find_runs(
            _buffers(part), rows, member, min_len, list_offsets, value_offsets, values
        )
        ids = pa.LargeStringArray.from_buffers(
            n_values, pa.py_buffer(value_offsets[: n_values + 1]), pa.py_buffer(values[: max(n_bytes, 1)])
        )
        lists.append(pa.LargeListArray.from_arrays(arrow_array(list_offsets, pa.int64()), ids))
    return pa.chunked_array(lists, type=pa.large_list(pa.large_string()))


def trimmed(text: Column, blank_is_null: bool = True) -> pa.ChunkedArray:
    """Each value with white space stripped, as polars' ``str.strip_chars()`` does; with ``blank_is_null``, a
    blank value becomes null (:func:`atelier.ingest.columns.blank_to_null`). A string_view column pointing into
    ``text``'s own bytes: polars takes it without a copy."""
    out = []
    for _, _, (part,) in _pieces(text):
        n = len(part)
        views, validity = empty(16 * n, np.uint8), empty((n + 7) // 8, np.uint8)
        nulls = _scan.trim_views(_buffers(part), blank_is_null, views, validity)
        data = part.buffers()[2] or pa.py_buffer(b"")
        buffers = [pa.py_buffer(validity) if nulls else None, pa.py_buffer(views), data]
        out.append(pa.Array.from_buffers(pa.string_view(), n, buffers, null_count=nulls))
    return pa.chunked_array(out, type=pa.string_view())


def hash_seed() -> int:
    """A fresh secret seed for :func:`row_hashes`: one per ingest, so that nobody can make up a row that collides
    with another (the hash steps can be undone by anyone who knows the state they start from)."""
    return int.from_bytes(os.urandom(8), "little")


def row_hashes(columns: Sequence[Column], wanted: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit hash of each row over ``columns`` (each value's bytes and length, or a null mark, in order) for
    the rows where ``wanted`` (int32) is not negative; 0 for the others. Equal rows hash alike for one ``seed``
    (:func:`hash_seed`), as with :func:`atelier.ingest.columns.row_hash` (whose values differ: never mix them)."""
    if not columns or any(len(c) != len(wanted) for c in columns):
        raise ValueError("row_hashes: one or more columns, each with one value per row of wanted")
    out = empty(len(wanted), np.uint64)
    for start, stop, parts in _pieces(*columns):
        rows = np.ascontiguousarray(wanted[start:stop], dtype=np.int32)
        _scan.row_hashes([_buffers(part) for part in parts], rows, seed, out[start:stop])
    return out


class SeenRows:
    """The 64-bit hashes of the rows kept so far (exact-duplicate detection across chunks and files), in one
    NumPy array (open addressing, linear probing, at most half full) probed and filled a whole chunk at once in
    C: O(chunk) per call however many rows came before, at most 16 bytes per kept row."""

    # Room for half a million rows from the start (8 MB): each doubling before that would re-insert every key.
    def __init__(self, capacity: int = 1 << 20) -> None:
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two of at least 2, got {capacity}")
        self._table = np.zeros(capacity, dtype=np.uint64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._table.nbytes

    def first_seen(self, hashes: np.ndarray | pl.Series) -> np.ndarray:
        """Which rows are seen for the first time (not earlier in ``hashes``, nor in any earlier call), as
        booleans; adds them."""
        keys = np.ascontiguousarray(hashes, dtype=np.uint64)
        if 2 * (self._size + keys.size) > self._table.size:
            self._grow(2 * (self._size + keys.size))
        first = np.empty(keys.size, dtype=np.uint8)
        self._size += _scan.seen_insert(self._table, self._size, keys, first)
        return first.view(bool)

    def _grow(self, at_least: int) -> None:
        capacity = self._table.size
        while capacity < at_least:
            capacity *= 2
        old, self._table = self._table, np.zeros(capacity, dtype=np.uint64)
        _scan.seen_rehash(old, self._table)  # no copy of the keys: the peak is the old table and the new
