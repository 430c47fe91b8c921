"""The reading and bookkeeping parts ingest is built on: the CSV reader, duplicate detection, the report."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from atelier.errors import InputError
from atelier.ingest import _scan
from atelier.ingest._common import ChunkReader, InteractionWriter, ingest_chunks
from atelier.ingest.csvfile import ROW, Chunk, CsvSource, Prefetch, read_all
from atelier.ingest.report import FileCounts, IngestReport, Quarantine
from atelier.ingest.twentytoo_products import _string_lists


def test_malformed_lines_are_handed_back_with_their_record_numbers(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2\n3,4,5\n"multi\nline",7\n8\n9,10\n')
    rows, malformed = read_all(CsvSource(path, ["a", "b"]))
    assert rows.to_dicts() == [
        {"a": "1", "b": "2", ROW: 2},
        {"a": "multi\nline", "b": "7", ROW: 4},
        {"a": "9", "b": "10", ROW: 6},
    ]
    assert malformed == [(3, "3,4,5"), (5, "8")]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\ncaf\xe9,1\nok,2\n".encode("latin-1"))
    rows, malformed = read_all(CsvSource(path, ["a", "b"]))
    assert rows["a"].to_list() == ["caf\ufffd", "ok"] and not malformed


def test_text_beyond_ascii_is_read_as_it_is(tmp_path):
    path = tmp_path / "utf8.csv"  # ASCII columns skip the UTF-8 check; these must still be checked and kept
    path.write_text("a,b\ncafé,1\n東京,2\nok,\u3000\n", encoding="utf-8")
    rows, _ = read_all(CsvSource(path, ["a", "b"]))
    assert rows["a"].to_list() == ["café", "東京", "ok"] and rows["b"].to_list() == ["1", "2", "\u3000"]


@pytest.mark.parametrize(
    ("data", "ascii"),
    [
        (b"", True),
        (b"a" * 100, True),
        (b"a" * 100 + "é".encode(), False),
        (b"\x80" + b"a" * 40, False),
        (b"a" * 31 + b"\xff", False),
        (b"\x7f" * 64, True),
    ],
)
def test_is_ascii(data, ascii):
    assert _scan.is_ascii(data) is ascii


def test_bom_optional_columns_and_blanks(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,\n".encode())
    rows, _ = read_all(CsvSource(path, ["a"], optional=["b", "c"]))
    assert rows.select("a", "b", "c").to_dicts() == [{"a": "1", "b": None, "c": None}]


def test_chunks_hold_at_least_chunk_rows(tmp_path):
    path = tmp_path / "big.csv"
    pl.DataFrame({"a": [str(i) for i in range(25_000)]}).write_csv(path)
    chunks = list(CsvSource(path, ["a"], chunk_rows=10_000).chunks())
    assert sum(c.rows.height for c in chunks) == 25_000
    assert all(c.rows.height >= 10_000 for c in chunks[:-1])
    assert chunks[-1].rows[ROW].to_list()[-1] == 25_001


def test_text_only_columns_are_in_the_text_not_in_the_frame(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("a,b,c\n1, x ,\n2,y,z\n")
    (chunk,) = CsvSource(path, ["a", "b"], optional=["c", "d"], keep_text=True, text_only=["b", "d"]).chunks()
    assert chunk.rows.columns == ["a", "c", ROW]
    text = chunk.take_text()
    assert list(text) == ["a", "b", "c", "d"]
    assert text["b"].to_pylist() == [" x ", "y"] and text["d"].to_pylist() == [None, None]
    with pytest.raises(ValueError, match="taken already"):
        chunk.take_text()
    with pytest.raises(ValueError, match="need keep_text"):
        CsvSource(path, ["a"], text_only=["b"])
    with pytest.raises(ValueError, match="neither required nor optional"):
        CsvSource(path, ["a"], keep_text=True, text_only=["B"])


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(InputError, match="empty file"):
        CsvSource(path, ["a"])


def test_chunk_reader_yields_every_file_in_order_with_its_source(tmp_path):
    paths = []
    for name, n in [("one.csv", 25_000), ("two.csv", 7)]:
        paths.append(tmp_path / name)
        pl.DataFrame({"a": [f"{name}{i}" for i in range(n)]}).write_csv(paths[-1])
    sources = [CsvSource(p, ["a"], chunk_rows=10_000) for p in paths]
    with ChunkReader(sources, "test") as reader:
        seen = [(source.path.name, chunk.rows["a"].to_list()) for source, chunk in reader]
    assert list(dict.fromkeys(name for name, _ in seen)) == ["one.csv", "two.csv"]
    assert [v for _, values in seen for v in values] == [f"one.csv{i}" for i in range(25_000)] + [
        f"two.csv{i}" for i in range(7)
    ]


def test_prefetch_reads_ahead_before_iteration_and_stops_when_closed():
    produced: list[int] = []
    started = threading.Event()

    def endless():
        i = 0
        while True:
            produced.append(i)
            started.set()
            yield i
            i += 1

    prefetch = Prefetch(endless(), depth=2)
    assert started.wait(timeout=10), "nothing was produced before the first request"
    taken = list(itertools.islice(prefetch, 5))
    prefetch.close()
    assert taken == [0, 1, 2, 3, 4]
    assert not prefetch._thread.is_alive()
    assert len(produced) <= 5 + 2 + 1  # what was taken, the queue, and the one item in hand


def _until(check, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _within(seconds: float, work) -> None:
    """Run ``work()`` and re-raise what it raised; fail instead of hanging when it takes longer than ``seconds``."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if raised:
        raise raised[0]


