"""The compiled passes of the event ingest (atelier.ingest.scan) give what their polars twins give."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atelier.config import DEFAULT_RULES, load_settings
from atelier.ingest import scan
from atelier.ingest.columns import interaction_rule_index, parse_timestamps, product_ids

RULES = [(r.event, r.button) for r in DEFAULT_RULES]
ID_PATTERN = load_settings().ingest.product_id_pattern
FORMATS = load_settings().ingest.timestamp_formats
HEX = "0123456789abcdefABCDEF"


def text(values: list[str | None], chunks: int = 1) -> pa.ChunkedArray:
    """A large_string column cut into ``chunks`` pieces (as the CSV reader's batches are)."""
    whole = pa.array(values, type=pa.large_string())
    cuts = np.linspace(0, len(values), chunks + 1).astype(int)
    return pa.chunked_array([whole.slice(a, b - a) for a, b in itertools.pairwise(cuts)], whole.type)


def polars_rules(events, buttons, rules) -> list[int]:
    frame = pl.DataFrame({"e": events, "b": buttons}, schema={"e": pl.String, "b": pl.String})
    index = interaction_rule_index(pl.col("e").str.strip_chars(), pl.col("b").str.strip_chars(), rules)
    return [-1 if v is None else v for v in frame.with_columns(index.alias("i"))["i"].to_list()]


# -- rule_index ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "button", "expected"),
    [
        ("product_details_page_view", None, 0),
        ("  product_details_page_view\t", "", 0),
        ("\u3000product_details_page_view\u00a0", None, 0),  # Unicode spaces are stripped too
        ("product_details_page_view", "heart_button", 2),  # a button rule is more specific than an event rule
        ("search", "bag_button ", 3),
        ("add_to_bag", None, 4),
        ("purchase", "share_button", 5),
        ("Purchase", None, -1),  # case matters
        ("banner_click", None, -1),
        (None, None, -1),
        (None, "heart_button", 2),
        ("product_details_page_view\u200b", None, -1),  # a zero-width space is no whitespace
    ],
)
def test_rule_index_of_default_rules(event, button, expected):
    found = scan.rule_index(text([event]), text([button]), RULES)
    assert found.tolist() == [expected] == polars_rules([event], [button], RULES)


def test_rule_index_exact_pairs_wildcards_and_repeats_match_polars():
    rules = [
        ("view", "*"),
        ("*", "heart"),
        ("view", "heart"),
        ("view", ""),
        ("view", "*"),
        ("*", "*"),
        ("", "x"),
    ]
    events = ["view", "view", "view", " view ", None, "", "other", None, "view", ""]
    buttons = ["heart", None, "", "x", "heart", "x", "heart", None, "other", None]
    found = scan.rule_index(text(events, chunks=3), text(buttons, chunks=2), rules)
    assert found.tolist() == polars_rules(events, buttons, rules)
    assert found.tolist()[:5] == [
        2,
        3,
        3,
        4,
        1,
    ]  # exact pairs (a null as ""), the last of equal rules, any event


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.text(alphabet=" \t\u00a0\u2003ab*", max_size=5),
            st.none() | st.text(alphabet=" \t\u00a0\u2003ab*", max_size=5),
        ),
        min_size=1,
        max_size=30,
    ),
    st.lists(
        st.tuples(st.sampled_from(["*", "a", "b", "ab", ""]), st.sampled_from(["*", "a", "b", ""])),
        max_size=6,
    ),
)
def test_rule_index_matches_polars_on_any_text(pairs, rules):
    events, buttons = [p[0] for p in pairs], [p[1] for p in pairs]
    assert scan.rule_index(text(events), text(buttons), rules).tolist() == polars_rules(
        events, buttons, rules
    )


# -- iso_timestamps -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("2023-06-01 12:34:56", 1),
        ("2023-06-01T12:34:56", 1),
        ("2023-06-01T12:34:56Z", 1),
        ("1969-12-31 23:59:59", 1),
        ("2024-02-29 00:00:00", 1),
        ("0001-01-01 00:00:00", 1),
        ("9999-12-31 23:59:59", 1),
        # Left to the general parser: impossible or unusual times, other layouts, text around the time.
        ("2023-02-29 00:00:00", 2),
        ("1900-02-29 00:00:00", 2),
        ("2023-06-01 24:00:00", 2),
        ("2023-06-01 12:34:60", 2),  # polars rolls a leap second over to the next minute
        ("2023-06-01 12:34:56.5", 2),
        (" 2023-06-01 12:34:56", 2),
        ("2023-06-01 12:34:56ZZ", 2),
        ("2023/06/01 12:34:56", 2),
        ("2023-6-01 12:34:56", 2),  # polars reads a one-digit month
        ("0000-01-01 00:00:00", 2),
        ("２０２３-06-01 12:34:56", 2),  # digits of another script
        ("", 2),
        ("yesterday", 2),
        (None, 0),
    ],
)
def test_iso_timestamps_read_the_common_layout_and_leave_the_rest(raw, state):
    micros, states = scan.iso_timestamps(text([raw]))
    assert states.tolist() == [state]
    if state == 1:
        general = parse_timestamps(pl.Series([raw], dtype=pl.String), FORMATS).cast(pl.Int64)
        assert micros.tolist() == general.to_list()
        assert micros[0] == (datetime.fromisoformat(raw.rstrip("Z")) - datetime(1970, 1, 1)) // timedelta(
            microseconds=1
        )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%d %H:%M:%S").zfill(19)
        )
        | st.from_regex(r"\A\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\dZ?\Z")
        | st.text(alphabet="0123456789-: TZ", max_size=21),
        min_size=1,
        max_size=20,
    )
)
def test_iso_timestamps_agree_with_the_general_parser(values):
    micros, states = scan.iso_timestamps(text(values))
    general = parse_timestamps(pl.Series(values, dtype=pl.String), FORMATS)
    for value, state, fast, slow in zip(
        values, states, micros, general.cast(pl.Int64).to_list(), strict=True
    ):
        if state == 1:
            assert fast == slow, value


