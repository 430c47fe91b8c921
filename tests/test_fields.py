"""Every messy field: a table of raw input -> expected clean value, malformed inputs included."""

from __future__ import annotations

import math
from datetime import date, datetime

import polars as pl
import pytest

from atelier.config import load_settings
from atelier.ingest import fields as F
from atelier.ingest import pseudojson
from atelier.ingest.columns import interaction_rule_index, parse_timestamps, product_ids

SEED_ATTRIBUTES = (
    r"""'{\\"_id\\": ObjectId(\"663b200a012b93dcf0dee005\"), \\"sku\\": \"st2205178018028785\", """
    r"""\\"All_Reviews_Rating\\": \"4.93\", \\"All_Reviews_Count\\": 57.0, \\"Clothing-Color\\": [\"Russet Orange\"], """
    r"""\\"Thumbnail\\": {\"Type\": \"image\", \"Name\": \"Russet Orange\"}, \\"Availability\\": true, """
    r"""\\"child_product_ids\\": null, \\"product_description\\": \"a pants _ title: glowmode featherfit™ retro """
    r"""sport 24\" leggings\"}\'"""
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ObjectId('663b200a012b93dcf0dedffe')", "663b200a012b93dcf0dedffe"),
        ('ObjectId("663B200A012B93DCF0DEDFFE")', "663b200a012b93dcf0dedffe"),
        ("  663b200a012b93dcf0dedffe ", "663b200a012b93dcf0dedffe"),
        ("ObjectId( '663b200a012b93dcf0dedffe' )", "663b200a012b93dcf0dedffe"),
    ],
)
def test_object_id(raw, expected):
    assert F.object_id_hex(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "missing_object_id"),
        ("", "missing_object_id"),
        ("ObjectId('xyz')", "bad_object_id"),
        ("ObjectId('663b200a012b93dcf0dedffe00')", "bad_object_id"),
    ],
)
def test_object_id_malformed(raw, reason):
    with pytest.raises(F.BadValue) as err:
        F.object_id_hex(raw)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ab27bf375ed51569746345ece5d0dd9e49a39768", "ab27bf375ed51569746345ece5d0dd9e49a39768"),
        (" AB27BF375ED51569746345ECE5D0DD9E49A39768 ", "ab27bf375ed51569746345ece5d0dd9e49a39768"),
    ],
)
def test_product_id(raw, expected):
    assert F.product_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("N/A", "missing_product_id"),
        ("abc123", "bad_product_id"),
        (None, "missing_product_id"),
        ("g" * 40, "bad_product_id"),
    ],
)
def test_product_id_malformed(raw, reason):
    with pytest.raises(F.BadValue) as err:
        F.product_id(raw)
    assert err.value.reason == reason


PID = "ab27bf375ed51569746345ece5d0dd9e49a39768"
PID2 = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # the seeds' example, broken quote included
        (f'\'{{"product_id": "{PID}", "product_brand": "Premoda, "website": "tfk"}}\'', [PID]),
        (f'{{"product_ids": ["{PID}", "{PID2.upper()}"], "website": "tfk"}}', [PID, PID2]),
        (f'[{{"product_id": "{PID}"}}, {{"product_id": "{PID}"}}]', [PID]),  # named twice: once
        ('{"product_id": "", "product_brand": "x"}', []),
        ('{"screen": "home"}', []),
        ("", []),
        (None, []),
        ("abc" * 5, []),  # too short to be an id
    ],
)
def test_product_ids_in_package(raw, expected):
    assert F.product_ids_in(raw) == expected