def test_prefetch_with_depth_zero_makes_the_next_item_while_this_one_is_used_and_no_more():
    produced: list[int] = []

    def counted():
        for i in range(10):
            produced.append(i)
            yield i

    with Prefetch(counted(), depth=0) as prefetch:
        items = iter(prefetch)
        for taken in range(4):
            assert next(items) == taken
            _until(lambda n=taken + 2: len(produced) == n, "the next item was not made meanwhile")
            time.sleep(0.05)  # room to run further ahead, as a queue would
            assert len(produced) == taken + 2
        assert list(items) == list(range(4, 10))
    assert not prefetch._thread.is_alive()


def test_prefetch_with_depth_zero_stops_when_closed_before_its_item_is_taken():
    prefetch = Prefetch(itertools.count(), depth=0)
    _until(lambda: prefetch._queue.unfinished_tasks, "nothing was handed over")
    time.sleep(0.05)
    assert prefetch._queue.qsize() == 1  # one item offered, and the thread waits for it to be taken
    _within(10, prefetch.close)
    assert not prefetch._thread.is_alive()


def _chunk_reader_of_numbers(tmp_path, n: int, files: int) -> ChunkReader:
    """The numbers 0..n-1 in ``files`` files read one after the other (a chunk each: the files are small)."""
    sources = []
    for i, part in enumerate(np.array_split(np.arange(n), files)):
        path = tmp_path / f"numbers{i}.csv"
        pl.DataFrame({"a": [str(v) for v in part]}).write_csv(path)
        sources.append(CsvSource(path, ["a"]))
    return ChunkReader(sources, "test", read_ahead=0)


def test_ingest_chunks_prepares_each_chunk_in_order_in_another_thread(tmp_path):
    report, quarantine = IngestReport("test", str(tmp_path)), Quarantine(tmp_path)
    prepared_in: set[str] = set()
    handled: list[list[int]] = []

    def prepare(chunk: Chunk, path) -> list[int]:
        prepared_in.add(threading.current_thread().name)
        return chunk.rows["a"].cast(pl.Int64).to_list()

    def handle(numbers: list[int], path, counts: FileCounts) -> None:
        handled.append(numbers)
        counts.keep(len(numbers))

    def ingest() -> None:
        with _chunk_reader_of_numbers(tmp_path, 25, files=5) as chunks:
            ingest_chunks(chunks, "interactions", report, quarantine, handle, prepare)

    _within(60, ingest)
    assert handled == [list(range(i, i + 5)) for i in range(0, 25, 5)]
    assert prepared_in == {"interactions-prepare"}
    assert [f.rows_read for f in report.files] == [5] * 5 and all(f.reconciles for f in report.files)


def test_ingest_chunks_hands_on_what_prepare_returns_even_none(tmp_path):
    report, quarantine = IngestReport("test", str(tmp_path)), Quarantine(tmp_path)
    handled = []

    def ingest() -> None:
        with _chunk_reader_of_numbers(tmp_path, 10, files=2) as chunks:
            ingest_chunks(
                chunks, "t", report, quarantine, lambda work, *_: handled.append(work), lambda *_: None
            )

    _within(60, ingest)
    assert handled == [None, None]