# -- find_ids -----------------------------------------------------------------------------------------------
def polars_ids(values: list[str | None], pattern: str) -> list[list[str]]:
    frame = pl.DataFrame({"p": values}, schema={"p": pl.String})
    found = frame.select(product_ids(pl.col("p"), pattern)).to_series().to_list()
    return [[i.lower() for i in ids or []] for ids in found]


@pytest.mark.parametrize(
    ("pattern", "member", "min_len"),
    [
        (r"[a-fA-F0-9]{32,}", set(HEX), 32),
        (r"[0-9]{3,}", set("0123456789"), 3),
        (r"[A-Z_x]{1,}", {*map(chr, range(65, 91)), "_", "x"}, 1),
        (r"[a-f0-9]{32}", None, None),  # a fixed length: the regex runs
        (r"[a-f0-9]+", None, None),
        (r"[\da-f]{32,}", None, None),
        (r"[z-a]{3,}", None, None),
        (r"(?i)[a-f]{3,}", None, None),
    ],
)
def test_run_class_reads_only_patterns_of_one_class(pattern, member, min_len):
    found = scan.run_class(pattern)
    if member is None:
        assert found is None
    else:
        table, n = found
        assert n == min_len
        assert {chr(i) for i in range(256) if table[i]} == member


def test_find_ids_in_packages():
    a, b = "ab27bf375ed51569746345ece5d0dd9e49a39768", "71613D1E5ED869D525184C5567B85E2881E3C909"
    packages = [
        f'{{"product_id": "{a}", "product_brand": "Premoda, "website": "tfk"}}',
        f'\'{{"product_id": "{b}"}}\'',  # upper case, lowered
        f"{a},{b};{a}",  # several, a repeat included (the ingest drops repeats later)
        '{"screen": "home"}',
        f"{a[:31]}",  # too short
        f"x{a}{a}y",  # one run of 80
        None,
        "",
        f"{a}",
    ]
    wanted = np.array([0, 0, 0, 0, 0, 0, 0, 0, -1], dtype=np.int32)
    member, min_len = scan.run_class(ID_PATTERN)
    found = pl.from_arrow(scan.find_ids(text(packages, chunks=4), wanted, member, min_len)).to_list()
    expected = polars_ids(packages, ID_PATTERN)
    expected[-1] = []  # not wanted
    assert found == expected
    assert found[:3] == [[a], [b.lower()], [a, b.lower(), a]]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.none() | st.text(alphabet="0aF9 g\"'Zé", max_size=40), min_size=1, max_size=20),
    st.integers(1, 6),
    st.integers(1, 4),
)
def test_find_ids_matches_the_regex_on_any_text(values, min_len, chunks):
    pattern = f"[a-fA-F0-9]{{{min_len},}}"
    member, n = scan.run_class(pattern)
    found = scan.find_ids(
        text(values, chunks=min(chunks, len(values))), np.zeros(len(values), np.int32), member, n
    )
    assert pl.from_arrow(found).to_list() == polars_ids(values, pattern)


# -- SeenRows -----------------------------------------------------------------------------------------------
def test_seen_rows_is_an_exact_set_through_collisions_and_growth():
    seen = scan.SeenRows(capacity=8)  # tiny: forces probing, collisions and several doublings
    rng = np.random.default_rng(1)
    added: list[np.ndarray] = []
    for _ in range(20):
        batch = rng.integers(0, 2**64, size=500, dtype=np.uint64)
        batch = np.concatenate([batch, batch[:50]])  # repeats within a batch: only the first is new
        new = seen.first_seen(batch)
        assert new[:500].all() and not new[500:].any()
        added.append(batch[:500])
    everything = np.concatenate(added)
    assert len(seen) == everything.size
    assert not seen.first_seen(everything).any()
    assert seen.first_seen(rng.integers(0, 2**64, size=5_000, dtype=np.uint64)).all()
    same_slot = np.array([3, 3 + 2**20, 3 + 2**21, 0, 1], dtype=np.uint64)  # same low bits; 0 is stored as 1
    fresh = scan.SeenRows(capacity=16)
    assert fresh.first_seen(same_slot).tolist() == [True, True, True, True, False]
    assert not fresh.first_seen(same_slot).any()