def test_vectorised_product_ids_agree_with_scalar():
    packages = [
        f'{{"product_id": "{PID}", "product_brand": "Premoda, "website": "tfk"}}',
        f'{{"product_ids": ["{PID}", "{PID2}"]}}',
        None,
        "nothing here",
    ]
    got = pl.select(product_ids(pl.lit(pl.Series(packages)), F.PRODUCT_ID_PATTERN)).to_series().to_list()
    assert [[i.lower() for i in ids or []] for ids in got] == [F.product_ids_in(p) for p in packages]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '[{"value": 18.0, "currency": "USD", "is_original": True, "valid_from": "2023/09/13", "valid_to": False}]',
            F.PriceInfo(18.0, 18.0, "USD", date(2023, 9, 13), None),
        ),
        (  # JSON spelling of the same
            '[{"value": 18.0, "currency": "USD", "is_original": true, "valid_from": "2023/09/13", "valid_to": false}]',
            F.PriceInfo(18.0, 18.0, "USD", date(2023, 9, 13), None),
        ),
        (  # original that ended, and a running sale: current is the sale, original the first
            '[{"value": 40.0, "currency": "USD", "is_original": True, "valid_from": "2023/01/02", '
            '"valid_to": "2023/03/01"}, {"value": 28.0, "currency": "USD", "is_original": False, '
            '"valid_from": "2023/03/01", "valid_to": False}]',
            F.PriceInfo(28.0, 40.0, "USD", date(2023, 3, 1), None),
        ),
        (  # no is_original flag: the highest value is the original
            '[{"value": "12.5", "currency": "EUR"}, {"value": 20, "currency": "EUR"}]',
            F.PriceInfo(12.5, 20.0, "EUR", None, None),
        ),
        ('{"value": 9.99, "currency": "USD"}', F.PriceInfo(9.99, 9.99, "USD", None, None)),  # a bare dict
        ("18", F.PriceInfo(18.0, 18.0, None, None, None)),  # a bare number
        (  # one broken entry among good ones is skipped
            '[{"value": "free"}, {"value": 5.0, "currency": "USD", "valid_from": "2023-05-01"}]',
            F.PriceInfo(5.0, 5.0, "USD", date(2023, 5, 1), None),
        ),
    ],
)
def test_price_list(raw, expected):
    assert F.price_list(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing_price"),
        (None, "missing_price"),
        ('"price on request"', "unparseable_price"),
        ("[{", "unparseable_price"),
        ('[{"value": "free"}]', "unparseable_price"),
        ("[]", "unparseable_price"),
        ('[{"value": -3}]', "unparseable_price"),
    ],
)
def test_price_list_malformed(raw, reason):
    with pytest.raises(F.BadValue) as err:
        F.price_list(raw)
    assert err.value.reason == reason


def test_attributes_of_the_seed_example():
    attrs = F.attributes(SEED_ATTRIBUTES)
    assert attrs["_id"] == "663b200a012b93dcf0dee005"
    assert attrs["sku"] == "st2205178018028785"
    assert attrs["All_Reviews_Rating"] == "4.93"
    assert attrs["All_Reviews_Count"] == 57.0
    assert attrs["Clothing-Color"] == ["Russet Orange"]
    assert attrs["Thumbnail"] == {"Type": "image", "Name": "Russet Orange"}
    assert attrs["Availability"] is True
    assert attrs["child_product_ids"] is None
    assert attrs["product_description"].endswith('retro sport 24" leggings')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
        ("{'a': True, 'b': None, 'c': 'x'}", {"a": True, "b": None, "c": "x"}),
        ('{"id": ObjectId("abc"), "n": NaN}', {"id": "abc", "n": math.nan}),
        ("{key: value, other: 3}", {"key": "value", "other": 3}),
        ("", {}),
        (None, {}),
    ],
)
def test_attributes(raw, expected):
    got = F.attributes(raw)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert (math.isnan(got[k]) and math.isnan(v)) if isinstance(v, float) else got[k] == v


@pytest.mark.parametrize("raw", ["[1, 2]", "{unclosed", '{"a": }', "{" * 100 + "}" * 100])
def test_attributes_malformed(raw):
    with pytest.raises(F.BadValue) as err:
        F.attributes(raw)
    assert err.value.reason == "unparseable_attributes"


