"""Streaming reader for raw CSV exports: every column as text, in chunks, nothing lost.

Rows the CSV parser cannot split (wrong number of fields) are handed back with their text so they can be
quarantined; bytes that are not UTF-8 are replaced (U+FFFD) instead of failing the file; a missing file or a
missing required column raises one InputError naming both.
"""

from __future__ import annotations

import contextvars
import csv
import threading
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from queue import Empty, Queue
from typing import Generic, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from atelier.errors import InputError
from atelier.ingest import _scan

ROW = "_row"  # record number in the file (the header is record 1), carried to the quarantine
_BLOCK_BYTES = 1 << 22
T = TypeVar("T")


@dataclass
class Chunk:
    """A slice of a CSV file: the parsed rows (all String, plus ``_row``; without the source's ``text_only``
    columns) and the rows that did not parse."""

    rows: pl.DataFrame
    malformed: list[tuple[int | None, str]] = field(default_factory=list)
    bytes_done: int = 0
    # The same rows' text as Arrow columns (valid UTF-8), for a source made with keep_text: see take_text.
    text: dict[str, pa.ChunkedArray] | None = None

    def take_text(self) -> dict[str, pa.ChunkedArray]:
        """The rows' Arrow text columns, handed over once: the chunk lets go of them, so that what only they
        hold goes as soon as the taker is done with them, not when the chunk goes."""
        text, self.text = self.text, None
        if text is None:
            raise ValueError("no text: the source was made without keep_text, or it was taken already")
        return text


class CsvSource:
    """One raw CSV file, read in chunks of about ``chunk_rows`` rows.

    ``required`` columns must be in the header; ``optional`` ones are read when present and otherwise appear as
    null columns, so downstream code always sees the same columns. ``column_names`` reads a file without header.
    ``keep_text`` hands each chunk's Arrow columns (all of them) on beside its frame (:attr:`Chunk.text`), for code
    that reads Arrow's buffers (the compiled passes of :mod:`atelier.ingest.scan`); the ``text_only`` columns are
    then left out of the frame: polars would copy every byte of them into its own strings.
    """

    def __init__(
        self,
        path: str | Path,
        required: Sequence[str],
        optional: Sequence[str] = (),
        chunk_rows: int = 100_000,
        column_names: Sequence[str] | None = None,
        delimiter: str = ",",
        keep_text: bool = False,
        text_only: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.keep_text = keep_text
        if text_only and not keep_text:
            raise ValueError("text_only columns need keep_text: they are only in the chunks' text")
        unknown = set(text_only) - set(required) - set(optional)
        if unknown:
            raise ValueError(
                f"text_only names columns that are neither required nor optional: {sorted(unknown)}"
            )
        self.text_only = set(text_only)
        self.required = list(required)
        self.optional = list(optional)
        self.chunk_rows = chunk_rows
        self.delimiter = delimiter
        if not self.path.is_file():
            raise InputError(f"{self.path}: file not found")
        self.size = self.path.stat().st_size
        self._given_names = list(column_names) if column_names else None
        self.header = self._given_names or self._read_header()
        missing = [c for c in self.required if c not in self.header]
        if missing:
            shown = ", ".join(self.header[:20]) or "nothing"
            raise InputError(f"{self.path}: missing required column {missing[0]!r} (found: {shown})")

    @property
    def columns(self) -> list[str]:
        """The columns every chunk has: required then optional, in that order."""
        return self.required + [c for c in self.optional if c not in self.required]

    def _read_header(self) -> list[str]:
        with self.path.open("rb") as fh:
            first = fh.readline(1 << 20)
        text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
        if not text.strip():
            raise InputError(f"{self.path}: empty file, expected a header line")
        return [h.strip() for h in next(csv.reader([text], delimiter=self.delimiter))]

    def chunks(self) -> Iterator[Chunk]:
        """Yield the file in chunks of at least ``chunk_rows`` rows (the last one may be shorter)."""
        malformed: list[tuple[int | None, str]] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            malformed.append((row.number, row.text))
            return "skip"

        present = [c for c in self.columns if c in self.header]
        # Small parser blocks are the fastest here; they are gathered into chunks of `chunk_rows` below.
        skip = 0 if self._given_names else 1
        # One parsing thread: pyarrow then knows the number of every malformed record (None otherwise).
        read_options = pacsv.ReadOptions(
            column_names=self.header, skip_rows=skip, block_size=_BLOCK_BYTES, use_threads=False
        )
        parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        )
        convert_options = pacsv.ConvertOptions(
            column_types={c: pa.large_string() for c in self.header},
            include_columns=present,
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
            check_utf8=False,  # validated per column below, so one bad byte does not stop the file
        )
        record = skip  # records consumed so far; numbers are 1-based and count the header
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        # Arrow's own file: its reads land in Arrow's pool, not in Python bytes objects from glibc's heap (about
        # 100 MB of glibc arenas during an event ingest), and need no GIL.
        with pa.OSFile(str(self.path), "r") as raw:
            try:
                reader = pacsv.open_csv(
                    raw,
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                    memory_pool=arrow_memory_pool(),
                )
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return
                raise InputError(f"{self.path}: cannot read as CSV ({exc})") from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    batch = None
                except pa.ArrowInvalid as exc:
                    raise InputError(
                        f"{self.path}: cannot read as CSV near record {record} ({exc})"
                    ) from None
                if batch is not None:
                    pending.append(batch)
                    pending_rows += batch.num_rows
                    if pending_rows < self.chunk_rows:
                        continue
                if not pending and not malformed:
                    break
                numbers = _record_numbers(record, pending_rows, [m[0] for m in malformed])
                frame, text = self._to_frame(pending, present, numbers)
                record += pending_rows + len(malformed)
                done = raw.tell() if batch is not None else self.size
                yield Chunk(frame, malformed.copy(), done, text if self.keep_text else None)
                pending, pending_rows = [], 0
                malformed.clear()
                if batch is None:
                    break

    def _to_frame(
        self, batches: list[pa.RecordBatch], present: list[str], numbers: np.ndarray
    ) -> tuple[pl.DataFrame, dict[str, pa.ChunkedArray]]:
        """The rows as a frame (with ``_row``, without the ``text_only`` columns), and their text columns as Arrow
        arrays."""
        table = pa.Table.from_batches(batches) if batches else None
        n = 0 if table is None else table.num_rows
        data: dict[str, pa.ChunkedArray] = {}
        for name in self.columns:
            if table is not None and name in present:
                data[name] = _valid_text(table.column(name))
            else:
                data[name] = pa.chunked_array([pa.nulls(n, pa.large_string())])
        in_frame = {name: column for name, column in data.items() if name not in self.text_only}
        frame = pl.from_arrow(pa.table(in_frame), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        return frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64)), data