def test_kernels_refuse_buffers_that_do_not_fit():
    from atelier.ingest import _scan

    column = scan._buffers(pa.array(["abc"], type=pa.large_string()))
    with pytest.raises(ValueError, match="out"):
        _scan.rule_index(column, column, [], np.empty(0, dtype=np.int32))
    with pytest.raises(ValueError, match="offsets"):
        _scan.iso_timestamps((None, b"\x00" * 8, b"abc", 0, 1), np.empty(1, np.int64), np.empty(1, np.uint8))
    with pytest.raises(ValueError, match="too small"):
        _scan.find_runs(
            column,
            np.zeros(1, np.int32),
            b"\x01" * 128 + b"\x00" * 128,
            1,
            np.empty(2, np.int64),
            np.empty(1, np.int64),
            np.empty(3, np.uint8),
        )
    with pytest.raises(ValueError, match="half full"):
        _scan.seen_insert(np.zeros(4, np.uint64), 2, np.array([5], np.uint64), np.empty(1, np.uint8))
    with pytest.raises(ValueError, match="twice the keys"):
        _scan.seen_rehash(np.array([1, 2, 0, 3], np.uint64), np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match="empty"):
        _scan.seen_rehash(np.array([1, 0], np.uint64), np.array([0, 0, 5, 0], np.uint64))
    with pytest.raises(ValueError, match="ASCII"):
        _scan.find_runs(
            column,
            np.zeros(1, np.int32),
            b"\x01" * 256,
            1,
            np.empty(2, np.int64),
            np.empty(4, np.int64),
            np.empty(3, np.uint8),
        )
    with pytest.raises(ValueError, match="one value per row"):
        scan.row_hashes([pa.array(["a"], pa.large_string())], np.zeros(2, np.int32), 1)


# -- row_hashes ---------------------------------------------------------------------------------------------
def test_row_hashes_depend_on_the_secret_seed():
    columns, wanted = [text(["user-0001-aaaaaa"])], np.zeros(1, np.int32)
    assert scan.row_hashes(columns, wanted, 1)[0] != scan.row_hashes(columns, wanted, 2)[0]


def test_row_hashes_tell_rows_apart_as_exact_duplicates_do():
    first = ["a", "ab", "ab", None, "", "x" * 40, "x" * 40, "a", "ab"]
    second = ["b", "c", "c", "c", "c", "y" * 17, "y" * 17 + "z", "b", "c"]
    wanted = np.array([0, 0, 0, 0, 0, 0, 0, -1, 0], dtype=np.int32)
    seed = scan.hash_seed()
    hashes = scan.row_hashes([text(first, chunks=2), text(second, chunks=3)], wanted, seed).tolist()
    assert hashes[1] == hashes[2] == hashes[8]  # the same row, in different chunks
    assert len({hashes[i] for i in (0, 1, 3, 4, 5, 6)}) == 6  # a null is not "", a column edge moves nothing
    assert hashes[7] == 0  # not wanted
    moved = scan.row_hashes([text(["a"]), text(["bc"])], np.zeros(1, np.int32), seed)
    assert moved[0] != hashes[1]  # ("ab", "c") and ("a", "bc")


def test_row_hashes_resist_a_collision_made_without_the_seed():
    """The first four-lane hash started its lanes at the seed XOR public constants: a row whose first two words
    were XORed with the difference of two constants (its lanes swapped, in effect) hashed like the original for
    every seed. The lanes now start from secret, unrelated states and are finished in order."""
    difference = (0x243F6A8885A308D3 ^ 0x13198A2E03707344).to_bytes(8, "little")
    word = b"@\xc2\x80` @@@"
    twisted = bytes(a ^ b for a, b in zip(word, difference, strict=True))
    rest = ["aaaaaaaa" + "q" * 16] * 9 + ["bbbbbbbb"]
    rows = [[(word * 2).decode(), *rest], [(twisted * 2).decode(), *rest]]
    columns = [pa.array(list(values), pa.large_string()) for values in zip(*rows, strict=True)]
    for _ in range(5):
        first, second = scan.row_hashes(columns, np.zeros(2, np.int32), scan.hash_seed())
        assert first != second


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.none() | st.text(max_size=20), st.none() | st.text(max_size=20)), min_size=1, max_size=30
    )
)
def test_row_hashes_are_equal_exactly_for_equal_rows(rows):
    hashes = scan.row_hashes(
        [text([r[0] for r in rows]), text([r[1] for r in rows], chunks=2)], np.zeros(len(rows), np.int32), 7
    )
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (hashes[i] == hashes[j]) == (rows[i] == rows[j])