@pytest.mark.parametrize("text", ['{"a": "b', "'", "{'a': ObjectId(}", "[[[[", "}"])
def test_pseudojson_fails_with_its_own_error(text):
    with pytest.raises(pseudojson.PseudoJsonError):
        pseudojson.loads(text)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("14-03-1995", date(1995, 3, 14)),
        ("I was born on 14-03-1995 :)", date(1995, 3, 14)),
        ("my birthday 01-12-2001, thanks", date(2001, 12, 1)),
        ("prefer not to say", None),
        ("", None),
        (None, None),
        ("call 0114-03-19951", None),  # no word boundary: not a date
    ],
)
def test_birthdate_in_answer(answer, expected):
    assert F.birthdate_in(answer) == expected


def test_impossible_birthdate():
    with pytest.raises(F.BadValue) as err:
        F.birthdate_in("31-02-1990")
    assert err.value.reason == "impossible_birthdate"


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(1995, 3, 14), date(2023, 3, 13), 27),
        (date(1995, 3, 14), date(2023, 3, 14), 28),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
    ],
)
def test_age_on(birth, day, age):
    assert F.age_on(birth, day) == age


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("4.93", 4.93), ("$18,50", 18.5), (57, 57.0), ("", None), (None, None), ("nan", None)],
)
def test_to_float(raw, expected):
    assert F.to_float(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("False", False), (True, True), (0, False), ("in stock", True), ("", None)],
)
def test_to_bool(raw, expected):
    assert F.to_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023/09/13", date(2023, 9, 13)),
        ("2023-09-13", date(2023, 9, 13)),
        ("13/09/2023", date(2023, 9, 13)),
        (False, None),
        ("", None),
    ],
)
def test_to_date(raw, expected):
    assert F.to_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-05-14 13:45:12", datetime(2023, 5, 14, 13, 45, 12)),
        ("2023-05-14T13:45:12", datetime(2023, 5, 14, 13, 45, 12)),
        ("2023-05-14T13:45:12Z", datetime(2023, 5, 14, 13, 45, 12)),
        ("2023-05-14 13:45:12.250", datetime(2023, 5, 14, 13, 45, 12, 250000)),
        ("2019-09-06T15:54:32.821085Z", datetime(2019, 9, 6, 15, 54, 32, 821085)),
        ("2023-05-14 15:45:12+02:00", datetime(2023, 5, 14, 13, 45, 12)),
        (" 2023-05-14 13:45:12 ", datetime(2023, 5, 14, 13, 45, 12)),
        ("2023-05-14", datetime(2023, 5, 14)),
        ("2023-13-45 25:61:00", None),
        ("not a time", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamps(raw, expected):
    formats = load_settings().ingest.timestamp_formats
    assert parse_timestamps(pl.Series([raw], dtype=pl.String), formats).to_list() == [expected]


@pytest.mark.parametrize(
    ("event", "button", "kind"),
    [
        ("product_details_page_view", None, "view"),
        ("product_details_page_view", "heart_button", "wishlist"),  # a button rule beats an event rule
        ("product_similar_items_clicking", None, "click"),
        ("product_button_click", "bag_button", "bag"),
        ("add_to_bag", None, "bag"),
        ("purchase", None, "purchase"),
        ("product_button_click", "share_button", None),  # a button of no interest
        ("app_open", None, None),
        (None, None, None),
    ],
)
def test_interaction_mapping(event, button, kind):
    rules = load_settings().ingest.interaction_rules
    frame = pl.DataFrame({"e": [event], "b": [button]}, schema={"e": pl.String, "b": pl.String})
    index = frame.select(
        interaction_rule_index(pl.col("e"), pl.col("b"), [(r.event, r.button) for r in rules])
    )
    got = index.item()
    assert (None if got is None else rules[got].kind) == kind