@cache
def arrow_memory_pool() -> pa.MemoryPool:
    """pyarrow's jemalloc pool where the wheel has one, else its default pool (the parser's, and the event
    kernels' outputs: see :func:`atelier.ingest.scan.empty`).

    The parser allocates and frees a few MB per block. The default pool (mimalloc) gives those pages back to
    the system and faults them in again, zeroed, which took a tenth of an event ingest's CPU time in `perf`.
    jemalloc reuses them: about 7% less CPU for the whole ingest of 1M events.
    """
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return pa.default_memory_pool()


def _record_numbers(consumed: int, n_good: int, bad: list[int | None]) -> np.ndarray:
    """Numbers of the well-formed records of a chunk: the next ``n_good + len(bad)`` numbers minus the bad."""
    numbers = np.arange(consumed + 1, consumed + 1 + n_good + len(bad), dtype=np.int64)
    if bad and None not in bad:
        numbers = np.setdiff1d(numbers, np.array(bad, dtype=np.int64), assume_unique=True)
    return numbers[:n_good]


def _valid_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column with invalid UTF-8 byte sequences replaced by U+FFFD instead of failing the file."""
    # Most exported text is ASCII, which is valid UTF-8: one quick pass over the bytes instead of a validation.
    if all(_scan.is_ascii(chunk.buffers()[2] or b"") for chunk in column.chunks):
        return column
    try:
        column.validate(full=True)
        return column
    except pa.ArrowInvalid:
        import pyarrow.compute as pc  # only here: importing it costs every run a twentieth of a second

        fixed = [
            None if v is None else v.decode("utf-8", errors="replace")
            for v in pc.cast(column, pa.binary()).to_pylist()
        ]
        return pa.chunked_array([pa.array(fixed, type=pa.string())])


def read_all(source: CsvSource) -> tuple[pl.DataFrame, list[tuple[int | None, str]]]:
    """The whole file as one frame (for small files such as catalogues) and its malformed rows."""
    frames, malformed = [], []
    for chunk in source.chunks():
        frames.append(chunk.rows)
        malformed.extend(chunk.malformed)
    if not frames:
        empty = {c: pl.String for c in source.columns} | {ROW: pl.Int64}
        return pl.DataFrame(schema=empty), malformed
    return pl.concat(frames), malformed


class Prefetch(Generic[T]):
    """Items of an iterator produced in a background thread from the moment this is made, ``depth`` ahead.

    ``depth`` items wait in a queue while the thread makes the next; with ``depth=0`` none waits: the thread
    hands an item over and makes the next one while the consumer works on it (one item less in memory). The
    thread runs in a copy of the context this is made in (a ``quiet()`` progress setting carries over).

    Parsing (pyarrow) and cleaning (polars) both release the GIL, so on two cores reading the next chunk
    overlaps the work on the current one, and reading can start while the caller still prepares (cleans a
    catalogue, say). An error in the thread is raised where the item would have been; :meth:`close` stops the
    thread early (iterate once; use as a context manager).
    """

    _DONE = object()

    def __init__(self, items: Iterator[T], depth: int = 1, name: str = "prefetch") -> None:
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, got {depth}")
        self._handoff = depth == 0
        self._queue: Queue = Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._produce, items), name=name, daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                self._queue.put(item)
                if self._handoff:
                    self._wait_until_taken()
                if self._stop.is_set():  # checked after each hand-over: close() frees a blocked put
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._queue.put(exc)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's open file is closed now, not when it is collected
        self._queue.put(self._DONE)

    def _wait_until_taken(self) -> None:
        # Queue.join() with an eye on close(): an interrupt between a get() and its task_done() must not
        # leave this thread waiting for ever.
        queue = self._queue
        with queue.all_tasks_done:
            while queue.unfinished_tasks and not self._stop.is_set():
                queue.all_tasks_done.wait(0.05)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            self._queue.task_done()
            if item is self._DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
        self._thread.join()

    def close(self) -> None:
        """Stop the thread (after the item it is producing) and drop what it read ahead."""
        self._stop.set()
        while self._thread.is_alive():
            with suppress(Empty):  # a producer blocked on a full queue wakes up and sees the stop
                self._queue.get(timeout=0.05)
                self._queue.task_done()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