@pytest.mark.parametrize("failing", ["prepare", "handle"])
def test_ingest_chunks_raises_an_error_of_either_stage_and_stops_its_threads(tmp_path, failing):
    report, quarantine = IngestReport("test", str(tmp_path)), Quarantine(tmp_path)
    before = set(threading.enumerate())
    second_prepared = threading.Event()

    def prepare(chunk: Chunk, path) -> int:
        rows = chunk.rows
        if rows["a"].cast(pl.Int64).min() >= 5:
            second_prepared.set()
            if failing == "prepare":
                raise RuntimeError("prepare failed")
        return rows.height

    def handle(n: int, path, counts: FileCounts) -> None:
        # the worker has the second chunk ready and waits to hand it over
        assert second_prepared.wait(10)
        if failing == "handle":
            raise RuntimeError("handle failed")

    def ingest() -> None:
        with _chunk_reader_of_numbers(tmp_path, 25, files=5) as chunks:
            ingest_chunks(chunks, "interactions", report, quarantine, handle, prepare)

    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        _within(60, ingest)
    assert not [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


def test_a_chunk_reader_stops_its_thread_when_the_reader_fails_midway(tmp_path):
    path = tmp_path / "events.csv"
    pl.DataFrame({"a": [str(i) for i in range(10)]}).write_csv(path)
    sources = [CsvSource(path, ["a"], chunk_rows=1), CsvSource(path, ["a"], chunk_rows=1)]
    with pytest.raises(RuntimeError, match="cleaning failed"), ChunkReader(sources, "test") as reader:
        for _ in reader:
            raise RuntimeError("cleaning failed")
    assert not [t for t in threading.enumerate() if t.name == "csv-prefetch" and t.is_alive()]


def test_prefetch_raises_the_producers_error_where_the_item_would_be():
    def failing():
        yield 1
        raise InputError("broken at item 2")

    with Prefetch(failing()) as prefetch:
        items = iter(prefetch)
        assert next(items) == 1
        with pytest.raises(InputError, match="broken at item 2"):
            next(items)


def test_file_counts_reconcile_only_when_every_row_is_placed():
    counts = FileCounts("f.csv", "interactions")
    counts.read(10)
    counts.keep(6)
    counts.quarantine("bad_timestamp", 2)
    counts.filter_out("duplicate", 1)
    assert not counts.reconciles
    counts.filter_out("event_not_of_interest", 1)
    assert counts.reconciles
    assert counts.to_dict()["quarantined_by_reason"] == {"bad_timestamp": 2}


def test_quarantine_keeps_raw_rows_with_reason_and_detail(tmp_path):
    quarantine = Quarantine(tmp_path)
    quarantine.declare("interactions", ["User_ID", "event_time", ROW])
    rows = pl.DataFrame({"User_ID": ["u1", None], "event_time": ["x", "2023-01-01"], ROW: [2, 3]})
    quarantine.add("interactions", rows, "events.csv", pl.Series(["bad_timestamp", "missing_user_id"]))
    quarantine.add_malformed("interactions", [(7, "a,b,c")], "events.csv")
    paths = quarantine.close()
    written = pl.read_csv(paths["interactions"], infer_schema=False)
    assert written.columns == ["source_file", "row", "reason", "detail", "User_ID", "event_time", "raw_text"]
    assert written.select("row", "reason", "User_ID", "raw_text").rows() == [
        ("2", "bad_timestamp", "u1", None),
        ("3", "missing_user_id", None, None),
        ("7", "malformed_csv_row", None, "a,b,c"),
    ]


def test_product_frame_list_columns_keep_order_and_empty_lists() -> None:
    assert _string_lists("colors", [["Red", "Blue"], [], ["Red"]]).to_list() == [["Red", "Blue"], [], ["Red"]]
    assert _string_lists("colors", []).dtype == pl.List(pl.String)
    rng = np.random.default_rng(3)
    many = [[f"c{rng.integers(50)}" for _ in range(rng.integers(4))] for _ in range(20_000)]
    assert _string_lists("colors", many).to_list() == many  # polars' threads must not reorder rows or items


def _interactions(times: list[datetime | None]) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame(
        {
            "user_id": [f"u{i % 7}" for i in range(n)],
            "product_id": [f"p{i % 5}" for i in range(n)],
            "timestamp": times,
            "kind": ["view"] * n,
            "weight": [1.0] * n,
        },
        schema_overrides={"timestamp": pl.Datetime("us")},
    )


@pytest.mark.parametrize(
    ("times", "time_dictionary"),
    [
        ([datetime(2023, 1, 1) + timedelta(seconds=17 * i) for i in range(1000)], False),  # to the second
        ([datetime(2023, 1, 1) + timedelta(days=i // 400) for i in range(1000)], True),  # days, as H&M's
        ([None] * 1000, True),  # baskets without time
    ],
    ids=["distinct-times", "day-only-times", "no-times"],
)
def test_interaction_file_encodings_follow_the_first_rows(tmp_path, times, time_dictionary):
    """Nearly distinct times get no dictionary (it would be given up, costing a hash per value), repeating
    ones keep it; times carry statistics (a reader can skip row groups by them), the other columns do not. The
    rows read back unchanged."""
    writer = InteractionWriter(tmp_path)
    rows = _interactions(times)
    writer.write(rows)
    assert writer.close()["rows"] == 1000
    group = pq.ParquetFile(writer.path).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert ("RLE_DICTIONARY" in columns["timestamp"].encodings) is time_dictionary
    assert columns["timestamp"].is_stats_set
    assert not any(column.is_stats_set for name, column in columns.items() if name != "timestamp")
    back = pl.read_parquet(writer.path)
    assert back.select(rows.columns).equals(rows)


def test_interaction_file_without_rows_is_a_valid_empty_table(tmp_path):
    writer = InteractionWriter(tmp_path)
    assert writer.close() == {"rows": 0, "by_kind": {}}
    assert pl.read_parquet(writer.path).height == 0
